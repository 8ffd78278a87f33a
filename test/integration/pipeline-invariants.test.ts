import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Destination } from '../../lib/core/destination.ts';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { generateDemoStream } from '../../lib/local/lab/demo-stream.ts';
import { createRandom } from '../../lib/core/random.ts';
import { runLocalPipeline, type LocalRunOptions } from '../../lib/local/run-pipeline.ts';
import { withoutLease } from '../helpers/no-lease-ledger.ts';

const logDir = mkdtempSync(join(tmpdir(), 'sync-invariants-'));

/** One destination, four concurrent pollers, all on a few hot records. */
const config = parsePipelineConfig({
  destinations: [
    { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'], batchSize: 5, maxConcurrency: 4 },
  ],
});

/** Many versions per record, duplicated and shuffled, so consumers race on the same ids. */
const hotStream = (seed: number) => {
  const events = generateDemoStream({ changes: 400, ids: 12, resourceTypes: ['contact'], duplicateRate: 0.2, outOfOrderRate: 0.3, seed });
  return createRandom(seed).shuffle([...events]);
};

/** Runs the hot stream through 4 pollers, against a fake API whose latency jitters so calls overtake each other. */
const runHot = (name: string, overrides: Partial<LocalRunOptions> = {}) => {
  const events = hotStream(7);
  return runLocalPipeline({
    config,
    changes: events.length,
    rate: 0,
    events,
    pollers: 4,
    malformed: 2,
    fakeApi: { latencyMs: 15, seed: 7 },
    visibilityTimeoutSeconds: 2,
    logFile: join(logDir, `${name}.log`),
    stallTimeoutMs: 30_000,
    ...overrides,
  });
};

describe('Invariants under concurrency (embedded SQS and DynamoDB, 4 pollers)', () => {
  it('never moves a record backwards, converges, accounts for every message and writes each version once', async () => {
    // Act
    const report = await runHot('with-lease');

    // Assess
    const crm = report.destinations[0]!;
    expect(report.drained).toBe(true);
    expect(report.invariants.noRegression).toMatchObject({ ok: true });
    expect(report.invariants.convergence).toMatchObject({ ok: true });
    expect(report.invariants.accounting).toMatchObject({ ok: true });
    expect(report.invariants.effectOnce).toMatchObject({ ok: true });
    expect(report.invariants.noDestinationReads).toMatchObject({ ok: true });
    expect(crm.published).toBe(hotStream(7).length + 2);
    // A batch that outlives the 2 s visibility timeout (a loaded machine) gets a concurrent copy from
    // SQS, whose skip is one more outcome than published, as the pollers saw it: never one more write.
    expect(crm.applied + crm.skipped + crm.deadLettered).toBe(crm.published + (crm.extraTerminalOutcomes ?? 0));
    expect(crm.applied).toBe(crm.destinationWrites);
    expect(crm.skippedByReason.duplicate).toBeGreaterThan(0);
    expect(crm.skippedByReason.stale).toBeGreaterThan(0);
    expect(crm.deadLetteredByReason).toEqual({ 'invalid-json': 1, 'invalid-schema': 1 });
    // No call was ever repeated: the fake API (which does not deduplicate) saw every key once.
    expect(crm.replays).toBe(0);
    expect(report.faults.replays).toBe(0);
  });

  it('detects a regression when the lease is taken away (the test can fail)', async () => {
    // Act: the seed post's read-compare-write check, shared by all pollers, without a lease
    const report = await runHot('without-lease', { malformed: 0, wrapLedger: () => withoutLease() });

    // Assess
    expect(report.invariants.noRegression.ok).toBe(false);
    expect(report.invariants.noRegression.detail).toMatch(/crm contact\/\S+: v\d+ -> v\d+/);
  });

  it('detects a duplicate effect when a call is repeated after its answer arrived (the effect-once check can fail)', async () => {
    // Prepare: an adapter that, once the destination answered, sends the same write again
    const callsTwice = (destination: Destination): Destination => ({
      apply: async (write) => {
        await destination.apply(write);
        return destination.apply(write);
      },
    });

    // Act
    const report = await runHot('calls-twice', { malformed: 0, decorateDestination: callsTwice });

    // Assess: the fake API wrote both (it does not deduplicate), and the check names the repeat
    expect(report.faults.replays).toBeGreaterThan(0);
    expect(report.invariants.effectOnce.ok).toBe(false);
    expect(report.invariants.effectOnce.detail).toMatch(/crm contact\/\S+ v\d+ reached the destination 2 times \(seq \d+, \d+\), repeated after the answered seq \d+/);
  });
});
