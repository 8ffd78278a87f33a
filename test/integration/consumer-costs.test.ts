import { readDeadLetter, receiveAll } from '../../lib/ops/dead-letters.ts';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { serializeChangeEvent } from '../../lib/contract/change-event.ts';
import { startEmulatedConsumer, type EmulatedConsumer } from '../helpers/emulated-consumer.ts';
import { changeEvent, lambdaContext, sqsEvent, sqsRecord } from '../helpers/factories.ts';
import { DynamoDbLedgerStore } from '../../lib/adapters/dynamodb-ledger.ts';

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

  it('reads a batch\'s ledger entries first once the stream skips more than a fifth of its records, so a duplicate or stale record then costs no write, and a resync still goes through', async () => {
    // Prepare: a consumer of its own (what it learnt of the stream lives in its handler), new
    // versions, then duplicate batches until the estimate passes the break-even
    const own: string[] = [];
    const fresh = Array.from({ length: 10 }, (_, i) => `pre-read-${i}`);
    const learner = await startEmulatedConsumer({ logLevel: 'ERROR', onDynamoDbCommand: (name) => own.push(name) });
    onTestFinished(() => learner.stop());
    const count = (name: string) => own.filter((command) => command === name).length;
    const run = async (version: number) => {
      own.length = 0;
      const response = await learner.handler(batchOf(fresh, version), lambdaContext());
      expect(response.batchItemFailures).toEqual([]);
      return { writes: own.filter((name) => WRITE_COMMANDS.has(name)).length, batchReads: count('BatchGetItemCommand') };
    };
    const applied = await run(5);
    const learning = [await run(5), await run(5)];

    // Act
    const duplicates = await run(5);
    const stale = await run(4);
    const ledger = new DynamoDbLedgerStore({ client: learner.dynamodb, tableName: learner.tableName });
    const reopened = await ledger.reopenForResync({ destination: 'crm', resourceType: 'contact', id: fresh[0]! }, 5, Date.now());
    const resent = await run(5);
    const newer = await run(6);

    // Assess: no batch read while the stream looked clean, none until the share passed 0.2
    expect(applied).toEqual({ writes: expect.any(Number), batchReads: 0 });
    expect(learning.map((batch) => batch.batchReads)).toEqual([0, 0]);
    expect(learning.map((batch) => batch.writes)).toEqual([10, 10]);
    // Skipped on the batch read: one request, no write
    expect(duplicates).toEqual({ writes: 0, batchReads: 1 });
    expect(stale).toEqual({ writes: 0, batchReads: 1 });
    // The resync stepped the ledger back before the change came again: the read sees it, and the
    // record is applied once more (a lease and a commit) while its neighbours stay duplicates
    expect(reopened).toBe(true);
    expect(resent.writes).toBeGreaterThanOrEqual(2);
    expect(resent.writes).toBeLessThanOrEqual(2 + 2);
    const writesOf = (id: string) => learner.fakeApi.writeLog().filter((entry) => entry.id === id).map((entry) => entry.version);
    expect(writesOf(fresh[0]!)).toEqual([5, 5, 6]);
    expect(writesOf(fresh[1]!)).toEqual([5, 6]);
    // Newer versions still take a lease and a commit each
    expect(newer.batchReads).toBe(1);
    expect(newer.writes).toBeGreaterThanOrEqual(2 * fresh.length);
  });

  it("skips a batch's older versions and duplicates of a record on what its newest left, with no write and no batch read", async () => {
    // Prepare: a consumer of its own that has seen no skip (no batch read), one batch holding
    // version 7 of a record, its duplicate, and versions 6 and 3 of it
    const own: string[] = [];
    const learner = await startEmulatedConsumer({ logLevel: 'ERROR', onDynamoDbCommand: (name) => own.push(name) });
    onTestFinished(() => learner.stop());
    const versions = [3, 7, 6, 7];
    const batch = sqsEvent(versions.map((version) => sqsRecord(serializeChangeEvent(changeEvent({ id: 'same-batch', version })))));

    // Act
    const response = await learner.handler(batch, lambdaContext());

    // Assess: the lease and commit of version 7, the breaker's count, nothing for the other three
    expect(response.batchItemFailures).toEqual([]);
    expect(own.filter((name) => name === 'BatchGetItemCommand')).toEqual([]);
    // (the breaker's window takes one or two writes an invocation, as above; a failed lease each for
    // the three others would make it 7)
    expect(own.filter((name) => WRITE_COMMANDS.has(name)).length).toBeLessThanOrEqual(2 + 2);
    expect(learner.fakeApi.writeLog().map((entry) => entry.version)).toEqual([7]);
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
