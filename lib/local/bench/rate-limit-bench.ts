import { join } from 'node:path';
import { parsePipelineConfig, type PipelineConfig } from '../../config/pipeline-config.ts';
import { ChangeOp, type ChangeEvent } from '../../contract/change-event.ts';
import { createRandom } from '../../core/random.ts';
import { emptyFakeApiCounters, type FakeApiCounters } from '../lab/fake-api.ts';
import type { LocalRunReport } from '../report/run-report.ts';
import { runLocalPipeline } from '../run-pipeline.ts';

/**
 * What the per-destination isolation must achieve; the bench exits 1 when a figure misses one.
 *
 * @example
 * result.rateShare >= RATE_LIMIT_BENCH_TARGETS.minRateShare;
 */
export const RATE_LIMIT_BENCH_TARGETS = {
  /** Sustained accepted writes per second over the limit R, at least. */
  minRateShare: 0.95,
  /** Share of destination calls answered 429, at most. */
  maxThrottledShare: 0.01,
  /** Destination calls per record of the backlog, at most; 1.0 is one call, for the newest version. */
  maxCallsPerRecord: 1.1,
} as const;

/** Records published before the consumers start, each in several versions, shuffled. */
export interface BacklogScenario {
  readonly records: number;
  readonly versions: number;
  /** Pollers of the destination. */
  readonly consumers: number;
}

/**
 * @example
 * const options: RateLimitBenchOptions = { rates: [20], consumers: [1], maxRecords: 40, backlog: null };
 */
export interface RateLimitBenchOptions {
  /** The limits R to measure, in writes per second: the config's `rateLimit.perSecond` and the fake API's limit. @default [20, 100, 500] */
  readonly rates?: readonly number[];
  /** The poller counts each rate is measured with. @default [1, 4] */
  readonly consumers?: readonly number[];
  /** How long a rate run's drain lasts at exactly R: it publishes R x drainSeconds records, at most `maxRecords`. @default 12 */
  readonly drainSeconds?: number;
  /** @default 1000 */
  readonly maxRecords?: number;
  /** The backlog run; null leaves it out. @default 200 records x 10 versions, 4 consumers */
  readonly backlog?: BacklogScenario | null;
  /**
   * A run still going after this long is stopped and reported not drained.
   * @default a rate run 4 x its drain at exactly R, at least 30 s; the backlog run 60 s
   */
  readonly runTimeoutMs?: number;
  /** Seed of the fake API and of the backlog's shuffle. @default 1 */
  readonly seed?: number;
  /** Where each run's consumer log goes (`<label>.log`). @default reports/bench-ratelimit */
  readonly logDir?: string;
  /** Told each run's result as soon as it ends. */
  readonly onRun?: (result: BenchRunResult) => void;
  /** Stops the bench: the run under way reports what it reached and no other starts. */
  readonly signal?: AbortSignal;
}

/** The smoke run of `npm run bench:ratelimit -- --quick`: about 25 s on 2 cores. */
export const QUICK_RATE_LIMIT_BENCH = {
  rates: [20, 100],
  consumers: [1, 4],
  drainSeconds: 3,
  backlog: { records: 50, versions: 10, consumers: 4 },
} as const satisfies RateLimitBenchOptions;

/** What the destination saw in one run, from the fake API's own counters (never the consumers' metrics). */
export interface DestinationCalls {
  /** Every request it received. */
  readonly calls: number;
  /** Writes it accepted and applied. */
  readonly accepted: number;
  /** Calls answered 429, by its rate limit (no failures are injected). */
  readonly throttled: number;
  /** Calls answered anything else (malformed, 404, 409): 0 in a sound run. */
  readonly other: number;
}

/** What every run reports: the destination's view, and how the run went. */
export interface BenchRunFigures extends DestinationCalls {
  /** Names the run in the table and the verdicts, e.g. `R=20, 4 consumers`. */
  readonly label: string;
  /** Pollers of the destination. */
  readonly consumers: number;
  /** Distinct records published. */
  readonly records: number;
  /** How long the run took, from the emulators' start to its report. */
  readonly durationMs: number;
  /** Every published change ended before the run's timeout. */
  readonly drained: boolean;
}

/** One rate run: one destination limited to R, `consumers` pollers, distinct records in one version each. */
export interface RateRunResult extends BenchRunFigures {
  readonly scenario: 'rate';
  readonly perSecond: number;
  /** From the first to the last accepted write; null with fewer than two. */
  readonly writeSpanMs: number | null;
  /** Accepted writes per second, as {@link sustainedWriteRate} measures it; null with fewer than two. */
  readonly sustainedPerSecond: number | null;
  /** `sustainedPerSecond / perSecond`. */
  readonly rateShare: number | null;
  /** `throttled / calls`; 0 without calls. */
  readonly throttledShare: number;
}

/** The backlog run: every version of every record queued before the first poller starts, no rate limit. */
export interface BacklogRunResult extends BenchRunFigures {
  readonly scenario: 'backlog';
  readonly versions: number;
  /** `calls / records`: 1.0 when only the newest version of each record reached the destination. */
  readonly callsPerRecord: number;
}

export type BenchRunResult = RateRunResult | BacklogRunResult;

/** One target checked on one run. */
export interface TargetVerdict {
  readonly label: string;
  readonly target: 'drained' | 'rate' | 'throttled' | 'calls-per-record';
  readonly ok: boolean;
  /** The figure, the target, and for a miss what held it back when the counters say. */
  readonly detail: string;
}

/** The settings of a bench as run, defaults resolved. */
export interface RateLimitBenchSettings {
  readonly rates: readonly number[];
  readonly consumers: readonly number[];
  readonly drainSeconds: number;
  readonly maxRecords: number;
  readonly backlog: BacklogScenario | null;
  readonly seed: number;
  readonly logDir: string;
  /** The fake API's bucket: one second's worth of burst, refilled at R. */
  readonly apiBurstSeconds: number;
  /** The destination's config beside `rateLimit`, the same in every run. */
  readonly destination: {
    readonly batchSize: number;
    readonly maxConcurrency: number;
    readonly retry: { readonly baseDelaySeconds: number; readonly maxDelaySeconds: number; readonly maxReceiveCount: number };
  };
}

export interface RateLimitBenchReport {
  readonly settings: RateLimitBenchSettings;
  readonly rateRuns: readonly RateRunResult[];
  readonly backlog: BacklogRunResult | null;
  readonly verdicts: readonly TargetVerdict[];
  /** Every run ran (no interruption) and every verdict is ok. */
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
/** The zero point is stamped again when each change is published. */
const OCCURRED_AT = '2026-12-01T00:00:00.000Z';

/** The one-destination config of a run; `perSecond` is its `rateLimit`, none when undefined. */
const benchConfig = (perSecond: number | undefined): PipelineConfig =>
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
        ...(perSecond === undefined ? {} : { rateLimit: { perSecond } }),
      },
    ],
  });

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

/** What the destination saw, from the run's report. */
const destinationCalls = (report: LocalRunReport): DestinationCalls & { readonly counters: FakeApiCounters } => {
  const counters = report.fakeApiStats.byDestination[DESTINATION] ?? emptyFakeApiCounters();
  const { requests: calls, writes: accepted } = counters;
  const throttled = counters.throttledByRateLimit + counters.injected.throttle;
  return { counters, calls, accepted, throttled, other: calls - accepted - throttled };
};

/** Runs the pipeline once on the embedded emulators, stopped at `timeoutMs` or by the bench's signal. */
const runOnce = async (
  run: { readonly label: string; readonly config: PipelineConfig; readonly events: readonly ChangeEvent[]; readonly consumers: number; readonly timeoutMs: number },
  settings: RateLimitBenchSettings,
  options: Pick<RateLimitBenchOptions, 'signal'> & { readonly rateLimit?: number; readonly startConsumersAfterPublish?: boolean },
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
    fakeApi: options.rateLimit === undefined ? {} : { rateLimits: { [DESTINATION]: { perSecond: options.rateLimit, burst: Math.max(1, options.rateLimit * API_BURST_SECONDS) } } },
    ...(options.startConsumersAfterPublish === true ? { startConsumersAfterPublish: true } : {}),
    logFile: join(settings.logDir, `${run.label.replaceAll(/[^a-z0-9]+/gi, '-')}.log`),
    stallTimeoutMs: run.timeoutMs,
    signal: stop,
  });
  return { report, drained: report.drained && !report.interrupted };
};

/** Sustained rate against R with `consumers` pollers. */
const rateRun = async (perSecond: number, consumers: number, settings: RateLimitBenchSettings, options: RateLimitBenchOptions): Promise<RateRunResult> => {
  const records = Math.max(1, Math.min(Math.round(perSecond * settings.drainSeconds), settings.maxRecords));
  const label = `R=${perSecond}, ${consumers} consumer${consumers === 1 ? '' : 's'}`;
  const timeoutMs = options.runTimeoutMs ?? Math.max(MIN_RUN_TIMEOUT_MS, (RUN_TIMEOUT_FACTOR * records * 1_000) / perSecond);
  const events = benchEvents({ prefix: 'r', records, versions: 1, seed: settings.seed });
  const { report, drained } = await runOnce({ label, config: benchConfig(perSecond), events, consumers, timeoutMs }, settings, { ...options, rateLimit: perSecond });
  const { counters, ...calls } = destinationCalls(report);
  const sustainedPerSecond = sustainedWriteRate(counters);
  const { firstWriteAt, lastWriteAt } = counters;
  return {
    scenario: 'rate',
    label,
    perSecond,
    consumers,
    records,
    ...calls,
    durationMs: report.durationMs,
    drained,
    writeSpanMs: firstWriteAt === null || lastWriteAt === null || calls.accepted < 2 ? null : lastWriteAt - firstWriteAt,
    sustainedPerSecond,
    rateShare: sustainedPerSecond === null ? null : sustainedPerSecond / perSecond,
    throttledShare: calls.calls === 0 ? 0 : calls.throttled / calls.calls,
  };
};

/** Every version of every record queued first, then the consumers, no rate limit. */
const backlogRun = async (scenario: BacklogScenario, settings: RateLimitBenchSettings, options: RateLimitBenchOptions): Promise<BacklogRunResult> => {
  const label = `backlog ${scenario.records} x ${scenario.versions}, ${scenario.consumers} consumers`;
  const events = benchEvents({ prefix: 'b', records: scenario.records, versions: scenario.versions, seed: settings.seed });
  const timeoutMs = options.runTimeoutMs ?? MIN_RUN_TIMEOUT_MS * 2;
  const { report, drained } = await runOnce(
    { label, config: benchConfig(undefined), events, consumers: scenario.consumers, timeoutMs },
    settings,
    { ...options, startConsumersAfterPublish: true },
  );
  const { counters: _counters, ...calls } = destinationCalls(report);
  return { scenario: 'backlog', label, ...scenario, ...calls, durationMs: report.durationMs, drained, callsPerRecord: calls.calls / scenario.records };
};

const percent = (share: number): string => `${(share * 100).toFixed(1)} %`;

/**
 * Checks every run against {@link RATE_LIMIT_BENCH_TARGETS}: drained, rate/R and the 429 share of
 * each rate run, calls per record of the backlog.
 *
 * @example
 * judgeBench(report.rateRuns, report.backlog).filter((verdict) => !verdict.ok); // the misses
 */
export const judgeBench = (rateRuns: readonly RateRunResult[], backlog: BacklogRunResult | null): TargetVerdict[] => {
  const targets = RATE_LIMIT_BENCH_TARGETS;
  const drainedVerdict = (run: BenchRunResult): TargetVerdict => ({
    label: run.label,
    target: 'drained',
    ok: run.drained,
    detail: run.drained ? 'every change ended' : `stopped after ${(run.durationMs / 1000).toFixed(1)} s with changes still queued`,
  });
  const verdicts = rateRuns.flatMap((run): TargetVerdict[] => {
    const rateOk = run.rateShare !== null && run.rateShare >= targets.minRateShare;
    // Without a single 429 the limit never bit: the consumers' own pace held the rate down.
    const why = !rateOk && run.throttled === 0 ? ' (no call was throttled: the consumers, not the limit, set the pace)' : '';
    const rate = run.sustainedPerSecond === null ? 'no sustained rate (fewer than two writes)' : `rate/R ${run.rateShare!.toFixed(2)} (${run.sustainedPerSecond.toFixed(1)} writes/s)`;
    return [
      drainedVerdict(run),
      { label: run.label, target: 'rate', ok: rateOk, detail: `${rate}, target >= ${targets.minRateShare}${why}` },
      {
        label: run.label,
        target: 'throttled',
        ok: run.throttledShare <= targets.maxThrottledShare,
        detail: `${percent(run.throttledShare)} of ${run.calls} calls answered 429, target <= ${percent(targets.maxThrottledShare)}`,
      },
    ];
  });
  if (backlog !== null) {
    verdicts.push(drainedVerdict(backlog), {
      label: backlog.label,
      target: 'calls-per-record',
      ok: backlog.callsPerRecord <= targets.maxCallsPerRecord,
      detail: `${backlog.callsPerRecord.toFixed(2)} calls per record (${backlog.calls} calls for ${backlog.records} records), target <= ${targets.maxCallsPerRecord}`,
    });
  }
  return verdicts;
};

/** The settings of a bench, every default resolved here and nowhere else. */
const resolveBenchSettings = (options: RateLimitBenchOptions): RateLimitBenchSettings => ({
  rates: options.rates ?? [20, 100, 500],
  consumers: options.consumers ?? [1, 4],
  drainSeconds: options.drainSeconds ?? 12,
  maxRecords: options.maxRecords ?? 1_000,
  backlog: options.backlog === undefined ? { records: 200, versions: 10, consumers: 4 } : options.backlog,
  seed: options.seed ?? 1,
  logDir: options.logDir ?? join('reports', 'bench-ratelimit'),
  apiBurstSeconds: API_BURST_SECONDS,
  destination: { ...BENCH_CONSUMER, retry: BENCH_RETRY },
});

/**
 * Measures per-destination isolation on the whole local pipeline (embedded emulators, the real
 * consumer behind pollers, the fake API): for each limit R and poller count, the sustained
 * accepted write rate against R and the share of calls answered 429; then how many destination
 * calls a backlog of several versions per record costs. Every figure comes from the fake API's
 * own counters. One run at a time; the report says which targets each run met.
 *
 * @example
 * const report = await runRateLimitBench({ rates: [20], consumers: [1], maxRecords: 40, backlog: null });
 * report.rateRuns[0]?.rateShare; // e.g. 0.97
 */
export const runRateLimitBench = async (options: RateLimitBenchOptions = {}): Promise<RateLimitBenchReport> => {
  const startedAt = Date.now();
  const settings = resolveBenchSettings(options);
  const rateRuns: RateRunResult[] = [];
  let backlog: BacklogRunResult | null = null;
  const aborted = () => options.signal?.aborted === true;
  for (const perSecond of settings.rates) {
    for (const consumers of settings.consumers) {
      if (aborted()) break;
      const result = await rateRun(perSecond, consumers, settings, options);
      rateRuns.push(result);
      options.onRun?.(result);
    }
  }
  if (settings.backlog !== null && !aborted()) {
    backlog = await backlogRun(settings.backlog, settings, options);
    options.onRun?.(backlog);
  }
  const interrupted = aborted();
  const verdicts = judgeBench(rateRuns, backlog);
  return { settings, rateRuns, backlog, verdicts, ok: !interrupted && verdicts.every((verdict) => verdict.ok), interrupted, durationMs: Date.now() - startedAt };
};
