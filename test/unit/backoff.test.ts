import { describe, expect, it } from 'vitest';
import { MAX_VISIBILITY_TIMEOUT_SECONDS, parseRetryAfter, retryDelaySeconds } from '../../lib/core/backoff.ts';

const retry = { baseDelaySeconds: 2, maxDelaySeconds: 900 };

describe('Function: retryDelaySeconds', () => {
  it.each([1, 2, 3, 5, 8, 12, 40])('stays within [1, min(max, base*2^(n-1))] on attempt %i', (attempt) => {
    // Prepare
    const ceiling = Math.min(retry.maxDelaySeconds, retry.baseDelaySeconds * 2 ** (attempt - 1));

    // Act
    const lowest = retryDelaySeconds({ attempt, retry, random: () => 0 });
    const highest = retryDelaySeconds({ attempt, retry, random: () => 0.999_999 });

    // Assess
    expect(lowest).toBe(1);
    expect(highest).toBe(Math.round(0.999_999 * ceiling));
    expect(highest).toBeLessThanOrEqual(retry.maxDelaySeconds);
  });

  it('lets a longer Retry-After win over the backoff', () => {
    // Act
    const delay = retryDelaySeconds({ attempt: 1, retry, random: () => 0.5, retryAfterMs: 30_000 });

    // Assess
    expect(delay).toBe(30);
  });

  it('keeps the backoff when Retry-After is shorter', () => {
    // Act
    const delay = retryDelaySeconds({ attempt: 10, retry, random: () => 0.5, retryAfterMs: 1_000 });

    // Assess
    expect(delay).toBe(450);
  });

  it('clamps to the SQS 12-hour visibility limit', () => {
    // Act
    const delay = retryDelaySeconds({ attempt: 1, retry, random: () => 0.5, retryAfterMs: 48 * 3600 * 1000 });

    // Assess
    expect(delay).toBe(MAX_VISIBILITY_TIMEOUT_SECONDS);
  });

  it('is reproducible with a seeded random source', () => {
    // Prepare
    const seeded = () => {
      let state = 42;
      return () => {
        state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
        return state / 2 ** 31;
      };
    };
    const schedule = (random: () => number) =>
      Array.from({ length: 8 }, (_, i) => retryDelaySeconds({ attempt: i + 1, retry, random }));

    // Act & Assess
    expect(schedule(seeded())).toEqual(schedule(seeded()));
  });
});

describe('Function: parseRetryAfter', () => {
  const now = Date.parse('2026-11-27T10:00:00Z');

  it.each<[string | null, number | undefined]>([
    ['120', 120_000],
    ['0', 0],
    ['Fri, 27 Nov 2026 10:01:30 GMT', 90_000],
    ['Fri, 27 Nov 2026 09:00:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ])('reads %s as %s ms', (header, expected) => {
    // Act & Assess
    expect(parseRetryAfter(header, now)).toBe(expected);
  });
});
