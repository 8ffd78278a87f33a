// A user's service publishing with the library from the installed package straight to a queue
// (PACK_TEST_SQS_ENDPOINT, PACK_TEST_QUEUE_URL: the embedded SQS the pack test runs), then reading
// back what arrived. Prints one JSON line: each change's status and what the queue holds.
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { publishChanges } from 'sync-pipeline/publish';

const queueUrl = process.env.PACK_TEST_QUEUE_URL;
const client = new SQSClient({
  endpoint: process.env.PACK_TEST_SQS_ENDPOINT,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});

const valid = Array.from({ length: 12 }, (_, i) => ({
  resourceType: 'contact',
  id: `c-${i}`,
  version: i + 1,
  op: 'upsert',
  payload: { email: `c${i}@example.com` },
  // Half carry their own time; the library sets occurredAt on the others.
  ...(i % 2 === 0 ? { occurredAt: '2026-11-27T10:00:00Z' } : {}),
}));
const invalid = { resourceType: 'contact', id: 'c-bad', version: -1, op: 'upsert', payload: {} };
const tooLarge = { resourceType: 'contact', id: 'c-big', version: 1, op: 'upsert', payload: { blob: 'x'.repeat(300 * 1024) } };

const results = await publishChanges([...valid, invalid, tooLarge], { via: 'sqs', client, queueUrl });

const received = [];
for (let empty = 0; empty < 2; ) {
  const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
  if (Messages.length === 0) empty += 1;
  for (const message of Messages) {
    const body = JSON.parse(message.Body);
    received.push({ id: body.id, version: body.version, occurredAt: body.occurredAt });
    await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
  }
}
client.destroy();
process.stdout.write(`${JSON.stringify({ statuses: results.map((result) => result.status), received })}\n`);
