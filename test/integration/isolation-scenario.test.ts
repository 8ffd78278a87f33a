import { describe, expect, it } from 'vitest';
import { runIsolationScenario } from '../../lib/local/isolation.ts';

describe('The isolation scenario (I5) on the embedded runtime', () => {
  it('keeps the healthy destination at its baseline while another is down and a third is slow; the down one dead-letters nothing and converges', { timeout: 240_000 }, async () => {
    // Act
    const report = await runIsolationScenario({ changes: 150, ids: 30, seed: 3 });

    // Assess: every verdict, named, so a failure says which
    expect(report.verdicts.filter((verdict) => !verdict.ok).map((verdict) => `${verdict.check}: ${verdict.detail}`)).toEqual([]);
    expect(report.down).toMatchObject({ deadLettered: 0 });
    expect(report.down.breakerOpened).toBeGreaterThanOrEqual(1);
    expect(report.slow.throttled / Math.max(1, report.slow.calls)).toBeLessThanOrEqual(0.01);
    expect(Object.values(report.isolatedReport.invariants).every((check) => check.ok)).toBe(true);
  });
});
