import { ValidationError, describeValue } from '../../contract/validation.ts';

/**
 * How many writes per second a fake destination takes, as a token bucket: it holds up to `burst`
 * tokens, refills continuously at `perSecond`, and every write takes one.
 *
 * @example
 * const limit: RateLimit = { perSecond: 20 }; // burst 20: one second's worth
 */
export interface RateLimit {
  /** Tokens added per second, continuously: a number > 0. */
  readonly perSecond: number;
  /**
   * The bucket's capacity: writes that may go at once after a quiet spell, a number >= 1.
   * @default max(1, perSecond), one second's worth
   */
  readonly burst?: number;
}

/** A {@link RateLimit} with its default resolved. */
export type ResolvedRateLimit = Required<RateLimit>;

/**
 * A token bucket on an injected clock.
 *
 * @example
 * const bucket = createTokenBucket({ perSecond: 20, burst: 20 }, Date.now);
 * bucket.take(); // true while tokens remain
 */
export interface TokenBucket {
  readonly limit: ResolvedRateLimit;
  /** Takes one token when the bucket holds one, after refilling it up to now; returns whether it did. */
  take(): boolean;
  /** The tokens held now (fractional), refilled up to now. */
  tokens(): number;
}

/** Refill arithmetic in floating point must not refuse a token that is due to the microsecond. */
const TOKEN_EPSILON = 1e-9;

/**
 * Validates a rate limit and resolves its burst.
 *
 * @throws {ValidationError} e.g. `perSecond: expected a number > 0, got -1`
 * @example
 * resolveRateLimit({ perSecond: 0.5 }); // { perSecond: 0.5, burst: 1 }
 */
export const resolveRateLimit = (limit: RateLimit, subject = 'fake API rate limit'): ResolvedRateLimit => {
  const issues: string[] = [];
  const { perSecond, burst } = limit;
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0) {
    issues.push(`perSecond: expected a number > 0, got ${describeValue(perSecond)}`);
  }
  if (burst !== undefined && (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1)) {
    issues.push(`burst: expected a number >= 1, got ${describeValue(burst)}`);
  }
  if (issues.length > 0) throw new ValidationError(subject, issues);
  return { perSecond, burst: burst ?? Math.max(1, perSecond) };
};

/**
 * Creates a token bucket holding `initialTokens` (full by default). A clock that steps back adds
 * nothing; it never takes tokens away.
 *
 * @example
 * let now = 0;
 * const bucket = createTokenBucket({ perSecond: 10, burst: 1 }, () => now);
 * bucket.take(); // true
 * bucket.take(); // false: empty until 100 ms have passed
 * now = 100;
 * bucket.take(); // true
 */
export const createTokenBucket = (limit: ResolvedRateLimit, now: () => number, initialTokens: number = limit.burst): TokenBucket => {
  let held = Math.min(limit.burst, initialTokens);
  let refilledAt = now();
  const refill = (): number => {
    const at = now();
    held = Math.min(limit.burst, held + (Math.max(0, at - refilledAt) * limit.perSecond) / 1000);
    refilledAt = Math.max(refilledAt, at);
    return held;
  };
  return {
    limit,
    take: () => {
      if (refill() < 1 - TOKEN_EPSILON) return false;
      held = Math.max(0, held - 1);
      return true;
    },
    tokens: refill,
  };
};
