import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CreateTableCommand, ResourceInUseException, waitUntilTableExists, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parsePipelineConfig, type DestinationConfig, type PipelineConfig } from '../../config/pipeline-config.ts';
import { consumerServiceName } from '../../config/resources.ts';
import { wireConsumerHandler } from '../../consumer/wiring.ts';
import { MetricDimension, MetricName } from '../../core/metrics.ts';
import { LOCAL_RUN_DEFAULTS } from '../lab/run-settings.ts';
import { EmfStore } from '../sim/emf.ts';
import { createExecutionEnvironments, type SqsBatchHandler } from '../sim/event-source-poller.ts';
import { createLocalResources } from '../sim/local-resources.ts';
import { captureJsonOutput } from '../sim/output-capture.ts';
import { createSeedBaselineHandler, httpSeedClient, type SeedClient } from './seed-baseline.ts';

/**
 * The two consumers the benchmark compares: `ours` (the product's consumer, `wireConsumerHandler`)
 * and `baseline` (the seed post's algorithm with stock Powertools idempotency, see seed-baseline.ts).
 *
 * @example
 * const subject: BenchSubject = 'baseline';
 */
export type BenchSubject = 'ours' | 'baseline';

/**
 * Every subject, in the order a measurement runs them.
 *
 * @example
 * for (const subject of BENCH_SUBJECTS) await runThroughputTrial(subject);
 */
export const BENCH_SUBJECTS: readonly BenchSubject[] = ['ours', 'baseline'];

/**
 * The destination both subjects write to (the shipped config's `crm`).
 *
 * @example
 * fakeApi.stats().byDestination[BENCH_DESTINATION]?.reads;
 */
export const BENCH_DESTINATION = 'crm';

/**
 * The types routed to the bench destination, as the shipped config routes them to `crm`.
 *
 * @example
 * generateDemoStream({ changes: 100, ids: 20, resourceTypes: BENCH_RESOURCE_TYPES });
 */
export const BENCH_RESOURCE_TYPES: readonly string[] = ['contact', 'company'];

/**
 * The bench's pipeline config: the shipped defaults with one HTTP destination `crm` at `baseUrl`
 * (the fake API's `baseUrl('crm')`) and log level INFO, the Lambda default the stack sets.
 *
 * @example
 * const config = benchPipelineConfig(fakeApi.baseUrl('crm'));
 * config.destinations[0]?.batchSize; // 10
 */
export const benchPipelineConfig = (baseUrl: string): PipelineConfig =>
  parsePipelineConfig({
    logLevel: 'INFO',
    destinations: [{ name: BENCH_DESTINATION, kind: 'http', baseUrl, resourceTypes: [...BENCH_RESOURCE_TYPES] }],
  });

/**
 * The bench config's destination (its first).
 *
 * @throws {Error} when the config has no destination
 * @example
 * benchDestinationOf(benchPipelineConfig(fakeApi.baseUrl('crm'))).name; // 'crm'
 */
export const benchDestinationOf = (config: PipelineConfig): DestinationConfig => {
  const [destination] = config.destinations;
  if (destination === undefined) throw new Error('Expected the bench config to have a destination, got none');
  return destination;
};

// ---------------------------------------------------------------------------------------------
// Capacity: pure rules for the on-demand cost model
// ---------------------------------------------------------------------------------------------

/**
 * Capacity units one DynamoDB request consumes, on-demand, for items under 1 KB (writes) and 4 KB
 * (reads), which both subjects' items are: a write request is 1 WRU, a conditional write that fails
 * is charged too (1 WRU); a GetItem is 1 RRU strongly consistent and 0.5 eventually consistent
 * (read from the request's `ConsistentRead`); transactions cost double. Query and Scan depend on
 * the data read and are counted in `unpriced`.
 *
 * @example
 * capacityOf('GetItemCommand', { ConsistentRead: true }); // { writeUnits: 0, readUnits: 1, unpriced: 0 }
 */
export interface Capacity {
  readonly writeUnits: number;
  readonly readUnits: number;
  readonly unpriced: number;
}

const readUnitOf = (consistent: unknown): number => (consistent === true ? 1 : 0.5);
const lengthOf = (value: unknown): number => (Array.isArray(value) ? value.length : 0);

/**
 * The capacity of one DynamoDB request, by command name and input (see {@link Capacity}).
 *
 * @example
 * capacityOf('UpdateItemCommand', {}); // { writeUnits: 1, readUnits: 0, unpriced: 0 }
 * capacityOf('DescribeTableCommand', {}); // { writeUnits: 0, readUnits: 0, unpriced: 0 } (control plane)
 */
export const capacityOf = (command: string, input: Readonly<Record<string, unknown>>): Capacity => {
  const none = { writeUnits: 0, readUnits: 0, unpriced: 0 };
  switch (command) {
    case 'PutItemCommand':
    case 'UpdateItemCommand':
    case 'DeleteItemCommand':
      return { ...none, writeUnits: 1 };
    case 'GetItemCommand':
      return { ...none, readUnits: readUnitOf(input.ConsistentRead) };
    case 'BatchWriteItemCommand':
      return { ...none, writeUnits: Object.values((input.RequestItems ?? {}) as Record<string, unknown>).reduce<number>((sum, items) => sum + lengthOf(items), 0) };
    case 'BatchGetItemCommand': {
      const tables = Object.values((input.RequestItems ?? {}) as Record<string, { Keys?: unknown; ConsistentRead?: unknown }>);
      return { ...none, readUnits: tables.reduce((sum, table) => sum + lengthOf(table.Keys) * readUnitOf(table.ConsistentRead), 0) };
    }
    case 'TransactWriteItemsCommand':
      return { ...none, writeUnits: 2 * lengthOf(input.TransactItems) };
    case 'TransactGetItemsCommand':
      return { ...none, readUnits: 2 * lengthOf(input.TransactItems) };
    case 'QueryCommand':
    case 'ScanCommand':
      return { ...none, unpriced: 1 };
    default:
      return none;
  }
};

// ---------------------------------------------------------------------------------------------
// Counting the requests of an SDK client
// ---------------------------------------------------------------------------------------------

/**
 * Requests one client sent, by command name (`SendMessageBatchCommand`, ...), as SDK middleware
 * saw them: one per `send`, whatever the SDK retried below it.
 *
 * @example
 * const counts: CommandCounts = { commands: { ReceiveMessageCommand: 12 }, total: 12 };
 */
export interface CommandCounts {
  readonly commands: Readonly<Record<string, number>>;
  readonly total: number;
}

/**
 * A DynamoDB client's requests with their capacity estimate (see {@link capacityOf}).
 *
 * `emulatorOnlyReads` are GetItems that happen only on the emulator: a conditional write that asked
 * `ReturnValuesOnConditionCheckFailure: ALL_OLD` failed without the item, which DynamoDB returns
 * and dynalite does not, so the caller read it once (both subjects do; their conditions can fail
 * only on an item that exists). `aws` is the same traffic without them: what DynamoDB would see.
 *
 * @example
 * const usage: DynamoDbUsage = { commands: { UpdateItemCommand: 20 }, total: 20, writeUnits: 20, readUnits: 0, unpriced: 0, emulatorOnlyReads: 0, aws: { total: 20, readUnits: 0 } };
 */
export interface DynamoDbUsage extends CommandCounts, Capacity {
  readonly emulatorOnlyReads: number;
  readonly aws: { readonly total: number; readonly readUnits: number };
}

/**
 * Live counts of one client; see {@link countCommands}.
 *
 * @example
 * const counter: CommandCounter<CommandCounts> = countCommands(sqs);
 * counter.snapshot().total; // 3
 * counter.detach();
 */
export interface CommandCounter<T extends CommandCounts> {
  snapshot(): T;
  reset(): void;
  /** Removes the middleware: nothing more is counted. Safe to call twice. */
  detach(): void;
}

/** The SDK v3 clients the counters take. */
type CountableClient = DynamoDBClient | SQSClient | EventBridgeClient;

/**
 * Adds an initialize-step middleware that sees each command's name and input. The middleware reads
 * nothing service-specific, so one stack type serves both clients.
 */
const addCountingMiddleware = (
  client: CountableClient,
  name: string,
  onCommand: (command: string, input: Readonly<Record<string, unknown>>, send: () => Promise<unknown>) => Promise<unknown>,
): void => {
  const stack = client.middlewareStack as DynamoDBClient['middlewareStack'];
  stack.add(
    (next, context) => async (args) => {
      let result: Awaited<ReturnType<typeof next>> | undefined;
      await onCommand(String(context.commandName), (args.input ?? {}) as Record<string, unknown>, async () => {
        result = await next(args);
      });
      return result!;
    },
    { step: 'initialize', name },
  );
};

const isEmulatorMiss = (error: unknown, input: Readonly<Record<string, unknown>>): boolean =>
  error instanceof Error &&
  error.name === 'ConditionalCheckFailedException' &&
  input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' &&
  (error as { Item?: unknown }).Item === undefined;

/**
 * Counts every request a DynamoDB client sends from now on, with its capacity estimate. Attach it
 * after any setup (tables), so only the subject's own requests count.
 *
 * @example
 * const counter = countDynamoDbCommands(dynamodb);
 * await handler(event, context);
 * counter.snapshot().commands.UpdateItemCommand; // 21
 */
export const countDynamoDbCommands = (client: CountableClient): CommandCounter<DynamoDbUsage> => {
  const commands = new Map<string, number>();
  const totals = { writeUnits: 0, readUnits: 0, unpriced: 0, emulatorOnlyReads: 0 };
  const name = `benchCountDynamoDb-${randomUUID()}`;
  addCountingMiddleware(client, name, async (command, input, send) => {
    const capacity = capacityOf(command, input);
    commands.set(command, (commands.get(command) ?? 0) + 1);
    totals.writeUnits += capacity.writeUnits;
    totals.readUnits += capacity.readUnits;
    totals.unpriced += capacity.unpriced;
    try {
      await send();
    } catch (error) {
      if (isEmulatorMiss(error, input)) totals.emulatorOnlyReads += 1;
      throw error;
    }
  });
  return {
    snapshot: () => {
      const total = [...commands.values()].reduce((sum, n) => sum + n, 0);
      // The emulator-only reads are GetItems the conditional writes' callers sent consistently.
      return { commands: Object.fromEntries(commands), total, ...totals, aws: { total: total - totals.emulatorOnlyReads, readUnits: totals.readUnits - totals.emulatorOnlyReads } };
    },
    reset: () => {
      commands.clear();
      Object.assign(totals, { writeUnits: 0, readUnits: 0, unpriced: 0, emulatorOnlyReads: 0 });
    },
    detach: () => void client.middlewareStack.remove(name),
  };
};

/**
 * Counts every request an SQS client (or any SDK client) sends from now on, by command name.
 *
 * @example
 * const counter = countCommands(sqs);
 * counter.snapshot(); // { commands: { SendMessageBatchCommand: 10 }, total: 10 }
 */
export const countCommands = (client: CountableClient): CommandCounter<CommandCounts> => {
  const commands = new Map<string, number>();
  const name = `benchCount-${randomUUID()}`;
  addCountingMiddleware(client, name, async (command, _input, send) => {
    commands.set(command, (commands.get(command) ?? 0) + 1);
    await send();
  });
  return {
    snapshot: () => ({ commands: Object.fromEntries(commands), total: [...commands.values()].reduce((sum, n) => sum + n, 0) }),
    reset: () => commands.clear(),
    detach: () => void client.middlewareStack.remove(name),
  };
};

// ---------------------------------------------------------------------------------------------
// Capturing the subjects' output
// ---------------------------------------------------------------------------------------------

/**
 * What a subject printed, as CloudWatch Logs would ingest it: Logger lines and EMF lines (Metrics)
 * apart, in bytes with their newline.
 *
 * @example
 * const output: CapturedOutput = { loggerLines: 100, loggerBytes: 41_000, emfLines: 20, emfBytes: 9_000 };
 */
export interface CapturedOutput {
  readonly loggerLines: number;
  readonly loggerBytes: number;
  readonly emfLines: number;
  readonly emfBytes: number;
}

/**
 * Whose invocation the current async work belongs to: its JSON lines go there. While a subject is
 * alive, a JSON line written outside any subject's invocation is dropped (plain text passes).
 */
const outputOwner = new AsyncLocalStorage<(line: string) => void>();
let sharedCapture: { restore(): void } | undefined;
let captureHolders = 0;

/**
 * Installs one capture of stdout and stderr for every live subject (wrapping the streams once per
 * subject could not be undone out of order) and routes each JSON line to the invocation that wrote
 * it. Returns the release; the capture ends with the last one.
 */
const holdCapture = (): (() => void) => {
  captureHolders += 1;
  sharedCapture ??= captureJsonOutput((line) => outputOwner.getStore()?.(line));
  let released = false;
  return () => {
    if (released) return;
    released = true;
    captureHolders -= 1;
    if (captureHolders === 0) {
      sharedCapture?.restore();
      sharedCapture = undefined;
    }
  };
};

// ---------------------------------------------------------------------------------------------
// The subjects
// ---------------------------------------------------------------------------------------------

/**
 * The tables the subjects keep their state in.
 *
 * @example
 * const tableNames: SubjectTableNames = { ledger: 'sync-pipeline-ledger', idempotency: 'sync-pipeline-seed-idempotency' };
 */
export interface SubjectTableNames {
  /** Ours: the version ledger (partition key `pk`). */
  readonly ledger: string;
  /** The baseline: Powertools' idempotency table (partition key `id`, Powertools' default schema). */
  readonly idempotency: string;
}

/**
 * @example
 * const setup: SubjectSetup = { dynamodb, sqs, tableNames, queueUrl, deadLetterQueueUrl, destinationBaseUrl: fakeApi.baseUrl('crm') };
 */
export interface SubjectSetup {
  /** The subject's own clients: every request they send is counted as the subject's. */
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly tableNames: SubjectTableNames;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  /** Where the destination `crm` is (the fake API's `baseUrl('crm')`). */
  readonly destinationBaseUrl: string;
  /** The pipeline config ours runs with. @default benchPipelineConfig(destinationBaseUrl) */
  readonly config?: PipelineConfig;
  /** Both subjects' log level. @default the config's (INFO) */
  readonly logLevel?: PipelineConfig['logLevel'];
}

/**
 * What one subject did since it was created (or last reset).
 *
 * @example
 * const { invocations, handlerMs, dynamodb }: SubjectUsage = handle.usage();
 */
export interface SubjectUsage {
  /** Lambda invocations (handler calls). */
  readonly invocations: number;
  /** Wall-clock milliseconds spent inside the handler, summed over invocations (billed duration). */
  readonly handlerMs: number;
  /** Execution environments created (cold starts); one per concurrent invocation at most. */
  readonly coldStarts: number;
  readonly dynamodb: DynamoDbUsage;
  /** The consumer's own SQS requests (dead letters, retries' visibility, deferrals). */
  readonly sqs: CommandCounts;
  readonly output: CapturedOutput;
  /** The subject's own counts, from its EMF (RecordsApplied, ... with dimension Destination). */
  readonly reported: { readonly applied: number; readonly skipped: number; readonly retried: number; readonly deadLettered: number };
}

/**
 * A subject's handler, instrumented. See {@link createSubjectHandler}.
 *
 * @example
 * const handle: SubjectHandle = createSubjectHandler('ours', setup);
 * await handle.handler(event, context);
 * handle.dispose();
 */
export interface SubjectHandle {
  readonly subject: BenchSubject;
  /** The Lambda handler: each concurrent invocation in an execution environment of its own. */
  readonly handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
  usage(): SubjectUsage;
  /** Starts the counts again from zero (cold starts too). */
  resetUsage(): void;
  /** Stops counting and capturing. Safe to call twice. */
  dispose(): void;
}

const BASELINE_SERVICE = 'seed-baseline';
const DEAD_LETTER_REASON_ATTRIBUTE = 'sync-reason';

/** One execution environment of the baseline: its own Logger, Metrics and persistence layer. */
const baselineEnvironment = (setup: SubjectSetup, config: PipelineConfig, logLevel: PipelineConfig['logLevel']): SqsBatchHandler => {
  const { sqs, deadLetterQueueUrl } = setup;
  return createSeedBaselineHandler({
    persistenceStore: new DynamoDBPersistenceLayer({ tableName: setup.tableNames.idempotency, awsSdkV3Client: setup.dynamodb }),
    client: httpSeedClient(setup.destinationBaseUrl),
    logger: new Logger({ serviceName: BASELINE_SERVICE, logLevel }),
    metrics: new Metrics({
      namespace: config.metricsNamespace,
      serviceName: BASELINE_SERVICE,
      defaultDimensions: { [MetricDimension.DESTINATION]: benchDestinationOf(config).name },
    }),
    deadLetter: async (body, reason) => {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: deadLetterQueueUrl,
          MessageBody: body,
          MessageAttributes: { [DEAD_LETTER_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: reason.slice(0, 256) || 'unknown' } },
        }),
      );
    },
  });
};

/** One execution environment of ours: the consumer as the Lambda entry point wires it. */
const oursEnvironment = (setup: SubjectSetup, config: PipelineConfig, logLevel: PipelineConfig['logLevel']): SqsBatchHandler => {
  const destination = benchDestinationOf(config);
  return wireConsumerHandler({
    destination,
    tableName: setup.tableNames.ledger,
    queueUrl: setup.queueUrl,
    deadLetterQueueUrl: setup.deadLetterQueueUrl,
    metricsNamespace: config.metricsNamespace,
    serviceName: consumerServiceName(config, destination),
    logLevel,
    dynamodb: setup.dynamodb,
    sqs: setup.sqs,
  });
};

/** Tallies of the captured output, and the EMF read back into metrics. */
const createOutputTally = () => {
  let counts = { loggerLines: 0, loggerBytes: 0, emfLines: 0, emfBytes: 0 };
  let emf = new EmfStore();
  return {
    take: (line: string): void => {
      const bytes = Buffer.byteLength(line, 'utf8') + 1;
      if (emf.ingestLine(line)) counts = { ...counts, emfLines: counts.emfLines + 1, emfBytes: counts.emfBytes + bytes };
      else counts = { ...counts, loggerLines: counts.loggerLines + 1, loggerBytes: counts.loggerBytes + bytes };
    },
    counts: (): CapturedOutput => ({ ...counts }),
    emf: () => emf,
    reset: (): void => {
      counts = { loggerLines: 0, loggerBytes: 0, emfLines: 0, emfBytes: 0 };
      emf = new EmfStore();
    },
  };
};

/**
 * Builds one subject's consumer against the given clients and resources, instrumented: its
 * DynamoDB and SQS requests counted by command (middleware on the clients given, removed by
 * `dispose`), its invocations and time in the handler, and its stdout captured (Logger and EMF
 * bytes apart; nothing reaches the terminal). Both subjects run at the same log level (INFO).
 *
 * - `ours`: `wireConsumerHandler` with the config's destination and the ledger table.
 * - `baseline`: `createSeedBaselineHandler` with Powertools' `DynamoDBPersistenceLayer` on the
 *   idempotency table, `httpSeedClient(destinationBaseUrl)`, a Powertools Logger and Metrics, and
 *   dead letters sent to the DLQ with SendMessage.
 *
 * @throws {Error} when the config has no destination
 * @example
 * const handle = createSubjectHandler('baseline', { dynamodb, sqs, tableNames, queueUrl, deadLetterQueueUrl, destinationBaseUrl });
 * const response = await handle.handler(event, context);
 * handle.usage().dynamodb.commands; // { PutItemCommand: 10, UpdateItemCommand: 10 }
 * handle.dispose();
 */
export const createSubjectHandler = (subject: BenchSubject, setup: SubjectSetup): SubjectHandle => {
  const config = setup.config ?? benchPipelineConfig(setup.destinationBaseUrl);
  const logLevel = setup.logLevel ?? config.logLevel;
  // Checked now, not at the first invocation's cold start.
  benchDestinationOf(config);
  const create = subject === 'ours' ? () => oursEnvironment(setup, config, logLevel) : () => baselineEnvironment(setup, config, logLevel);
  const environments = createExecutionEnvironments(create);
  const dynamodb = countDynamoDbCommands(setup.dynamodb);
  const sqs = countCommands(setup.sqs);
  const output = createOutputTally();
  const release = holdCapture();
  const clock = { invocations: 0, handlerMs: 0, coldStartsBefore: 0 };
  const reported = (name: string): number => output.emf().sum(config.metricsNamespace, name, { [MetricDimension.DESTINATION]: BENCH_DESTINATION });

  const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const started = performance.now();
    try {
      return (await outputOwner.run(output.take, () => environments.handler(event, context))) ?? { batchItemFailures: [] };
    } finally {
      clock.invocations += 1;
      clock.handlerMs += performance.now() - started;
    }
  };
  return {
    subject,
    handler,
    usage: () => ({
      invocations: clock.invocations,
      handlerMs: Math.round(clock.handlerMs),
      coldStarts: environments.created() - clock.coldStartsBefore,
      dynamodb: dynamodb.snapshot(),
      sqs: sqs.snapshot(),
      output: output.counts(),
      reported: {
        applied: reported(MetricName.RECORDS_APPLIED),
        skipped: reported(MetricName.RECORDS_SKIPPED),
        retried: reported(MetricName.RECORDS_RETRIED),
        deadLettered: reported(MetricName.RECORDS_DEAD_LETTERED),
      },
    }),
    resetUsage: () => {
      Object.assign(clock, { invocations: 0, handlerMs: 0, coldStartsBefore: environments.created() });
      dynamodb.reset();
      sqs.reset();
      output.reset();
    },
    dispose: () => {
      dynamodb.detach();
      sqs.detach();
      release();
    },
  };
};

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

/**
 * The queues and tables a subject runs against, as created on the emulators.
 *
 * @example
 * const { queueUrl, tableNames }: BenchResources = await createBenchResources({ config, sqs, dynamodb });
 */
export interface BenchResources {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
  readonly tableNames: SubjectTableNames;
}

/**
 * Creates the destination's queues and the ledger table as the local runtime does (visibility
 * timeout of a local run), and Powertools' idempotency table (partition key `id`, string).
 *
 * @throws {Error} when the config has no destination, or a table cannot be created
 * @example
 * const resources = await createBenchResources({ config: benchPipelineConfig(fakeApi.baseUrl('crm')), sqs, dynamodb });
 */
export const createBenchResources = async (options: {
  readonly config: PipelineConfig;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
}): Promise<BenchResources> => {
  const { config, sqs, dynamodb } = options;
  const destination = benchDestinationOf(config);
  const local = await createLocalResources({ config, sqs, dynamodb, visibilityTimeoutSeconds: LOCAL_RUN_DEFAULTS.visibilityTimeoutSeconds });
  const queues = local.destinations[destination.name];
  if (queues === undefined) throw new Error(`Expected queues for destination ${destination.name}, got none`);
  const idempotency = `${config.name}-seed-idempotency`;
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: idempotency,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60, minDelay: 1 }, { TableName: idempotency });
  return {
    queueUrl: queues.queueUrl,
    queueArn: queues.queueArn,
    deadLetterQueueUrl: queues.deadLetterQueueUrl,
    tableNames: { ledger: local.tableName, idempotency },
  };
};
