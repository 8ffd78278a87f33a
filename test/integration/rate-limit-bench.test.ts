import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runRateLimitBenchCli } from '../../lib/local/bench/rate-limit-bench-command.ts';
import { runRateLimitBench, type BenchRunResult } from '../../lib/local/bench/rate-limit-bench.ts';

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
  it('measures a tiny bench from the fake API counters: every call accepted or answered 429, every record accepted', async () => {
    // Prepare: R = 20 with one consumer for 2 s worth of records, and a backlog of 5 records x 3 versions
    const told: BenchRunResult[] = [];

    // Act
    const report = await runRateLimitBench({
      rates: [20],
      consumers: [1],
      drainSeconds: 2,
      backlog: { records: 5, versions: 3, consumers: 2 },
      logDir: mkdtempSync(join(tmpdir(), 'sync-bench-')),
      onRun: (run) => told.push(run),
    });

    // Assess: the shape and the counts, not the targets (they are the runtime's to meet)
    const [run] = report.rateRuns;
    expect(report.rateRuns).toHaveLength(1);
    expect(run).toMatchObject({ scenario: 'rate', label: 'R=20, 1 consumer', perSecond: 20, consumers: 1, records: 40, drained: true, other: 0 });
    expect(run!.calls).toBe(run!.accepted + run!.throttled);
    expect(run!.accepted).toBe(40);
    expect(run!.throttledShare).toBeCloseTo(run!.throttled / run!.calls, 10);
    expect(run!.writeSpanMs).toBeGreaterThan(0);
    expect(run!.rateShare).toBeCloseTo(run!.sustainedPerSecond! / 20, 10);
    expect(report.backlog).toMatchObject({ scenario: 'backlog', records: 5, versions: 3, consumers: 2, throttled: 0, other: 0, drained: true });
    expect(report.backlog!.calls).toBe(report.backlog!.accepted);
    expect(report.backlog!.calls).toBeGreaterThanOrEqual(5);
    expect(report.backlog!.calls).toBeLessThanOrEqual(15);
    expect(report.backlog!.callsPerRecord).toBe(report.backlog!.calls / 5);
    expect(report.verdicts.map((verdict) => verdict.target)).toEqual(['drained', 'rate', 'throttled', 'drained', 'calls-per-record']);
    expect(report.ok).toBe(report.verdicts.every((verdict) => verdict.ok));
    expect(told).toEqual([run, report.backlog]);
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
