import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { defaultSqsClient, SqsRecordQueue } from '../../lib/adapters/sqs-record-queue.ts';
import { buildDeadLetter, type DeadLetterMessage } from '../../lib/core/dead-letter.ts';
import { awsClientConfig, startEmulators, type Emulators } from '../../lib/local/sim/emulators.ts';

/**
 * The queue adapter's client, made at its first call, with the real SDK against the SQS emulator
 * (fauxqs): what the Lambda entry relies on to start without loading the SDK's SQS client.
 */
let emulators: Emulators;
let admin: SQSClient;
let n = 0;

/**
 * A fresh queue and dead-letter queue, their URLs on the emulator's address (a client configured by
 * the environment sends to the queue URL's host).
 */
const queues = async (): Promise<{ queueUrl: string; deadLetterQueueUrl: string }> => {
  n += 1;
  const [queue, deadLetter] = await Promise.all([
    admin.send(new CreateQueueCommand({ QueueName: `lazy-${n}` })),
    admin.send(new CreateQueueCommand({ QueueName: `lazy-${n}-dlq` })),
  ]);
  const onEmulator = (url: string) => new URL(new URL(url).pathname, emulators.sqsEndpoint).href;
  return { queueUrl: onEmulator(queue.QueueUrl!), deadLetterQueueUrl: onEmulator(deadLetter.QueueUrl!) };
};

const letter = (body: string): DeadLetterMessage =>
  buildDeadLetter({ reason: 'rejected', message: 'HTTP 400', destination: 'crm', messageId: `m-${body}`, attempts: 1, firstAttemptAt: 0, lastAttemptAt: 0, body, attributes: {} });

const bodiesIn = async (queueUrl: string): Promise<string[]> => {
  const { Messages = [] } = await admin.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
  return Messages.map((message) => message.Body ?? '');
};

beforeAll(async () => {
  emulators = await startEmulators();
  admin = new SQSClient(awsClientConfig(emulators.sqsEndpoint));
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.doUnmock('@aws-sdk/client-sqs');
});

afterAll(async () => {
  admin.destroy();
  await emulators.stop();
});

describe('SqsRecordQueue', () => {
  it('makes its client at the first call, not before, and once for the calls after', async () => {
    // Prepare
    const urls = await queues();
    const client = new SQSClient(awsClientConfig(emulators.sqsEndpoint));
    const makeClient = vi.fn(() => client);
    const queue = new SqsRecordQueue({ client: makeClient, ...urls });
    expect(makeClient).not.toHaveBeenCalled();

    // Act
    await Promise.all([
      queue.deadLetter(letter('letter-1')),
      queue.deadLetter(letter('letter-2')),
    ]);
    const deferred = await queue.defer([{ messageId: 'm-1', body: 'later', delaySeconds: 0, attributes: {} }]);

    // Assess
    expect(makeClient).toHaveBeenCalledTimes(1);
    expect((await bodiesIn(urls.deadLetterQueueUrl)).sort()).toEqual(['letter-1', 'letter-2']);
    expect(deferred).toEqual([{ messageId: 'm-1', sentAs: expect.any(String) }]);
    expect(await bodiesIn(urls.queueUrl)).toEqual(['later']);
    client.destroy();
  });

  it("with defaultSqsClient, sends with the SDK's own client, configured from the environment as on Lambda", async () => {
    // Prepare: what the function's environment gives the SDK (the endpoint: the emulator's)
    const urls = await queues();
    await admin.send(new SendMessageCommand({ QueueUrl: urls.queueUrl, MessageBody: 'probe' }));
    vi.stubEnv('AWS_ENDPOINT_URL_SQS', emulators.sqsEndpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('AWS_SESSION_TOKEN', 'test');
    const queue = new SqsRecordQueue({ client: defaultSqsClient, ...urls });

    // Act
    const received = await queue.receiveOne(30);
    await queue.delete(received!.receiptHandle);

    // Assess
    expect(received).toMatchObject({ body: 'probe' });
    expect(await bodiesIn(urls.queueUrl)).toEqual([]);
  });

  it('says which package it could not load when the SDK is missing: a dead letter fails, a deferral is reported failed', async () => {
    // Prepare: the runtime without @aws-sdk/client-sqs
    const urls = await queues();
    vi.doMock('@aws-sdk/client-sqs', () => {
      throw new Error("Cannot find package '@aws-sdk/client-sqs'");
    });
    const queue = new SqsRecordQueue({ client: () => admin, ...urls });

    // Act
    const deadLetter = queue.deadLetter(letter('letter'));
    const deferred = await queue.defer([{ messageId: 'm-1', body: 'later', delaySeconds: 0, attributes: {} }]);

    // Assess: the message a deferral could not send stays on its queue, retried
    await expect(deadLetter).rejects.toThrow(/^could not load @aws-sdk\/client-sqs to reach the queues: /);
    expect(deferred).toEqual([{ messageId: 'm-1', error: expect.stringMatching(/^could not load @aws-sdk\/client-sqs to reach the queues: /) }]);
  });
});
