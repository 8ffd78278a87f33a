import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../lib/config/pipeline-config.ts';
import {
  CHAOS_CONCURRENT_COPY_RATE,
  CHAOS_CRASH_RATE,
  CHAOS_FAILURES,
  CHAOS_LEASE_MS,
  CHAOS_REQUEST_TIMEOUT_MS,
  CHAOS_SETTLE_SECONDS,
  CHAOS_SIZE,
  CHAOS_TWIN_RATE,
  chaosRunOptions,
} from '../../lib/local/lab/chaos.ts';
import { formatReport } from '../../lib/local/report/format-report.ts';
import { runLocalPipeline } from '../../lib/local/run-pipeline.ts';

describe('Chaos (embedded SQS and DynamoDB, every failure injected)', () => {
  it('keeps I1-I4 and I6 exactly through throttling, 5xx, 409s, timeouts, resets, 400s, late writes, crashes, concurrent copies and same-version twins', { timeout: 240_000 }, async () => {
    // Prepare
    const options = chaosRunOptions(loadPipelineConfig(), { ...CHAOS_SIZE, seed: 11 });

    // Act
    const report = await runLocalPipeline({ ...options, logFile: join(mkdtempSync(join(tmpdir(), 'sync-chaos-')), 'chaos.log') });
    process.stderr.write(
      `chaos size: ${CHAOS_SIZE.changes} changes over ${CHAOS_SIZE.ids} records; failure rates ${JSON.stringify(CHAOS_FAILURES)}, crash rate ${CHAOS_CRASH_RATE}, ` +
        `concurrent copy rate ${CHAOS_CONCURRENT_COPY_RATE}, twin rate ${CHAOS_TWIN_RATE}\n${formatReport(report)}\n`,
    );

    // Assess: the run is the size and mix the bar asks for
    expect(report.stream.changes).toBeGreaterThanOrEqual(2_000);
    expect(report.stream.duplicates / report.stream.changes).toBeGreaterThanOrEqual(0.2);
    expect(report.stream.outOfOrder / report.stream.changes).toBeGreaterThanOrEqual(0.3);
    // Assess: every fault happened
    for (const kind of ['throttle', 'unavailable', 'timeout', 'reset', 'badRequest', 'timeoutAfterWrite', 'lateWrite', 'conflict']) {
      expect(report.faults.injected[kind], kind).toBeGreaterThan(0);
    }
    expect(report.faults.crashedInvocations).toBeGreaterThan(0);
    expect(report.faults.answersLostToCrashes).toBeGreaterThan(0);
    expect(report.stream.twins).toBeGreaterThan(0);
    // Concurrent copies were delivered, and some ended beside their original (extra outcomes).
    expect(report.faults.copiesDelivered).toBeGreaterThan(0);
    expect(report.destinations.reduce((sum, d) => sum + (d.extraTerminalOutcomes ?? 0), 0)).toBeGreaterThan(0);
    // Late writes landed after the lease of the call that sent them, inside its settle window.
    expect(CHAOS_FAILURES.lateWriteDelayMs).toBeGreaterThan(CHAOS_LEASE_MS);
    expect(CHAOS_FAILURES.lateWriteDelayMs).toBeLessThan(CHAOS_REQUEST_TIMEOUT_MS + CHAOS_SETTLE_SECONDS * 1000);
    expect(report.faults.lateWritesAfterLease).toBeGreaterThan(0);
    // Every repeated call is visible: the fake API does not deduplicate, and retries in doubt repeat keys.
    expect(report.faults.replays).toBeGreaterThan(0);
    // Calls in doubt fenced their records: the fence and the outcome-unknown retries show in the reasons.
    const retried = (reason: string) => report.destinations.reduce((sum, d) => sum + (d.retriedByReason[reason] ?? 0), 0);
    expect(retried('outcome-unknown')).toBeGreaterThan(0);
    expect(retried('fenced')).toBeGreaterThan(0);
    expect(retried('transient')).toBeGreaterThan(0);
    for (const d of report.destinations) {
      expect(Object.values(d.retriedByReason).reduce((sum, n) => sum + n, 0), d.destination).toBe(d.retried);
    }
    // Assess: every invariant, exactly
    expect(report.drained).toBe(true);
    for (const [name, check] of Object.entries(report.invariants)) expect(check, name).toMatchObject({ ok: true });
    // Assess: dead letters exist, and every one says why
    const deadLettered = report.destinations.reduce((sum, d) => sum + d.deadLettered, 0);
    expect(deadLettered).toBeGreaterThan(0);
    const reasons = report.destinations.flatMap((d) => Object.entries(d.deadLetteredByReason));
    const fromLostInvocations = report.destinations.reduce((sum, d) => sum + d.deadLettersFromLostInvocations, 0);
    const repeated = report.destinations.reduce((sum, d) => sum + d.deadLettersRepeated, 0);
    expect(reasons.reduce((sum, [, n]) => sum + n, 0)).toBe(deadLettered + fromLostInvocations - repeated);
    expect(reasons.map(([reason]) => reason)).toContain('rejected');
  });
});
