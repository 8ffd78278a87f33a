/**
 * The state every consumer of one destination shares, in one place (one DynamoDB item): the rate
 * limiter's schedule and the rate in force, and the circuit breaker's window and state.
 */
export interface ControlState {
  /**
   * The rate limiter's theoretical arrival time (GCRA), epoch ms: when the next request may go, at
   * the rate in force, once every reservation so far has been used.
   */
  readonly tat?: number;
  /** No request goes before this (a 429's Retry-After, for every consumer). */
  readonly pausedUntil?: number;
  /** The rate set by the last 429, and when: it recovers from there (see {@link rateInForce}). */
  readonly decreasedRate?: number;
  readonly decreasedAt?: number;
  /** Set while the breaker is open: when it opened, or when a probe last failed. */
  readonly breakerOpenedAt?: number;
  /** The breaker's window of calls: when it started, calls and transient failures in it. */
  readonly windowStartedAt?: number;
  readonly windowCalls?: number;
  readonly windowFailures?: number;
}

/** The rate-limit settings the rules need (a destination's `rateLimit`). */
export interface RateLimitSettings {
  readonly perSecond: number;
  readonly burst: number;
  readonly recoveryPercentPerSecond: number;
}

/** The breaker settings the rules need (a destination's `breaker`). */
export interface BreakerSettings {
  readonly failurePercent: number;
  readonly minCalls: number;
  readonly windowSeconds: number;
  readonly probeIntervalSeconds: number;
}

/** The lowest rate a 429 can bring the rate in force to, as a share of the ceiling. */
export const MIN_RATE_SHARE = 0.02;

/**
 * The requests per second in force now: the ceiling, or after a 429 the lowered rate plus the
 * additive recovery since, up to the ceiling.
 *
 * @example
 * rateInForce({ decreasedRate: 10, decreasedAt: 0 }, { perSecond: 20, burst: 1, recoveryPercentPerSecond: 5 }, 4_000); // 14
 */
export const rateInForce = (state: ControlState | undefined, limit: RateLimitSettings, now: number): number => {
  if (state?.decreasedRate === undefined || state.decreasedAt === undefined) return limit.perSecond;
  const recovered = state.decreasedRate + ((limit.perSecond * limit.recoveryPercentPerSecond) / 100) * (Math.max(0, now - state.decreasedAt) / 1000);
  return Math.min(limit.perSecond, recovered);
};

/**
 * The rate after a 429: half the rate in force (multiplicative decrease), never below
 * {@link MIN_RATE_SHARE} of the ceiling.
 *
 * @example
 * loweredRate(20, { perSecond: 20, burst: 1, recoveryPercentPerSecond: 5 }); // 10
 */
export const loweredRate = (current: number, limit: RateLimitSettings): number => Math.max(limit.perSecond * MIN_RATE_SHARE, current / 2);

/** Whether the breaker is open (nothing is sent; the event source is off). */
export const isBreakerOpen = (state: ControlState | undefined): boolean => state?.breakerOpenedAt !== undefined;

/**
 * Whether the calls counted in the current window say the destination is down: at least `minCalls`
 * calls, of which at least `failurePercent` failed transiently (throttling is not failure: the rate
 * limiter answers it).
 *
 * @example
 * shouldOpenBreaker({ windowCalls: 20, windowFailures: 12 }, { failurePercent: 50, minCalls: 20, windowSeconds: 60, probeIntervalSeconds: 60 }); // true
 */
export const shouldOpenBreaker = (state: ControlState | undefined, breaker: BreakerSettings): boolean => {
  const calls = state?.windowCalls ?? 0;
  const failures = state?.windowFailures ?? 0;
  return !isBreakerOpen(state) && calls >= breaker.minCalls && failures * 100 >= breaker.failurePercent * calls;
};

/**
 * Whether a probe may try an open breaker's destination now: one probe interval after it opened (or
 * after the last probe failed).
 *
 * @example
 * probeDue({ breakerOpenedAt: 0 }, breaker, 61_000); // true with probeIntervalSeconds 60
 */
export const probeDue = (state: ControlState | undefined, breaker: BreakerSettings, now: number): boolean =>
  isBreakerOpen(state) && now - state!.breakerOpenedAt! >= breaker.probeIntervalSeconds * 1000;

/**
 * Port to the shared state of one destination. Each method is one atomic conditional write (one
 * DynamoDB request in the steady state), so any number of concurrent consumers agree.
 */
export interface DestinationControlStore {
  /**
   * Reserves `count` request slots `intervalMs` apart (GCRA): the schedule moves on by
   * `count × intervalMs`, and the first slot starts at the returned `startAt` (now when the
   * destination has been idle; later when other consumers reserved before, less `burstMs` of slack).
   * `calls` (answered calls of earlier invocations) are added to the breaker's window in the same
   * write, whatever its age: a window that has run out is restarted by the next {@link recordCalls}.
   */
  reserve(
    destination: string,
    request: { readonly count: number; readonly intervalMs: number; readonly burstMs: number; readonly now: number; readonly calls?: number },
  ): Promise<{ readonly startAt: number; readonly state: ControlState }>;
  /** Hands back unused reserved time, so the slots go to other consumers. */
  giveBack(destination: string, ms: number, now: number): Promise<void>;
  /**
   * After a 429: the rate in force becomes `rate` and nothing goes before `pausedUntil`, unless
   * another consumer lowered it less than `cooldownMs` ago (one 429 burst lowers it once).
   */
  throttle(destination: string, change: { readonly rate: number; readonly pausedUntil: number; readonly now: number; readonly cooldownMs: number }): Promise<void>;
  /** Counts an invocation's calls and transient failures in the breaker's window (a new window once `windowMs` has passed). */
  recordCalls(destination: string, counts: { readonly calls: number; readonly failures: number; readonly now: number; readonly windowMs: number }): Promise<ControlState>;
  /** Opens the breaker (or, for a failed probe, restarts its interval); false if it was already open and `reopen` is not set. */
  openBreaker(destination: string, now: number, reopen?: boolean): Promise<boolean>;
  /** Closes the breaker and starts a fresh window. */
  closeBreaker(destination: string, now: number): Promise<void>;
  read(destination: string): Promise<ControlState | undefined>;
}

/** Turns the destination's event source on or off (the Lambda event source mapping; the pollers locally). */
export interface EventSourceSwitch {
  setEnabled(enabled: boolean): Promise<void>;
}
