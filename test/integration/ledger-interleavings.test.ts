import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDbLedgerStore } from '../../lib/adapters/dynamodb-ledger.ts';
import { awsClientConfig, startEmulators, type Emulators } from '../../lib/local/sim/emulators.ts';
import { ensureLedgerTable } from '../../lib/local/sim/local-resources.ts';
import type { LedgerStore } from '../../lib/core/ledger.ts';
import { scheduleArbitrary, simulate, violations } from '../helpers/interleaving-sim.ts';

/**
 * The interleaving schedules of test/property, with the version ledger in DynamoDB: the condition
 * expressions of DynamoDbLedgerStore, not the in-memory rule, decide every acquisition, commit and
 * release, so the store and the rule cannot disagree. The simulation waits for each request, so
 * the emulator sees one at a time (moto's conditional writes are not atomic under concurrency, and
 * need not be here). Against the embedded emulator (dynalite) by default; set
 * SYNC_TEST_DYNAMODB_ENDPOINT (CI points it at moto) to run the same schedules there.
 */
const endpointUnderTest = process.env.SYNC_TEST_DYNAMODB_ENDPOINT;
const RUNS = Number(process.env.SYNC_TEST_LEDGER_SCHEDULES ?? 200);

const schedule = scheduleArbitrary({ minMessages: 2, maxMessages: 5, maxCalls: 10 });

/** Each schedule works on a destination name of its own, so one table serves them all. */
const isolated = (ledger: LedgerStore, destination: string): LedgerStore => ({
  acquireLease: (record, ...rest) => ledger.acquireLease({ ...record, destination }, ...rest),
  commit: (record, ...rest) => ledger.commit({ ...record, destination }, ...rest),
  release: (record, ...rest) => ledger.release({ ...record, destination }, ...rest),
  read: (record) => ledger.read({ ...record, destination }),
  markSeen: (record, version) => ledger.markSeen({ ...record, destination }, version),
});

describe(`Interleavings with the DynamoDB ledger (${endpointUnderTest === undefined ? 'embedded emulator' : endpointUnderTest})`, () => {
  let emulators: Emulators | undefined;
  let dynamodb: DynamoDBClient;
  const tableName = `ledger-interleavings-${Date.now()}`;

  beforeAll(async () => {
    if (endpointUnderTest === undefined) emulators = await startEmulators();
    dynamodb = new DynamoDBClient(awsClientConfig(endpointUnderTest ?? emulators!.dynamodbEndpoint));
    await ensureLedgerTable(dynamodb, tableName);
    vi.useFakeTimers({ toFake: ['Date'] });
  });

  afterAll(async () => {
    vi.useRealTimers();
    dynamodb.destroy();
    await emulators?.stop();
  });

  let n = 0;
  const property = (wrap: (ledger: LedgerStore) => LedgerStore) =>
    fc.asyncProperty(schedule, async (plan) => {
      n += 1;
      const ledger = wrap(isolated(new DynamoDbLedgerStore({ client: dynamodb, tableName }), `crm${n}`));
      const result = await simulate(plan, { ledger: () => ledger, realIo: true }, (at) => vi.setSystemTime(at));
      const found = violations(plan, result);
      if (found.length > 0) throw new Error(found.join('; '));
    });

  it(`keeps I1, I4 and I2 over ${RUNS} schedules with the condition expressions deciding`, { timeout: 600_000 }, async () => {
    // Act & Assess
    await fc.assert(property((ledger) => ledger), { numRuns: RUNS });
  });

  it('fails when the store drops the fence of a call in doubt (the test can fail on this store too)', { timeout: 600_000 }, async () => {
    // Prepare: releases and commits forget fencedUntil, as if every outcome were known
    const forgetful = (ledger: LedgerStore): LedgerStore => ({
      ...ledger,
      acquireLease: (record, lease, now) => ledger.acquireLease(record, lease, now, 0),
      commit: (record, lease, applied) => ledger.commit(record, lease, { op: applied.op, at: applied.at }),
      release: (record, token) => ledger.release(record, token),
    });

    // Act
    const result = await fc.check(property(forgetful), { numRuns: RUNS, endOnFailure: true });

    // Assess
    expect(result.failed).toBe(true);
    expect((result.errorInstance as Error).message).toMatch(/^I1|I4/);
  });
});
