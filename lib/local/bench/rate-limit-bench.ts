import { join } from 'node:path';
import { parsePipelineConfig, type PipelineConfig } from '../../config/pipeline-config.ts';
import { ChangeOp, type ChangeEvent } from '../../contract/change-event.ts';
import { createRandom } from '../../core/random.ts';
import { emptyFakeApiCounters, type FakeApiCounters, type RateLimit } from '../lab/fake-api.ts';
import type { LocalRunReport } from '../report/run-report.ts';
import { runLocalPipeline } from '../run-pipeline.ts';
import type { BacklogRunResult, BenchLayer, BenchRunResult, BenchRuns, CeilingRunResult, DestinationCalls, RateRunResult, TargetVerdict, WriteRate } from './bench-results.ts';
import { judgeBench } from './bench-verdicts.ts';
import { runLimiterLoad } from './limiter-load.ts';

/** One layer's rate runs: every R with every consumer count. */
export interface RateLayerScenario {
  /** The limits R, in writes per second: the destination's `rateLimit.perSecond` and the fake API's limit. */
  readonly rates: readonly number[];
  /** The consumer counts each R is measured with. */
  readonly consumers: readonly number[];
  /** A run sends R x drainSeconds distinct records, at most `maxRecords`: its length at exactly R. */
  readonly drainSeconds: number;
  readonly maxRecords: number;
}

/** The pipeline's own ceiling: distinct records through the rate runs' destination without any rate limit. */
export interface CeilingScenario {
  readonly records: number;
  readonly consumers: number;
}

/** Records published before the consumers start, each in several versions, shuffled. */
export interface BacklogScenario {
  readonly records: number;
  readonly versions: number;
  /** Pollers of the destination. */
  readonly consumers: number;
}

/**
 * @example
 * const options: RateLimitBenchOptions = { limiter: { rates: [20], consumers: [1] }, pipeline: null, ceiling: null, backlog: null };
 */
export interface RateLimitBenchOptions {
  /**
   * The limiter layer: the consumers' rate limiter alone (see `runLimiterLoad`); null leaves it out.
   * Fields left out take their defaults.
   * @default R 20, 100 and 500 with 1 and 4 consumers, min(R x 10, 6000) records each
   */
  readonly limiter?: Partial<RateLayerScenario> | null;
  /**
   * The pipeline layer: the whole local pipeline (`runLocalPipeline`); null leaves it out. Fields
   * left out take their defaults.
   * @default R 20 and 100 with 1 and 4 pollers, min(R x 12, 1000) records each
   */
  readonly pipeline?: Partial<RateLayerScenario> | null;
  /** The pipeline's own ceiling, which decides whether a pipeline rate can be judged; null leaves it out. @default 600 records, 1 poller */
  readonly ceiling?: CeilingScenario | null;
  /** The backlog run; null leaves it out. @default 200 records x 10 versions, 4 pollers */
  readonly backlog?: BacklogScenario | null;
  /**
   * A run still going after this long is stopped and reported not drained.
   * @default a rate run 4 x its length at exactly R, at least 30 s; the ceiling and backlog runs 60 s
   */
  readonly runTimeoutMs?: number;
  /** Seed of the fake API and of the backlog's shuffle. @default 1 */
  readonly seed?: number;
  /** Where each pipeline run's consumer log goes (`<label>.log`). @default reports/bench-ratelimit */
  readonly logDir?: string;
  /** Told each run's result as soon as it ends. */
  readonly onRun?: (result: BenchRunResult) => void;
  /** Stops the bench: the run under way reports what it reached and no other starts. */
  readonly signal?: AbortSignal;
}

/** The smoke run of `npm run bench:ratelimit -- --quick`: about a minute on 2 cores. */
export const QUICK_RATE_LIMIT_BENCH = {
  limiter: { drainSeconds: 3 },
  pipeline: { drainSeconds: 3 },
  ceiling: { records: 300, consumers: 1 },
  backlog: { records: 50, versions: 10, consumers: 4 },
} as const satisfies RateLimitBenchOptions;

/** The settings of a bench as run, defaults resolved. */
export interface RateLimitBenchSettings {
  readonly limiter: RateLayerScenario | null;
  readonly pipeline: RateLayerScenario | null;
  readonly ceiling: CeilingScenario | null;
  readonly backlog: BacklogScenario | null;
  readonly seed: number;
  readonly logDir: string;
  /** The fake API's bucket: this many seconds of R, refilled at R. */
  readonly apiBurstSeconds: number;
  /** The destination's config beside `rateLimit.perSecond`, the same in every run. */
  readonly destination: {
    readonly batchSize: number;
    readonly maxConcurrency: number;
    readonly retry: { readonly baseDelaySeconds: number; readonly maxDelaySeconds: number; readonly maxReceiveCount: number };
    /**
     * `rateLimit.burst` of every rate run: 100 ms of R, at least one batch (real APIs allow short
     * bursts; the fake API's bucket holds a second of R). It lets a consumer that stalled briefly (a
     * garbage collection) catch up within the limit instead of losing the time.
     */
    readonly rateLimitBurst: string;
    /**
     * `coalescing` of the backlog run. A backlog here is a few seconds old, so its age threshold is
     * 1 s; in production a backlog is what waited longer than the default 10 s. The rate and ceiling
     * runs have coalescing off: one version per record leaves nothing to coalesce, and holding the
     * records that queued longest would open a gap in the rate measured.
     */
    readonly backlogCoalescing: { readonly backlogAgeSeconds: number; readonly holdSeconds: number };
  };
}

export interface RateLimitBenchReport extends BenchRuns {
  readonly settings: RateLimitBenchSettings;
  readonly verdicts: readonly TargetVerdict[];
  /** Every run ran (no interruption) and no verdict is `missed`. */
  readonly ok: boolean;
  readonly interrupted: boolean;
  readonly durationMs: number;
}

const DESTINATION = 'bench';
const RESOURCE_TYPE = 'contact';
/** The fake API's burst, in seconds of its rate: the default of `setRateLimit`. */
const API_BURST_SECONDS = 1;
const MIN_RUN_TIMEOUT_MS = 30_000;
const RUN_TIMEOUT_FACTOR = 4;
/** Short backoff, so a consumer that gets 429s still drains within the run's timeout. */
const BENCH_RETRY = { baseDelaySeconds: 1, maxDelaySeconds: 8, maxReceiveCount: 100 } as const;
const BENCH_CONSUMER = { batchSize: 10, maxConcurrency: 5 } as const;
const BACKLOG_COALESCING = { backlogAgeSeconds: 1, holdSeconds: 5 } as const;
/** The zero point is stamped again when each change is published. */
const OCCURRED_AT = '2026-12-01T00:00:00.000Z';

/**
 * The one-destination config of a run: `perSecond` its `rateLimit` (burst one batch), none when
 * undefined; coalescing as the backlog run has it, or off.
 */
const benchConfig = (input: { readonly perSecond?: number; readonly coalescing: boolean }): PipelineConfig =>
  parsePipelineConfig({
    name: 'sync-bench',
    destinations: [
      {
        name: DESTINATION,
        kind: 'http',
        baseUrl: 'https://bench.example.com',
        resourceTypes: [RESOURCE_TYPE],
        ...BENCH_CONSUMER,
        retry: BENCH_RETRY,
        ...(input.perSecond === undefined ? {} : { rateLimit: { perSecond: input.perSecond, burst: benchBurst(input.perSecond) } }),
        coalescing: input.coalescing ? BACKLOG_COALESCING : { enabled: false },
      },
    ],
  });

/** What the fake API takes at R: a bucket of one second's worth, refilled at R. */
/** The destination's `rateLimit.burst` in a rate run: 100 ms of R, at least one batch. */
const benchBurst = (perSecond: number): number => Math.max(BENCH_CONSUMER.batchSize, Math.round(perSecond / 10));

const apiLimit = (perSecond: number): RateLimit => ({ perSecond, burst: Math.max(1, perSecond * API_BURST_SECONDS) });

const upsert = (id: string, version: number): ChangeEvent => ({ resourceType: RESOURCE_TYPE, id, version, occurredAt: OCCURRED_AT, op: ChangeOp.UPSERT, payload: { version } });

const padded = (index: number, count: number): string => String(index).padStart(Math.max(3, String(count - 1).length), '0');

/**
 * `records` distinct records, `versions` versions each (1 to `versions`), shuffled with the
 * project's seeded random; ids `<prefix>-000`, `<prefix>-001`, ….
 *
 * @example
 * benchEvents({ prefix: 'b', records: 200, versions: 10, seed: 1 }); // 2000 changes, b-000 … b-199
 */
export const benchEvents = (input: { readonly prefix: string; readonly records: number; readonly versions: number; readonly seed: number }): ChangeEvent[] => {
  const events = Array.from({ length: input.records }, (_, index) => padded(index, input.records)).flatMap((suffix) =>
    Array.from({ length: input.versions }, (_, version) => upsert(`${input.prefix}-${suffix}`, version + 1)),
  );
  return input.versions > 1 ? createRandom(input.seed).shuffle(events) : events;
};

/**
 * Accepted writes per second from the fake API's counters, leaving out the first second: its
 * bucket starts full with one second's worth, so a client that bursts at the start gets that
 * second's writes on top of the rate, which says nothing about the rate it sustains. Over a span
 * shorter than two seconds, the writes after the first over the whole span. Null with fewer than
 * two writes.
 *
 * @example
 * sustainedWriteRate({ writes: 240, firstWriteAt: 0, lastWriteAt: 11_950, writesPerSecond: [20, …] }); // 20.1
 */
export const sustainedWriteRate = (counters: Pick<FakeApiCounters, 'writes' | 'firstWriteAt' | 'lastWriteAt' | 'writesPerSecond'>): number | null => {
  const { writes, firstWriteAt, lastWriteAt, writesPerSecond } = counters;
  if (firstWriteAt === null || lastWriteAt === null || writes < 2 || lastWriteAt === firstWriteAt) return null;
  const spanMs = lastWriteAt - firstWriteAt;
  if (spanMs < 2_000) return ((writes - 1) * 1_000) / spanMs;
  return ((writes - (writesPerSecond[0] ?? 0)) * 1_000) / (spanMs - 1_000);
};

/** The destination's calls and write rate, from the fake API's counters of it. */
const destinationFigures = (counters: FakeApiCounters): DestinationCalls & WriteRate => {
  const { requests: calls, writes: accepted, firstWriteAt, lastWriteAt } = counters;
  const throttled = counters.throttledByRateLimit + counters.injected.throttle;
  return {
    calls,
    accepted,
    throttled,
    other: calls - accepted - throttled,
    writeSpanMs: firstWriteAt === null || lastWriteAt === null || accepted < 2 ? null : lastWriteAt - firstWriteAt,
    sustainedPerSecond: sustainedWriteRate(counters),
  };
};

const pipelineCounters = (report: LocalRunReport): FakeApiCounters => report.fakeApiStats.byDestination[DESTINATION] ?? emptyFakeApiCounters();

/** Runs the pipeline once on the embedded emulators, stopped at `timeoutMs` or by the bench's signal. */
const runPipelineOnce = async (
  run: { readonly label: string; readonly config: PipelineConfig; readonly events: readonly ChangeEvent[]; readonly consumers: number; readonly timeoutMs: number },
  settings: RateLimitBenchSettings,
  options: Pick<RateLimitBenchOptions, 'signal'> & { readonly rateLimit?: number; readonly backlogAgeMs?: number },
): Promise<{ readonly report: LocalRunReport; readonly drained: boolean }> => {
  const stop = AbortSignal.any([AbortSignal.timeout(run.timeoutMs), ...(options.signal === undefined ? [] : [options.signal])]);
  const report = await runLocalPipeline({
    config: run.config,
    changes: run.events.length,
    rate: 0,
    events: run.events,
    malformed: 0,
    pollers: run.consumers,
    seed: settings.seed,
    fakeApi: options.rateLimit === undefined ? {} : { rateLimits: { [DESTINATION]: apiLimit(options.rateLimit) } },
    // A backlog is queued whole before the pollers start, and left to wait until it is that old.
    ...(options.backlogAgeMs === undefined ? {} : { startConsumersAfterPublish: true, consumerStartDelayMs: options.backlogAgeMs }),
    logFile: join(settings.logDir, `${run.label.replaceAll(/[^a-z0-9]+/gi, '-')}.log`),
    stallTimeoutMs: run.timeoutMs,
    signal: stop,
  });
  return { report, drained: report.drained && !report.interrupted };
};

/** What the destination saw in one load of a layer, and how the load went. */
interface LayerLoad {
  readonly counters: FakeApiCounters;
  readonly drained: boolean;
  readonly durationMs: number;
  readonly controlRequests?: number;
}

/** One load of `events` against R: through the rate limiter alone, or through the whole pipeline. */
const loadLayer = async (
  layer: BenchLayer,
  run: { readonly label: string; readonly perSecond: number; readonly consumers: number; readonly events: readonly ChangeEvent[]; readonly timeoutMs: number },
  settings: RateLimitBenchSettings,
  options: RateLimitBenchOptions,
): Promise<LayerLoad> => {
  const config = benchConfig({ perSecond: run.perSecond, coalescing: false });
  if (layer === 'limiter') {
    const signal = options.signal === undefined ? {} : { signal: options.signal };
    const load = await runLimiterLoad({ destination: config.destinations[0]!, apiLimit: apiLimit(run.perSecond), consumers: run.consumers, events: run.events, timeoutMs: run.timeoutMs, ...signal });
    return { counters: load.counters, drained: load.delivered, durationMs: load.durationMs, controlRequests: load.controlRequests };
  }
  const { report, drained } = await runPipelineOnce({ ...run, config }, settings, { ...options, rateLimit: run.perSecond });
  return { counters: pipelineCounters(report), drained, durationMs: report.durationMs };
};

/** One rate run of either layer: R x drainSeconds distinct records (at most maxRecords) against R. */
const rateRun = async (
  layer: BenchLayer,
  rate: { readonly perSecond: number; readonly consumers: number },
  scenario: RateLayerScenario,
  settings: RateLimitBenchSettings,
  options: RateLimitBenchOptions,
): Promise<RateRunResult> => {
  const { perSecond, consumers } = rate;
  const records = Math.max(1, Math.min(Math.round(perSecond * scenario.drainSeconds), scenario.maxRecords));
  const label = `${layer} R=${perSecond}, ${consumers} consumer${consumers === 1 ? '' : 's'}`;
  const timeoutMs = options.runTimeoutMs ?? Math.max(MIN_RUN_TIMEOUT_MS, (RUN_TIMEOUT_FACTOR * records * 1_000) / perSecond);
  const events = benchEvents({ prefix: 'r', records, versions: 1, seed: settings.seed });
  const load = await loadLayer(layer, { label, perSecond, consumers, events, timeoutMs }, settings, options);
  const figures = destinationFigures(load.counters);
  return {
    scenario: 'rate',
    layer,
    label,
    perSecond,
    consumers,
    records,
    ...figures,
    durationMs: load.durationMs,
    drained: load.drained,
    rateShare: figures.sustainedPerSecond === null ? null : figures.sustainedPerSecond / perSecond,
    throttledShare: figures.calls === 0 ? 0 : figures.throttled / figures.calls,
    ...(load.controlRequests === undefined || figures.calls === 0 ? {} : { controlRequestsPerCall: load.controlRequests / figures.calls }),
  };
};

/** The rate runs' destination and records, no rate limit at all: what the pipeline reaches here. */
const ceilingRun = async (scenario: CeilingScenario, settings: RateLimitBenchSettings, options: RateLimitBenchOptions): Promise<CeilingRunResult> => {
  const label = `pipeline ceiling, ${scenario.consumers} consumer${scenario.consumers === 1 ? '' : 's'}, no rate limit`;
  const events = benchEvents({ prefix: 'c', records: scenario.records, versions: 1, seed: settings.seed });
  const timeoutMs = options.runTimeoutMs ?? MIN_RUN_TIMEOUT_MS * 2;
  const { report, drained } = await runPipelineOnce({ label, config: benchConfig({ coalescing: false }), events, consumers: scenario.consumers, timeoutMs }, settings, options);
  return { scenario: 'ceiling', layer: 'pipeline', label, ...scenario, ...destinationFigures(pipelineCounters(report)), durationMs: report.durationMs, drained };
};

/** Every version of every record queued first, then the consumers, no rate limit, coalescing on. */
const backlogRun = async (scenario: BacklogScenario, settings: RateLimitBenchSettings, options: RateLimitBenchOptions): Promise<BacklogRunResult> => {
  const label = `pipeline backlog ${scenario.records} x ${scenario.versions}, ${scenario.consumers} consumers`;
  const events = benchEvents({ prefix: 'b', records: scenario.records, versions: scenario.versions, seed: settings.seed });
  const timeoutMs = options.runTimeoutMs ?? MIN_RUN_TIMEOUT_MS * 2;
  const { report, drained } = await runPipelineOnce(
    { label, config: benchConfig({ coalescing: true }), events, consumers: scenario.consumers, timeoutMs },
    settings,
    { ...options, backlogAgeMs: BACKLOG_COALESCING.backlogAgeSeconds * 1000 },
  );
  const { writeSpanMs: _span, sustainedPerSecond: _rate, ...calls } = destinationFigures(pipelineCounters(report));
  return { scenario: 'backlog', layer: 'pipeline', label, ...scenario, ...calls, durationMs: report.durationMs, drained, callsPerRecord: calls.calls / scenario.records };
};

const LIMITER_DEFAULTS: RateLayerScenario = { rates: [20, 100, 500], consumers: [1, 4], drainSeconds: 10, maxRecords: 6_000 };
const PIPELINE_DEFAULTS: RateLayerScenario = { rates: [20, 100], consumers: [1, 4], drainSeconds: 12, maxRecords: 1_000 };

const resolveLayer = (options: Partial<RateLayerScenario> | null | undefined, defaults: RateLayerScenario): RateLayerScenario | null =>
  options === null
    ? null
    : {
        rates: options?.rates ?? defaults.rates,
        consumers: options?.consumers ?? defaults.consumers,
        drainSeconds: options?.drainSeconds ?? defaults.drainSeconds,
        maxRecords: options?.maxRecords ?? defaults.maxRecords,
      };

/** The settings of a bench, every default resolved here and nowhere else. */
const resolveBenchSettings = (options: RateLimitBenchOptions): RateLimitBenchSettings => ({
  limiter: resolveLayer(options.limiter, LIMITER_DEFAULTS),
  pipeline: resolveLayer(options.pipeline, PIPELINE_DEFAULTS),
  ceiling: options.ceiling === undefined ? { records: 600, consumers: 1 } : options.ceiling,
  backlog: options.backlog === undefined ? { records: 200, versions: 10, consumers: 4 } : options.backlog,
  seed: options.seed ?? 1,
  logDir: options.logDir ?? join('reports', 'bench-ratelimit'),
  apiBurstSeconds: API_BURST_SECONDS,
  destination: { ...BENCH_CONSUMER, retry: BENCH_RETRY, rateLimitBurst: `max(${BENCH_CONSUMER.batchSize}, R x 0.1 s)`, backlogCoalescing: BACKLOG_COALESCING },
});

/**
 * Measures per-destination isolation in two layers, every figure from the fake API's own counters,
 * one run at a time. The limiter layer drives the consumers' rate limiter alone (real gates sharing
 * one control item on the embedded DynamoDB emulator, the HTTP adapter, the fake API limited to R)
 * for each R and consumer count: the sustained accepted rate against R and the share of calls
 * answered 429. The pipeline layer runs the whole local pipeline for the rates it can reach here,
 * beside a run without any limit that measures its own ceiling; then how many destination calls a
 * backlog of several versions per record costs. The report says which targets each run met.
 *
 * @example
 * const report = await runRateLimitBench({ limiter: { rates: [20], consumers: [1] }, pipeline: null, ceiling: null, backlog: null });
 * report.limiterRuns[0]?.rateShare; // e.g. 1.00
 */
export const runRateLimitBench = async (options: RateLimitBenchOptions = {}): Promise<RateLimitBenchReport> => {
  const startedAt = Date.now();
  const settings = resolveBenchSettings(options);
  const aborted = () => options.signal?.aborted === true;
  const told = <T extends BenchRunResult>(result: T): T => {
    options.onRun?.(result);
    return result;
  };
  const rateRuns = async (layer: BenchLayer, scenario: RateLayerScenario | null): Promise<RateRunResult[]> => {
    const results: RateRunResult[] = [];
    for (const perSecond of scenario?.rates ?? []) {
      for (const consumers of scenario!.consumers) {
        if (aborted()) return results;
        results.push(told(await rateRun(layer, { perSecond, consumers }, scenario!, settings, options)));
      }
    }
    return results;
  };
  const limiterRuns = await rateRuns('limiter', settings.limiter);
  const ceiling = settings.ceiling === null || aborted() ? null : told(await ceilingRun(settings.ceiling, settings, options));
  const pipelineRuns = await rateRuns('pipeline', settings.pipeline);
  const backlog = settings.backlog === null || aborted() ? null : told(await backlogRun(settings.backlog, settings, options));
  const interrupted = aborted();
  const runs = { limiterRuns, pipelineRuns, ceiling, backlog };
  const verdicts = judgeBench(runs);
  return { settings, ...runs, verdicts, ok: !interrupted && verdicts.every((verdict) => verdict.status !== 'missed'), interrupted, durationMs: Date.now() - startedAt };
};
