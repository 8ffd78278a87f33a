import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { leaseDurationMsFor } from '../../lib/config/resources.ts';
import { serializeChangeEvent } from '../../lib/contract/change-event.ts';
import { wireConsumerHandler } from '../../lib/consumer/wiring.ts';
import { awsClientConfig, startEmulators, type Emulators } from '../../lib/local/emulators.ts';
import { startFakeApi, type FakeApi } from '../../lib/local/fake-api.ts';
import { createLocalResources } from '../../lib/local/local-resources.ts';
import { changeEvent, lambdaContext, sqsEvent, sqsRecord } from '../helpers/factories.ts';

const WRITE_COMMANDS = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand', 'TransactWriteItemsCommand']);

describe('Consumer costs against embedded DynamoDB and SQS', () => {
  let emulators: Emulators;
  let fakeApi: FakeApi;
  let dynamodb: DynamoDBClient;
  let sqs: SQSClient;
  let deadLetterQueueUrl: string;
  let handler: ReturnType<typeof wireConsumerHandler>;
  const commands: string[] = [];
  const writes = () => commands.filter((name) => WRITE_COMMANDS.has(name)).length;

  beforeAll(async () => {
    emulators = await startEmulators();
    fakeApi = await startFakeApi();
    dynamodb = new DynamoDBClient(awsClientConfig(emulators.dynamodbEndpoint));
    sqs = new SQSClient(awsClientConfig(emulators.sqsEndpoint));
    // Count every DynamoDB request the consumer makes, by command name.
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'countCommands' },
    );
    const config = parsePipelineConfig({
      destinations: [{ name: 'crm', kind: 'http', baseUrl: fakeApi.baseUrl('crm'), resourceTypes: ['contact'] }],
    });
    const destination = config.destinations[0]!;
    const resources = await createLocalResources({ config, sqs, dynamodb: new DynamoDBClient(awsClientConfig(emulators.dynamodbEndpoint)) });
    deadLetterQueueUrl = resources.destinations.crm!.deadLetterQueueUrl;
    handler = wireConsumerHandler({
      destination,
      leaseDurationMs: leaseDurationMsFor(destination),
      tableName: resources.tableName,
      queueUrl: resources.destinations.crm!.queueUrl,
      deadLetterQueueUrl,
      metricsNamespace: 'Test',
      serviceName: 'test',
      logLevel: 'ERROR',
      dynamodb,
      sqs,
      overrides: {
        logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
        metrics: new Metrics({ namespace: 'Test', serviceName: 'test' }),
      },
    });
  });

  afterAll(async () => {
    dynamodb.destroy();
    sqs.destroy();
    await fakeApi.stop();
    await emulators.stop();
  });

  const batchOf = (ids: string[], version: number) =>
    sqsEvent(ids.map((id) => sqsRecord(serializeChangeEvent(changeEvent({ id, version })))));
  const ids = Array.from({ length: 10 }, (_, i) => `cost-${i}`);

  it('spends at most 3 DynamoDB writes per applied record, at most 1 per duplicate or stale one, and no reads of the external API', async () => {
    // Act: new versions, then the same versions again, then older ones
    commands.length = 0;
    const applied = await handler(batchOf(ids, 5), lambdaContext());
    const writesPerApplied = writes() / ids.length;

    commands.length = 0;
    const duplicates = await handler(batchOf(ids, 5), lambdaContext());
    const writesPerDuplicate = writes() / ids.length;

    commands.length = 0;
    const stale = await handler(batchOf(ids, 3), lambdaContext());
    const writesPerStale = writes() / ids.length;

    // Assess
    for (const response of [applied, duplicates, stale]) expect(response.batchItemFailures).toEqual([]);
    expect(fakeApi.writeLog().filter((entry) => entry.id.startsWith('cost-'))).toHaveLength(ids.length);
    expect(writesPerApplied).toBeLessThanOrEqual(3);
    expect(writesPerDuplicate).toBeLessThanOrEqual(1);
    expect(writesPerStale).toBeLessThanOrEqual(1);
    expect(fakeApi.stats().reads).toBe(0);
    process.stderr.write(
      `DynamoDB writes per record: applied ${writesPerApplied}, duplicate ${writesPerDuplicate}, stale ${writesPerStale}; external API reads ${fakeApi.stats().reads}\n`,
    );
  });

  it('dead-letters a malformed message with its reason and still applies its batch neighbours', async () => {
    // Prepare
    const good = [changeEvent({ id: 'mixed-1', version: 1 }), changeEvent({ id: 'mixed-2', version: 1 })].map((event) =>
      sqsRecord(serializeChangeEvent(event)),
    );
    const bad = [sqsRecord('not json'), sqsRecord(JSON.stringify({ ...changeEvent(), version: 1.5 })), sqsRecord(JSON.stringify({ ...changeEvent(), id: undefined }))];

    // Act
    const response = await handler(sqsEvent([bad[0]!, good[0]!, bad[1]!, good[1]!, bad[2]!]), lambdaContext());
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: deadLetterQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(fakeApi.record('crm', 'contact', 'mixed-1')?.version).toBe(1);
    expect(fakeApi.record('crm', 'contact', 'mixed-2')?.version).toBe(1);
    const envelopes = Messages.map((message) => JSON.parse(message.Body ?? '{}') as Record<string, unknown>);
    expect(envelopes.map((envelope) => [envelope.messageId, envelope.reason]).sort()).toEqual(
      [
        [bad[0]!.messageId, 'invalid-json'],
        [bad[1]!.messageId, 'invalid-schema'],
        [bad[2]!.messageId, 'invalid-schema'],
      ].sort(),
    );
    expect(Messages.every((message) => message.MessageAttributes?.['sync-reason']?.StringValue !== undefined)).toBe(true);
    expect(envelopes.find((envelope) => envelope.messageId === bad[0]!.messageId)).toMatchObject({
      destination: 'crm',
      attempts: 1,
      originalBody: 'not json',
    });
  });
});
