import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import fc from 'fast-check';
import type { Context, SQSRecord } from 'aws-lambda';
import type { Destination, DestinationWrite, WriteResult } from '../../lib/core/destination.ts';
import type { RecordQueue } from '../../lib/core/record-queue.ts';
import type { RecordOutcome } from '../../lib/core/outcome.ts';
import { processRecord } from '../../lib/consumer/process-record.ts';
import { parseChangeEvent, type ChangeEvent } from '../../lib/contract/change-event.ts';
import { createRandom } from '../../lib/core/random.ts';
import type { DeadLetterMessage } from '../../lib/core/dead-letter.ts';
import { classifyHttpStatus, statusError, transportError } from '../../lib/core/errors.ts';
import type { LedgerStore } from '../../lib/core/ledger.ts';

/**
 * A discrete-event simulation of several consumer attempts racing on one record, driving the REAL
 * `processRecord` (Powertools idempotency, the ledger persistence layer, the attempt decisions) over
 * a virtual clock. Every step an attempt waits on — each ledger operation (its effect and its reply
 * are two events), each destination answer, each sleep — is an event at a time drawn by the
 * schedule, so which attempt moves next, when leases expire and when settle windows end are all
 * explored, as are crashes at any step. The destination stands for a real API and is no kinder:
 * by default it does not deduplicate, it applies whatever lands last, and a request the client gave
 * up on may still land later.
 *
 * What it leaves out: SQS itself (redelivery is scheduled directly: after the retry delay, or after
 * a visibility timeout for a crashed attempt), the batch handler's per-batch ordering, and clock
 * skew between consumers (one clock).
 */

export const SIM = {
  requestTimeoutMs: 1_000,
  /** As leaseDurationMsFor(): 2 × timeout + 1 s. */
  leaseDurationMs: 3_000,
  settleMs: 5_000,
  functionTimeoutMs: 30_000,
  /** When a crashed attempt's message comes back. */
  visibilityTimeoutMs: 6_000,
  /**
   * Deliveries of one message; on the last one the consumer itself dead-letters a change that still
   * fails (retries-exhausted), as with the queue's maxReceiveCount.
   */
  maxDeliveries: 30,
  retry: { baseDelaySeconds: 1, maxDelaySeconds: 4, maxReceiveCount: 30 },
} as const;

/** How the destination answers one call. */
export const Answer = {
  OK: 'ok',
  BAD_REQUEST: 'bad-request',
  CONFLICT: 'conflict',
  THROTTLED: 'throttled',
  UNAVAILABLE: 'unavailable',
  SERVER_ERROR: 'server-error',
  BAD_GATEWAY: 'bad-gateway',
  GATEWAY_TIMEOUT: 'gateway-timeout',
  TIMEOUT: 'timeout',
  RESET_BEFORE_SEND: 'reset-before-send',
  RESET_AFTER_SEND: 'reset-after-send',
  REFUSED: 'refused',
} as const;
export type Answer = (typeof Answer)[keyof typeof Answer];

const STATUS: Partial<Record<Answer, number>> = {
  'bad-request': 400,
  conflict: 409,
  throttled: 429,
  unavailable: 503,
  'server-error': 500,
  'bad-gateway': 502,
  'gateway-timeout': 504,
};
/** Answers after which the request may land at any time (the server got it and its fate is open). */
const MAY_LAND: ReadonlySet<Answer> = new Set(['server-error', 'bad-gateway', 'gateway-timeout', 'timeout', 'reset-after-send']);

export interface CallPlan {
  readonly answer: Answer;
  /** From sending until the answer arrives; at or past the request timeout the client gives up instead. */
  readonly latencyMs: number;
  /** For answers that leave the outcome open: whether the request lands at all. */
  readonly lands: boolean;
  /** When it lands, from sending (an `ok` lands no later than its answer). */
  readonly landingDelayMs: number;
}

export interface MessagePlan {
  readonly version: number;
  readonly op: 'upsert' | 'delete';
  /** A same-version twin: another payload for a version already published (a publisher bug). */
  readonly twin: boolean;
  readonly startAt: number;
  /** 2: SQS hands the message to two consumers at once. */
  readonly copies: 1 | 2;
  readonly copyLagMs: number;
  /** The first delivery's process dies before this step (ledger op, answer or sleep); none when undefined. */
  readonly crashAtStep: number | undefined;
}

export interface Schedule {
  readonly messages: readonly MessagePlan[];
  /** Consumed in the order calls are made; later calls succeed quickly. */
  readonly calls: readonly CallPlan[];
  /** Latencies of ledger operations, consumed in order. */
  readonly opDelays: readonly number[];
  readonly seed: number;
}

export interface SimOptions {
  /** The ledger under test, fresh per schedule. */
  readonly ledger: () => LedgerStore;
  /** `plain` (last writer wins, the default of most CRMs), `dedup` (Idempotency-Key replays), `precondition` (refuses versions not newer). */
  readonly api?: 'plain' | 'dedup' | 'precondition';
  /** Late requests land at most this long after the client gave up; undefined: no bound at all. @default SIM.settleMs - 1 */
  readonly landingBoundMs?: number | undefined;
  readonly settleMs?: number;
  /** Tokens for leases. @default a counter */
  readonly newLeaseToken?: () => string;
  /** Runs outside the simulation's own bookkeeping: real I/O (DynamoDB) to wait for before the clock moves. */
  readonly realIo?: boolean;
}

interface Landing {
  readonly seq: number;
  readonly at: number;
  readonly version: number;
  readonly callId: number;
  readonly sentAt: number;
  /** When the client received the answer or gave up. */
  readonly answerAt: number;
  /** Answered from the idempotency store (dedup): no state change, but a non-deduplicating API would have applied it. */
  readonly replay: boolean;
}

interface CallRecord {
  readonly id: number;
  readonly version: number;
  readonly key: string;
  /** The client received a success. */
  answered: boolean;
  /** It did, but its process died before the next ledger step completed: the knowledge was lost. */
  lostAnswer: boolean;
}

export interface SimResult {
  readonly landings: readonly Landing[];
  readonly calls: ReadonlyMap<number, CallRecord>;
  readonly held: { readonly version: number; readonly deleted: boolean } | undefined;
  /** Terminal outcomes per message index. */
  readonly terminal: ReadonlyMap<number, readonly RecordOutcome['kind'][]>;
  readonly deadLettered: ReadonlySet<number>;
  readonly abandoned: readonly number[];
  readonly unfinished: number;
  /** Errors thrown by processRecord (it must never throw here). */
  readonly thrown: readonly string[];
  /** What happened, to show the schedules reach the cases that matter. */
  readonly seen: {
    readonly crashes: number;
    /** Requests that landed after the client gave up on them. */
    readonly lateLandings: number;
    /** Requests that landed after the lease they were sent under had ended. */
    readonly landingsAfterLease: number;
    /** Retries by reason (busy, fenced, outcome-unknown, …). */
    readonly retries: Readonly<Record<string, number>>;
    readonly skipped: Readonly<Record<string, number>>;
  };
}

/** Virtual time: events in time order, ties in the order they were scheduled. */
class Clock {
  public now: number;
  readonly #events: Array<{ at: number; seq: number; fire: () => void }> = [];
  #seq = 0;
  readonly #io = new Set<Promise<unknown>>();
  readonly #setSystemTime: (at: number) => void;

  public constructor(start: number, setSystemTime: (at: number) => void) {
    this.now = start;
    this.#setSystemTime = setSystemTime;
  }

  public at(at: number, fire: () => void): void {
    this.#events.push({ at: Math.max(at, this.now), seq: (this.#seq += 1), fire });
  }

  public delay(ms: number): Promise<void> {
    return new Promise((resolve) => this.at(this.now + Math.max(0, ms), resolve));
  }

  /** Real I/O started now; the clock waits for it before moving on. */
  public io<T>(promise: Promise<T>): Promise<T> {
    this.#io.add(promise);
    void promise.finally(() => this.#io.delete(promise)).catch(() => undefined);
    return promise;
  }

  async #settle(): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#io.size === 0) return;
      await Promise.allSettled([...this.#io]);
    }
  }

  public async run(maxEvents: number): Promise<void> {
    for (let fired = 0; fired < maxEvents; fired += 1) {
      await this.#settle();
      if (this.#events.length === 0) return;
      let next = 0;
      for (let i = 1; i < this.#events.length; i += 1) {
        const a = this.#events[i]!;
        const b = this.#events[next]!;
        if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) next = i;
      }
      const [event] = this.#events.splice(next, 1);
      this.now = event!.at;
      this.#setSystemTime(this.now);
      event!.fire();
    }
    throw new Error(`the simulation did not end within ${maxEvents} events`);
  }
}

const hang = new Promise<never>(() => undefined);

const DEFAULT_CALL: CallPlan = { answer: 'ok', latencyMs: 10, lands: true, landingDelayMs: 5 };

const payloadOf = (plan: MessagePlan): Record<string, unknown> => ({ version: plan.version, ...(plan.twin ? { twin: true } : {}) });

/**
 * Runs one schedule to its end and returns what the destination saw.
 *
 * @example
 * const result = await simulate(schedule, { ledger: () => new InMemoryLedgerStore() }, vi.setSystemTime);
 */
export const simulate = async (schedule: Schedule, options: SimOptions, setSystemTime: (at: number) => void): Promise<SimResult> => {
  const start = Date.UTC(2026, 11, 1, 12);
  setSystemTime(start);
  const clock = new Clock(start, setSystemTime);
  const ledger = options.ledger();
  const api = options.api ?? 'plain';
  const settleMs = options.settleMs ?? SIM.settleMs;
  const landingBoundMs = 'landingBoundMs' in options ? options.landingBoundMs : SIM.settleMs - 1;
  const random = createRandom(schedule.seed);
  let tokens = 0;
  const newLeaseToken = options.newLeaseToken ?? (() => `token-${(tokens += 1)}`);
  const recordKey = { resourceType: 'contact', id: 'c-1' };

  // The destination: one record, last writer wins unless the API is told otherwise.
  let held: { version: number; deleted: boolean } | undefined;
  const landings: Landing[] = [];
  const calls = new Map<number, CallRecord>();
  const seenKeys = new Set<string>();
  let callCount = 0;
  let opCount = 0;
  const nextOpDelay = () => schedule.opDelays[opCount++] ?? 1;

  /** Lands a request now; false when the destination's version check refused it. */
  const land = (write: DestinationWrite, callId: number, sentAt: number, answerAt: number): boolean => {
    const version = write.event.version;
    if (api === 'precondition' && held !== undefined && held.version >= version) return false;
    const replay = api === 'dedup' && seenKeys.has(write.idempotencyKey);
    seenKeys.add(write.idempotencyKey);
    landings.push({ seq: landings.length + 1, at: clock.now, version, callId, sentAt, answerAt, replay });
    if (!replay) held = { version, deleted: write.event.op === 'delete' };
    return true;
  };

  const terminal = new Map<number, RecordOutcome['kind'][]>();
  const deadLettered = new Set<number>();
  const abandoned: number[] = [];
  const thrown: string[] = [];
  let unfinished = 0;
  let crashes = 0;
  const retries: Record<string, number> = {};
  const skipped: Record<string, number> = {};

  const queue: RecordQueue = {
    deadLetter: async (_letter: DeadLetterMessage) => undefined,
    delayRetries: async () => undefined,
    defer: async (messages) => messages.map((message) => ({ messageId: message.messageId, sentAs: message.messageId })),
    receiveOne: async () => undefined,
    delete: async () => undefined,
  };

  const deliver = (index: number, plan: MessagePlan, body: string, delivery: number, crashAtStep: number | undefined): void => {
    unfinished += 1;
    let steps = 0;
    let crashed = false;
    const answeredBeforeCrash: CallRecord[] = [];
    /** One step of this attempt's process; at `crashAtStep` the process dies and never resumes. */
    const step = (ms: number): Promise<void> => {
      if (crashed) return hang;
      if (crashAtStep !== undefined && steps >= crashAtStep) {
        crashed = true;
        crashes += 1;
        unfinished -= 1;
        for (const call of answeredBeforeCrash) call.lostAnswer = true;
        redeliver(clock.now + SIM.visibilityTimeoutMs);
        return hang;
      }
      steps += 1;
      return clock.delay(ms);
    };
    const redeliver = (at: number): void => {
      if (delivery >= SIM.maxDeliveries) {
        abandoned.push(index);
        return;
      }
      clock.at(at, () => deliver(index, plan, body, delivery + 1, undefined));
    };

    const ledgerOp = async <T>(op: () => Promise<T>): Promise<T> => {
      await step(nextOpDelay());
      const result = await (options.realIo === true ? clock.io(op()) : op());
      await step(nextOpDelay());
      // A reply received: what the process learnt from earlier calls is now safe from a crash.
      answeredBeforeCrash.length = 0;
      return result;
    };
    const attemptLedger: LedgerStore = {
      acquireLease: (...args) => ledgerOp(() => ledger.acquireLease(...args)),
      commit: (...args) => ledgerOp(() => ledger.commit(...args)),
      release: (...args) => ledgerOp(() => ledger.release(...args)),
      read: (...args) => ledgerOp(() => ledger.read(...args)),
      markSeen: (...args) => ledgerOp(() => ledger.markSeen(...args)),
    };

    const destination: Destination = {
      apply: async (write: DestinationWrite): Promise<WriteResult> => {
        const plan = schedule.calls[callCount] ?? DEFAULT_CALL;
        callCount += 1;
        const call: CallRecord = { id: callCount, version: write.event.version, key: write.idempotencyKey, answered: false, lostAnswer: false };
        calls.set(call.id, call);
        const sentAt = clock.now;
        const givesUp = plan.latencyMs >= SIM.requestTimeoutMs || plan.answer === 'timeout';
        const answerAt = sentAt + (givesUp ? SIM.requestTimeoutMs : plan.latencyMs);
        // The server's side, independent of the client: whether and when the request takes effect.
        let refused = false;
        if (plan.answer === 'ok') {
          // A success lands before its answer; one the client gave up on may land any time after.
          const landsAt = sentAt + (givesUp ? plan.landingDelayMs : Math.min(plan.landingDelayMs, plan.latencyMs));
          clock.at(landingBoundMs === undefined ? landsAt : Math.min(landsAt, answerAt + landingBoundMs), () => {
            refused = !land(write, call.id, sentAt, answerAt);
          });
        } else if (MAY_LAND.has(plan.answer) && plan.lands) {
          const landsAt = sentAt + plan.landingDelayMs;
          clock.at(landingBoundMs === undefined ? landsAt : Math.min(landsAt, answerAt + landingBoundMs), () => land(write, call.id, sentAt, answerAt));
        }
        await step(answerAt - sentAt);
        if (givesUp) {
          const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
          throw transportError('PUT timed out', timeout);
        }
        if (plan.answer === 'ok') {
          if (refused) return 'superseded';
          call.answered = true;
          answeredBeforeCrash.push(call);
          return 'applied';
        }
        const status = STATUS[plan.answer];
        if (status !== undefined) {
          const errorClass = classifyHttpStatus(status, write.event.op);
          if (errorClass === 'done') return 'applied';
          throw statusError(`PUT answered ${status}`, { errorClass, status });
        }
        const code = plan.answer === 'refused' ? 'ECONNREFUSED' : 'ECONNRESET';
        const failure = Object.assign(new Error(`connect ${code}`), { code });
        throw transportError(`PUT failed: ${code}`, failure);
      },
    };

    const deadline = clock.now + SIM.functionTimeoutMs;
    const context = {
      awsRequestId: `request-${index}-${delivery}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - clock.now),
    } as unknown as Context;
    const idempotencyConfig = new IdempotencyConfig({ eventKeyJmesPath: 'idempotencyKey', throwOnNoIdempotencyKey: true });
    idempotencyConfig.registerLambdaContext(context);
    const record = {
      messageId: `m-${index}`,
      receiptHandle: `rh-${index}-${delivery}`,
      body,
      attributes: { ApproximateReceiveCount: String(delivery), SentTimestamp: String(start), ApproximateFirstReceiveTimestamp: String(start) },
      messageAttributes: {},
    } as unknown as SQSRecord;

    void processRecord(
      record,
      {
        destinationName: 'crm',
        resourceTypes: new Set(['contact']),
        retry: SIM.retry,
        leaseDurationMs: SIM.leaseDurationMs,
        requestTimeoutMs: SIM.requestTimeoutMs,
        settleMs,
        ledger: attemptLedger,
        destination,
        queue,
        random: () => random.next(),
        now: () => clock.now,
        sleep: (ms) => step(ms),
        newLeaseToken,
      },
      idempotencyConfig,
      parseChangeEvent(body, clock.now),
    ).then((outcome) => {
      unfinished -= 1;
      if (outcome.kind === 'skipped') skipped[outcome.reason] = (skipped[outcome.reason] ?? 0) + 1;
      if (outcome.kind === 'retry') {
        retries[outcome.reason] = (retries[outcome.reason] ?? 0) + 1;
        redeliver(clock.now + outcome.delaySeconds * 1000);
        return;
      }
      terminal.set(index, [...(terminal.get(index) ?? []), outcome.kind]);
      if (outcome.kind === 'dead-lettered') deadLettered.add(index);
    }, (error: unknown) => {
      unfinished -= 1;
      thrown.push(error instanceof Error ? error.message : String(error));
    });
  };

  schedule.messages.forEach((plan, index) => {
    const event: ChangeEvent = {
      ...recordKey,
      version: plan.version,
      occurredAt: new Date(start).toISOString(),
      op: plan.op,
      payload: payloadOf(plan),
    } as ChangeEvent;
    const body = JSON.stringify(event);
    clock.at(start + plan.startAt, () => deliver(index, plan, body, 1, plan.crashAtStep));
    if (plan.copies === 2) clock.at(start + plan.startAt + plan.copyLagMs, () => deliver(index, plan, body, 1, undefined));
  });

  await clock.run(50_000);
  const seen = {
    crashes,
    lateLandings: landings.filter((landing) => landing.at > landing.answerAt).length,
    landingsAfterLease: landings.filter((landing) => landing.at > landing.sentAt + SIM.leaseDurationMs).length,
    retries,
    skipped,
  };
  return { landings, calls, held, terminal, deadLettered, abandoned, unfinished, thrown, seen };
};

/** The invariants at the destination; an empty list when all hold. */
export const violations = (schedule: Schedule, result: SimResult): string[] => {
  const found: string[] = [];
  // I1: no landing (replays included) moves the record below a version it held.
  let highest = -1;
  for (const landing of result.landings) {
    if (landing.version < highest) found.push(`I1: v${landing.version} landed at +${landing.seq} after v${highest}`);
    highest = Math.max(highest, landing.version);
  }
  // I4: a version reaches the destination again only if every earlier landing's success was lost to the client.
  const byVersion = new Map<number, Landing[]>();
  for (const landing of result.landings) byVersion.set(landing.version, [...(byVersion.get(landing.version) ?? []), landing]);
  for (const [version, group] of byVersion) {
    const known = group.slice(0, -1).filter((landing) => {
      const call = result.calls.get(landing.callId);
      return call !== undefined && call.answered && !call.lostAnswer;
    });
    if (known.length > 0) found.push(`I4: v${version} landed ${group.length} times after a success the client knew of`);
  }
  // Nothing lost, and I2: each message ends somewhere, and the record holds the highest version
  // unless that one was dead-lettered.
  if (result.unfinished > 0) found.push(`${result.unfinished} attempts never finished`);
  for (const message of result.thrown) found.push(`processRecord threw: ${message}`);
  if (result.abandoned.length > 0) found.push(`messages ${result.abandoned.join(', ')} were still retrying after ${SIM.maxDeliveries} deliveries`);
  schedule.messages.forEach((_plan, index) => {
    if (!result.terminal.has(index) && !result.abandoned.includes(index)) found.push(`message ${index} has no terminal outcome`);
  });
  const maxVersion = Math.max(...schedule.messages.map((m) => m.version));
  const maxDeadLettered = schedule.messages.some((m, index) => m.version === maxVersion && result.deadLettered.has(index));
  if (!maxDeadLettered && result.abandoned.length === 0 && result.held?.version !== maxVersion) {
    found.push(`I2: the destination holds ${result.held === undefined ? 'nothing' : `v${result.held.version}`}, expected v${maxVersion}`);
  }
  return found;
};

/**
 * Schedules of racing deliveries on one record: several versions (duplicates and reordering come
 * from the small range), same-version twins, concurrent copies, crashes at any step, and calls that
 * fail in every way a real API does, with latencies around the timeout and landings up to twice the
 * settle window after sending (the simulation clamps them where a test assumes a bound).
 *
 * @example
 * await fc.assert(fc.asyncProperty(scheduleArbitrary(), async (plan) => { ... }), { numRuns: 1000 });
 */
export const scheduleArbitrary = (options: { readonly minMessages?: number; readonly maxMessages?: number; readonly maxCalls?: number } = {}): fc.Arbitrary<Schedule> => {
  const answers = Object.values(Answer);
  const callPlan: fc.Arbitrary<CallPlan> = fc.record({
    // Half the calls succeed; the rest spread over every way a real API fails.
    answer: fc.oneof({ arbitrary: fc.constant<Answer>('ok'), weight: answers.length }, { arbitrary: fc.constantFrom(...answers), weight: answers.length }),
    latencyMs: fc.integer({ min: 0, max: Math.round(SIM.requestTimeoutMs * 1.3) }),
    lands: fc.boolean(),
    landingDelayMs: fc.integer({ min: 0, max: SIM.requestTimeoutMs + SIM.settleMs * 2 }),
  });
  const messagePlan: fc.Arbitrary<MessagePlan> = fc.record({
    version: fc.integer({ min: 1, max: 4 }),
    op: fc.constantFrom<'upsert' | 'delete'>('upsert', 'upsert', 'upsert', 'delete'),
    twin: fc.boolean(),
    startAt: fc.integer({ min: 0, max: 8_000 }),
    copies: fc.constantFrom<1 | 2>(1, 1, 2),
    copyLagMs: fc.integer({ min: 0, max: 60 }),
    crashAtStep: fc.option(fc.integer({ min: 0, max: 8 }), { freq: 4 }).map((step) => step ?? undefined),
  });
  return fc.record({
    messages: fc.array(messagePlan, { minLength: options.minMessages ?? 1, maxLength: options.maxMessages ?? 6 }),
    calls: fc.array(callPlan, { maxLength: options.maxCalls ?? 12 }),
    opDelays: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 80 }),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  });
};
