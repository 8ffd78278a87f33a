import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbDestinationControl } from '../../lib/adapters/dynamodb-destination-control.ts';
import { InMemoryDestinationControl } from '../../lib/adapters/in-memory-destination-control.ts';
import type { DestinationControlStore } from '../../lib/core/destination-control.ts';
import { awsClientConfig, startEmulators, type Emulators } from '../../lib/local/sim/emulators.ts';
import { ensureLedgerTable } from '../../lib/local/sim/local-resources.ts';

/**
 * The destination control store's conditional writes against DynamoDB (dynalite by default; set
 * SYNC_TEST_DYNAMODB_ENDPOINT to run them on moto, sequentially), side by side with the in-memory
 * reference, which they must match. The concurrent-reservation test runs on dynalite only: moto's
 * conditional writes are not atomic under concurrent requests, DynamoDB's and dynalite's are.
 */
const endpointUnderTest = process.env.SYNC_TEST_DYNAMODB_ENDPOINT;

describe(`Destination control in DynamoDB (${endpointUnderTest ?? 'embedded emulator'})`, () => {
  let emulators: Emulators | undefined;
  let dynamodb: DynamoDBClient;
  const tableName = `control-${Date.now()}`;
  let n = 0;
  const stores = (): Array<[string, DestinationControlStore, string]> => {
    n += 1;
    return [
      ['DynamoDB', new DynamoDbDestinationControl({ client: dynamodb, tableName }), `d${n}`],
      ['in memory', new InMemoryDestinationControl(), `d${n}`],
    ];
  };

  beforeAll(async () => {
    if (endpointUnderTest === undefined) emulators = await startEmulators();
    dynamodb = new DynamoDBClient(awsClientConfig(endpointUnderTest ?? emulators!.dynamodbEndpoint));
    await ensureLedgerTable(dynamodb, tableName);
  });

  afterAll(async () => {
    dynamodb.destroy();
    await emulators?.stop();
  });

  it('hands out slots in order: an idle destination starts now, a busy one after the reservations before, less the burst', async () => {
    for (const [name, store, destination] of stores()) {
      // Act
      const first = await store.reserve(destination, { count: 10, intervalMs: 50, burstMs: 0, now: 1_000 });
      const second = await store.reserve(destination, { count: 10, intervalMs: 50, burstMs: 100, now: 1_100 });
      await store.giveBack(destination, 250, 1_200);
      const third = await store.reserve(destination, { count: 1, intervalMs: 50, burstMs: 0, now: 1_200 });
      const idle = await store.reserve(destination, { count: 1, intervalMs: 50, burstMs: 0, now: 60_000 });

      // Assess
      expect([name, first.startAt, second.startAt, third.startAt, idle.startAt]).toEqual([name, 1_000, 1_400, 1_750, 60_000]);
    }
  });

  it('lowers the rate once per cooldown and pauses every consumer until Retry-After', async () => {
    for (const [name, store, destination] of stores()) {
      // Act
      await store.throttle(destination, { rate: 10, pausedUntil: 5_000, now: 1_000, cooldownMs: 2_000 });
      await store.throttle(destination, { rate: 5, pausedUntil: 6_000, now: 2_000, cooldownMs: 2_000 });
      const paused = await store.reserve(destination, { count: 1, intervalMs: 100, burstMs: 0, now: 2_500 });

      // Assess
      expect([name, (await store.read(destination))?.decreasedRate, paused.startAt]).toEqual([name, 10, 5_000]);
    }
  });

  it('counts calls in a window, starts a new one after it, and opens and closes the breaker once each', async () => {
    for (const [name, store, destination] of stores()) {
      // Act
      await store.recordCalls(destination, { calls: 10, failures: 6, now: 1_000, windowMs: 60_000 });
      const counted = await store.recordCalls(destination, { calls: 10, failures: 6, now: 2_000, windowMs: 60_000 });
      const fresh = await store.recordCalls(destination, { calls: 1, failures: 0, now: 100_000, windowMs: 60_000 });
      const opened = await store.openBreaker(destination, 100_000);
      const again = await store.openBreaker(destination, 100_001);
      const reopened = await store.openBreaker(destination, 160_000, true);
      const open = await store.read(destination);
      await store.closeBreaker(destination, 170_000);
      const closed = await store.read(destination);

      // Assess
      expect([name, counted.windowCalls, counted.windowFailures, fresh.windowCalls, fresh.windowStartedAt]).toEqual([name, 20, 12, 1, 100_000]);
      expect([name, opened, again, reopened, open?.breakerOpenedAt]).toEqual([name, true, false, true, 160_000]);
      expect([name, closed?.breakerOpenedAt, closed?.windowCalls]).toEqual([name, undefined, 0]);
    }
  });

  it('counts the calls a reservation carries in the breaker window, on either way the schedule stands', async () => {
    for (const [name, store, destination] of stores()) {
      // Act: the first reservation finds no schedule, the second one ahead of now
      await store.reserve(destination, { count: 2, intervalMs: 50, burstMs: 0, now: 1_000, calls: 4 });
      await store.reserve(destination, { count: 2, intervalMs: 50, burstMs: 0, now: 1_010, calls: 3 });
      await store.reserve(destination, { count: 2, intervalMs: 50, burstMs: 0, now: 1_020 });
      const counted = await store.recordCalls(destination, { calls: 1, failures: 1, now: 1_030, windowMs: 60_000 });

      // Assess: a window with no start is started by the count with failures, which keeps none of the carried calls
      expect([name, counted.windowCalls, counted.windowFailures]).toEqual([name, 1, 1]);
      await store.reserve(destination, { count: 1, intervalMs: 50, burstMs: 0, now: 1_040, calls: 5 });
      expect([name, (await store.read(destination))?.windowCalls]).toEqual([name, 6]);
    }
  });

  it('reserves with one request when the schedule stands as this client last saw it', async () => {
    // Prepare: a client that counts its requests
    const client = new DynamoDBClient(awsClientConfig(endpointUnderTest ?? emulators!.dynamodbEndpoint));
    let requests = 0;
    client.middlewareStack.add((next) => async (args) => {
      requests += 1;
      return next(args);
    });
    const destination = `guess-${Date.now()}`;
    const store = new DynamoDbDestinationControl({ client, tableName });
    const fresh = new DynamoDbDestinationControl({ client, tableName });
    const counted = async (take: () => Promise<unknown>): Promise<number> => {
      const before = requests;
      await take();
      return requests - before;
    };

    // Act: the schedule falls behind now between reservations (an idle destination), each time
    const seen = await counted(() => store.reserve(destination, { count: 1, intervalMs: 10, burstMs: 0, now: 1_000 }));
    const behindSeen = await counted(() => store.reserve(destination, { count: 1, intervalMs: 10, burstMs: 0, now: 2_000 }));
    const behindUnseen = await counted(() => fresh.reserve(destination, { count: 1, intervalMs: 10, burstMs: 0, now: 3_000 }));
    const aheadSeen = await counted(() => fresh.reserve(destination, { count: 1, intervalMs: 10_000, burstMs: 0, now: 3_001 }));
    client.destroy();

    // Assess: a client that has not seen the schedule (the negative control) tries the wrong way first
    expect([seen, behindSeen, behindUnseen, aheadSeen]).toEqual([2, 1, 2, 1]);
  });

  // Registered on the embedded emulator only (see above): on moto this file runs the sequential rules.
  if (endpointUnderTest === undefined) it('never hands the same slot to two of 8 concurrent consumers', async () => {
    // Prepare
    const destination = 'concurrent';
    const store = new DynamoDbDestinationControl({ client: dynamodb, tableName });

    // Act: 8 consumers take 5 slots each, 40 times, at the same instants
    const starts: number[] = [];
    for (let round = 0; round < 5; round += 1) {
      const taken = await Promise.all(Array.from({ length: 8 }, () => store.reserve(destination, { count: 5, intervalMs: 10, burstMs: 0, now: 1_000 })));
      for (const { startAt } of taken) for (let slot = 0; slot < 5; slot += 1) starts.push(startAt + slot * 10);
    }

    // Assess: 200 slots, 10 ms apart, none shared
    expect(new Set(starts).size).toBe(200);
    expect(Math.max(...starts) - Math.min(...starts)).toBe(1_990);
  });
});
