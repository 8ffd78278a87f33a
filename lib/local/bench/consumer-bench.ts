import { CONSUMER_AWS_SDK, CONSUMER_MEMORY_MB } from '../../infra/consumer-bundling.ts';
import type { BenchSubject } from './bench-subjects.ts';
import { measureBundles, type BundleSizeReport } from './bundle-size.ts';
import { costPerMillionApplied, Feed, US_EAST_1_PRICES, type ConsumerUsage, type CostBreakdown, type Prices } from './cost-model.ts';
import { measureHandlerCpu, RecordKind, type HandlerCpuFigures } from './handler-cpu.ts';
import { measureRequestCounts, type RequestCountsResult } from './request-counts.ts';
import { median, runThroughputTrial, type SubjectThroughput } from './throughput.ts';

/** What the leaner consumer must reach against the seed baseline, measured in the same run. */
export const CONSUMER_BENCH_TARGETS = {
  /** Handler CPU per record, ours over the baseline's, for new, duplicate and stale records. */
  maxCpuRatio: 0.8,
  /** The consumer bundle's raw JavaScript, bytes (300 KB). */
  maxBundleBytes: 300_000,
  /** Cold init, ours over the baseline's. */
  maxColdInitRatio: 1,
  /** Dollars per million applied records fed through SQS, ours over the baseline's. */
  maxSqsCostRatio: 0.85,
} as const;

export interface ConsumerBenchOptions {
  /** Records per CPU pass. @default 20_000 */
  readonly cpuRecords?: number;
  /** CPU trials per subject. @default 7 */
  readonly cpuTrials?: number;
  /** Changes per throughput trial. @default 2000 */
  readonly changes?: number;
  /** Changes per second the publisher offers in the throughput trials. @default 100 */
  readonly offeredPerSecond?: number;
  /** The fake API's latency per request (a SaaS API's typical answer time). @default 100 */
  readonly latencyMs?: number;
  /** Throughput trials per subject, interleaved. @default 2 */
  readonly throughputTrials?: number;
  /** Fresh processes per subject for the cold init, interleaved. @default 25 */
  readonly coldStarts?: number;
  readonly prices?: Prices;
  /** Told what the bench is doing. */
  readonly onProgress?: (line: string) => void;
}

/** One figure of ours beside the baseline's. */
export interface Compared {
  readonly ours: number;
  readonly baseline: number;
  /** ours / baseline. */
  readonly ratio: number;
}

export interface TargetVerdict {
  readonly target: string;
  readonly met: boolean;
  readonly detail: string;
}

/** The throughput trials of both subjects, summed. */
export interface ThroughputFigures {
  readonly settings: SubjectThroughput['settings'];
  readonly trials: number;
  readonly changesPerSecond: Compared;
  readonly lagP50Ms: Compared;
  readonly lagP99Ms: Compared;
  /** Records the destination ended with a version older than the newest published. */
  readonly notConverged: { readonly ours: number; readonly baseline: number };
  /** Writes that moved a record to a lower version than it held (I1). */
  readonly regressions: { readonly ours: number; readonly baseline: number };
  /** Per change published: DynamoDB requests and capacity, SQS requests, invocations, handler ms, log bytes, destination calls. */
  readonly perChange: { readonly ours: SubjectThroughput['perChange']; readonly baseline: SubjectThroughput['perChange'] };
}

export interface ConsumerBenchReport {
  readonly ok: boolean;
  readonly verdicts: readonly TargetVerdict[];
  readonly cpu: {
    readonly records: number;
    readonly trials: number;
    readonly microsPerRecord: Record<RecordKind, Compared>;
    readonly outputBytesPerRecord: Record<RecordKind, Compared>;
  };
  readonly requests: RequestCountsResult;
  readonly throughput: ThroughputFigures;
  readonly bundle: BundleSizeReport & { readonly rawBytes: Compared; readonly gzipBytes: Compared; readonly coldInitMs: Compared };
  readonly cost: {
    readonly prices: Prices;
    readonly memoryMb: number;
    /** Per million applied records: the changes ours applied on the same stream (the baseline's own count includes versions it should have skipped). */
    readonly sqs: { readonly ours: CostBreakdown; readonly baseline: CostBreakdown; readonly ratio: number };
    readonly eventBridge: { readonly ours: CostBreakdown; readonly baseline: CostBreakdown; readonly ratio: number };
  };
  readonly durationMs: number;
}

const compared = (ours: number, baseline: number): Compared => ({ ours, baseline, ratio: baseline === 0 ? Number.NaN : ours / baseline });

/** The trials of one subject as one stream: their usage summed, priced per million of `applied`. */
const usageOf = (trials: readonly SubjectThroughput[], applied: number): ConsumerUsage => {
  const sum = (pick: (trial: SubjectThroughput) => number) => trials.reduce((total, trial) => total + pick(trial), 0);
  return {
    changes: sum((trial) => trial.settings.changes),
    applied,
    dynamodbWriteUnits: sum((trial) => trial.usage.dynamodb.writeUnits),
    dynamodbReadUnits: sum((trial) => trial.usage.dynamodb.aws.readUnits),
    sqsConsumerRequests: sum((trial) => trial.usage.sqs.eventSource.total + trial.usage.sqs.consumer.total),
    sqsPublisherRequests: sum((trial) => trial.usage.sqs.publisher.total),
    lambdaInvocations: sum((trial) => trial.usage.lambda.invocations),
    lambdaBilledMs: sum((trial) => trial.usage.lambda.handlerMs),
    lambdaMemoryMb: CONSUMER_MEMORY_MB,
    logBytes: sum((trial) => trial.usage.logs.loggerBytes + trial.usage.logs.emfBytes),
  };
};

const throughputFigures = (runs: Record<BenchSubject, SubjectThroughput[]>): ThroughputFigures => {
  const of = (subject: BenchSubject, pick: (trial: SubjectThroughput) => number) => median(runs[subject].map(pick));
  const pair = (pick: (trial: SubjectThroughput) => number) => compared(of('ours', pick), of('baseline', pick));
  const total = (subject: BenchSubject, pick: (trial: SubjectThroughput) => number) => runs[subject].reduce((sum, trial) => sum + pick(trial), 0);
  return {
    settings: runs.ours[0]!.settings,
    trials: runs.ours.length,
    changesPerSecond: pair((trial) => trial.changesPerSecond),
    lagP50Ms: pair((trial) => trial.lagMs.p50),
    lagP99Ms: pair((trial) => trial.lagMs.p99),
    notConverged: { ours: total('ours', (trial) => trial.convergence.notConverged), baseline: total('baseline', (trial) => trial.convergence.notConverged) },
    regressions: { ours: total('ours', (trial) => trial.regressions), baseline: total('baseline', (trial) => trial.regressions) },
    perChange: { ours: runs.ours[runs.ours.length - 1]!.perChange, baseline: runs.baseline[runs.baseline.length - 1]!.perChange },
  };
};

const verdictsOf = (report: Omit<ConsumerBenchReport, 'ok' | 'verdicts' | 'durationMs'>): TargetVerdict[] => {
  const targets = CONSUMER_BENCH_TARGETS;
  const cpu = Object.values(RecordKind).map((kind) => {
    const figure = report.cpu.microsPerRecord[kind];
    return {
      target: `handler CPU per ${kind} record <= ${targets.maxCpuRatio} x baseline`,
      met: figure.ratio <= targets.maxCpuRatio,
      detail: `${figure.ours.toFixed(1)} us vs ${figure.baseline.toFixed(1)} us: ${figure.ratio.toFixed(2)}`,
    };
  });
  const { bundle, cost } = report;
  return [
    ...cpu,
    { target: `bundle <= ${targets.maxBundleBytes / 1000} KB raw`, met: bundle.rawBytes.ours <= targets.maxBundleBytes, detail: `${bundle.rawBytes.ours} bytes (${bundle.sdk} AWS SDK)` },
    {
      target: 'cold init <= baseline',
      met: bundle.coldInitMs.ratio <= targets.maxColdInitRatio,
      detail: `median ${bundle.coldInitMs.ours.toFixed(1)} ms vs ${bundle.coldInitMs.baseline.toFixed(1)} ms: ${bundle.coldInitMs.ratio.toFixed(2)}`,
    },
    {
      target: `cost per million applied via SQS <= ${targets.maxSqsCostRatio} x baseline`,
      met: cost.sqs.ratio <= targets.maxSqsCostRatio,
      detail: `$${cost.sqs.ours.total.toFixed(3)} vs $${cost.sqs.baseline.total.toFixed(3)}: ${cost.sqs.ratio.toFixed(2)}`,
    },
  ];
};

/**
 * `npm run bench`: our consumer against the seed post's algorithm with stock Powertools
 * (`seed-baseline.ts`), on the same input in one run, as ratios: handler CPU per record with
 * in-memory ports (interleaved trials, medians); DynamoDB requests and destination calls per
 * applied, duplicate and stale record on the embedded emulator; throughput, lag and usage through
 * the embedded runtime at a fixed offered load; bundle size and cold init; and the cost per million
 * applied records via SQS and via EventBridge at stated on-demand prices.
 *
 * @example
 * const report = await runConsumerBench({ cpuTrials: 3 });
 * report.cpu.microsPerRecord.new.ratio; // e.g. 0.7
 */
export const runConsumerBench = async (options: ConsumerBenchOptions = {}): Promise<ConsumerBenchReport> => {
  const startedAt = performance.now();
  const tell = options.onProgress ?? (() => undefined);
  const cpuRecords = options.cpuRecords ?? 20_000;
  const cpuTrials = options.cpuTrials ?? 7;
  const prices = options.prices ?? US_EAST_1_PRICES;

  tell(`handler CPU: ${cpuTrials} trials x ${cpuRecords} records per kind, ours and the baseline in turn`);
  const cpuFigures: HandlerCpuFigures = await measureHandlerCpu({ records: cpuRecords, trials: cpuTrials, onTrial: (subject, trial) => tell(`  cpu trial ${trial + 1} ${subject}`) });
  const byKind = (pick: (figures: HandlerCpuFigures['ours'][RecordKind]) => number) =>
    Object.fromEntries(Object.values(RecordKind).map((kind) => [kind, compared(pick(cpuFigures.ours[kind]), pick(cpuFigures.baseline[kind]))])) as Record<RecordKind, Compared>;

  tell('request counts per applied, duplicate and stale record on the embedded emulator');
  const requests = await measureRequestCounts();

  const trials = options.throughputTrials ?? 2;
  const throughputOptions = { changes: options.changes ?? 2000, offeredPerSecond: options.offeredPerSecond ?? 100, latencyMs: options.latencyMs ?? 100, seed: 1 };
  const runs: Record<BenchSubject, SubjectThroughput[]> = { ours: [], baseline: [] };
  for (let trial = 0; trial < trials; trial += 1) {
    for (const subject of ['ours', 'baseline'] as const) {
      tell(`throughput trial ${trial + 1} ${subject}: ${throughputOptions.changes} changes at ${throughputOptions.offeredPerSecond}/s, the API answering in ${throughputOptions.latencyMs} ms`);
      runs[subject].push(await runThroughputTrial(subject, throughputOptions));
    }
  }
  const throughput = throughputFigures(runs);

  tell(`bundles and cold init (${CONSUMER_AWS_SDK} AWS SDK)`);
  const bundles = await measureBundles({ coldStarts: options.coldStarts ?? 25, onProgress: (line) => tell(`  ${line}`) });

  // One denominator for both, the changes a correct consumer applied on this stream: the baseline
  // counts versions it wrote over newer ones as applied too.
  const applied = runs.ours.reduce((sum, trial) => sum + trial.applied, 0);
  const priced = (feed: Feed) => {
    const ours = costPerMillionApplied(usageOf(runs.ours, applied), feed, prices);
    const baseline = costPerMillionApplied(usageOf(runs.baseline, applied), feed, prices);
    return { ours, baseline, ratio: ours.total / baseline.total };
  };

  const partial = {
    cpu: { records: cpuRecords, trials: cpuTrials, microsPerRecord: byKind((f) => f.cpuMicrosPerRecord), outputBytesPerRecord: byKind((f) => f.outputBytesPerRecord) },
    requests,
    throughput,
    bundle: {
      ...bundles,
      rawBytes: compared(bundles.ours.rawBytes, bundles.baseline.rawBytes),
      gzipBytes: compared(bundles.ours.gzipBytes, bundles.baseline.gzipBytes),
      coldInitMs: compared(bundles.ours.coldInit.medianMs, bundles.baseline.coldInit.medianMs),
    },
    cost: { prices, memoryMb: CONSUMER_MEMORY_MB, sqs: priced(Feed.SQS), eventBridge: priced(Feed.EVENTBRIDGE) },
  };
  const verdicts = verdictsOf(partial);
  return { ok: verdicts.every((verdict) => verdict.met), verdicts, ...partial, durationMs: performance.now() - startedAt };
};
