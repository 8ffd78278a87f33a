import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PipelineConfig, parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { destinationResources, LEDGER_KEY_ATTRIBUTE, ledgerTableName } from '../../lib/config/resources.ts';
import { ValidationError } from '../../lib/contract/validation.ts';
import { connectAws, type AwsClients } from '../../lib/local/sim/emulators.ts';
import { createLocalResources } from '../../lib/local/sim/local-resources.ts';
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

describe('Servers of the local runtime', () => {
  it('listen on 127.0.0.1 only: the SQS and DynamoDB emulators and the fake API, while a run is going', async () => {
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
    expect(before).toHaveLength(2);
    expect(started).toHaveLength(3);
    expect([...before, ...started].map((socket) => socket.address)).toEqual(Array(5).fill('127.0.0.1'));
    expect(report.drained).toBe(true);
    // Stopped with the run: only this file's emulators are left.
    expect(listeningSockets()).toEqual(before);
  });
});
