import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { captureJsonOutput } from '../../lib/local/sim/output-capture.ts';
import { MAX_BUSY_WAITS } from '../../lib/core/attempt.ts';
import { DestinationError } from '../../lib/core/errors.ts';
import { buildDeadLetterEnvelope, serializeDeadLetterEnvelope } from '../../lib/core/dead-letter.ts';
import { serializeChangeEvent } from '../../lib/contract/change-event.ts';
import { InMemoryLedgerStore } from '../../lib/adapters/in-memory-ledger.ts';
import type { LedgerStore } from '../../lib/core/ledger.ts';
import { inMemoryConsumer } from '../helpers/consumer.ts';
import { changeEvent, lambdaContext, sqsEvent, sqsRecord } from '../helpers/factories.ts';

const recordOf = (overrides: Parameters<typeof changeEvent>[0] = {}, receiveCount = 1) =>
  sqsRecord(JSON.stringify(changeEvent(overrides)), { receiveCount });

const failedIds = (response: { batchItemFailures: Array<{ itemIdentifier: string }> }) =>
  response.batchItemFailures.map((failure) => failure.itemIdentifier);

/**
 * Two execution environments on one ledger, run at once under one output capture. A destination call
 * stays in flight until the other environment pauses (it found the record busy) or 100 ms pass: the
 * latency that lets the second find the first's lease, without waiting for it in real time.
 */
const twoEnvironments = () => {
  const ledger = new InMemoryLedgerStore();
  const inFlight: Array<() => void> = [];
  const sleep = async (): Promise<void> => {
    for (const finish of inFlight.splice(0)) finish();
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const first = inMemoryConsumer({ ledger, capture: false, sleep });
  const second = inMemoryConsumer({ ledger, capture: false, sleep });
  const slow = async () =>
    new Promise<void>((resolve) => {
      inFlight.push(resolve);
      setTimeout(resolve, 100).unref();
    });
  first.destination.respond = slow;
  second.destination.respond = slow;
  const output: string[] = [];
  const runAtOnce = async (a: SQSRecord, b: SQSRecord) => {
    const capture = captureJsonOutput((line) => output.push(line));
    try {
      return await Promise.all([first.handler(sqsEvent([a]), lambdaContext()), second.handler(sqsEvent([b]), lambdaContext())]);
    } finally {
      capture.restore();
    }
  };
  return { calls: () => [...first.destination.calls, ...second.destination.calls], output, runAtOnce };
};

describe('Function: createConsumerHandler', () => {
  it('applies a new version once and skips its duplicate and older versions without calling the destination', async () => {
    // Prepare
    const { handler, destination, ledger } = inMemoryConsumer();
    await handler(sqsEvent([recordOf({ version: 5 })]), lambdaContext());

    // Act
    const response = await handler(sqsEvent([recordOf({ version: 5 }), recordOf({ version: 3 })]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([]);
    expect(destination.calls.map((call) => call.idempotencyKey)).toEqual(['crm:contact:c-1:5']);
    expect(await ledger.read({ destination: 'crm', resourceType: 'contact', id: 'c-1' })).toEqual({ appliedVersion: 5, claimedVersion: 5 });
  });

  it('dead-letters malformed messages with a reason and still applies their neighbours', async () => {
    // Prepare
    const { handler, destination, queue } = inMemoryConsumer();
    const good = recordOf({ id: 'ok-1' });
    const notJson = sqsRecord('{"resourceType":');
    const missingId = sqsRecord(JSON.stringify({ ...changeEvent(), id: undefined }));
    const textVersion = sqsRecord(JSON.stringify({ ...changeEvent(), version: '3' }));

    // Act
    const response = await handler(sqsEvent([notJson, good, missingId, textVersion]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([]);
    expect(destination.calls.map((call) => call.event.id)).toEqual(['ok-1']);
    expect(queue.deadLetters.map((letter) => [letter.messageId, letter.reason])).toEqual([
      [notJson.messageId, 'invalid-json'],
      [missingId.messageId, 'invalid-schema'],
      [textVersion.messageId, 'invalid-schema'],
    ]);
    expect(queue.deadLetters[1]).toMatchObject({ destination: 'crm', attempts: 1, originalBody: missingId.body });
    expect(queue.deadLetters[1]?.message).toContain('id: expected a non-empty string id, got nothing');
    expect(queue.deadLetters[2]?.message).toContain('version: expected a non-negative integer version, got "3"');
  });

  it('applies a change redriven in any shape a DLQ holds: as published, inside an EventBridge event, inside a legacy envelope', async () => {
    // Prepare
    const { handler, destination, queue } = inMemoryConsumer();
    const eventBridge = sqsRecord(JSON.stringify({ version: '0', id: 'e-1', 'detail-type': 'contact changed', source: 'svc', detail: changeEvent({ id: 'eb-1', version: 2 }) }));
    const legacy = sqsRecord(
      serializeDeadLetterEnvelope(
        buildDeadLetterEnvelope({
          reason: 'rejected',
          message: 'HTTP 400',
          destination: 'crm',
          messageId: 'm-old',
          attempts: 1,
          firstAttemptAt: 0,
          lastAttemptAt: 0,
          body: serializeChangeEvent(changeEvent({ id: 'legacy-1', version: 4 })),
          attributes: {},
        }),
      ),
    );

    // Act
    const response = await handler(sqsEvent([recordOf({ id: 'plain-1' }), eventBridge, legacy]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([]);
    expect(queue.deadLetters).toEqual([]);
    expect(destination.calls.map((call) => `${call.event.id} v${call.event.version}`).sort()).toEqual(['eb-1 v2', 'legacy-1 v4', 'plain-1 v1']);
  });

  it('dead-letters a message that failed again with its original body, and fresh facts instead of the old ones', async () => {
    // Prepare: a redriven dead letter (its sync-* attributes came along) that is still bad input
    const { handler, queue } = inMemoryConsumer();
    const record = sqsRecord('{"resourceType":');
    record.messageAttributes = {
      correlationId: { dataType: 'String', stringValue: 'corr-9', stringListValues: [], binaryListValues: [] },
      'sync-reason': { dataType: 'String', stringValue: 'invalid-json', stringListValues: [], binaryListValues: [] },
      'sync-dead-letter': { dataType: 'String', stringValue: '{"reason":"invalid-json","destination":"crm"}', stringListValues: [], binaryListValues: [] },
    };

    // Act
    await handler(sqsEvent([record]), lambdaContext());

    // Assess
    expect(queue.deadLetters).toHaveLength(1);
    expect(queue.deadLetters[0]).toMatchObject({ reason: 'invalid-json', messageId: record.messageId, originalBody: record.body });
    expect(Object.keys(queue.deadLetters[0]!.attributes).sort()).toEqual(['correlationId', 'sync-dead-letter', 'sync-reason']);
    expect(JSON.parse(queue.deadLetters[0]!.attributes['sync-dead-letter']!.stringValue!)).toMatchObject({ messageId: record.messageId, attempts: 1 });
  });

  it('reports a transient failure for retry after setting a bounded backoff, and frees the record', async () => {
    // Prepare
    const { handler, destination, queue } = inMemoryConsumer({ random: () => 0.999 });
    destination.respond = async () => {
      throw new DestinationError('PUT answered 503', { errorClass: 'server', status: 503 });
    };
    const record = recordOf({ version: 2 }, 4);

    // Act
    const first = await handler(sqsEvent([record]), lambdaContext());
    destination.respond = async () => undefined;
    const second = await handler(sqsEvent([record]), lambdaContext());

    // Assess
    expect(failedIds(first)).toEqual([record.messageId]);
    expect(queue.delays).toEqual([{ receiptHandle: record.receiptHandle, delaySeconds: 16 }]);
    expect(failedIds(second)).toEqual([]);
    // The call and its two quick retries, then the redelivery.
    expect(destination.calls).toHaveLength(4);
    expect(new Set(destination.calls.map((call) => call.idempotencyKey)).size).toBe(1);
  });

  it('lets a 429 Retry-After set the next delivery when it is longer', async () => {
    // Prepare
    const { handler, destination, queue } = inMemoryConsumer();
    destination.respond = async () => {
      throw new DestinationError('PUT answered 429', { errorClass: 'throttled', status: 429, retryAfterMs: 120_000 });
    };

    // Act
    await handler(sqsEvent([recordOf()]), lambdaContext());

    // Assess
    expect(queue.delays.map((delay) => delay.delaySeconds)).toEqual([120]);
  });

  it.each<[number, string, string]>([
    [400, 'client', 'rejected'],
    [422, 'client', 'rejected'],
    [403, 'auth', 'auth'],
  ])('dead-letters a permanent %i at once with reason %s', async (status, errorClass, reason) => {
    // Prepare
    const { handler, destination, queue } = inMemoryConsumer();
    destination.respond = async () => {
      throw new DestinationError(`PUT answered ${status}`, { errorClass: errorClass as 'client', status });
    };
    const record = recordOf();

    // Act
    const response = await handler(sqsEvent([record]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([]);
    expect(queue.deadLetters).toHaveLength(1);
    expect(queue.deadLetters[0]).toMatchObject({ reason, status, messageId: record.messageId, originalBody: record.body });
  });

  it('retries a record whose lease another consumer holds, without calling the destination', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();
    await ledger.acquireLease(
      { destination: 'crm', resourceType: 'contact', id: 'c-1' },
      { token: 'another-attempt', key: 'crm:contact:c-1:9', version: 9, expiresAt: Date.now() + 60_000 },
      Date.now(),
      0,
    );
    const { handler, destination, pauses } = inMemoryConsumer({ ledger });
    const record = recordOf({ version: 10 });

    // Act
    const response = await handler(sqsEvent([record]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([record.messageId]);
    expect(destination.calls).toHaveLength(0);
    expect(pauses).toHaveLength(MAX_BUSY_WAITS);
  });

  it('takes a lease that ends before the invocation does', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();
    const acquire = vi.spyOn(ledger, 'acquireLease');
    const { handler } = inMemoryConsumer({ ledger, leaseDurationMs: 1_500 });
    const startedAt = Date.now();

    // Act
    await handler(sqsEvent([recordOf()]), lambdaContext(2_000));

    // Assess
    const lease = acquire.mock.calls[0]?.[1];
    expect(lease?.expiresAt).toBeLessThanOrEqual(startedAt + 1_500 + 50);
  });

  it('hands a record back, uncalled, when the invocation has less time left than one lease', async () => {
    // Prepare
    const { handler, destination } = inMemoryConsumer({ leaseDurationMs: 60_000 });
    const record = recordOf();

    // Act
    const response = await handler(sqsEvent([record]), lambdaContext(2_000));

    // Assess
    expect(failedIds(response)).toEqual([record.messageId]);
    expect(destination.calls).toHaveLength(0);
  });

  it('fences the record after a timeout: nothing is sent until the settle window has passed, then the change in doubt goes again', async () => {
    // Prepare: Date is faked so the lease, Powertools and the settle window read one clock
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { handler, destination, queue } = inMemoryConsumer({ settleMs: 60_000 });
      destination.respond = async (write) => {
        if (write.event.version === 5) throw new DestinationError('PUT timed out', { errorClass: 'timeout' });
      };

      // Act
      const timedOut = await handler(sqsEvent([recordOf({ version: 5 })]), lambdaContext());
      const newer = await handler(sqsEvent([recordOf({ version: 6 })]), lambdaContext());
      const sameAgain = await handler(sqsEvent([recordOf({ version: 5 })]), lambdaContext());
      vi.setSystemTime(Date.now() + 60_001);
      destination.respond = async () => undefined;
      const afterWindow = await handler(sqsEvent([recordOf({ version: 5 })]), lambdaContext());

      // Assess
      expect(timedOut.batchItemFailures).toHaveLength(1);
      expect(newer.batchItemFailures).toHaveLength(1);
      expect(sameAgain.batchItemFailures).toHaveLength(1);
      expect(afterWindow.batchItemFailures).toEqual([]);
      // No quick retry of the call in doubt, nothing sent while fenced, then the same key once more.
      expect(destination.calls.map((call) => call.idempotencyKey)).toEqual(['crm:contact:c-1:5', 'crm:contact:c-1:5']);
      // The change in doubt is delayed past its own window; the others wait out what is left of it.
      expect(queue.delays[0]?.delaySeconds).toBeGreaterThanOrEqual(60);
      expect(queue.delays[1]?.delaySeconds).toBeGreaterThanOrEqual(60);
    } finally {
      vi.useRealTimers();
    }
  });

  it('fences the record when a quick retry fails cleanly after a call in doubt', async () => {
    // Prepare: a reset after sending (unknown outcome) must never be followed by a release
    const { handler, destination } = inMemoryConsumer();
    destination.respond = async (write) => {
      if (write.event.version === 5) throw new DestinationError('PUT failed: ECONNRESET', { errorClass: 'network', outcomeUnknown: true });
    };

    // Act
    await handler(sqsEvent([recordOf({ version: 5 })]), lambdaContext());
    const newer = await handler(sqsEvent([recordOf({ version: 6 })]), lambdaContext());

    // Assess
    expect(destination.calls.map((call) => call.event.version)).toEqual([5]);
    expect(newer.batchItemFailures).toHaveLength(1);
  });

  it('quick-retries a refused connection (nothing was sent) under the same lease', async () => {
    // Prepare
    const { handler, destination } = inMemoryConsumer();
    let calls = 0;
    destination.respond = async () => {
      calls += 1;
      if (calls === 1) throw new DestinationError('PUT failed: ECONNREFUSED', { errorClass: 'network', outcomeUnknown: false });
    };

    // Act
    const response = await handler(sqsEvent([recordOf({ version: 2 })]), lambdaContext());

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(destination.calls).toHaveLength(2);
  });

  it('makes one destination call for two concurrent copies of one change; the other is skipped as a duplicate', async () => {
    // Prepare: one ledger, two execution environments, both holding the same message at once
    const { calls, output, runAtOnce } = twoEnvironments();
    const body = JSON.stringify(changeEvent({ version: 7 }));

    // Act
    const [a, b] = await runAtOnce(sqsRecord(body, { messageId: 'm-1' }), sqsRecord(body, { messageId: 'm-1' }));

    // Assess
    expect(calls()).toHaveLength(1);
    expect([a.batchItemFailures, b.batchItemFailures]).toEqual([[], []]);
    const lines = output.map((line) => JSON.parse(line));
    expect(lines.filter((blob) => blob.message === 'record skipped').map((line) => line.reason)).toEqual(['duplicate']);
    expect(lines.filter((blob) => blob.message === 'record applied')).toHaveLength(1);
  });

  it('lets a same-version twin with another payload wait for the first and then skips it', async () => {
    // Prepare
    const { calls, runAtOnce } = twoEnvironments();

    // Act
    await runAtOnce(recordOf({ version: 3, payload: { name: 'A' } }), recordOf({ version: 3, payload: { name: 'B' } }));

    // Assess
    expect(calls()).toHaveLength(1);
    expect([{ name: 'A' }, { name: 'B' }]).toContainEqual(calls()[0]?.event.payload);
  });

  it('dead-letters a change whose type is not routed to the destination, without calling it', async () => {
    // Prepare
    const { handler, destination, queue } = inMemoryConsumer();
    const record = recordOf({ resourceType: 'invoice' });

    // Act
    const response = await handler(sqsEvent([record]), lambdaContext());

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(destination.calls).toHaveLength(0);
    expect(queue.deadLetters).toEqual([expect.objectContaining({ reason: 'not-routed', attempts: 1, originalBody: record.body })]);
    expect(queue.deadLetters[0]?.message).toBe('resource type "invoice" is not routed to crm');
  });

  it.each<[string, 'none' | 'NFC', number]>([
    ['treats NFC and NFD spellings of an id as two records by default', 'none', 2],
    ['treats them as one record with idNormalization NFC', 'NFC', 1],
  ])('%s', async (_name, idNormalization, calls) => {
    // Prepare
    const { handler, destination } = inMemoryConsumer({ idNormalization });

    // Act
    await handler(sqsEvent([recordOf({ id: 'm\u00fcller', version: 2 })]), lambdaContext());
    await handler(sqsEvent([recordOf({ id: 'mu\u0308ller', version: 2 })]), lambdaContext());

    // Assess
    expect(destination.calls).toHaveLength(calls);
    if (idNormalization === 'NFC') expect(destination.calls[0]?.idempotencyKey).toBe('crm:contact:m\u00fcller:2');
  });

  it('skips a change the destination refuses as superseded (version precondition) and frees the record', async () => {
    // Prepare
    const { handler, destination, ledger } = inMemoryConsumer();
    destination.respond = async (write) => (write.event.version === 4 ? 'superseded' : 'applied');

    // Act
    const refused = await handler(sqsEvent([recordOf({ version: 4 })]), lambdaContext());
    const newer = await handler(sqsEvent([recordOf({ version: 5 })]), lambdaContext());

    // Assess
    expect([refused.batchItemFailures, newer.batchItemFailures]).toEqual([[], []]);
    expect(destination.calls.map((call) => call.event.version)).toEqual([4, 5]);
    expect(await ledger.read({ destination: 'crm', resourceType: 'contact', id: 'c-1' })).toEqual({ appliedVersion: 5, claimedVersion: 5 });
  });

  it('releases the lease after a refusal (429), so the next version goes at once', async () => {
    // Prepare
    const { handler, destination } = inMemoryConsumer();
    destination.respond = async (write) => {
      if (write.event.version === 5) throw new DestinationError('PUT answered 429', { errorClass: 'throttled', status: 429 });
    };

    // Act
    await handler(sqsEvent([recordOf({ version: 5 })]), lambdaContext());
    const newer = await handler(sqsEvent([recordOf({ version: 6 })]), lambdaContext());

    // Assess
    expect(newer.batchItemFailures).toEqual([]);
    expect(destination.calls.map((call) => call.event.version)).toEqual([5, 6]);
  });

  it('still dead-letters a permanent failure when releasing the lease fails', async () => {
    // Prepare
    const inner = new InMemoryLedgerStore();
    const failingRelease: LedgerStore = {
      acquireLease: (...args) => inner.acquireLease(...args),
      commit: (...args) => inner.commit(...args),
      release: async () => {
        throw new Error('DynamoDB unavailable');
      },
      read: (...args) => inner.read(...args),
      markSeen: (...args) => inner.markSeen(...args),
    };
    const { handler, destination, queue } = inMemoryConsumer({ ledger: failingRelease });
    destination.respond = async () => {
      throw new DestinationError('PUT answered 400', { errorClass: 'client', status: 400 });
    };

    // Act
    const response = await handler(sqsEvent([recordOf()]), lambdaContext());

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(queue.deadLetters.map((letter) => letter.reason)).toEqual(['rejected']);
  });

  it('retries with reason lease-lost, not internal, when the commit finds the lease taken over', async () => {
    // Prepare
    const inner = new InMemoryLedgerStore();
    const losing: LedgerStore = {
      acquireLease: (...args) => inner.acquireLease(...args),
      commit: async () => false,
      release: (...args) => inner.release(...args),
      read: (...args) => inner.read(...args),
      markSeen: (...args) => inner.markSeen(...args),
    };
    const { handler, output } = inMemoryConsumer({ ledger: losing });
    const record = recordOf();

    // Act
    const response = await handler(sqsEvent([record]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([record.messageId]);
    const blobs = output.map((line) => JSON.parse(line));
    expect(blobs.filter((blob) => blob.message === 'record will be retried').map((blob) => blob.reason)).toEqual(['lease-lost']);
    expect(blobs.filter((blob) => blob.RecordsRetried !== undefined && blob.Reason !== undefined)).toEqual([
      expect.objectContaining({ Reason: 'lease-lost', RecordsRetried: 1 }),
    ]);
  });

  it('rides out a blip with quick in-invocation retries under the same idempotency key', async () => {
    // Prepare
    const { handler, destination, queue, output } = inMemoryConsumer();
    let calls = 0;
    destination.respond = async () => {
      calls += 1;
      if (calls === 1) throw new DestinationError('PUT answered 503', { errorClass: 'server', status: 503 });
    };

    // Act
    const response = await handler(sqsEvent([recordOf({ version: 4 })]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([]);
    expect(destination.calls.map((call) => call.idempotencyKey)).toEqual(['crm:contact:c-1:4', 'crm:contact:c-1:4']);
    expect(queue.delays).toEqual([]);
    const errorMetrics = output.map((line) => JSON.parse(line)).filter((blob) => blob.DestinationErrors !== undefined);
    expect(errorMetrics).toEqual([expect.objectContaining({ ErrorClass: 'server', DestinationErrors: 1 })]);
  });

  it('dead-letters a change its transform failed on as transform-failed, counting no failed destination call', async () => {
    // Prepare
    const { handler, destination, queue, output } = inMemoryConsumer();
    destination.respond = async () => {
      throw new DestinationError('transform failed: no owner', { errorClass: 'transform', outcomeUnknown: false });
    };

    // Act
    const response = await handler(sqsEvent([recordOf({ version: 2 })]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([]);
    expect(queue.deadLetters.map((letter) => [letter.reason, letter.message])).toEqual([['transform-failed', 'transform failed: no owner']]);
    const blobs = output.map((line) => JSON.parse(line));
    expect(blobs.filter((blob) => blob.DestinationErrors !== undefined)).toEqual([]);
    expect(blobs.filter((blob) => blob.RecordsDeadLettered !== undefined && blob.Reason !== undefined)).toEqual([
      expect.objectContaining({ Reason: 'transform-failed', RecordsDeadLettered: 1 }),
    ]);
  });

  it('does not quick-retry a throttled call', async () => {
    // Prepare
    const { handler, destination } = inMemoryConsumer();
    destination.respond = async () => {
      throw new DestinationError('PUT answered 429', { errorClass: 'throttled', status: 429 });
    };

    // Act
    await handler(sqsEvent([recordOf()]), lambdaContext());

    // Assess
    expect(destination.calls).toHaveLength(1);
  });

  it('dead-letters an unclassified failure after a few deliveries instead of retrying it for the whole horizon', async () => {
    // Prepare
    // Settle window 0: each delivery may call again at once (an unclassified failure is in doubt).
    const { handler, destination, queue } = inMemoryConsumer({ maxReceiveCount: 50, settleMs: 0 });
    destination.respond = async () => {
      throw new DestinationError('PUT failed: weird', { errorClass: 'unknown' });
    };

    // Act
    const second = await handler(sqsEvent([recordOf({}, 2)]), lambdaContext());
    const third = await handler(sqsEvent([recordOf({}, 3)]), lambdaContext());

    // Assess
    expect(second.batchItemFailures).toHaveLength(1);
    expect(third.batchItemFailures).toEqual([]);
    expect(queue.deadLetters.map((letter) => letter.reason)).toEqual(['unknown-error']);
  });

  it('dead-letters a still-failing change on its last allowed delivery, with the reason and the attempts', async () => {
    // Prepare
    const { handler, destination, queue } = inMemoryConsumer({ maxReceiveCount: 6 });
    destination.respond = async () => {
      throw new DestinationError('PUT answered 503', { errorClass: 'server', status: 503 });
    };
    const record = recordOf({ version: 9 }, 6);

    // Act
    const response = await handler(sqsEvent([record]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([]);
    expect(queue.deadLetters).toHaveLength(1);
    expect(queue.deadLetters[0]).toMatchObject({ reason: 'retries-exhausted', attempts: 6, messageId: record.messageId, originalBody: record.body });
    expect(queue.deadLetters[0]?.message).toMatch(/^6 deliveries failed; last: PUT answered 503/);
  });

  it('keeps a message on the queue when its dead letter cannot be written', async () => {
    // Prepare
    const { handler, queue } = inMemoryConsumer();
    queue.deadLetter = async () => {
      throw new Error('SQS unavailable');
    };
    const bad = sqsRecord('not json');

    // Act
    const response = await handler(sqsEvent([bad]), lambdaContext());

    // Assess
    expect(failedIds(response)).toEqual([bad.messageId]);
  });

  it('handles one message delivered twice in the same batch (SQS at-least-once) without hanging', async () => {
    // Prepare
    const { handler, destination } = inMemoryConsumer();
    const body = JSON.stringify(changeEvent({ version: 3 }));
    const first = sqsRecord(body, { messageId: 'same-id' });
    const second = sqsRecord(body, { messageId: 'same-id' });
    const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref());

    // Act
    const response = await Promise.race([handler(sqsEvent([first, second]), lambdaContext()), hung]);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(destination.calls.map((call) => call.idempotencyKey)).toEqual(['crm:contact:c-1:3']);
  });

  it('refuses to start when Powertools idempotency is disabled, since the version check runs inside it', () => {
    // Prepare
    const saved = process.env.POWERTOOLS_IDEMPOTENCY_DISABLED;
    process.env.POWERTOOLS_IDEMPOTENCY_DISABLED = 'true';

    // Act & Assess
    try {
      expect(() => inMemoryConsumer()).toThrow(/POWERTOOLS_IDEMPOTENCY_DISABLED is set to "true".*Unset the variable/);
    } finally {
      if (saved === undefined) delete process.env.POWERTOOLS_IDEMPOTENCY_DISABLED;
      else process.env.POWERTOOLS_IDEMPOTENCY_DISABLED = saved;
    }
  });
});
