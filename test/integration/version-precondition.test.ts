import { describe, expect, it } from 'vitest';
import { serializeChangeEvent } from '../../lib/contract/change-event.ts';
import { findRegressions } from '../../lib/local/lab/oracles.ts';
import { startEmulatedConsumer } from '../helpers/emulated-consumer.ts';
import { changeEvent, lambdaContext, sqsEvent, sqsRecord } from '../helpers/factories.ts';

const LATE_MS = 1_500;
const precondition = { header: 'If-Match', refusedStatus: 412 } as const;

/**
 * v1's request is held and lands 1.5 s after the client gave up: far past the lease and past a
 * settle window of 0, as a request stuck in a queue might. v2 is sent meanwhile and lands first.
 */
const raceLateWrite = async (withPrecondition: boolean) => {
  const consumer = await startEmulatedConsumer({
    logLevel: 'ERROR',
    fakeApi: { failures: { lateWrite: 1, lateWriteDelayMs: LATE_MS }, ...(withPrecondition ? { versionPrecondition: precondition } : {}) },
    destination: { requestTimeoutMs: 200, functionTimeoutSeconds: 3, settleSeconds: 0, ...(withPrecondition ? { versionPrecondition: precondition } : {}) },
  });
  try {
    const first = await consumer.handler(sqsEvent([sqsRecord(serializeChangeEvent(changeEvent({ id: 'late-1', version: 1 })))]), lambdaContext(3_000));
    consumer.fakeApi.setDefaultFailures({});
    const second = await consumer.handler(sqsEvent([sqsRecord(serializeChangeEvent(changeEvent({ id: 'late-1', version: 2 })))]), lambdaContext(3_000));
    await new Promise((resolve) => setTimeout(resolve, LATE_MS + 300));
    return {
      first,
      second,
      held: consumer.fakeApi.record('crm', 'contact', 'late-1')?.version,
      refused: consumer.fakeApi.stats().preconditionFailed,
      regressions: findRegressions(consumer.fakeApi.writeLog()),
    };
  } finally {
    await consumer.stop();
  }
};

describe('Version precondition (real consumer, HTTP adapter and fake API with external versioning)', () => {
  it('refuses a very late write of an older version, so the record keeps the newer one', async () => {
    // Act
    const run = await raceLateWrite(true);

    // Assess
    expect(run.first.batchItemFailures).toHaveLength(1);
    expect(run.second.batchItemFailures).toEqual([]);
    expect(run.held).toBe(2);
    expect(run.refused).toBe(1);
    expect(run.regressions).toEqual([]);
  });

  it('moves the record backwards without it when the write lands past the settle window (the bound is real)', async () => {
    // Act
    const run = await raceLateWrite(false);

    // Assess
    expect(run.held).toBe(1);
    expect(run.regressions).toEqual([expect.objectContaining({ id: 'late-1', from: 2, to: 1 })]);
  });
});
