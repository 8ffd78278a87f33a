import { setTimeout as pause } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { serializeChangeEvent, type ChangeEvent } from '../../contract/change-event.ts';
import { recordKey, splitRecordKey } from '../../core/record-key.ts';
import { chunk, SqsLimits } from '../../core/sqs-limits.ts';
import { sendBodies } from '../../adapters/sqs-send.ts';
import { describeStream, expectedFinalVersions, generateDemoStream, type FinalVersion, type StreamDescription } from '../lab/demo-stream.ts';
import { emptyFakeApiCounters, startFakeApi, type FakeApi, type StoredRecord, type WriteLogEntry } from '../lab/fake-api.ts';
import { findDuplicateEffects, findRegressions } from '../lab/oracles.ts';
import { idsFor, LOCAL_RUN_DEFAULTS, pollersFor } from '../lab/run-settings.ts';
import { awsClientConfig, connectAws, type AwsClients } from '../sim/emulators.ts';
import { startEventSourcePoller, type EventSourcePoller, type InvocationOutcome } from '../sim/event-source-poller.ts';
import {
  BENCH_DESTINATION,
  BENCH_RESOURCE_TYPES,
  BENCH_SUBJECTS,
  benchDestinationOf,
  benchPipelineConfig,
  countCommands,
  createBenchResources,
  createSubjectHandler,
  type BenchResources,
  type BenchSubject,
  type CapturedOutput,
  type CommandCounter,
  type CommandCounts,
  type DynamoDbUsage,
  type SubjectHandle,
  type SubjectUsage,
} from './bench-subjects.ts';

/**
 * @example
 * const options: ThroughputOptions = { changes: 2000, offeredPerSecond: 200, latencyMs: 20, seed: 1 };
 */
export interface ThroughputOptions {
  /** Changes published (duplicates and out-of-order versions included). @default 2000 */
  readonly changes?: number;
  /** Changes per second the publisher offers, in batches of 10. @default 200 */
  readonly offeredPerSecond?: number;
  /** Fixed latency the fake API adds to every request (GET, PUT, DELETE). @default 20 */
  readonly latencyMs?: number;
  /** Seed of the demo stream and of the fake API. @default 1 */
  readonly seed?: number;
  /** The subjects {@link measureThroughput} runs, in order. @default both, ours first */
  readonly subjects?: readonly BenchSubject[];
  /** A trial where nothing moves (no delete, no destination request) for this long stops, not drained. @default 30000 */
  readonly stallTimeoutMs?: number;
}

/**
 * The settings of a trial, defaults resolved: the result says what was run.
 *
 * @example
 * trial.settings.eventSource; // { batchSize: 10, pollers: 4, waitTimeSeconds: 1, visibilityTimeoutSeconds: 5, functionTimeoutSeconds: 30 }
 */
export interface ThroughputSettings {
  readonly changes: number;
  readonly ids: number;
  readonly offeredPerSecond: number;
  /** Added, fixed, to every request the fake API handles. */
  readonly latencyMs: number;
  readonly seed: number;
  /** The stream as published: default duplicate (20 %) and out-of-order (30 %) rates, no malformed input. */
  readonly stream: StreamDescription;
  /** The event source as the local runtime runs a default destination. */
  readonly eventSource: {
    readonly batchSize: number;
    readonly pollers: number;
    readonly waitTimeSeconds: number;
    readonly visibilityTimeoutSeconds: number;
    readonly functionTimeoutSeconds: number;
  };
  readonly stallTimeoutMs: number;
}

/**
 * A trial's usage: what the cost model multiplies by prices.
 *
 * @example
 * const { dynamodb, sqs, lambda, logs }: ThroughputUsage = trial.usage;
 */
export interface ThroughputUsage {
  /** The consumer's DynamoDB requests. */
  readonly dynamodb: DynamoDbUsage;
  readonly sqs: {
    /** The publisher's SendMessageBatch calls. */
    readonly publisher: CommandCounts;
    /** The event source's ReceiveMessage and DeleteMessageBatch calls (billed as SQS requests). */
    readonly eventSource: CommandCounts;
    /** The consumer's own calls (dead letters, retries' visibility, deferrals). */
    readonly consumer: CommandCounts;
    readonly total: number;
  };
  readonly lambda: { readonly invocations: number; readonly handlerMs: number; readonly coldStarts: number };
  readonly logs: CapturedOutput;
  readonly destination: { readonly gets: number; readonly writes: number };
}

/**
 * {@link ThroughputUsage} divided by a count of records.
 *
 * @example
 * trial.perApplied.writeUnits; // 2.8
 */
export interface UsagePerRecord {
  readonly dynamodbRequests: number;
  readonly dynamodbRequestsAws: number;
  readonly dynamodbByCommand: Readonly<Record<string, number>>;
  readonly writeUnits: number;
  readonly readUnits: number;
  readonly readUnitsAws: number;
  readonly sqsRequests: number;
  readonly sqsPublisher: number;
  readonly sqsEventSource: number;
  readonly sqsConsumer: number;
  readonly invocations: number;
  readonly handlerMs: number;
  readonly loggerBytes: number;
  readonly emfBytes: number;
  readonly destinationGets: number;
  readonly destinationWrites: number;
}

/**
 * Whether the destination ended holding the highest version of every record.
 *
 * @example
 * const convergence: Convergence = { converged: false, records: 400, notConverged: 1, samples: ['contact/contact-00007: expected upsert v4, holds v3'] };
 */
export interface Convergence {
  readonly converged: boolean;
  readonly records: number;
  readonly notConverged: number;
  /** Up to 5 records that did not converge, e.g. `contact/contact-00007: expected upsert v4, holds v3`. */
  readonly samples: readonly string[];
}

/**
 * One subject's trial through the embedded runtime.
 *
 * @example
 * const trial: SubjectThroughput = await runThroughputTrial('ours', { changes: 500 });
 * trial.throughputPerSecond; // 160.2
 */
export interface SubjectThroughput {
  readonly subject: BenchSubject;
  readonly settings: ThroughputSettings;
  readonly drained: boolean;
  /** From the first publish to the end of the last invocation. */
  readonly durationMs: number;
  readonly publishMs: number;
  /** Distinct versions that took effect at the destination (writes, and deletes of records it never held). */
  readonly applied: number;
  /** Requests that changed the destination's state: above `applied` when a version was written twice. */
  readonly destinationWrites: number;
  /** What the subject counted applied in its own metrics (the baseline counts a replayed duplicate again). */
  readonly reportedApplied: number;
  /** `applied` per second of `durationMs`. */
  readonly throughputPerSecond: number;
  /**
   * Published changes per second of `durationMs`: the speed at which the stream was worked off. It
   * compares subjects better than `throughputPerSecond` when one writes versions the other skips.
   */
  readonly changesPerSecond: number;
  /**
   * CPU time of this process over the trial (user + system): the emulators, the fake API, the
   * pollers and the handler share one event loop, so near `durationMs` the trial was CPU-bound.
   */
  readonly processCpuMs: number;
  /** The destination's write time minus the change's `occurredAt` (stamped when first published), over every write. */
  readonly lagMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly samples: number };
  readonly convergence: Convergence;
  /** Writes that moved a record to a lower version (`findRegressions`). */
  readonly regressions: number;
  /** Versions written again after the first write was answered (`findDuplicateEffects`). */
  readonly duplicateEffects: number;
  readonly invocationOutcomes: Readonly<Partial<Record<InvocationOutcome, number>>>;
  readonly pollerErrors: number;
  readonly usage: ThroughputUsage;
  readonly perApplied: UsagePerRecord;
  readonly perChange: UsagePerRecord;
}

/** @example const { subjects } = await measureThroughput({ changes: 1000 }); */
export interface ThroughputResult {
  readonly settings: ThroughputSettings;
  readonly subjects: readonly SubjectThroughput[];
  readonly durationMs: number;
}

const DEFAULTS = { changes: 2000, offeredPerSecond: 200, latencyMs: 20, seed: 1, stallTimeoutMs: 30_000 } as const;
const WAIT_TIME_SECONDS = 1;
const DRAIN_POLL_MS = 200;
const QUEUE_DEPTH_ATTRIBUTES = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] as const;
const MAX_CONVERGENCE_SAMPLES = 5;

const checkPositive = (name: string, value: number, integer: boolean): void => {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0 && (!integer || Number.isSafeInteger(value)))) {
    throw new RangeError(`Expected \`${name}\` to be ${integer ? 'an integer' : 'a number'} > 0, got \`${String(value)}\``);
  }
};

/**
 * The settings a trial runs with, defaults resolved and checked, and the stream it publishes.
 *
 * @throws {RangeError} for a `changes`, `offeredPerSecond` or `stallTimeoutMs` not > 0, or a negative `latencyMs`
 * @example
 * const { settings, events } = resolveThroughput({ changes: 100 });
 */
export const resolveThroughput = (options: ThroughputOptions): { readonly settings: ThroughputSettings; readonly events: readonly ChangeEvent[] } => {
  const changes = options.changes ?? DEFAULTS.changes;
  const offeredPerSecond = options.offeredPerSecond ?? DEFAULTS.offeredPerSecond;
  const latencyMs = options.latencyMs ?? DEFAULTS.latencyMs;
  const stallTimeoutMs = options.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs;
  const seed = options.seed ?? DEFAULTS.seed;
  checkPositive('changes', changes, true);
  checkPositive('offeredPerSecond', offeredPerSecond, false);
  checkPositive('stallTimeoutMs', stallTimeoutMs, false);
  if (!(Number.isFinite(latencyMs) && latencyMs >= 0)) throw new RangeError(`Expected \`latencyMs\` to be a number >= 0, got \`${String(latencyMs)}\``);
  const ids = idsFor({ changes });
  const events = generateDemoStream({ changes, ids, resourceTypes: BENCH_RESOURCE_TYPES, seed });
  const destination = benchDestinationOf(benchPipelineConfig('http://127.0.0.1'));
  const eventSource = {
    batchSize: Math.min(destination.batchSize, SqsLimits.MAX_BATCH_ENTRIES),
    pollers: pollersFor({}, destination),
    waitTimeSeconds: WAIT_TIME_SECONDS,
    visibilityTimeoutSeconds: LOCAL_RUN_DEFAULTS.visibilityTimeoutSeconds,
    functionTimeoutSeconds: destination.functionTimeoutSeconds,
  };
  return { settings: { changes, ids, offeredPerSecond, latencyMs, seed, stream: describeStream(events), eventSource, stallTimeoutMs }, events };
};

/**
 * The nearest-rank percentile of `values` (0 for none). Pure.
 *
 * @example
 * percentile([5, 1, 3], 50); // 3
 */
export const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
};

/**
 * The median of `values`: the middle one, or the mean of the two middle ones. Pure.
 *
 * @throws {RangeError} for no values
 * @example
 * median([5, 1, 3, 8]); // 4
 */
export const median = (values: readonly number[]): number => {
  if (values.length === 0) throw new RangeError('Expected at least one value, got none');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * Whether each record's final state is its highest version published, by the rule the local
 * run's convergence invariant uses (a final delete holds as a tombstone or nothing). Pure.
 *
 * @example
 * convergenceOf(expectedFinalVersions(events), (resourceType, id) => fakeApi.record('crm', resourceType, id));
 */
export const convergenceOf = (
  expected: ReadonlyMap<string, FinalVersion>,
  held: (resourceType: string, id: string) => Pick<StoredRecord, 'version' | 'deleted'> | undefined,
): Convergence => {
  const failures: string[] = [];
  for (const [key, final] of expected) {
    const [resourceType = '', id = ''] = splitRecordKey(key);
    const record = held(resourceType, id);
    const holds =
      final.op === 'delete'
        ? record === undefined || (record.deleted && record.version <= final.version)
        : record !== undefined && !record.deleted && record.version === final.version;
    if (!holds) failures.push(`${resourceType}/${id}: expected ${final.op} v${final.version}, holds ${record === undefined ? 'nothing' : `${record.deleted ? 'deleted ' : ''}v${record.version}`}`);
  }
  return { converged: failures.length === 0, records: expected.size, notConverged: failures.length, samples: failures.slice(0, MAX_CONVERGENCE_SAMPLES) };
};

/**
 * Usage divided by `records` (0 records divides by 1). Pure.
 *
 * @example
 * perRecordUsage(trial.usage, trial.applied).dynamodbRequestsAws; // 2.3
 */
export const perRecordUsage = (usage: ThroughputUsage, records: number): UsagePerRecord => {
  const n = Math.max(1, records);
  return {
    dynamodbRequests: usage.dynamodb.total / n,
    dynamodbRequestsAws: usage.dynamodb.aws.total / n,
    dynamodbByCommand: Object.fromEntries(Object.entries(usage.dynamodb.commands).map(([name, count]) => [name, count / n])),
    writeUnits: usage.dynamodb.writeUnits / n,
    readUnits: usage.dynamodb.readUnits / n,
    readUnitsAws: usage.dynamodb.aws.readUnits / n,
    sqsRequests: usage.sqs.total / n,
    sqsPublisher: usage.sqs.publisher.total / n,
    sqsEventSource: usage.sqs.eventSource.total / n,
    sqsConsumer: usage.sqs.consumer.total / n,
    invocations: usage.lambda.invocations / n,
    handlerMs: usage.lambda.handlerMs / n,
    loggerBytes: usage.logs.loggerBytes / n,
    emfBytes: usage.logs.emfBytes / n,
    destinationGets: usage.destination.gets / n,
    destinationWrites: usage.destination.writes / n,
  };
};

/**
 * The end-to-end lag of every write at the destination, from the time its change was first
 * published (`stamps`, by `recordKey(resourceType, id, version)`); replays are left out. Pure.
 *
 * @example
 * lagsOf(fakeApi.writeLog(), stamps); // [812, 790, …]
 */
export const lagsOf = (log: readonly WriteLogEntry[], stamps: ReadonlyMap<string, number>): number[] =>
  log.flatMap((entry) => {
    const stamp = entry.replayed ? undefined : stamps.get(recordKey(entry.resourceType, entry.id, entry.version));
    return stamp === undefined ? [] : [entry.at - stamp];
  });

/**
 * Publishes `events` to the queue in batches of 10, batch k at `startedAt + k * 10 / rate` s,
 * stamping each change's `occurredAt` when it is first published (a re-send carries its
 * original's). Resolves with the stamps, by `recordKey(resourceType, id, version)`.
 */
const publishPaced = async (sqs: SQSClient, queueUrl: string, events: readonly ChangeEvent[], offeredPerSecond: number, startedAt: number): Promise<Map<string, number>> => {
  const stamps = new Map<string, number>();
  for (const [index, batch] of chunk(events, SqsLimits.MAX_BATCH_ENTRIES).entries()) {
    const wait = startedAt + ((index * SqsLimits.MAX_BATCH_ENTRIES) / offeredPerSecond) * 1000 - Date.now();
    if (wait > 0) await pause(wait);
    const bodies = batch.map((event) => {
      const key = recordKey(event.resourceType, event.id, event.version);
      const stamp = stamps.get(key) ?? Date.now();
      stamps.set(key, stamp);
      return serializeChangeEvent({ ...event, occurredAt: new Date(stamp).toISOString() });
    });
    await sendBodies(sqs, queueUrl, bodies);
  }
  return stamps;
};

/** The messages the source queue holds in any state (waiting, in flight, delayed). */
const queueDepth = async (sqs: SQSClient, queueUrl: string): Promise<number> => {
  const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [...QUEUE_DEPTH_ATTRIBUTES] }));
  return QUEUE_DEPTH_ATTRIBUTES.reduce((sum, name) => sum + Number(Attributes[name] ?? 0), 0);
};

/**
 * Waits until the source queue is empty on two samples in a row, or nothing moved (`progress`)
 * for `stallTimeoutMs`. Resolves with whether it drained.
 */
const waitUntilDrained = async (sqs: SQSClient, queueUrl: string, progress: () => number, stallTimeoutMs: number): Promise<boolean> => {
  let emptySamples = 0;
  let last = progress();
  let lastMoveAt = Date.now();
  while (Date.now() - lastMoveAt < stallTimeoutMs) {
    emptySamples = (await queueDepth(sqs, queueUrl)) === 0 ? emptySamples + 1 : 0;
    if (emptySamples >= 2) return true;
    const now = progress();
    if (now !== last) {
      last = now;
      lastMoveAt = Date.now();
    }
    await pause(DRAIN_POLL_MS);
  }
  return false;
};

/** Everything a trial runs against, and what counts its requests. */
interface TrialRig {
  readonly aws: AwsClients;
  readonly fakeApi: FakeApi;
  readonly resources: BenchResources;
  readonly handle: SubjectHandle;
  readonly clients: { readonly publisher: SQSClient; readonly eventSource: SQSClient; readonly subjectSqs: SQSClient; readonly subjectDynamodb: DynamoDBClient };
  readonly counters: { readonly publisher: CommandCounter<CommandCounts>; readonly eventSource: CommandCounter<CommandCounts> };
  stop(): Promise<void>;
}

/** Fresh emulators, fake API, queues and tables, and one client per role (each counted on its own). */
const startRig = async (subject: BenchSubject, settings: ThroughputSettings): Promise<TrialRig> => {
  const aws = await connectAws();
  const fakeApi = await startFakeApi({ seed: settings.seed, latencyMsByDestination: { [BENCH_DESTINATION]: settings.latencyMs } });
  const sqsClient = () => new SQSClient(awsClientConfig(aws.sqsEndpoint));
  const clients = { publisher: sqsClient(), eventSource: sqsClient(), subjectSqs: sqsClient(), subjectDynamodb: new DynamoDBClient(awsClientConfig(aws.dynamodbEndpoint)) };
  const stop = async (): Promise<void> => {
    for (const client of Object.values(clients)) client.destroy();
    await fakeApi.stop();
    await aws.stop();
  };
  try {
    const config = benchPipelineConfig(fakeApi.baseUrl(BENCH_DESTINATION));
    const resources = await createBenchResources({ config, sqs: aws.sqs, dynamodb: aws.dynamodb });
    const handle = createSubjectHandler(subject, {
      ...resources,
      config,
      dynamodb: clients.subjectDynamodb,
      sqs: clients.subjectSqs,
      destinationBaseUrl: fakeApi.baseUrl(BENCH_DESTINATION),
    });
    const counters = { publisher: countCommands(clients.publisher), eventSource: countCommands(clients.eventSource) };
    const stopRig = async (): Promise<void> => {
      handle.dispose();
      await stop();
    };
    return { aws, fakeApi, resources, handle, clients, counters, stop: stopRig };
  } catch (error) {
    await stop();
    throw error;
  }
};

/** The usage of a finished trial, from the counters of each role. */
const usageOf = (rig: TrialRig, subjectUsage: SubjectUsage): ThroughputUsage => {
  const publisher = rig.counters.publisher.snapshot();
  const eventSource = rig.counters.eventSource.snapshot();
  const consumer = subjectUsage.sqs;
  const counters = rig.fakeApi.stats().byDestination[BENCH_DESTINATION] ?? emptyFakeApiCounters();
  return {
    dynamodb: subjectUsage.dynamodb,
    sqs: { publisher, eventSource, consumer, total: publisher.total + eventSource.total + consumer.total },
    lambda: { invocations: subjectUsage.invocations, handlerMs: subjectUsage.handlerMs, coldStarts: subjectUsage.coldStarts },
    logs: subjectUsage.output,
    destination: { gets: counters.reads, writes: counters.requests - counters.reads },
  };
};

const perSecond = (count: number, ms: number): number => Math.round((count / (ms / 1000)) * 10) / 10;

/** Distinct versions that took effect: writes that changed state, and deletes of records never held. */
const appliedVersions = (fakeApi: FakeApi): number =>
  new Set([
    ...fakeApi.writeLog().flatMap((entry) => (entry.destination === BENCH_DESTINATION && !entry.replayed ? [recordKey(entry.resourceType, entry.id, entry.version)] : [])),
    ...fakeApi.deleteMisses().map((miss) => recordKey(miss.resourceType, miss.id, miss.version)),
  ]).size;

/** Reads a finished trial's results off the fake API and the counters. */
const summarize = (
  rig: TrialRig,
  run: { readonly subject: BenchSubject; readonly settings: ThroughputSettings; readonly events: readonly ChangeEvent[]; readonly drained: boolean },
  timing: {
    readonly startedAt: number;
    readonly publishedAt: number;
    readonly endedAt: number;
    readonly cpuMs: number;
    readonly stamps: ReadonlyMap<string, number>;
  },
  poller: { readonly outcomes: Partial<Record<InvocationOutcome, number>>; readonly errors: number },
): SubjectThroughput => {
  const { fakeApi } = rig;
  const log = fakeApi.writeLog().filter((entry) => entry.destination === BENCH_DESTINATION);
  const lags = lagsOf(log, timing.stamps);
  const subjectUsage = rig.handle.usage();
  const usage = usageOf(rig, subjectUsage);
  const applied = appliedVersions(fakeApi);
  const durationMs = Math.max(1, timing.endedAt - timing.startedAt);
  return {
    subject: run.subject,
    settings: run.settings,
    drained: run.drained,
    durationMs,
    publishMs: timing.publishedAt - timing.startedAt,
    applied,
    destinationWrites: fakeApi.stats().byDestination[BENCH_DESTINATION]?.writes ?? 0,
    reportedApplied: subjectUsage.reported.applied,
    throughputPerSecond: perSecond(applied, durationMs),
    changesPerSecond: perSecond(run.settings.changes, durationMs),
    processCpuMs: timing.cpuMs,
    lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags.length === 0 ? 0 : Math.max(...lags), samples: lags.length },
    convergence: convergenceOf(expectedFinalVersions(run.events), (resourceType, id) => fakeApi.record(BENCH_DESTINATION, resourceType, id)),
    regressions: findRegressions(log).length,
    duplicateEffects: findDuplicateEffects(log).length,
    invocationOutcomes: { ...poller.outcomes },
    pollerErrors: poller.errors,
    usage,
    perApplied: perRecordUsage(usage, applied),
    perChange: perRecordUsage(usage, run.settings.changes),
  };
};

/**
 * One subject's throughput trial on fresh emulators: the demo stream (fixed seed) published to the
 * destination's queue at the offered load, consumed by local event-source pollers (the batch size
 * and concurrency the local runtime gives a default destination) invoking the subject's handler,
 * against a fake API with a fixed latency per request, until the queue drains. Call it per subject
 * to interleave trials; {@link measureThroughput} runs them one after the other.
 *
 * @throws {RangeError} for out-of-range options (see {@link resolveThroughput})
 * @example
 * const ours = await runThroughputTrial('ours', { changes: 2000, offeredPerSecond: 200 });
 * const baseline = await runThroughputTrial('baseline', { changes: 2000, offeredPerSecond: 200 });
 */
export const runThroughputTrial = async (subject: BenchSubject, options: ThroughputOptions = {}): Promise<SubjectThroughput> => {
  const { settings, events } = resolveThroughput(options);
  const rig = await startRig(subject, settings);
  const outcomes: Partial<Record<InvocationOutcome, number>> = {};
  let pollerErrors = 0;
  let endedAt = 0;
  let poller: EventSourcePoller | undefined;
  try {
    const { resources } = rig;
    poller = startEventSourcePoller({
      sqs: rig.clients.eventSource,
      queueUrl: resources.queueUrl,
      queueArn: resources.queueArn,
      handler: rig.handle.handler,
      functionName: `sync-pipeline-${BENCH_DESTINATION}-consumer`,
      batchSize: settings.eventSource.batchSize,
      pollers: settings.eventSource.pollers,
      functionTimeoutMs: settings.eventSource.functionTimeoutSeconds * 1000,
      waitTimeSeconds: settings.eventSource.waitTimeSeconds,
      onInvocation: (summary) => {
        outcomes[summary.outcome] = (outcomes[summary.outcome] ?? 0) + 1;
        endedAt = Math.max(endedAt, Date.now());
      },
      onError: () => {
        pollerErrors += 1;
      },
    });
    const startedAt = Date.now();
    const cpuAtStart = process.cpuUsage();
    const stamps = await publishPaced(rig.clients.publisher, resources.queueUrl, events, settings.offeredPerSecond, startedAt);
    const publishedAt = Date.now();
    const running = poller;
    const progress = () => running.stats().deleted + (rig.fakeApi.stats().byDestination[BENCH_DESTINATION]?.requests ?? 0);
    const drained = await waitUntilDrained(rig.aws.sqs, resources.queueUrl, progress, settings.stallTimeoutMs);
    await poller.stop();
    const cpu = process.cpuUsage(cpuAtStart);
    const timing = { startedAt, publishedAt, endedAt: Math.max(endedAt, publishedAt), cpuMs: Math.round((cpu.user + cpu.system) / 1000), stamps };
    return summarize(rig, { subject, settings, events, drained }, timing, { outcomes, errors: pollerErrors });
  } finally {
    await poller?.stop();
    await rig.stop();
  }
};

/**
 * Runs {@link runThroughputTrial} for each subject, one after the other, each on fresh emulators,
 * with the same stream (same seed) at the same offered load and destination latency.
 *
 * @example
 * const { settings, subjects } = await measureThroughput({ changes: 2000, offeredPerSecond: 200, latencyMs: 20, seed: 1 });
 * subjects.map((s) => [s.subject, s.throughputPerSecond, s.lagMs.p99, s.perApplied.dynamodbRequestsAws]);
 */
export const measureThroughput = async (options: ThroughputOptions = {}): Promise<ThroughputResult> => {
  const startedAt = Date.now();
  const { settings } = resolveThroughput(options);
  const subjects: SubjectThroughput[] = [];
  for (const subject of options.subjects ?? BENCH_SUBJECTS) subjects.push(await runThroughputTrial(subject, options));
  return { settings, subjects, durationMs: Date.now() - startedAt };
};
