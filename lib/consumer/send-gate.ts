import { DeferReason } from '../core/attempt.ts';
import {
  isBreakerOpen,
  loweredRate,
  rateInForce,
  shouldOpenBreaker,
  type BreakerSettings,
  type ControlState,
  type DestinationControlStore,
  type RateLimitSettings,
} from '../core/destination-control.ts';
import type { Sleep } from '../core/sleep.ts';
import { SqsLimits } from '../core/sqs-limits.ts';

/** Whether a call may go: yes, or defer the record until `retryAt`. */
export type GateVerdict = { readonly go: true } | { readonly go: false; readonly reason: DeferReason; readonly retryAt: number };

/** How a destination call ended, as the rate limiter and the breaker count it. */
export type CallResult = 'answered' | 'failed' | 'throttled';

export interface SendGateDeps {
  readonly destination: string;
  readonly control: DestinationControlStore;
  /** @default no limit */
  readonly rateLimit?: RateLimitSettings;
  readonly breaker: BreakerSettings;
  readonly now: () => number;
  readonly sleep: Sleep;
  /**
   * Where this consumer's failure-free calls wait to be counted, across its invocations (one per
   * Lambda container, one per poller locally). With a rate limit, an invocation whose calls all got
   * an answer writes nothing at its end: its calls ride on the next invocation's reservation, so a
   * healthy destination costs one control write per invocation instead of two. Calls that failed
   * are counted at once, with whatever waited, so the breaker sees every failure when it happens.
   * @default a tally of this gate's own (nothing carried over)
   */
  readonly tally?: CallTally;
}

/**
 * Calls of a consumer's earlier invocations that all got an answer, not yet counted in the
 * breaker's window (see {@link SendGateDeps.tally}). What a container holds when it stops is not
 * counted: at most one invocation's calls, and only answered ones, so the breaker may see a share of
 * failures a little higher than it was, never lower.
 */
export class CallTally {
  public waiting = 0;
}

/** What an invocation's gate saw, for its metrics and the breaker. */
export interface GateSummary {
  readonly calls: number;
  readonly failures: number;
  readonly rateInForce?: number;
  /** The breaker was closed and this invocation's counts opened it. */
  readonly opened: boolean;
  readonly breakerOpen: boolean;
}

/** The shortest pause a 429 without Retry-After imposes on every consumer. */
const DEFAULT_THROTTLE_PAUSE_MS = 1_000;

/**
 * One invocation's door to its destination, shared by the records of its batch. Before each call it
 * hands out a request slot of the destination-wide rate limit (reserved from the shared control
 * state in chunks of up to ten, so about one DynamoDB write per ten calls), spacing the calls at the
 * rate in force; after a 429 it lowers that rate for every consumer and defers the rest of the batch
 * (nothing more is sent to the destination in this invocation); while the breaker is open it defers
 * everything. At the end it gives back unused slots and counts the calls in the breaker's window,
 * opening the breaker when they say the destination is down; calls that all got an answer are
 * counted with the next invocation's reservation instead (see {@link SendGateDeps.tally}), so a
 * healthy destination costs one control write per invocation.
 *
 * @example
 * const gate = new SendGate(deps, records.length);
 * await gate.begin();
 * const verdict = await gate.acquire(leaseDeadline);
 */
export class SendGate {
  readonly #deps: SendGateDeps;
  #pending: number;
  #state: ControlState | undefined;
  #slots: number[] = [];
  #intervalMs = 0;
  #throttledUntil: number | undefined;
  #calls = 0;
  #failures = 0;
  #probing = false;
  #reserving: Promise<void> | undefined;
  readonly #tally: CallTally;

  public constructor(deps: SendGateDeps, expectedCallers: number) {
    this.#deps = deps;
    this.#pending = expectedCallers;
    this.#tally = deps.tally ?? new CallTally();
  }

  /**
   * Learns the shared state once per invocation: is the breaker open? With a rate limit this is the
   * first reservation, which returns the item too (one request instead of two; slots left unused
   * are handed back at the end); without one, a read.
   */
  public async begin(): Promise<ControlState | undefined> {
    const limit = this.#deps.rateLimit;
    if (limit === undefined) this.#state = await this.#deps.control.read(this.#deps.destination);
    else await this.#reserve(limit);
    return this.#state;
  }

  /** A probe sends through an open breaker: its call is the test of the destination. */
  public probe(): void {
    this.#probing = true;
  }

  public get breakerOpen(): boolean {
    return isBreakerOpen(this.#state) && !this.#probing;
  }

  /** When the rest of this batch may be sent again, once a 429 or the open breaker stopped it. */
  public deferral(): GateVerdict | undefined {
    const now = this.#deps.now();
    if (this.breakerOpen) return { go: false, reason: DeferReason.BREAKER_OPEN, retryAt: now + this.#deps.breaker.probeIntervalSeconds * 1000 };
    if (this.#throttledUntil !== undefined) return { go: false, reason: DeferReason.THROTTLED, retryAt: Math.max(now, this.#throttledUntil) };
    return undefined;
  }

  /** A record of the batch ended without needing (another) call. */
  public leave(): void {
    this.#pending = Math.max(0, this.#pending - 1);
  }

  /**
   * Waits for this call's slot, or says to defer the record: after a 429 in this invocation, while
   * the breaker is open, or when the slot would start after `deadline` (the lease could not hold the
   * call).
   */
  public async acquire(deadline: number): Promise<GateVerdict> {
    const stopped = this.deferral();
    if (stopped !== undefined) return stopped;
    const limit = this.#deps.rateLimit;
    if (limit === undefined) return { go: true };
    // The records of a batch ask at once: one reservation at a time, its slots taken in order.
    while (this.#slots.length === 0) {
      this.#reserving ??= this.#reserve(limit).finally(() => {
        this.#reserving = undefined;
      });
      await this.#reserving;
    }
    const slot = this.#slots[0]!;
    if (slot > deadline) return { go: false, reason: DeferReason.THROTTLED, retryAt: slot };
    this.#slots.shift();
    const wait = slot - this.#deps.now();
    if (wait > 0) await this.#deps.sleep(wait);
    // A 429 may have come back while this call waited for its slot.
    return this.deferral() ?? { go: true };
  }

  async #reserve(limit: RateLimitSettings): Promise<void> {
    const now = this.#deps.now();
    const rate = rateInForce(this.#state, limit, now);
    this.#intervalMs = 1000 / rate;
    const count = Math.max(1, Math.min(SqsLimits.MAX_BATCH_ENTRIES, this.#pending));
    const burstMs = (limit.burst - 1) * this.#intervalMs;
    const calls = this.#tally.waiting;
    const { startAt, state } = await this.#deps.control.reserve(this.#deps.destination, { count, intervalMs: this.#intervalMs, burstMs, now, calls });
    this.#tally.waiting -= calls;
    this.#state = { ...this.#state, ...state };
    // GCRA: slot i conforms at its place in the schedule less the burst tolerance, never before the
    // first one may go; so after a quiet spell up to `burst` calls go at once, then one per interval.
    const scheduled = state.tat! - count * this.#intervalMs;
    this.#slots = Array.from({ length: count }, (_, index) => Math.max(startAt, scheduled + index * this.#intervalMs - burstMs));
  }

  /** Counts a call's end; a 429 lowers the rate in force for every consumer and stops this batch. */
  public async finished(result: CallResult, retryAfterMs?: number): Promise<void> {
    this.#calls += 1;
    if (result === 'failed') this.#failures += 1;
    if (result !== 'throttled') return;
    const now = this.#deps.now();
    const pause = Math.max(retryAfterMs ?? 0, DEFAULT_THROTTLE_PAUSE_MS);
    this.#throttledUntil = Math.max(this.#throttledUntil ?? 0, now + pause);
    const limit = this.#deps.rateLimit;
    const current = limit === undefined ? undefined : rateInForce(this.#state, limit, now);
    if (limit !== undefined && current !== undefined) {
      await this.#deps.control.throttle(this.#deps.destination, { rate: loweredRate(current, limit), pausedUntil: now + pause, now, cooldownMs: pause });
    }
  }

  /**
   * Whether answered calls may wait for the next reservation: there is one (a rate limit, a tally
   * across invocations), and the breaker's window stands as of this invocation's reservation.
   * Calls carried into a window that has run out would be dropped when the next count restarts it,
   * so the first invocation of each window counts its calls itself (one write a window).
   */
  #canWait(now: number): boolean {
    const started = this.#state?.windowStartedAt;
    return this.#deps.rateLimit !== undefined && this.#deps.tally !== undefined && started !== undefined && started >= now - this.#deps.breaker.windowSeconds * 1000;
  }

  /** Counts this invocation's calls, and those waiting, in the breaker's window; opens the breaker if they say so. */
  async #count(now: number): Promise<boolean> {
    const calls = this.#calls + this.#tally.waiting;
    this.#tally.waiting = 0;
    const counted = await this.#deps.control.recordCalls(this.#deps.destination, {
      calls,
      failures: this.#failures,
      now,
      windowMs: this.#deps.breaker.windowSeconds * 1000,
    });
    this.#state = { ...this.#state, ...counted };
    return shouldOpenBreaker(counted, this.#deps.breaker) && (await this.#deps.control.openBreaker(this.#deps.destination, now));
  }

  /** Gives back unused slots and counts the calls in the breaker's window; opens the breaker if they say so. */
  public async end(): Promise<GateSummary> {
    const now = this.#deps.now();
    const unused = this.#slots.filter((slot) => slot > now).length;
    if (unused > 0) await this.#deps.control.giveBack(this.#deps.destination, unused * this.#intervalMs, now);
    this.#slots = [];
    let opened = false;
    if (this.#calls > 0 && !this.#probing) {
      if (this.#failures === 0 && this.#canWait(now)) this.#tally.waiting += this.#calls;
      else opened = await this.#count(now);
    }
    return {
      calls: this.#calls,
      failures: this.#failures,
      ...(this.#deps.rateLimit === undefined ? {} : { rateInForce: rateInForce(this.#state, this.#deps.rateLimit, now) }),
      opened,
      breakerOpen: opened || isBreakerOpen(this.#state),
    };
  }
}
