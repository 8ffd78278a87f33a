import { randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { ChangeOp, serializeChangeEvent, type ChangeEvent } from '../../contract/change-event.ts';
import { chunk, SqsLimits } from '../../core/sqs-limits.ts';
import { emptyFakeApiCounters, startFakeApi, type FakeApi } from '../lab/fake-api.ts';
import { connectAws } from '../sim/emulators.ts';
import { createContext } from '../sim/event-source-poller.ts';
import {
  BENCH_DESTINATION,
  BENCH_RESOURCE_TYPES,
  BENCH_SUBJECTS,
  benchPipelineConfig,
  createBenchResources,
  createSubjectHandler,
  type BenchSubject,
  type CommandCounts,
  type DynamoDbUsage,
  type SubjectHandle,
  type SubjectUsage,
} from './bench-subjects.ts';

/**
 * @example
 * const options: RequestCountOptions = { records: 10, subjects: ['baseline'] };
 */
export interface RequestCountOptions {
  /** Records per phase, sent in batches of 10. @default 100 */
  readonly records?: number;
  /** @default both, ours first */
  readonly subjects?: readonly BenchSubject[];
}

/**
 * Calls the destination received in a phase (the fake API's counters of `crm`).
 *
 * @example
 * const calls: DestinationCalls = { gets: 10, writes: 10 };
 */
export interface DestinationCalls {
  readonly gets: number;
  /** PUT and DELETE requests. */
  readonly writes: number;
}

/**
 * A phase's numbers divided by its records.
 *
 * @example
 * phase.perRecord.dynamodb.aws.total; // 2.1
 */
export interface PerRecordCounts {
  readonly dynamodb: {
    readonly commands: Readonly<Record<string, number>>;
    readonly total: number;
    readonly writeUnits: number;
    readonly readUnits: number;
    /** Without the emulator-only reads: what DynamoDB would be sent and charge. */
    readonly aws: { readonly total: number; readonly readUnits: number };
  };
  readonly destination: DestinationCalls;
  readonly sqs: number;
}

/**
 * One phase of one subject: its records in batches of 10, handler invoked directly.
 *
 * @example
 * result.subjects[0]?.duplicate.perRecord.dynamodb.total; // 1
 */
export interface PhaseCounts {
  readonly records: number;
  readonly invocations: number;
  /** What the subject itself counted (its EMF). */
  readonly reported: SubjectUsage['reported'];
  readonly dynamodb: DynamoDbUsage;
  /** The consumer's own SQS requests. */
  readonly sqs: CommandCounts;
  readonly destination: DestinationCalls;
  readonly perRecord: PerRecordCounts;
}

/**
 * The three phases of one subject, run on fresh emulators, tables and fake API.
 *
 * @example
 * const { applied, duplicate, stale }: SubjectRequestCounts = result.subjects[0]!;
 */
export interface SubjectRequestCounts {
  readonly subject: BenchSubject;
  /** N new records (version 5). */
  readonly applied: PhaseCounts;
  /** The same N again. */
  readonly duplicate: PhaseCounts;
  /** An older version (3) of each. */
  readonly stale: PhaseCounts;
}

/**
 * @example
 * const { subjects } = await measureRequestCounts({ records: 10 });
 */
export interface RequestCountsResult {
  readonly records: number;
  readonly batchSize: number;
  readonly versions: { readonly applied: number; readonly duplicate: number; readonly stale: number };
  /** How the capacity units are estimated. */
  readonly capacityModel: string;
  readonly subjects: readonly SubjectRequestCounts[];
  readonly durationMs: number;
}

/**
 * How the request counts are priced in capacity units, as the results state it.
 *
 * @example
 * console.log(result.capacityModel === CAPACITY_MODEL); // true
 */
export const CAPACITY_MODEL =
  'On-demand, items < 1 KB: each PutItem/UpdateItem/DeleteItem request is 1 WRU, a conditional write that fails also costs 1 WRU; ' +
  'each GetItem is 1 RRU strongly consistent (both subjects read with ConsistentRead) or 0.5 eventually consistent. ' +
  '"aws" leaves out the GetItems only the emulator causes (dynalite ignores ReturnValuesOnConditionCheckFailure).';

const VERSIONS = { applied: 5, duplicate: 5, stale: 3 } as const;
const DEFAULT_RECORDS = 100;
const FUNCTION_TIMEOUT_MS = 30_000;

/** An SQS record as the Lambda event source hands it over, for a body sent just now. */
const syntheticRecord = (body: string, queueArn: string): SQSRecord => {
  const now = String(Date.now());
  return {
    messageId: randomUUID(),
    receiptHandle: `bench-${randomUUID()}`,
    body,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: now, SenderId: 'bench', ApproximateFirstReceiveTimestamp: now },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  };
};

/** The change of record `index` at `version`: an upsert of a `contact` or `company`, round-robin. */
const changeOf = (index: number, version: number): ChangeEvent => ({
  resourceType: BENCH_RESOURCE_TYPES[index % BENCH_RESOURCE_TYPES.length]!,
  id: `count-${String(index).padStart(5, '0')}`,
  version,
  occurredAt: new Date().toISOString(),
  op: ChangeOp.UPSERT,
  payload: { name: `Record ${index}`, revision: version },
});

const divide = (counts: Readonly<Record<string, number>>, n: number): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).map(([name, count]) => [name, count / n]));

/**
 * A phase's totals per record. Pure.
 *
 * @example
 * perRecordOf({ records: 10, invocations: 1, reported, dynamodb, sqs, destination: { gets: 10, writes: 10 } }).destination; // { gets: 1, writes: 1 }
 */
export const perRecordOf = (phase: Omit<PhaseCounts, 'perRecord'>): PerRecordCounts => {
  const n = Math.max(1, phase.records);
  const { dynamodb } = phase;
  return {
    dynamodb: {
      commands: divide(dynamodb.commands, n),
      total: dynamodb.total / n,
      writeUnits: dynamodb.writeUnits / n,
      readUnits: dynamodb.readUnits / n,
      aws: { total: dynamodb.aws.total / n, readUnits: dynamodb.aws.readUnits / n },
    },
    destination: { gets: phase.destination.gets / n, writes: phase.destination.writes / n },
    sqs: phase.sqs.total / n,
  };
};

const destinationCalls = (fakeApi: FakeApi): DestinationCalls => {
  const counters = fakeApi.stats().byDestination[BENCH_DESTINATION] ?? emptyFakeApiCounters();
  return { gets: counters.reads, writes: counters.requests - counters.reads };
};

/** Runs one phase: every record at `version`, in batches of 10, one invocation after the other. */
const runPhase = async (handle: SubjectHandle, fakeApi: FakeApi, queueArn: string, records: number, version: number): Promise<PhaseCounts> => {
  handle.resetUsage();
  const before = destinationCalls(fakeApi);
  const indexes = Array.from({ length: records }, (_, index) => index);
  for (const batch of chunk(indexes, SqsLimits.MAX_BATCH_ENTRIES)) {
    const event: SQSEvent = { Records: batch.map((index) => syntheticRecord(serializeChangeEvent(changeOf(index, version)), queueArn)) };
    const context = createContext('sync-pipeline-crm-consumer', 'us-east-1', '000000000000', 1024, Date.now() + FUNCTION_TIMEOUT_MS);
    await handle.handler(event, context);
  }
  const after = destinationCalls(fakeApi);
  const usage = handle.usage();
  const phase = {
    records,
    invocations: usage.invocations,
    reported: usage.reported,
    dynamodb: usage.dynamodb,
    sqs: usage.sqs,
    destination: { gets: after.gets - before.gets, writes: after.writes - before.writes },
  };
  return { ...phase, perRecord: perRecordOf(phase) };
};

/** One subject's three phases on emulators, tables and a fake API of its own. */
const measureSubject = async (subject: BenchSubject, records: number): Promise<SubjectRequestCounts> => {
  const aws = await connectAws();
  const fakeApi = await startFakeApi();
  let handle: SubjectHandle | undefined;
  try {
    const config = benchPipelineConfig(fakeApi.baseUrl(BENCH_DESTINATION));
    const resources = await createBenchResources({ config, sqs: aws.sqs, dynamodb: aws.dynamodb });
    // Created after the setup: only the subject's own requests are counted.
    handle = createSubjectHandler(subject, { ...resources, config, dynamodb: aws.dynamodb, sqs: aws.sqs, destinationBaseUrl: fakeApi.baseUrl(BENCH_DESTINATION) });
    const applied = await runPhase(handle, fakeApi, resources.queueArn, records, VERSIONS.applied);
    const duplicate = await runPhase(handle, fakeApi, resources.queueArn, records, VERSIONS.duplicate);
    const stale = await runPhase(handle, fakeApi, resources.queueArn, records, VERSIONS.stale);
    return { subject, applied, duplicate, stale };
  } finally {
    handle?.dispose();
    await fakeApi.stop();
    await aws.stop();
  }
};

/**
 * Counts, per subject, the DynamoDB requests (by command, with a WRU/RRU estimate, see
 * {@link CAPACITY_MODEL}) and the destination calls (GET, PUT/DELETE) spent per applied, per
 * duplicate and per stale record: N new records (version 5), the same N again, then version 3 of
 * each, in batches of 10 handed straight to the handler (as consumer-costs.test.ts does). Each
 * subject runs on fresh emulators and a fake API of its own, one after the other. Asserts nothing:
 * it returns the numbers.
 *
 * @throws {RangeError} when `records` is not an integer >= 1
 * @example
 * const { subjects } = await measureRequestCounts({ records: 100 });
 * subjects.find((s) => s.subject === 'baseline')?.applied.perRecord.destination; // { gets: 1, writes: 1 }
 */
export const measureRequestCounts = async (options: RequestCountOptions = {}): Promise<RequestCountsResult> => {
  const records = options.records ?? DEFAULT_RECORDS;
  if (!Number.isSafeInteger(records) || records < 1) throw new RangeError(`Expected \`records\` to be an integer >= 1, got \`${String(records)}\``);
  const startedAt = Date.now();
  const subjects: SubjectRequestCounts[] = [];
  for (const subject of options.subjects ?? BENCH_SUBJECTS) subjects.push(await measureSubject(subject, records));
  return { records, batchSize: SqsLimits.MAX_BATCH_ENTRIES, versions: VERSIONS, capacityModel: CAPACITY_MODEL, subjects, durationMs: Date.now() - startedAt };
};
