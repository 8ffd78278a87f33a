import { describe, expect, it } from 'vitest';
import { InMemoryDestinationControl } from '../../lib/adapters/in-memory-destination-control.ts';
import { PROBE_EVENT } from '../../lib/config/probe-event.ts';
import { serializeChangeEvent } from '../../lib/contract/change-event.ts';
import { rateInForce } from '../../lib/core/destination-control.ts';
import { DestinationError } from '../../lib/core/errors.ts';
import { inMemoryConsumer } from '../helpers/consumer.ts';
import { changeEvent, lambdaContext, sqsEvent, sqsRecord } from '../helpers/factories.ts';

const recordsOf = (count: number, options: { receiveCount?: number; idPrefix?: string } = {}) =>
  Array.from({ length: count }, (_, index) => sqsRecord(serializeChangeEvent(changeEvent({ id: `${options.idPrefix ?? 'r'}-${index}`, version: 1 })), options));

const throttled = () => new DestinationError('PUT answered 429', { errorClass: 'throttled', status: 429, retryAfterMs: 3_000 });
const unavailable = () => new DestinationError('PUT answered 503', { errorClass: 'server', status: 503 });
const BREAKER = { failurePercent: 50, minCalls: 4, windowSeconds: 60, probeIntervalSeconds: 30 };

describe('A 429 is not a failure of the change', () => {
  it('defers the throttled record and the rest of its batch as new messages, on the last receive too, and sends nothing more', async () => {
    // Prepare: every record is on the last delivery SQS allows; the calls are spaced by a rate limit
    const control = new InMemoryDestinationControl();
    const rateLimit = { perSecond: 20, burst: 1, recoveryPercentPerSecond: 5 };
    // Real pauses: the second call's slot (50 ms on) comes after the first call's 429, whatever the scheduling.
    const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
    const { handler, destination, queue } = inMemoryConsumer({ control, rateLimit, sleep, maxReceiveCount: 5, deferralHorizonMs: 86_400_000 });
    destination.respond = async () => {
      throw throttled();
    };
    const records = recordsOf(6, { receiveCount: 5 });

    // Act
    const response = await handler(sqsEvent(records), lambdaContext());

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(queue.deadLetters).toEqual([]);
    expect(destination.calls).toHaveLength(1);
    expect(queue.deferrals.map((m) => m.messageId).sort()).toEqual(records.map((r) => r.messageId).sort());
    expect(queue.deferrals.every((m) => m.delaySeconds >= 3 && m.body === records.find((r) => r.messageId === m.messageId)!.body)).toBe(true);
    expect(JSON.parse(queue.deferrals[0]!.attributes['sync-deferred']!.stringValue!)).toMatchObject({ count: 1 });
    expect(queue.delays).toEqual([]);
  });

  it('dead-letters a change deferred for longer than the retry horizon, as retries-exhausted', async () => {
    // Prepare: first sent two hours ago, horizon one hour
    const { handler, destination, queue } = inMemoryConsumer({ control: new InMemoryDestinationControl(), deferralHorizonMs: 3_600_000 });
    destination.respond = async () => {
      throw throttled();
    };
    const record = recordsOf(1)[0]!;
    record.messageAttributes = { 'sync-deferred': { dataType: 'String', stringValue: JSON.stringify({ count: 40, firstSentAt: Date.now() - 7_200_000 }), stringListValues: [], binaryListValues: [] } };

    // Act
    await handler(sqsEvent([record]), lambdaContext());

    // Assess
    expect(queue.deferrals).toEqual([]);
    expect(queue.deadLetters).toMatchObject([{ reason: 'retries-exhausted' }]);
    expect(queue.deadLetters[0]!.message).toContain('deferred for longer than the retry horizon');
  });

  it('lowers the rate in force for every consumer after a 429, and it recovers additively', async () => {
    // Prepare
    const control = new InMemoryDestinationControl();
    const rateLimit = { perSecond: 20, burst: 1, recoveryPercentPerSecond: 5 };
    const { handler, destination } = inMemoryConsumer({ control, rateLimit, deferralHorizonMs: 86_400_000 });
    destination.respond = async () => {
      throw throttled();
    };

    // Act
    await handler(sqsEvent(recordsOf(1)), lambdaContext());
    const state = await control.read('crm');

    // Assess
    expect(state?.decreasedRate).toBe(10);
    expect(state?.pausedUntil).toBeGreaterThan(Date.now() + 2_000);
    expect(rateInForce(state, rateLimit, state!.decreasedAt! + 4_000)).toBe(14);
    expect(rateInForce(state, rateLimit, state!.decreasedAt! + 60_000)).toBe(20);
  });
});

describe('The rate limit', () => {
  it('spaces the calls of a batch at the rate in force, reserving the slots in one take', async () => {
    // Prepare
    const control = new InMemoryDestinationControl();
    const reserve = control.reserve.bind(control);
    let takes = 0;
    control.reserve = async (...args) => {
      takes += 1;
      return reserve(...args);
    };
    const { handler, destination, pauses } = inMemoryConsumer({ control, rateLimit: { perSecond: 10, burst: 1, recoveryPercentPerSecond: 5 } });

    // Act
    await handler(sqsEvent(recordsOf(10)), lambdaContext());

    // Assess: ten calls, one reservation, waits of about 100, 200, … 900 ms before them
    expect(destination.calls).toHaveLength(10);
    expect(takes).toBe(1);
    const waits = pauses.filter((ms) => ms > 50).sort((a, b) => a - b);
    expect(waits).toHaveLength(9);
    expect(waits.at(-1)).toBeGreaterThan(850);
  });
  it("counts a healthy invocation's calls with the next reservation, and a failing one's at its end, into the window that stands", async () => {
    // Prepare: every control write is recorded
    const control = new InMemoryDestinationControl();
    const writes: string[] = [];
    const reserve = control.reserve.bind(control);
    const recordCalls = control.recordCalls.bind(control);
    control.reserve = async (destination, request) => {
      writes.push(`reserve+${request.calls ?? 0}`);
      return reserve(destination, request);
    };
    control.recordCalls = async (destination, counts) => {
      writes.push(`count ${counts.calls}/${counts.failures}`);
      return recordCalls(destination, counts);
    };
    const { handler, destination } = inMemoryConsumer({ control, breaker: BREAKER, rateLimit: { perSecond: 1_000, burst: 10, recoveryPercentPerSecond: 5 } });

    // Act: two healthy batches of 3, then one whose 2 calls both fail
    await handler(sqsEvent(recordsOf(3, { idPrefix: 'a' })), lambdaContext());
    await handler(sqsEvent(recordsOf(3, { idPrefix: 'b' })), lambdaContext());
    destination.respond = async () => {
      throw unavailable();
    };
    await handler(sqsEvent(recordsOf(2, { idPrefix: 'c' })), lambdaContext());

    // Assess: the first invocation starts the breaker's window with its count; then one write per
    // healthy invocation, carrying the calls of the one before; the failing one (2 records, 3 tries
    // each within the invocation) counts its 6 calls at its end
    expect(writes).toEqual(['reserve+0', 'count 3/0', 'reserve+0', 'reserve+3', 'reserve+0', 'reserve+0', 'count 6/6']);
    const state = await control.read('crm');
    expect([state?.windowCalls, state?.windowFailures]).toEqual([12, 6]);
  });
});

describe('The circuit breaker', () => {
  it('opens after enough transient failures, turns the event source off, and the next batch is deferred unsent', async () => {
    // Prepare
    const control = new InMemoryDestinationControl();
    const switches: boolean[] = [];
    const eventSource = { setEnabled: async (enabled: boolean) => void switches.push(enabled) };
    const { handler, destination, queue } = inMemoryConsumer({ control, breaker: BREAKER, eventSource, deferralHorizonMs: 86_400_000 });
    destination.respond = async () => {
      throw unavailable();
    };

    // Act
    const first = await handler(sqsEvent(recordsOf(4)), lambdaContext());
    const callsAfterFirst = destination.calls.length;
    const second = await handler(sqsEvent(recordsOf(3)), lambdaContext());

    // Assess
    expect(first.batchItemFailures).toHaveLength(4);
    expect((await control.read('crm'))?.breakerOpenedAt).toBeDefined();
    expect(switches).toEqual([false, false]);
    expect(destination.calls.length).toBe(callsAfterFirst);
    expect(second.batchItemFailures).toEqual([]);
    expect(queue.deferrals).toHaveLength(3);
    expect(queue.deferrals.every((m) => m.delaySeconds >= 30)).toBe(true);
  });

  it('closes from a probe once the destination answers, and turns the event source back on', async () => {
    // Prepare: open since a minute, a change waiting
    const control = new InMemoryDestinationControl();
    await control.openBreaker('crm', Date.now() - 60_000);
    const switches: boolean[] = [];
    const { handler, destination, queue } = inMemoryConsumer({ control, breaker: BREAKER, eventSource: { setEnabled: async (on) => void switches.push(on) } });
    const waiting = recordsOf(1)[0]!;
    queue.waiting.push({ messageId: waiting.messageId, receiptHandle: waiting.receiptHandle, body: waiting.body, attributes: { ...waiting.attributes } as Record<string, string>, messageAttributes: {} });

    // Act
    await handler(PROBE_EVENT as never, lambdaContext());

    // Assess
    expect(destination.calls).toHaveLength(1);
    expect(queue.deleted).toEqual([waiting.receiptHandle]);
    expect((await control.read('crm'))?.breakerOpenedAt).toBeUndefined();
    expect(switches).toEqual([true]);
  });

  it('stays open when the probe fails, restarting its interval', async () => {
    // Prepare
    const control = new InMemoryDestinationControl();
    await control.openBreaker('crm', Date.now() - 60_000);
    const { handler, destination, queue } = inMemoryConsumer({ control, breaker: BREAKER });
    destination.respond = async () => {
      throw unavailable();
    };
    const waiting = recordsOf(1)[0]!;
    queue.waiting.push({ messageId: waiting.messageId, receiptHandle: waiting.receiptHandle, body: waiting.body, attributes: { ...waiting.attributes } as Record<string, string>, messageAttributes: {} });

    // Act
    await handler(PROBE_EVENT as never, lambdaContext());

    // Assess
    expect((await control.read('crm'))?.breakerOpenedAt).toBeGreaterThan(Date.now() - 5_000);
    expect(queue.deleted).toEqual([]);
  });
});

describe('Backlog coalescing', () => {
  it('holds a change that waited in a backlog after marking its version, then skips an older one as superseded', async () => {
    // Prepare: v5 and v3 of one record, both sent a minute ago
    const { handler, destination, queue, ledger } = inMemoryConsumer({ coalescing: { backlogAgeMs: 10_000, holdSeconds: 5 } });
    const old = (version: number) => {
      const record = sqsRecord(serializeChangeEvent(changeEvent({ id: 'b-1', version })));
      record.attributes.SentTimestamp = String(Date.now() - 60_000);
      return record;
    };
    const newer = old(5);

    // Act: the newest is received first and held; the older one, redelivered later, is skipped
    const firstPass = await handler(sqsEvent([newer]), lambdaContext());
    const older = old(3);
    older.attributes.ApproximateReceiveCount = '2';
    await handler(sqsEvent([older]), lambdaContext());

    // Assess
    expect(firstPass.batchItemFailures).toEqual([{ itemIdentifier: newer.messageId }]);
    expect(queue.delays).toEqual([{ receiptHandle: newer.receiptHandle, delaySeconds: 5 }]);
    expect(await ledger.read({ destination: 'crm', resourceType: 'contact', id: 'b-1' })).toMatchObject({ seenVersion: 5 });
    expect(destination.calls).toEqual([]);
  });
});
