import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDestination } from '../../adapters/destination-factory.ts';
import { DynamoDbDestinationControl } from '../../adapters/dynamodb-destination-control.ts';
import type { DestinationConfig } from '../../config/pipeline-config.ts';
import { callResultOf } from '../../consumer/process-record.ts';
import { CallTally, SendGate } from '../../consumer/send-gate.ts';
import { idempotencyKey, type ChangeEvent } from '../../contract/change-event.ts';
import type { Destination } from '../../core/destination.ts';
import { DestinationError } from '../../core/errors.ts';
import { sleep } from '../../core/sleep.ts';
import { emptyFakeApiCounters, type FakeApiCounters, type RateLimit } from '../lab/fake-api.ts';
import { awsClientConfig } from '../sim/emulators.ts';
import { ensureLedgerTable } from '../sim/local-resources.ts';
import { startLimiterServers } from './limiter-servers.ts';

/**
 * @example
 * const load: LimiterLoad = { destination, apiLimit: { perSecond: 100, burst: 100 }, consumers: 4, events, timeoutMs: 40_000 };
 */
export interface LimiterLoad {
  /** The destination as the consumer reads it (its `rateLimit`, `breaker`, `batchSize`); its `baseUrl` is replaced by the fake API's. */
  readonly destination: DestinationConfig;
  /** What the fake API takes from all consumers together. */
  readonly apiLimit: RateLimit;
  /** Simulated invocations at once, each with a DynamoDB client of its own. */
  readonly consumers: number;
  /** Every event is sent until the fake API has accepted it. */
  readonly events: readonly ChangeEvent[];
  /** Stops the load with events still unsent. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** What the destination saw, and whether every event got through. */
export interface LimiterLoadResult {
  /** The fake API's own counters of the destination. */
  readonly counters: FakeApiCounters;
  /** Every event was accepted before the timeout. */
  readonly delivered: boolean;
  /** From the servers' start to the last consumer's end. */
  readonly durationMs: number;
  /** Every request the consumers made to the control item, conditions that failed included: the limiter's own cost. */
  readonly controlRequests: number;
}

/** A slot may start however late: here the limiter alone decides when a call goes, no lease bounds it. */
const FAR_DEADLINE_MS = 3_600_000;
/** A consumer that finds nothing due looks again this soon (deferred events wait out a 429's pause). */
const IDLE_POLL_MS = 20;
/** When a call failed other than by a 429 (never in a sound run), its event is sent again this much later. */
const FAILED_CALL_RETRY_MS = 1_000;
const TABLE_NAME = 'sync-bench-ledger';

/** The events not yet accepted: due ones in order, deferred ones until their time. */
class PendingEvents {
  readonly #due: ChangeEvent[];
  #deferred: Array<{ readonly event: ChangeEvent; readonly retryAt: number }> = [];
  readonly #total: number;
  #accepted = 0;

  public constructor(events: readonly ChangeEvent[]) {
    this.#due = [...events];
    this.#total = events.length;
  }

  public get done(): boolean {
    return this.#accepted === this.#total;
  }

  /** Up to `size` events, those whose deferral has ended first. */
  public take(size: number, now: number): ChangeEvent[] {
    const ended = this.#deferred.filter((entry) => entry.retryAt <= now);
    this.#deferred = this.#deferred.filter((entry) => entry.retryAt > now);
    this.#due.unshift(...ended.map((entry) => entry.event));
    return this.#due.splice(0, size);
  }

  public defer(event: ChangeEvent, retryAt: number): void {
    this.#deferred.push({ event, retryAt });
  }

  public accept(): void {
    this.#accepted += 1;
  }
}

/**
 * One invocation's batch as the consumer sends it, without SQS and the ledger: the gate's one read,
 * the batch's records all asking at once (Powertools runs them in parallel), each call told back to
 * the gate, then the gate's end. A record the gate defers, or whose call fails, waits in `pending`
 * until the gate's retry time.
 */
const sendBatch = async (batch: readonly ChangeEvent[], gate: SendGate, api: Destination, pending: PendingEvents, destinationName: string): Promise<void> => {
  await gate.begin();
  const send = async (event: ChangeEvent): Promise<void> => {
    const verdict = await gate.acquire(Date.now() + FAR_DEADLINE_MS);
    if (!verdict.go) {
      pending.defer(event, verdict.retryAt);
      return;
    }
    try {
      await api.apply({ event, idempotencyKey: idempotencyKey(destinationName, event) });
      await gate.finished('answered');
      pending.accept();
    } catch (error) {
      const failure = error instanceof DestinationError ? error : undefined;
      await gate.finished(callResultOf(failure), failure?.retryAfterMs);
      const deferral = gate.deferral();
      pending.defer(event, deferral !== undefined && !deferral.go ? deferral.retryAt : Date.now() + FAILED_CALL_RETRY_MS);
    }
  };
  await Promise.all(batch.map((event) => send(event).finally(() => gate.leave())));
  await gate.end();
};

/**
 * Drives the consumers' rate limiter alone: `consumers` loops, each taking `batchSize` events at a
 * time and sending them through a new {@link SendGate} (one per simulated invocation) and the HTTP
 * adapter the consumer builds, against the fake API limited to `apiLimit`; every gate shares one
 * {@link DynamoDbDestinationControl} item on the embedded DynamoDB emulator. No SQS, no ledger: it
 * measures the mechanism the consumers share, at rates the whole local pipeline cannot reach in one
 * process. The emulator and the fake API serve from a thread of their own (see
 * {@link startLimiterServers}).
 *
 * @example
 * const { counters, delivered } = await runLimiterLoad({ destination, apiLimit: { perSecond: 500 }, consumers: 4, events, timeoutMs: 60_000 });
 */
export const runLimiterLoad = async (load: LimiterLoad): Promise<LimiterLoadResult> => {
  const startedAt = Date.now();
  const stop = AbortSignal.any([AbortSignal.timeout(load.timeoutMs), ...(load.signal === undefined ? [] : [load.signal])]);
  const { destination: config } = load;
  const servers = await startLimiterServers({ rateLimits: { [config.name]: load.apiLimit } });
  const clients = Array.from({ length: load.consumers }, () => new DynamoDBClient(awsClientConfig(servers.dynamodbEndpoint)));
  let controlRequests = 0;
  for (const client of clients) {
    client.middlewareStack.add((next) => async (args) => {
      controlRequests += 1;
      return next(args);
    });
  }
  try {
    await ensureLedgerTable(clients[0]!, TABLE_NAME);
    controlRequests = 0;
    if (config.kind !== 'http') throw new Error(`the limiter load drives an http destination, not ${config.kind}`);
    const api = createDestination({ ...config, baseUrl: `${servers.fakeApiUrl}/${config.name}` });
    const pending = new PendingEvents(load.events);
    const consume = async (client: DynamoDBClient): Promise<void> => {
      const control = new DynamoDbDestinationControl({ client, tableName: TABLE_NAME });
      const gateDeps = { destination: config.name, control, ...(config.rateLimit === undefined ? {} : { rateLimit: config.rateLimit }), breaker: config.breaker, now: Date.now, sleep, tally: new CallTally() };
      while (!pending.done && !stop.aborted) {
        const batch = pending.take(config.batchSize, Date.now());
        if (batch.length === 0) await sleep(IDLE_POLL_MS);
        else await sendBatch(batch, new SendGate(gateDeps, batch.length), api, pending, config.name);
      }
    };
    await Promise.all(clients.map(consume));
    return { counters: (await servers.counters(config.name)) ?? emptyFakeApiCounters(), delivered: pending.done, durationMs: Date.now() - startedAt, controlRequests };
  } finally {
    for (const client of clients) client.destroy();
    await servers.stop();
  }
};
