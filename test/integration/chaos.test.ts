import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../lib/config/pipeline-config.ts';
import { CHAOS_CRASH_RATE, CHAOS_FAILURES, CHAOS_SIZE, chaosRunOptions } from '../../lib/local/chaos.ts';
import { formatReport } from '../../lib/local/format-report.ts';
import { runLocalPipeline } from '../../lib/local/run-pipeline.ts';

describe('Chaos (embedded SQS and DynamoDB, every failure injected)', () => {
  it('keeps I1-I4 and I6 exactly through throttling, 5xx, timeouts, resets, 400s and crashes', { timeout: 180_000 }, async () => {
    // Prepare
    const options = chaosRunOptions(loadPipelineConfig(), { ...CHAOS_SIZE, seed: 11 });

    // Act
    const report = await runLocalPipeline({ ...options, logFile: join(mkdtempSync(join(tmpdir(), 'sync-chaos-')), 'chaos.log') });
    process.stderr.write(
      `chaos size: ${CHAOS_SIZE.changes} changes over ${CHAOS_SIZE.ids} records; failure rates ${JSON.stringify(CHAOS_FAILURES)}, crash rate ${CHAOS_CRASH_RATE}\n${formatReport(report)}\n`,
    );

    // Assess: the run is the size and mix the bar asks for
    expect(report.stream.changes).toBeGreaterThanOrEqual(2_000);
    expect(report.stream.duplicates / report.stream.changes).toBeGreaterThanOrEqual(0.2);
    expect(report.stream.outOfOrder / report.stream.changes).toBeGreaterThanOrEqual(0.3);
    for (const kind of ['throttle', 'unavailable', 'timeout', 'reset', 'badRequest', 'timeoutAfterWrite', 'lateWrite']) {
      expect(report.faults.injected[kind], kind).toBeGreaterThan(0);
    }
    expect(report.faults.crashedInvocations).toBeGreaterThan(0);
    // Assess: every invariant, exactly
    expect(report.drained).toBe(true);
    for (const [name, check] of Object.entries(report.invariants)) expect(check, name).toMatchObject({ ok: true });
    // Assess: dead letters exist, and every one says why
    const deadLettered = report.destinations.reduce((sum, d) => sum + d.deadLettered, 0);
    expect(deadLettered).toBeGreaterThan(0);
    const reasons = report.destinations.flatMap((d) => Object.entries(d.deadLetteredByReason));
    const fromLostInvocations = report.destinations.reduce((sum, d) => sum + d.deadLettersFromLostInvocations, 0);
    expect(reasons.reduce((sum, [, n]) => sum + n, 0)).toBe(deadLettered + fromLostInvocations);
    expect(reasons.map(([reason]) => reason)).toContain('rejected');
  });
});
