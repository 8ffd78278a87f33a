import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runRateLimitBenchCli } from '../../lib/local/bench/rate-limit-bench-command.ts';
import type { BenchRunResult } from '../../lib/local/bench/bench-results.ts';
import { runRateLimitBench } from '../../lib/local/bench/rate-limit-bench.ts';

/** A stream that keeps what is written to it. */
const capture = (): Writable & { text: () => string } => {
  const chunks: string[] = [];
  const stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(stream, { text: () => chunks.join('') });
};

describe('Function: runRateLimitBench', () => {
  it('measures a tiny bench in both layers from the fake API counters: every call accepted or answered 429, every record accepted', async () => {
    // Prepare: R = 20 for 2 s in each layer, a ceiling of 30 records and a backlog of 5 records x 3 versions
    const told: BenchRunResult[] = [];

    // Act
    const report = await runRateLimitBench({
      limiter: { rates: [20], consumers: [2], drainSeconds: 2 },
      pipeline: { rates: [20], consumers: [1], drainSeconds: 2 },
      ceiling: { records: 30, consumers: 1 },
      backlog: { records: 5, versions: 3, consumers: 2 },
      logDir: mkdtempSync(join(tmpdir(), 'sync-bench-')),
      onRun: (run) => told.push(run),
    });

    // Assess: the shape and the counts, not the targets (they are the runtime's to meet)
    const { limiterRuns, pipelineRuns, ceiling, backlog } = report;
    expect(limiterRuns).toHaveLength(1);
    expect(pipelineRuns).toHaveLength(1);
    expect(limiterRuns[0]).toMatchObject({ scenario: 'rate', layer: 'limiter', label: 'limiter R=20, 2 consumers', perSecond: 20, consumers: 2, records: 40, drained: true, other: 0, accepted: 40 });
    expect(pipelineRuns[0]).toMatchObject({ scenario: 'rate', layer: 'pipeline', label: 'pipeline R=20, 1 consumer', perSecond: 20, consumers: 1, records: 40, drained: true, other: 0, accepted: 40 });
    for (const run of [...limiterRuns, ...pipelineRuns]) {
      expect(run.calls).toBe(run.accepted + run.throttled);
      expect(run.throttledShare).toBeCloseTo(run.throttled / run.calls, 10);
      expect(run.writeSpanMs).toBeGreaterThan(0);
      expect(run.rateShare).toBeCloseTo(run.sustainedPerSecond! / 20, 10);
    }
    expect(ceiling).toMatchObject({ scenario: 'ceiling', layer: 'pipeline', records: 30, consumers: 1, calls: 30, accepted: 30, throttled: 0, other: 0, drained: true });
    expect(ceiling!.sustainedPerSecond).toBeGreaterThan(0);
    expect(backlog).toMatchObject({ scenario: 'backlog', layer: 'pipeline', records: 5, versions: 3, consumers: 2, throttled: 0, other: 0, drained: true });
    expect(backlog!.calls).toBe(backlog!.accepted);
    expect(backlog!.calls).toBeGreaterThanOrEqual(5);
    expect(backlog!.calls).toBeLessThanOrEqual(15);
    expect(backlog!.callsPerRecord).toBe(backlog!.calls / 5);
    expect(report.verdicts.map((verdict) => `${verdict.layer} ${verdict.target}`)).toEqual([
      'limiter drained',
      'limiter rate',
      'limiter throttled',
      'pipeline drained',
      'pipeline rate',
      'pipeline throttled',
      'pipeline drained',
      'pipeline calls-per-record',
    ]);
    expect(report.ok).toBe(report.verdicts.every((verdict) => verdict.status !== 'missed'));
    expect(report.settings.destination).toMatchObject({ rateLimitBurst: 'max(10, R x 0.1 s)', backlogCoalescing: { backlogAgeSeconds: 1, holdSeconds: 5 } });
    expect(told).toEqual([limiterRuns[0], ceiling, pipelineRuns[0], backlog]);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});

describe('Function: runRateLimitBenchCli', () => {
  it.each([
    [['--help'], 0],
    [['--records', '0'], 2],
    [['--rate', '5'], 2],
  ])('ends %j with exit code %i before running anything', async (argv, code) => {
    // Prepare
    const stdout = capture();
    const stderr = capture();

    // Act
    const exitCode = await runRateLimitBenchCli(argv, { stdout, stderr, env: {} });

    // Assess
    expect(exitCode).toBe(code);
    expect(stderr.text()).not.toContain('rate-limit bench');
    if (code === 0) expect(stdout.text()).toContain('--quick');
  });
});
