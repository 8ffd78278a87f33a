import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ListTagsOfResourceCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, ListQueueTagsCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PipelineConfig, parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { destinationResources, LEDGER_KEY_ATTRIBUTE, ledgerTableName } from '../../lib/config/resources.ts';
import { ValidationError } from '../../lib/contract/validation.ts';
import { connectAws, type AwsClients } from '../../lib/local/sim/emulators.ts';
import { createLocalResources, LOCAL_OWNER_TAG, LocalResourceError, purgeOwnQueues } from '../../lib/local/sim/local-resources.ts';
import { runLocalPipeline } from '../../lib/local/run-pipeline.ts';
import { listeningSockets, type ListeningSocket } from '../helpers/listening-sockets.ts';

let aws: AwsClients;
let sqs: SQSClient;
let dynamodb: DynamoDBClient;

/** Each test gets its own resource names, so the tests do not depend on each other's leftovers. */
const configNamed = (name: string): PipelineConfig =>
  parsePipelineConfig({
    name,
    destinations: [
      { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'], retry: { maxReceiveCount: 3 } },
      { name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['order'] },
    ],
  });

const queueAttributes = async (queueUrl: string): Promise<Record<string, string>> => {
  const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }));
  return Attributes;
};

beforeAll(async () => {
  aws = await connectAws();
  ({ sqs, dynamodb } = aws);
});

afterAll(async () => {
  await aws.stop();
});

describe('Function: createLocalResources', () => {
  it('creates per destination a DLQ and a queue redriving to it with the settings of the stack', async () => {
    // Prepare
    const config = configNamed('lr-queues');

    // Act
    const resources = await createLocalResources({ config, sqs, dynamodb });

    // Assess
    expect(Object.keys(resources.destinations).sort()).toEqual(['crm', 'erp']);
    for (const destination of config.destinations) {
      const expected = destinationResources(config, destination);
      const queues = resources.destinations[destination.name];
      expect(queues?.queueUrl).toMatch(new RegExp(`/${expected.queueName}$`));
      expect(queues?.deadLetterQueueUrl).toMatch(new RegExp(`/${expected.deadLetterQueueName}$`));
      expect(queues?.queueArn).toMatch(new RegExp(`^arn:aws:sqs:us-east-1:\\d{12}:${expected.queueName}$`));
      const source = await queueAttributes(queues?.queueUrl ?? '');
      expect(source).toMatchObject({
        QueueArn: queues?.queueArn,
        VisibilityTimeout: String(expected.visibilityTimeoutSeconds),
        MessageRetentionPeriod: String(expected.retentionPeriodSeconds),
      });
      expect(JSON.parse(source.RedrivePolicy ?? '{}')).toEqual({
        deadLetterTargetArn: queues?.deadLetterQueueArn,
        maxReceiveCount: expected.maxReceiveCount,
      });
      const deadLetter = await queueAttributes(queues?.deadLetterQueueUrl ?? '');
      expect(deadLetter).toMatchObject({
        QueueArn: queues?.deadLetterQueueArn,
        MessageRetentionPeriod: String(expected.deadLetterRetentionPeriodSeconds),
      });
      expect(deadLetter.RedrivePolicy).toBeUndefined();
    }
    // The configured value, not the default of 8, reached the queue.
    expect(JSON.parse((await queueAttributes(resources.destinations['crm']?.queueUrl ?? '')).RedrivePolicy ?? '{}')).toMatchObject({
      maxReceiveCount: 3,
    });
  });

  it('creates the ledger table with the partition key pk, billed per request', async () => {
    // Prepare
    const config = configNamed('lr-table');

    // Act
    const { tableName } = await createLocalResources({ config, sqs, dynamodb });

    // Assess
    expect(tableName).toBe(ledgerTableName(config));
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table).toMatchObject({
      TableStatus: 'ACTIVE',
      KeySchema: [{ AttributeName: LEDGER_KEY_ATTRIBUTE, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: LEDGER_KEY_ATTRIBUTE, AttributeType: 'S' }],
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
    });
  });

  it('succeeds when run twice, returning the same resources', async () => {
    // Prepare
    const config = configNamed('lr-twice');
    const first = await createLocalResources({ config, sqs, dynamodb });

    // Act
    const second = await createLocalResources({ config, sqs, dynamodb });

    // Assess
    expect(second).toEqual(first);
  });

  it('brings an existing queue back to the config when rerun with another visibility timeout', async () => {
    // Prepare: a local run with a short visibility timeout left the queue behind
    const config = configNamed('lr-rerun');
    const local = await createLocalResources({ config, sqs, dynamodb, visibilityTimeoutSeconds: 2 });
    expect(await queueAttributes(local.destinations['crm']?.queueUrl ?? '')).toMatchObject({ VisibilityTimeout: '2' });

    // Act
    const rerun = await createLocalResources({ config, sqs, dynamodb });

    // Assess
    const expected = destinationResources(config, config.destinations[0] as PipelineConfig['destinations'][number]);
    const source = await queueAttributes(rerun.destinations['crm']?.queueUrl ?? '');
    expect(source).toMatchObject({ VisibilityTimeout: String(expected.visibilityTimeoutSeconds) });
    expect(JSON.parse(source.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: rerun.destinations['crm']?.deadLetterQueueArn,
      maxReceiveCount: 3,
    });
    expect(rerun).toEqual(local);
  });

  it.each([-1, 1.5, 43_201])('rejects visibilityTimeoutSeconds %s', async (visibilityTimeoutSeconds) => {
    // Prepare
    const config = configNamed('lr-invalid');

    // Act
    const creating = createLocalResources({ config, sqs, dynamodb, visibilityTimeoutSeconds });

    // Assess
    await expect(creating).rejects.toThrow(ValidationError);
    await expect(creating).rejects.toThrow(`expected an integer from 0 to 43200, got ${visibilityTimeoutSeconds}`);
  });
});

/** A ledger table made without the owner tag. */
const createUntaggedTable = async (tableName: string): Promise<void> => {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: LEDGER_KEY_ATTRIBUTE, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: LEDGER_KEY_ATTRIBUTE, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
};

/** Queues and a table of a config's names, made without the owner tag: a deployed stack's stand-ins. */
const createForeignResources = async (config: PipelineConfig, visibilityTimeoutSeconds: number): Promise<void> => {
  for (const destination of config.destinations) {
    const names = destinationResources(config, destination);
    for (const name of [names.queueName, names.deadLetterQueueName]) {
      await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: String(visibilityTimeoutSeconds) } }));
    }
  }
  await createUntaggedTable(ledgerTableName(config));
};

const queueUrlOf = (name: string): string => `${aws.sqsEndpoint}/000000000000/${name}`;

describe('Function: createLocalResources, whose resources', () => {
  it('tags every queue and the table it creates sync-pipeline:owner=local', async () => {
    // Prepare
    const config = configNamed('lr-tags');

    // Act
    const resources = await createLocalResources({ config, sqs, dynamodb });

    // Assess
    expect(LOCAL_OWNER_TAG).toEqual({ key: 'sync-pipeline:owner', value: 'local' });
    expect(resources.ownership).toBe('own');
    for (const queues of Object.values(resources.destinations)) {
      for (const url of [queues.queueUrl, queues.deadLetterQueueUrl]) {
        expect((await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags).toEqual({ 'sync-pipeline:owner': 'local' });
      }
    }
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: resources.tableName }));
    const { Tags } = await dynamodb.send(new ListTagsOfResourceCommand({ ResourceArn: Table?.TableArn }));
    expect(Tags).toEqual([{ Key: 'sync-pipeline:owner', Value: 'local' }]);
  });

  it('refuses a queue of the same name without the tag, and leaves its attributes as they were', async () => {
    // Prepare: someone else's queues and table under the names the config gives
    const config = configNamed('lr-foreign');
    await createForeignResources(config, 7);

    // Act
    const creating = createLocalResources({ config, sqs, dynamodb });

    // Assess
    await expect(creating).rejects.toThrow(LocalResourceError);
    await expect(creating).rejects.toThrow(/^Queue lr-foreign-(crm|erp)(-dlq)? exists without the tag sync-pipeline:owner=local: it was not created by the local runtime/);
    for (const name of ['lr-foreign-crm', 'lr-foreign-crm-dlq', 'lr-foreign-erp', 'lr-foreign-erp-dlq']) {
      const attributes = await queueAttributes(queueUrlOf(name));
      expect(attributes.VisibilityTimeout, name).toBe('7');
      expect(attributes.RedrivePolicy, name).toBeUndefined();
    }
  });

  it('refuses a table of the same name without the tag', async () => {
    // Prepare: only the table is someone else's
    const config = configNamed('lr-foreign-table');
    await createUntaggedTable(ledgerTableName(config));

    // Act & Assess
    await expect(createLocalResources({ config, sqs, dynamodb })).rejects.toThrow('Table lr-foreign-table-ledger exists without the tag sync-pipeline:owner=local');
  });

  it("uses a deployed stack's resources by name as they are, with ownership 'deployed'", async () => {
    // Prepare
    const config = configNamed('lr-deployed');
    await createForeignResources(config, 9);

    // Act
    const resources = await createLocalResources({ config, sqs, dynamodb, ownership: 'deployed', visibilityTimeoutSeconds: 2 });

    // Assess: found, never reconfigured (no redrive policy added, visibility timeout kept), never tagged
    expect(resources.ownership).toBe('deployed');
    expect(resources.tableName).toBe('lr-deployed-ledger');
    const crm = resources.destinations['crm']!;
    expect(crm.queueUrl).toMatch(/\/lr-deployed-crm$/);
    expect(crm.deadLetterQueueArn).toMatch(/:lr-deployed-crm-dlq$/);
    const attributes = await queueAttributes(crm.queueUrl);
    expect(attributes.VisibilityTimeout).toBe('9');
    expect(attributes.RedrivePolicy).toBeUndefined();
    expect((await sqs.send(new ListQueueTagsCommand({ QueueUrl: crm.queueUrl }))).Tags ?? {}).toEqual({});
  });

  it('refuses to run on a deployed stack that is missing a queue or the table, naming it', async () => {
    // Prepare: nothing of lr-missing exists; lr-half has its queues but no table
    const missing = configNamed('lr-missing');
    const half = configNamed('lr-half');
    for (const destination of half.destinations) {
      const names = destinationResources(half, destination);
      for (const name of [names.queueName, names.deadLetterQueueName]) await sqs.send(new CreateQueueCommand({ QueueName: name }));
    }

    // Act & Assess
    await expect(createLocalResources({ config: missing, sqs, dynamodb, ownership: 'deployed' })).rejects.toThrow(
      /^Queue lr-missing-(crm|erp)(-dlq)? of the deployed stack was not found on this endpoint: deploy the stack there first/,
    );
    await expect(createLocalResources({ config: half, sqs, dynamodb, ownership: 'deployed' })).rejects.toThrow('Table lr-half-ledger of the deployed stack was not found on this endpoint');
  });
});

describe('Function: purgeOwnQueues', () => {
  it('purges the queues the local runtime made', async () => {
    // Prepare
    const config = configNamed('lr-purge');
    const resources = await createLocalResources({ config, sqs, dynamodb });
    await sqs.send(new SendMessageCommand({ QueueUrl: resources.destinations['crm']!.queueUrl, MessageBody: '{}' }));

    // Act
    await purgeOwnQueues(sqs, resources);

    // Assess
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.destinations['crm']!.queueUrl, WaitTimeSeconds: 0 }));
    expect(Messages).toHaveLength(0);
  });

  it("never purges a deployed stack's queues, nor a queue without the tag", async () => {
    // Prepare
    const config = configNamed('lr-nopurge');
    await createForeignResources(config, 7);
    const deployed = await createLocalResources({ config, sqs, dynamodb, ownership: 'deployed' });
    await sqs.send(new SendMessageCommand({ QueueUrl: deployed.destinations['crm']!.queueUrl, MessageBody: '{"kept":true}' }));

    // Act
    const asDeployed = purgeOwnQueues(sqs, deployed);
    const disguised = purgeOwnQueues(sqs, { ...deployed, ownership: 'own' });

    // Assess
    await expect(asDeployed).rejects.toThrow("The deployed stack's queues are never purged by the local runtime");
    await expect(disguised).rejects.toThrow(/exists without the tag sync-pipeline:owner=local/);
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deployed.destinations['crm']!.queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
    expect(Attributes?.ApproximateNumberOfMessages).toBe('1');
  });
});

describe('Servers of the local runtime', () => {
  it('listen on 127.0.0.1 only: the SQS and DynamoDB emulators, the fake API and the EventBridge bus, while a run is going', async () => {
    // Prepare: the emulators of this file (beforeAll) are listening already
    const before = listeningSockets();
    let during: ListeningSocket[] = [];

    // Act: the kernel's list of this process's listening sockets, taken while the run publishes
    const report = await runLocalPipeline({
      config: configNamed('lr-loopback'),
      changes: 20,
      rate: 0,
      logFile: join(mkdtempSync(join(tmpdir(), 'lr-loopback-')), 'run.log'),
      onProgress: () => {
        if (during.length === 0) during = listeningSockets();
      },
    });

    // Assess
    const started = during.filter((socket) => !before.some((earlier) => earlier.port === socket.port));
    // The run's own: its SQS and DynamoDB emulators, the fake API and the EventBridge bus.
    expect(before).toHaveLength(2);
    expect(started).toHaveLength(4);
    expect([...before, ...started].map((socket) => socket.address)).toEqual(Array(6).fill('127.0.0.1'));
    expect(report.drained).toBe(true);
    // Stopped with the run: only this file's emulators are left.
    expect(listeningSockets()).toEqual(before);
  });
});
