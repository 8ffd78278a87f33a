import { CreateQueueCommand, ReceiveMessageCommand, SendMessageBatchCommand, type Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAws, type AwsClients } from '../../lib/local/sim/emulators.ts';
import { startQueueSampler } from '../../lib/local/sim/queue-sampler.ts';

let aws: AwsClients;

beforeAll(async () => {
  aws = await connectAws();
});

afterAll(async () => {
  await aws.stop();
});

const queueWith = async (name: string, messages: number): Promise<string> => {
  const { QueueUrl = '' } = await aws.sqs.send(new CreateQueueCommand({ QueueName: name }));
  if (messages > 0) await aws.sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: messages }, (_, i) => ({ Id: String(i), MessageBody: `{"n":${i}}` })) }));
  return QueueUrl;
};

describe('Function: startQueueSampler', () => {
  it('samples each queue at once: visible and in-flight messages from GetQueueAttributes', async () => {
    // Prepare: crm holds 5 messages, 2 of them received (in flight); erp is empty
    const crm = await queueWith('qs-crm', 5);
    const erp = await queueWith('qs-erp', 0);
    await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: crm, MaxNumberOfMessages: 2, VisibilityTimeout: 60 }));

    // Act: stop() waits for the round that started with the sampler
    const sampler = startQueueSampler({ sqs: aws.sqs, queueUrls: { crm, erp }, intervalMs: 60_000 });
    await sampler.stop();

    // Assess
    const depth = sampler.observations().depth.map(({ destination, visible, inFlight }) => ({ destination, visible, inFlight }));
    expect(depth.sort((a, b) => a.destination.localeCompare(b.destination))).toEqual([
      { destination: 'crm', visible: 3, inFlight: 2 },
      { destination: 'erp', visible: 0, inFlight: 0 },
    ]);
  });

  it('keeps per receive the age of its oldest message, from SentTimestamp, since SQS has no such attribute', async () => {
    // Prepare
    const now = 1_000_000;
    const sampler = startQueueSampler({ sqs: aws.sqs, queueUrls: {}, now: () => now });
    const sentAgo = (ms: number): Message => ({ MessageId: String(ms), Attributes: { SentTimestamp: String(now - ms) } });

    // Act
    sampler.received('crm', [sentAgo(250), sentAgo(1_800), sentAgo(40)]);
    sampler.received('crm', [{ MessageId: 'no-attributes' }]);
    sampler.received('erp', [sentAgo(5)]);
    await sampler.stop();

    // Assess
    expect(sampler.observations().receivedAges).toEqual([
      { destination: 'crm', at: now, oldestAgeMs: 1_800 },
      { destination: 'erp', at: now, oldestAgeMs: 5 },
    ]);
  });
});
