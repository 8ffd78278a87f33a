import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueNameExists,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { PipelineConfig } from '../../config/pipeline-config.ts';
import { destinationResources, LEDGER_KEY_ATTRIBUTE, ledgerTableName } from '../../config/resources.ts';
import { intInRange, parseOrThrow } from '../../contract/validation.ts';
import { SqsLimits } from '../../core/sqs-limits.ts';

/**
 * The queues of one destination, as created on the emulator (or LocalStack).
 *
 * @example
 * const crm: LocalDestinationQueues | undefined = resources.destinations['crm'];
 */
export interface LocalDestinationQueues {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
}

/**
 * What {@link createLocalResources} created or found.
 *
 * @example
 * const { destinations, tableName }: LocalResources = await createLocalResources({ config, sqs, dynamodb });
 */
export interface LocalResources {
  /** Keyed by destination name (`config.destinations[i].name`). */
  readonly destinations: Readonly<Record<string, LocalDestinationQueues>>;
  /** The version ledger table. */
  readonly tableName: string;
}

/**
 * @example
 * const options: CreateLocalResourcesOptions = { config, sqs, dynamodb, visibilityTimeoutSeconds: 5 };
 */
export interface CreateLocalResourcesOptions {
  readonly config: PipelineConfig;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /**
   * Visibility timeout of every source queue. A local run wants a failed message back within seconds.
   *
   * @default destinationResources(config, destination).visibilityTimeoutSeconds (6x the function timeout, as in the stack)
   */
  readonly visibilityTimeoutSeconds?: number;
}

/** SQS's own bounds for VisibilityTimeout. */
const visibilityTimeoutSchema = intInRange(0, SqsLimits.MAX_VISIBILITY_TIMEOUT_SECONDS).optional();

/** How long to wait for the ledger table to become ACTIVE (instant on dynalite, seconds on LocalStack). */
const TABLE_ACTIVE_MAX_WAIT_SECONDS = 60;

interface QueueIdentity {
  readonly url: string;
  readonly arn: string;
}

/**
 * The SDK names this error after the query-compatible code in the response, so it is not always an
 * instance of the modelled class: fauxqs 2.4.1 yields `AWS.SimpleQueueService.QueueNameExists`,
 * SQS documents `QueueAlreadyExists`.
 */
const isQueueNameExists = (error: unknown): boolean =>
  error instanceof QueueNameExists || (error instanceof Error && /QueueNameExists|QueueAlreadyExists/.test(error.name));

/**
 * Creates a queue with `attributes`, or, when it exists with other settings (a rerun against a
 * long-lived LocalStack after a config change), sets them, so the queue always ends as configured.
 */
const ensureQueue = async (sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<QueueIdentity> => {
  let url: string | undefined;
  try {
    ({ QueueUrl: url } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes })));
  } catch (error) {
    // CreateQueue is idempotent only for identical attributes; anything else is QueueNameExists.
    if (!isQueueNameExists(error)) throw error;
    ({ QueueUrl: url } = await sqs.send(new GetQueueUrlCommand({ QueueName: name })));
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  }
  if (url === undefined) throw new Error(`SQS returned no QueueUrl for queue ${name}`);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = Attributes?.QueueArn;
  if (arn === undefined) throw new Error(`SQS returned no QueueArn for queue ${name} (${url})`);
  return { url, arn };
};

/**
 * Creates the ledger table if it is missing (the key the stack defines), and checks the key of one
 * that exists.
 *
 * @example
 * await ensureLedgerTable(dynamodb, 'sync-pipeline-ledger');
 */
export const ensureLedgerTable = async (dynamodb: DynamoDBClient, tableName: string): Promise<void> => {
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: LEDGER_KEY_ATTRIBUTE, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: LEDGER_KEY_ATTRIBUTE, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: TABLE_ACTIVE_MAX_WAIT_SECONDS, minDelay: 1 }, { TableName: tableName });
  // A table left over from another layout would fail every ledger write later with a vaguer message.
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  const key = Table?.KeySchema ?? [];
  const [partitionKey] = key;
  if (key.length !== 1 || partitionKey?.AttributeName !== LEDGER_KEY_ATTRIBUTE || partitionKey.KeyType !== 'HASH') {
    throw new Error(
      `Table ${tableName} exists with key ${JSON.stringify(key)}; expected only a partition key "${LEDGER_KEY_ATTRIBUTE}". Delete it and run again.`,
    );
  }
};

/**
 * Creates on the emulators (or LocalStack) the resources the CDK stack defines, from the same config
 * and the same names and settings (`destinationResources`, `ledgerTableName`): per destination a
 * DLQ and a source queue redriving to it after `maxReceiveCount` receives, and the ledger table.
 * Idempotent: resources that already exist are reused (queue settings are brought back to the config).
 *
 * TTL on the ledger table is not enabled: dynalite has no `UpdateTimeToLive`, and expiry does not
 * matter within a local run.
 *
 * @throws {ValidationError} when `visibilityTimeoutSeconds` is not an integer from 0 to 43200
 * @example
 * const resources = await createLocalResources({ config, sqs, dynamodb, visibilityTimeoutSeconds: 5 });
 * const crm = resources.destinations['crm'];
 * await sqs.send(new SendMessageCommand({ QueueUrl: crm?.queueUrl, MessageBody: '{}' }));
 */
export const createLocalResources = async (options: CreateLocalResourcesOptions): Promise<LocalResources> => {
  const { config, sqs, dynamodb } = options;
  const visibilityTimeoutOverride = parseOrThrow(visibilityTimeoutSchema, options.visibilityTimeoutSeconds, 'visibilityTimeoutSeconds');

  const createDestinationQueues = async (destination: PipelineConfig['destinations'][number]): Promise<[string, LocalDestinationQueues]> => {
    const resources = destinationResources(config, destination);
    const deadLetter = await ensureQueue(sqs, resources.deadLetterQueueName, {
      MessageRetentionPeriod: String(resources.deadLetterRetentionPeriodSeconds),
    });
    const source = await ensureQueue(sqs, resources.queueName, {
      VisibilityTimeout: String(visibilityTimeoutOverride ?? resources.visibilityTimeoutSeconds),
      MessageRetentionPeriod: String(resources.retentionPeriodSeconds),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetter.arn, maxReceiveCount: resources.maxReceiveCount }),
    });
    return [
      destination.name,
      { queueUrl: source.url, queueArn: source.arn, deadLetterQueueUrl: deadLetter.url, deadLetterQueueArn: deadLetter.arn },
    ];
  };

  const tableName = ledgerTableName(config);
  const [entries] = await Promise.all([
    Promise.all(config.destinations.map(createDestinationQueues)),
    ensureLedgerTable(dynamodb, tableName),
  ]);
  return { destinations: Object.fromEntries(entries), tableName };
};
