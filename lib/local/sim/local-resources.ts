import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ListTagsOfResourceCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  TagResourceCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueueTagsCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
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
 * Whose resources a local run uses: its `own` (created and tagged by the local runtime, the only
 * ones it ever reconfigures or purges), or the `deployed` stack's (found by the stack's names, used
 * as they are: never reconfigured, never purged).
 */
export const ResourceOwnership = { OWN: 'own', DEPLOYED: 'deployed' } as const;
export type ResourceOwnership = (typeof ResourceOwnership)[keyof typeof ResourceOwnership];

/** The tag the local runtime sets on every queue and table it creates; it touches no other. */
export const LOCAL_OWNER_TAG = { key: 'sync-pipeline:owner', value: 'local' } as const;

/**
 * The config name of the local runtime's own resources on an endpoint: `local-<name>`, so they never
 * take a deployed stack's names (which are `<name>-…`).
 *
 * @example
 * localResourceName({ name: 'sync-pipeline' }); // 'local-sync-pipeline'
 */
export const localResourceName = (config: Pick<PipelineConfig, 'name'>): string => `local-${config.name}`;

/** Raised when a resource the run would use is missing or belongs to someone else; it was not touched. */
export class LocalResourceError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LocalResourceError';
  }
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
  /** Whose they are: only `own` resources may be purged or reconfigured. */
  readonly ownership: ResourceOwnership;
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
  /**
   * `own`: create the resources (tagged {@link LOCAL_OWNER_TAG}) or reuse those that carry the tag,
   * bringing their settings back to the config; one of the same name without the tag is refused.
   * `deployed`: find the stack's resources by name and use them as they are; a missing one is refused.
   * @default 'own'
   */
  readonly ownership?: ResourceOwnership;
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

const isQueueMissing = (error: unknown): boolean =>
  error instanceof QueueDoesNotExist || (error instanceof Error && /QueueDoesNotExist|NonExistentQueue/.test(error.name));

const queueArnOf = async (sqs: SQSClient, name: string, url: string): Promise<string> => {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = Attributes?.QueueArn;
  if (arn === undefined) throw new Error(`SQS returned no QueueArn for queue ${name} (${url})`);
  return arn;
};

/** The URL of queue `name`, or undefined when there is none. */
const findQueueUrl = async (sqs: SQSClient, name: string): Promise<string | undefined> => {
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (error) {
    if (isQueueMissing(error)) return undefined;
    throw error;
  }
};

/** Whether the queue carries {@link LOCAL_OWNER_TAG}: the local runtime made it. */
const isOwnQueue = async (sqs: SQSClient, url: string): Promise<boolean> => {
  const { Tags } = await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }));
  return Tags?.[LOCAL_OWNER_TAG.key] === LOCAL_OWNER_TAG.value;
};

const notOurs = (kind: string, name: string): LocalResourceError =>
  new LocalResourceError(
    `${kind} ${name} exists without the tag ${LOCAL_OWNER_TAG.key}=${LOCAL_OWNER_TAG.value}: it was not created by the local runtime (a deployed stack's, or someone else's), so it is left as it is. ` +
      'Use --use-deployed to run against the deployed stack, or another --name.',
  );

/**
 * Creates a queue with `attributes` and the owner tag, or, when one of that name carries the tag
 * (a rerun against a long-lived endpoint after a config change), sets them, so the queue always
 * ends as configured. A queue of that name without the tag is refused, never modified.
 */
const ensureOwnQueue = async (sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<QueueIdentity> => {
  let url = await findQueueUrl(sqs, name);
  if (url === undefined) {
    try {
      ({ QueueUrl: url } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes, tags: { [LOCAL_OWNER_TAG.key]: LOCAL_OWNER_TAG.value } })));
    } catch (error) {
      // Created by someone else since GetQueueUrl: CreateQueue is idempotent only for identical attributes.
      if (!isQueueNameExists(error)) throw error;
      url = await findQueueUrl(sqs, name);
    }
    if (url === undefined) throw new Error(`SQS returned no QueueUrl for queue ${name}`);
  }
  // Also after CreateQueue: it returns an existing queue of identical attributes, whoever made it.
  if (!(await isOwnQueue(sqs, url))) throw notOurs('Queue', name);
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  return { url, arn: await queueArnOf(sqs, name, url) };
};

/** A deployed queue, found by name and used as it is. */
const findDeployedQueue = async (sqs: SQSClient, name: string): Promise<QueueIdentity> => {
  const url = await findQueueUrl(sqs, name);
  if (url === undefined) {
    throw new LocalResourceError(`Queue ${name} of the deployed stack was not found on this endpoint: deploy the stack there first (npx cdk deploy), or run without --use-deployed to use the local runtime's own queues`);
  }
  return { url, arn: await queueArnOf(sqs, name, url) };
};

/**
 * Purges the queues of `resources` that carry the owner tag: they may hold messages from an earlier
 * run. Refuses resources that are not the local runtime's own, and checks each queue's tag again
 * before purging it, so a deployed queue is never purged.
 *
 * @throws {LocalResourceError} for `deployed` resources, or a queue without the tag
 * @example
 * await purgeOwnQueues(sqs, resources);
 */
export const purgeOwnQueues = async (sqs: SQSClient, resources: LocalResources): Promise<void> => {
  if (resources.ownership !== ResourceOwnership.OWN) throw new LocalResourceError('The deployed stack\'s queues are never purged by the local runtime');
  for (const queues of Object.values(resources.destinations)) {
    for (const url of [queues.queueUrl, queues.deadLetterQueueUrl]) {
      if (!(await isOwnQueue(sqs, url))) throw notOurs('Queue', url);
      // PurgeQueue may be refused within 60 s of the last purge (PurgeQueueInProgress): the queue is then being emptied anyway.
      await sqs.send(new PurgeQueueCommand({ QueueUrl: url })).catch(() => undefined);
    }
  }
};

/** Whether the table carries {@link LOCAL_OWNER_TAG}: the local runtime made it. */
const isOwnTable = async (dynamodb: DynamoDBClient, tableArn: string): Promise<boolean> => {
  const { Tags = [] } = await dynamodb.send(new ListTagsOfResourceCommand({ ResourceArn: tableArn }));
  return Tags.some((tag) => tag.Key === LOCAL_OWNER_TAG.key && tag.Value === LOCAL_OWNER_TAG.value);
};

/**
 * Creates the ledger table if it is missing (the key the stack defines, tagged {@link LOCAL_OWNER_TAG}),
 * and checks the key of one that exists. With `ownership` `own` (the default) an existing table must
 * carry the tag (the local runtime writes ledger items into it); with `deployed` it must exist and is
 * used as it is.
 *
 * @throws {LocalResourceError} when an existing table is not the local runtime's own, or a deployed one is missing
 * @example
 * await ensureLedgerTable(dynamodb, 'sync-pipeline-ledger');
 */
export const ensureLedgerTable = async (dynamodb: DynamoDBClient, tableName: string, ownership: ResourceOwnership = ResourceOwnership.OWN): Promise<void> => {
  const tags = [{ Key: LOCAL_OWNER_TAG.key, Value: LOCAL_OWNER_TAG.value }];
  let created = false;
  if (ownership === ResourceOwnership.OWN) {
    try {
      await dynamodb.send(
        new CreateTableCommand({
          TableName: tableName,
          AttributeDefinitions: [{ AttributeName: LEDGER_KEY_ATTRIBUTE, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: LEDGER_KEY_ATTRIBUTE, KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
          Tags: tags,
        }),
      );
      created = true;
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
  }
  if (ownership === ResourceOwnership.DEPLOYED) {
    await dynamodb.send(new DescribeTableCommand({ TableName: tableName })).catch((error: unknown) => {
      if (!(error instanceof ResourceNotFoundException)) throw error;
      throw new LocalResourceError(`Table ${tableName} of the deployed stack was not found on this endpoint: deploy the stack there first (npx cdk deploy), or run without --use-deployed to use the local runtime's own table`, { cause: error });
    });
  }
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: TABLE_ACTIVE_MAX_WAIT_SECONDS, minDelay: 1 }, { TableName: tableName });
  // A table left over from another layout would fail every ledger write later with a vaguer message.
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  if (ownership === ResourceOwnership.OWN && Table?.TableArn !== undefined) {
    // dynalite ignores CreateTable's Tags: the tag is set again on the table just made.
    if (created) await dynamodb.send(new TagResourceCommand({ ResourceArn: Table.TableArn, Tags: tags }));
    else if (!(await isOwnTable(dynamodb, Table.TableArn))) throw notOurs('Table', tableName);
  }
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
 * Idempotent: the local runtime's own resources (tagged {@link LOCAL_OWNER_TAG}) that already exist
 * are reused, their queue settings brought back to the config; one of the same name without the tag
 * is refused, never modified. With `ownership: 'deployed'` nothing is created or changed: the
 * stack's resources are found by their names.
 *
 * TTL on the ledger table is not enabled: dynalite has no `UpdateTimeToLive`, and expiry does not
 * matter within a local run.
 *
 * @throws {ValidationError} when `visibilityTimeoutSeconds` is not an integer from 0 to 43200
 * @throws {LocalResourceError} when a resource is not the local runtime's own, or a deployed one is missing
 * @example
 * const resources = await createLocalResources({ config, sqs, dynamodb, visibilityTimeoutSeconds: 5 });
 * const crm = resources.destinations['crm'];
 * await sqs.send(new SendMessageCommand({ QueueUrl: crm?.queueUrl, MessageBody: '{}' }));
 */
export const createLocalResources = async (options: CreateLocalResourcesOptions): Promise<LocalResources> => {
  const { config, sqs, dynamodb } = options;
  const ownership = options.ownership ?? ResourceOwnership.OWN;
  const visibilityTimeoutOverride = parseOrThrow(visibilityTimeoutSchema, options.visibilityTimeoutSeconds, 'visibilityTimeoutSeconds');

  const createDestinationQueues = async (destination: PipelineConfig['destinations'][number]): Promise<[string, LocalDestinationQueues]> => {
    const resources = destinationResources(config, destination);
    if (ownership === ResourceOwnership.DEPLOYED) {
      const [source, deadLetter] = await Promise.all([findDeployedQueue(sqs, resources.queueName), findDeployedQueue(sqs, resources.deadLetterQueueName)]);
      return [destination.name, { queueUrl: source.url, queueArn: source.arn, deadLetterQueueUrl: deadLetter.url, deadLetterQueueArn: deadLetter.arn }];
    }
    const deadLetter = await ensureOwnQueue(sqs, resources.deadLetterQueueName, {
      MessageRetentionPeriod: String(resources.deadLetterRetentionPeriodSeconds),
    });
    const source = await ensureOwnQueue(sqs, resources.queueName, {
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
    ensureLedgerTable(dynamodb, tableName, ownership),
  ]);
  return { destinations: Object.fromEntries(entries), tableName, ownership };
};
