import { describe, expect, it } from 'vitest';
import { createTokenBucket, resolveRateLimit } from '../../lib/local/lab/token-bucket.ts';

describe('Function: resolveRateLimit', () => {
  it.each([
    [{ perSecond: 20 }, { perSecond: 20, burst: 20 }],
    [{ perSecond: 0.5 }, { perSecond: 0.5, burst: 1 }],
    [{ perSecond: 100, burst: 5 }, { perSecond: 100, burst: 5 }],
  ])('resolves %o to %o (burst defaults to one second, at least 1)', (limit, resolved) => {
    // Act
    const result = resolveRateLimit(limit);

    // Assess
    expect(result).toEqual(resolved);
  });

  it('names every bad field and value', () => {
    // Act
    const resolving = () => resolveRateLimit({ perSecond: 0, burst: 0 });

    // Assess
    expect(resolving).toThrow('Invalid fake API rate limit:\n  - perSecond: expected a number > 0, got 0\n  - burst: expected a number >= 1, got 0');
  });
});

describe('Function: createTokenBucket', () => {
  it('starts with the tokens given, capped at the burst, and adds nothing when the clock steps back', () => {
    // Prepare
    let now = 10_000;
    const bucket = createTokenBucket({ perSecond: 10, burst: 3 }, () => now, 5);

    // Act
    const first = [bucket.take(), bucket.take(), bucket.take(), bucket.take()];
    now = 9_000;
    const afterStepBack = bucket.take();
    now = 10_100;
    const afterRefill = [bucket.take(), bucket.take()];

    // Assess
    expect(first).toEqual([true, true, true, false]);
    expect(afterStepBack).toBe(false);
    expect(afterRefill).toEqual([true, false]);
    expect(bucket.tokens()).toBeCloseTo(0);
  });
});
