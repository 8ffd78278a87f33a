import { randomUUID } from 'node:crypto';
import { IdempotencyItemAlreadyExistsError, IdempotencyRecordStatus } from '@aws-lambda-powertools/idempotency';
import { BasePersistenceLayer, IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { InMemoryDestinationControl } from '../../adapters/in-memory-destination-control.ts';
import { InMemoryLedgerStore } from '../../adapters/in-memory-ledger.ts';
import { CONSUMER_MEMORY_MB } from '../../infra/consumer-bundling.ts';
import { ChangeOp, serializeChangeEvent, type ChangeEvent } from '../../contract/change-event.ts';
import { WriteResult, type Destination } from '../../core/destination.ts';
import { wireConsumerHandler } from '../../consumer/wiring.ts';
import { createContext } from '../sim/event-source-poller.ts';
import { captureJsonOutput } from '../sim/output-capture.ts';
import { median } from './throughput.ts';
import { BENCH_DESTINATION, BENCH_SUBJECTS, benchDestinationOf, benchPipelineConfig, type BenchSubject } from './bench-subjects.ts';
import { createSeedBaselineHandler, type SeedClient } from './seed-baseline.ts';


/** The three kinds of record the CPU figures are given for. */
export const RecordKind = { NEW: 'new', DUPLICATE: 'duplicate', STALE: 'stale' } as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

const DESTINATION = BENCH_DESTINATION;
/** Every invocation's deadline is a minute away: the CPU figures leave the clock out. */
const INVOCATION_MS = 60_000;
const BATCH_SIZE = 10;
/** Applied first; the stale pass then sends this minus two. */
const APPLIED_VERSION = 5;

export const sqsRecordOf = (event: ChangeEvent, index: number): SQSRecord => {
  const sentAt = String(Date.now());
  return {
    messageId: randomUUID(),
    receiptHandle: `handle-${index}`,
    body: serializeChangeEvent(event),
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: sentAt, SenderId: 'bench', ApproximateFirstReceiveTimestamp: sentAt },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:bench-${DESTINATION}`,
    awsRegion: 'us-east-1',
  };
};

/** `count` changes of distinct records at `version`, the same payload shape as the demo stream. */
export const benchChanges = (count: number, version: number, prefix: string): ChangeEvent[] =>
  Array.from({ length: count }, (_, i) => ({
    resourceType: 'contact',
    id: `${prefix}-${i}`,
    version,
    op: ChangeOp.UPSERT,
    occurredAt: new Date().toISOString(),
    payload: { name: `Contact ${i}`, email: `contact-${i}@example.com`, tier: i % 3 === 0 ? 'gold' : 'standard', score: i % 97 },
  }));

/** A destination that holds versions in memory and answers at once: the CPU of the call is not the consumer's. */
class MemoryDestination implements Destination, SeedClient {
  readonly #versions = new Map<string, number>();

  public async apply({ event }: { event: ChangeEvent }): Promise<WriteResult> {
    this.#versions.set(`${event.resourceType}/${event.id}`, event.version);
    return WriteResult.APPLIED;
  }

  public async get(resourceType: string, id: string) {
    const version = this.#versions.get(`${resourceType}/${id}`);
    return version === undefined ? undefined : { version };
  }

  public async upsert(event: ChangeEvent): Promise<void> {
    await this.apply({ event });
  }

  public async remove(event: ChangeEvent): Promise<void> {
    this.#versions.delete(`${event.resourceType}/${event.id}`);
  }
}

/**
 * Powertools' idempotency records in memory, with the conditions `DynamoDBPersistenceLayer` puts on
 * them: a put succeeds only where no record is, or it expired, or its in-progress lease ran out.
 */
export class MemoryPersistenceLayer extends BasePersistenceLayer {
  readonly #records = new Map<string, IdempotencyRecord>();

  protected async _putRecord(record: IdempotencyRecord): Promise<void> {
    const existing = this.#records.get(record.idempotencyKey);
    const now = Date.now();
    const free =
      existing === undefined ||
      (existing.expiryTimestamp !== undefined && existing.expiryTimestamp * 1000 < now) ||
      (existing.getStatus() === IdempotencyRecordStatus.INPROGRESS && (existing.inProgressExpiryTimestamp ?? 0) < now);
    if (!free) throw new IdempotencyItemAlreadyExistsError(`Failed to put record for already existing idempotency key: ${record.idempotencyKey}`, existing);
    this.#records.set(record.idempotencyKey, record);
  }

  protected async _getRecord(idempotencyKey: string): Promise<IdempotencyRecord> {
    const record = this.#records.get(idempotencyKey);
    if (record === undefined) throw new Error(`no idempotency record ${idempotencyKey}`);
    return record;
  }

  protected async _updateRecord(record: IdempotencyRecord): Promise<void> {
    this.#records.set(record.idempotencyKey, record);
  }

  protected async _deleteRecord(record: IdempotencyRecord): Promise<void> {
    this.#records.delete(record.idempotencyKey);
  }
}

/** Our consumer, wired as the Lambda wires it, over in-memory ports (ledger, control, destination). */
const oursInMemory = (): SqsHandler => {
  const destination = benchDestinationOf(benchPipelineConfig('https://crm.example.com/api'));
  const memory = new MemoryDestination();
  return wireConsumerHandler({
    destination,
    tableName: 'bench-ledger',
    queueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/bench-crm',
    deadLetterQueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/bench-crm-dlq',
    metricsNamespace: 'SyncPipeline',
    serviceName: `bench-${DESTINATION}`,
    logLevel: 'INFO',
    // Never called on these paths (no failure, no retry): the ports below answer everything.
    dynamodb: new DynamoDBClient({ region: 'us-east-1' }),
    sqs: new SQSClient({ region: 'us-east-1' }),
    decorateDestination: () => memory,
    overrides: { ledger: new InMemoryLedgerStore(), control: new InMemoryDestinationControl() },
  }) as SqsHandler;
};

/** The seed baseline over in-memory ports (Powertools records, destination). */
const baselineInMemory = (): SqsHandler =>
  createSeedBaselineHandler({
    persistenceStore: new MemoryPersistenceLayer(),
    client: new MemoryDestination(),
    logger: new Logger({ serviceName: `bench-${DESTINATION}`, logLevel: 'INFO', persistentKeys: { destination: DESTINATION } }),
    metrics: new Metrics({ namespace: 'SyncPipeline', serviceName: `bench-${DESTINATION}`, defaultDimensions: { Destination: DESTINATION } }),
    deadLetter: async () => undefined,
  });

/**
 * A fresh handler of `subject` over in-memory ports, with fresh stores.
 *
 * @example
 * const handler = inMemorySubject('ours');
 */
export const inMemorySubject = (subject: BenchSubject): SqsHandler => (subject === 'ours' ? oursInMemory() : baselineInMemory());

const collectGarbage = (): void => {
  (globalThis as { gc?: () => void }).gc?.();
};

/** CPU microseconds (user + system) the handler spent per record of one pass, and the bytes it printed. */
interface PassFigures {
  readonly cpuMicrosPerRecord: number;
  readonly outputBytesPerRecord: number;
}

const runPass = async (handler: SqsHandler, changes: readonly ChangeEvent[], outputBytes: { value: number }): Promise<PassFigures> => {
  const records = changes.map(sqsRecordOf);
  const contexts = Array.from({ length: Math.ceil(records.length / BATCH_SIZE) }, () =>
    createContext(`bench-${DESTINATION}-consumer`, 'us-east-1', '000000000000', CONSUMER_MEMORY_MB, Date.now() + INVOCATION_MS),
  );
  const before = outputBytes.value;
  // The previous pass's garbage (the other subject's, in an interleaved run) is collected now, not
  // on this pass's clock (`node --expose-gc`, as `npm run bench` runs; without it, it is left to chance).
  collectGarbage();
  const started = process.cpuUsage();
  for (let at = 0; at < records.length; at += BATCH_SIZE) {
    const response = await handler({ Records: records.slice(at, at + BATCH_SIZE) }, contexts[at / BATCH_SIZE]!);
    if (response.batchItemFailures.length > 0) throw new Error(`the bench's records failed: ${JSON.stringify(response.batchItemFailures.slice(0, 3))}`);
  }
  const used = process.cpuUsage(started);
  return { cpuMicrosPerRecord: (used.user + used.system) / records.length, outputBytesPerRecord: (outputBytes.value - before) / records.length };
};

/** One trial of one subject: new records, the same again (duplicates), then older versions of them (stale). */
const runTrial = async (subject: BenchSubject, records: number, trial: number, outputBytes: { value: number }): Promise<Record<RecordKind, PassFigures>> => {
  const handler = inMemorySubject(subject);
  const prefix = `${subject}-${trial}`;
  const fresh = benchChanges(records, APPLIED_VERSION, prefix);
  return {
    new: await runPass(handler, fresh, outputBytes),
    duplicate: await runPass(handler, fresh, outputBytes),
    stale: await runPass(handler, benchChanges(records, APPLIED_VERSION - 2, prefix), outputBytes),
  };
};

export interface HandlerCpuOptions {
  /** Records per pass. @default 20_000 */
  readonly records?: number;
  /** Trials per subject, interleaved (ours, baseline, ours, …). @default 7 */
  readonly trials?: number;
  /** Which subjects to run (a profile of one). @default both */
  readonly subjects?: readonly BenchSubject[];
  /** Told after each trial. */
  readonly onTrial?: (subject: BenchSubject, trial: number) => void;
}

/** Medians over the trials, per subject and record kind. */
export type HandlerCpuFigures = Record<BenchSubject, Record<RecordKind, PassFigures>>;

/**
 * Handler CPU per record, ours against the seed baseline, with in-memory ports so that only the
 * consumers' own work is measured: every trial builds fresh handlers and stores, the subjects
 * alternate, one warm-up trial each is discarded, and the medians are returned. The handlers' output
 * (logs, EMF) is captured and counted, as Lambda's runtime would take it.
 *
 * @example
 * const figures = await measureHandlerCpu({ records: 20_000, trials: 7 });
 * figures.ours.new.cpuMicrosPerRecord / figures.baseline.new.cpuMicrosPerRecord; // the ratio
 */
export const measureHandlerCpu = async (options: HandlerCpuOptions = {}): Promise<HandlerCpuFigures> => {
  const records = options.records ?? 20_000;
  const trials = options.trials ?? 7;
  const outputBytes = { value: 0 };
  const capture = captureJsonOutput((line) => {
    outputBytes.value += Buffer.byteLength(line) + 1;
  });
  const samples: Record<BenchSubject, Array<Record<RecordKind, PassFigures>>> = { ours: [], baseline: [] };
  const subjects = options.subjects ?? BENCH_SUBJECTS;
  try {
    for (const subject of subjects) await runTrial(subject, Math.min(records, 2_000), -1, outputBytes);
    for (let trial = 0; trial < trials; trial += 1) {
      for (const subject of subjects) {
        samples[subject].push(await runTrial(subject, records, trial, outputBytes));
        options.onTrial?.(subject, trial);
      }
    }
  } finally {
    capture.restore();
  }
  const medianOf = (subject: BenchSubject, kind: RecordKind): PassFigures => ({
    cpuMicrosPerRecord: median(samples[subject].map((sample) => sample[kind].cpuMicrosPerRecord)),
    outputBytesPerRecord: median(samples[subject].map((sample) => sample[kind].outputBytesPerRecord)),
  });
  const bySubject = (subject: BenchSubject): Record<RecordKind, PassFigures> => ({
    new: medianOf(subject, RecordKind.NEW),
    duplicate: medianOf(subject, RecordKind.DUPLICATE),
    stale: medianOf(subject, RecordKind.STALE),
  });
  return { ours: bySubject('ours'), baseline: bySubject('baseline') };
};
