import { describe, expect, it } from 'vitest';
import { judgeBench } from '../../lib/local/bench/bench-verdicts.ts';
import { formatRateLimitBench } from '../../lib/local/bench/rate-limit-bench-command.ts';
import { benchEvents, sustainedWriteRate } from '../../lib/local/bench/rate-limit-bench.ts';
import { fakeApiCounters } from '../helpers/run-report.ts';
import { backlogRunResult, ceilingRunResult, pipelineRunResult, rateLimitBenchReport, rateRunResult } from '../helpers/bench-results.ts';

describe('Function: sustainedWriteRate', () => {
  it('leaves out the first second, whose writes the full bucket may have inflated', () => {
    // Prepare: 20 writes in the burst second, then 20 a second for 10 s
    const counters = fakeApiCounters(220, { firstWriteAt: 0, lastWriteAt: 10_999, writesPerSecond: [20, ...Array.from({ length: 10 }, () => 20)] });

    // Act
    const rate = sustainedWriteRate(counters);

    // Assess
    expect(rate).toBeCloseTo(200 / 9.999, 3);
  });

  it('does not reward a burst at the start: 40 writes at once, then 10 a second', () => {
    // Prepare
    const counters = fakeApiCounters(140, { firstWriteAt: 0, lastWriteAt: 10_999, writesPerSecond: [40, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10] });

    // Act
    const rate = sustainedWriteRate(counters);

    // Assess
    expect(rate).toBeCloseTo(10, 2);
  });

  it.each([
    ['no write', fakeApiCounters(0), null],
    ['one write', fakeApiCounters(1), null],
    ['writes all at one instant', fakeApiCounters(5, { firstWriteAt: 7, lastWriteAt: 7, writesPerSecond: [5] }), null],
    ['a span under two seconds (the writes after the first over it)', fakeApiCounters(11, { firstWriteAt: 0, lastWriteAt: 1_000, writesPerSecond: [10, 1] }), 10],
  ])('measures %s', (_case, counters, expected) => {
    // Act
    const rate = sustainedWriteRate(counters);

    // Assess
    expect(rate).toBe(expected);
  });
});

describe('Function: benchEvents', () => {
  it('writes every version of every record once, ids b-000 on, shuffled the same for a seed', () => {
    // Act
    const events = benchEvents({ prefix: 'b', records: 200, versions: 10, seed: 1 });
    const again = benchEvents({ prefix: 'b', records: 200, versions: 10, seed: 1 });

    // Assess
    expect(events).toHaveLength(2_000);
    expect(new Set(events.map((event) => `${event.id}@${event.version}`)).size).toBe(2_000);
    expect(events.map((event) => event.id).sort()[0]).toBe('b-000');
    expect(events.map((event) => event.id).sort().at(-1)).toBe('b-199');
    expect(events.every((event) => event.op === 'upsert' && event.version >= 1 && event.version <= 10)).toBe(true);
    expect(events.slice(0, 10).map((event) => event.id)).not.toEqual(Array.from({ length: 10 }, () => 'b-000'));
    expect(again).toEqual(events);
  });

  it('keeps single versions in id order', () => {
    // Act
    const events = benchEvents({ prefix: 'r', records: 1_200, versions: 1, seed: 1 });

    // Assess
    expect(events.map((event) => event.id).slice(0, 2)).toEqual(['r-0000', 'r-0001']);
    expect(events.at(-1)?.id).toBe('r-1199');
  });
});

describe('Function: judgeBench', () => {
  const noRuns = { limiterRuns: [], pipelineRuns: [], ceiling: null, backlog: null } as const;

  it('meets every target of both layers and the backlog; the ceiling run is measured, not judged', () => {
    // Act
    const verdicts = judgeBench({ limiterRuns: [rateRunResult()], pipelineRuns: [pipelineRunResult()], ceiling: ceilingRunResult(), backlog: backlogRunResult() });

    // Assess
    expect(verdicts.map((verdict) => [verdict.layer, verdict.target, verdict.status])).toEqual([
      ['limiter', 'drained', 'met'],
      ['limiter', 'rate', 'met'],
      ['limiter', 'throttled', 'met'],
      ['pipeline', 'drained', 'met'],
      ['pipeline', 'rate', 'met'],
      ['pipeline', 'throttled', 'met'],
      ['pipeline', 'drained', 'met'],
      ['pipeline', 'calls-per-record', 'met'],
    ]);
    expect(verdicts.some((verdict) => verdict.label === ceilingRunResult().label)).toBe(false);
  });

  it.each([
    [rateRunResult({ rateShare: 0.94, sustainedPerSecond: 18.8, throttled: 2 }), 'rate', 'rate/R 0.94 (18.8 writes/s), target >= 0.95'],
    [rateRunResult({ rateShare: null, sustainedPerSecond: null, throttled: 2 }), 'rate', 'no sustained rate (fewer than two writes), target >= 0.95'],
    [rateRunResult({ calls: 1_000, throttled: 20, throttledShare: 0.02 }), 'throttled', '2.0 % of 1000 calls answered 429, target <= 1.0 %'],
    [rateRunResult({ drained: false, durationMs: 30_000 }), 'drained', 'stopped after 30.0 s with records not yet accepted'],
  ])('misses a limiter target: %#', (run, target, detail) => {
    // Act
    const missed = judgeBench({ ...noRuns, limiterRuns: [run] }).filter((verdict) => verdict.status === 'missed');

    // Assess
    expect(missed).toEqual([{ layer: 'limiter', label: 'limiter R=20, 1 consumer', target, status: 'missed', detail }]);
  });

  it('says when the limit never bit: the consumers set the pace', () => {
    // Act
    const [, rate] = judgeBench({ ...noRuns, limiterRuns: [rateRunResult({ perSecond: 500, rateShare: 0.8, sustainedPerSecond: 400, throttled: 0 })] });

    // Assess
    expect(rate?.detail).toContain('(no call was throttled: the consumers, not the limit, set the pace)');
  });

  it("does not judge a pipeline rate above the pipeline's own ceiling, and still judges its 429s and drain", () => {
    // Prepare: a ceiling of 105/s, below 1.25 x 100
    const run = pipelineRunResult({ rateShare: 0.74, sustainedPerSecond: 74, calls: 1_000, throttled: 20, throttledShare: 0.02 });

    // Act
    const verdicts = judgeBench({ ...noRuns, pipelineRuns: [run], ceiling: ceilingRunResult({ sustainedPerSecond: 105 }) });

    // Assess
    expect(verdicts.map((verdict) => [verdict.target, verdict.status])).toEqual([
      ['drained', 'met'],
      ['rate', 'n/a'],
      ['throttled', 'missed'],
    ]);
    expect(verdicts[1]?.detail).toBe("n/a: the pipeline's ceiling here is 105.0/s, below 1.25 x R = 125.0/s; rate/R 0.74 (74.0 writes/s)");
  });

  it.each([
    ['a ceiling of 1.25 x R', ceilingRunResult({ sustainedPerSecond: 125 })],
    ['no ceiling measured', null],
  ])('judges a pipeline rate with %s', (_case, ceiling) => {
    // Act
    const [, rate] = judgeBench({ ...noRuns, pipelineRuns: [pipelineRunResult({ rateShare: 0.74, sustainedPerSecond: 74, throttled: 1 })], ceiling });

    // Assess
    expect(rate).toMatchObject({ target: 'rate', status: 'missed', detail: 'rate/R 0.74 (74.0 writes/s), target >= 0.95' });
  });

  it('judges a limiter rate whatever the ceiling of the pipeline', () => {
    // Act
    const [, rate] = judgeBench({ ...noRuns, limiterRuns: [rateRunResult({ perSecond: 500, rateShare: 0.9, sustainedPerSecond: 450, throttled: 1 })], ceiling: ceilingRunResult() });

    // Assess
    expect(rate?.status).toBe('missed');
  });

  it('misses the backlog target above 1.1 calls per record', () => {
    // Act
    const missed = judgeBench({ ...noRuns, backlog: backlogRunResult({ calls: 586, accepted: 586, callsPerRecord: 2.93 }) }).filter((verdict) => verdict.status === 'missed');

    // Assess
    expect(missed.map((verdict) => verdict.detail)).toEqual(['2.93 calls per record (586 calls for 200 records), target <= 1.1']);
  });
});

describe('Function: formatRateLimitBench', () => {
  it('shows a table per layer, the ceiling first in the pipeline one, the backlog, each missed and n/a target and the counts', () => {
    // Prepare: a limiter run throttled half the time, a pipeline run above a ceiling of 105/s
    const limiterRuns = [rateRunResult(), rateRunResult({ label: 'limiter R=20, 4 consumers', consumers: 4, calls: 400, throttled: 200, throttledShare: 0.5 })];
    const pipelineRuns = [pipelineRunResult({ rateShare: 0.74, sustainedPerSecond: 74 })];
    const runs = { limiterRuns, pipelineRuns, ceiling: ceilingRunResult({ sustainedPerSecond: 105 }), backlog: backlogRunResult() };
    const report = rateLimitBenchReport({ ...runs, verdicts: judgeBench(runs), ok: false });

    // Act
    const text = formatRateLimitBench(report);

    // Assess
    const lines = text.split('\n');
    expect(text).toContain("the destination's rateLimit is perSecond R, burst max(10, R x 0.1 s) (real APIs allow short bursts; it absorbs a consumer's brief stall)");
    expect(lines.find((line) => line.startsWith('limiter R=20, 1 consumer '))).toMatch(/^limiter R=20, 1 consumer\s+200\s+200\s+200\s+0\s+0\.0 %\s+19\.8\s+0\.99\s+0\.105\s+11\.0 s\s+yes\s+ok$/);
    expect(lines.find((line) => line.startsWith('limiter R=20, 4 consumers'))).toMatch(/\s200\s+50\.0 %\s.*FAIL throttled$/);
    const ceilingRow = lines.findIndex((line) => line.startsWith('pipeline ceiling'));
    expect(lines[ceilingRow]).toMatch(/^pipeline ceiling, 1 consumer, no rate limit\s+600\s+600\s+600\s+0\s+-\s+105\.0\s+-\s+-\s+5\.0 s\s+yes\s+measured$/);
    expect(lines[ceilingRow + 1]).toMatch(/^pipeline R=100, 4 consumers\s.*\s0\.74\s.*ok, rate n\/a$/);
    expect(text).toContain('pipeline backlog 200 x 10, 4 consumers: 2000 changes queued before the consumers started, no rate limit, coalescing backlogAgeSeconds 1 and holdSeconds 5');
    expect(text).toContain('200 destination calls, 1.00 per record');
    expect(lines.filter((line) => line.startsWith('FAIL'))).toEqual(['FAIL  limiter R=20, 4 consumers: throttled: 50.0 % of 400 calls answered 429, target <= 1.0 %']);
    expect(lines.filter((line) => line.startsWith('n/a'))).toEqual([
      "n/a   pipeline R=100, 4 consumers: rate: n/a: the pipeline's ceiling here is 105.0/s, below 1.25 x R = 125.0/s; rate/R 0.74 (74.0 writes/s)",
    ]);
    expect(lines.at(-1)).toMatch(/^9 of 11 targets met, 1 missed, 1 n\/a \(.*\); total 60\.0 s$/);
  });
});
