import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import type { Destination } from '../../lib/core/destination.ts';
import { benchEvents } from '../../lib/local/bench/rate-limit-bench.ts';
import { runLocalPipeline, type LocalRunOptions } from '../../lib/local/run-pipeline.ts';

const logDir = mkdtempSync(join(tmpdir(), 'sync-backlog-'));

const config = parsePipelineConfig({
  destinations: [{ name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'] }],
});

/**
 * Runs 5 records x 4 versions, published at 20/s (about a second), and tells, for every
 * destination call, how many messages had been published by then (as the last progress said).
 */
const publishedAtEachCall = async (overrides: Partial<LocalRunOptions>): Promise<{ readonly seen: number[]; readonly planned: number; readonly drained: boolean }> => {
  const events = benchEvents({ prefix: 'b', records: 5, versions: 4, seed: 3 });
  let published = 0;
  const seen: number[] = [];
  const counting = (destination: Destination): Destination => ({
    apply: (write) => {
      seen.push(published);
      return destination.apply(write);
    },
  });
  const report = await runLocalPipeline({
    config,
    changes: events.length,
    rate: 20,
    events,
    malformed: 0,
    pollers: 2,
    decorateDestination: counting,
    onProgress: (progress) => {
      published = progress.publishedTotal;
    },
    logFile: join(logDir, `${overrides.startConsumersAfterPublish === true ? 'after' : 'during'}.log`),
    ...overrides,
  });
  return { seen, planned: events.length, drained: report.drained && report.invariants.convergence.ok };
};

describe('Function: runLocalPipeline with startConsumersAfterPublish', () => {
  it('publishes the whole workload before the first destination call, then drains it', async () => {
    // Act
    const { seen, planned, drained } = await publishedAtEachCall({ startConsumersAfterPublish: true });

    // Assess
    expect(drained).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((published) => published === planned)).toBe(true);
  });

  it('lets the queued workload wait consumerStartDelayMs: every change is at least that old when sent', async () => {
    // Prepare: each call's age of its change, from the occurredAt stamped when it was published
    const ages: number[] = [];
    const timing = (destination: Destination): Destination => ({
      apply: (write) => {
        ages.push(Date.now() - Date.parse(write.event.occurredAt));
        return destination.apply(write);
      },
    });
    const events = benchEvents({ prefix: 'b', records: 3, versions: 2, seed: 3 });

    // Act
    const report = await runLocalPipeline({
      config,
      changes: events.length,
      rate: 0,
      events,
      malformed: 0,
      pollers: 2,
      startConsumersAfterPublish: true,
      consumerStartDelayMs: 1_000,
      decorateDestination: timing,
      logFile: join(logDir, 'delayed.log'),
    });

    // Assess: a timer may fire a millisecond early; without the delay the first call comes within ms
    expect(report.drained).toBe(true);
    expect(ages.length).toBeGreaterThan(0);
    expect(Math.min(...ages)).toBeGreaterThanOrEqual(999);
  });

  it('calls the destination while still publishing without it (the check can fail)', async () => {
    // Act
    const { seen, planned, drained } = await publishedAtEachCall({});

    // Assess
    expect(drained).toBe(true);
    expect(seen.some((published) => published < planned)).toBe(true);
  });
});
