import { readDeadLetter, receiveAll } from '../../lib/ops/dead-letters.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeChangeEvent } from '../../lib/contract/change-event.ts';
import { startEmulatedConsumer, type EmulatedConsumer } from '../helpers/emulated-consumer.ts';
import { changeEvent, lambdaContext, sqsEvent, sqsRecord } from '../helpers/factories.ts';

const WRITE_COMMANDS = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand', 'TransactWriteItemsCommand']);

describe('Consumer costs against embedded DynamoDB and SQS', () => {
  let consumer: EmulatedConsumer;
  const commands: string[] = [];
  const writes = () => commands.filter((name) => WRITE_COMMANDS.has(name)).length;

  beforeAll(async () => {
    consumer = await startEmulatedConsumer({ logLevel: 'ERROR', onDynamoDbCommand: (name) => commands.push(name) });
  });

  afterAll(async () => {
    await consumer.stop();
  });

  const batchOf = (ids: string[], version: number) =>
    sqsEvent(ids.map((id) => sqsRecord(serializeChangeEvent(changeEvent({ id, version })))));
  const ids = Array.from({ length: 10 }, (_, i) => `cost-${i}`);

  it('spends at most 3 DynamoDB writes per applied record, at most 1 per duplicate or stale one, and no reads of the external API', async () => {
    // Act: new versions, then the same versions again, then older ones
    commands.length = 0;
    const applied = await consumer.handler(batchOf(ids, 5), lambdaContext());
    const writesPerApplied = writes() / ids.length;

    commands.length = 0;
    const duplicates = await consumer.handler(batchOf(ids, 5), lambdaContext());
    const writesPerDuplicate = writes() / ids.length;

    commands.length = 0;
    const stale = await consumer.handler(batchOf(ids, 3), lambdaContext());
    const writesPerStale = writes() / ids.length;

    // Assess
    for (const response of [applied, duplicates, stale]) expect(response.batchItemFailures).toEqual([]);
    expect(consumer.fakeApi.writeLog().filter((entry) => entry.id.startsWith('cost-'))).toHaveLength(ids.length);
    // The bar is <= 3 and <= 1; the design spends 2 (lease, commit) per applied record plus the
    // breaker's window, one or two writes per invocation that called, and 1 (the failed lease) otherwise.
    expect(writesPerApplied).toBeGreaterThanOrEqual(2);
    expect(writesPerApplied).toBeLessThanOrEqual(2 + 2 / ids.length);
    expect(writesPerDuplicate).toBe(1);
    expect(writesPerStale).toBe(1);
    expect(consumer.fakeApi.stats().reads).toBe(0);
    process.stderr.write(
      `DynamoDB writes per record: applied ${writesPerApplied}, duplicate ${writesPerDuplicate}, stale ${writesPerStale}; external API reads ${consumer.fakeApi.stats().reads}\n`,
    );
  });

  it('dead-letters a malformed message with its reason and still applies its batch neighbours', async () => {
    // Prepare
    const good = [changeEvent({ id: 'mixed-1', version: 1 }), changeEvent({ id: 'mixed-2', version: 1 })].map((event) =>
      sqsRecord(serializeChangeEvent(event)),
    );
    const bad = [sqsRecord('not json'), sqsRecord(JSON.stringify({ ...changeEvent(), version: 1.5 })), sqsRecord(JSON.stringify({ ...changeEvent(), id: undefined }))];

    // Act
    const response = await consumer.handler(sqsEvent([bad[0]!, good[0]!, bad[1]!, good[1]!, bad[2]!]), lambdaContext());
    const Messages = await receiveAll(consumer.sqs, consumer.deadLetterQueueUrl);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(consumer.fakeApi.record('crm', 'contact', 'mixed-1')?.version).toBe(1);
    expect(consumer.fakeApi.record('crm', 'contact', 'mixed-2')?.version).toBe(1);
    const letters = Messages.map((message) => readDeadLetter(message, 'crm'));
    expect(letters.map((letter) => [letter.messageId, letter.reason]).sort()).toEqual(
      [
        [bad[0]!.messageId, 'invalid-json'],
        [bad[1]!.messageId, 'invalid-schema'],
        [bad[2]!.messageId, 'invalid-schema'],
      ].sort(),
    );
    expect(Messages.every((message) => message.MessageAttributes?.['sync-reason']?.StringValue !== undefined)).toBe(true);
    // The body is the original, byte for byte: a plain StartMessageMoveTask hands the consumer what was published.
    expect(Messages.map((message) => message.Body).sort()).toEqual(bad.map((record) => record.body).sort());
    expect(letters.find((letter) => letter.messageId === bad[0]!.messageId)).toMatchObject({ destination: 'crm', attempts: 1, originalBody: 'not json' });
  });
});
