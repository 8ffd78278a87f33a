import { describe, expect, it } from 'vitest';
import { formatRateLimitBench } from '../../lib/local/bench/rate-limit-bench-command.ts';
import { benchEvents, judgeBench, sustainedWriteRate } from '../../lib/local/bench/rate-limit-bench.ts';
import { fakeApiCounters } from '../helpers/run-report.ts';
import { backlogRunResult, rateLimitBenchReport, rateRunResult } from '../helpers/bench-results.ts';

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
  it('meets every target with a paced, unthrottled rate run and a coalesced backlog', () => {
    // Act
    const verdicts = judgeBench([rateRunResult()], backlogRunResult());

    // Assess
    expect(verdicts.map((verdict) => [verdict.target, verdict.ok])).toEqual([
      ['drained', true],
      ['rate', true],
      ['throttled', true],
      ['drained', true],
      ['calls-per-record', true],
    ]);
  });

  it.each([
    [rateRunResult({ rateShare: 0.94, sustainedPerSecond: 18.8, throttled: 2 }), 'rate', 'rate/R 0.94 (18.8 writes/s), target >= 0.95'],
    [rateRunResult({ rateShare: null, sustainedPerSecond: null, throttled: 2 }), 'rate', 'no sustained rate (fewer than two writes), target >= 0.95'],
    [rateRunResult({ calls: 1_000, throttled: 20, throttledShare: 0.02 }), 'throttled', '2.0 % of 1000 calls answered 429, target <= 1.0 %'],
    [rateRunResult({ drained: false, durationMs: 30_000 }), 'drained', 'stopped after 30.0 s with changes still queued'],
  ])('misses a target: %#', (run, target, detail) => {
    // Act
    const missed = judgeBench([run], null).filter((verdict) => !verdict.ok);

    // Assess
    expect(missed).toEqual([{ label: 'R=20, 1 consumer', target, ok: false, detail }]);
  });

  it('says when the limit never bit: the consumers set the pace', () => {
    // Act
    const [, rate] = judgeBench([rateRunResult({ perSecond: 500, rateShare: 0.2, sustainedPerSecond: 100, throttled: 0 })], null);

    // Assess
    expect(rate?.detail).toContain('(no call was throttled: the consumers, not the limit, set the pace)');
  });

  it('misses the backlog target above 1.1 calls per record', () => {
    // Act
    const missed = judgeBench([], backlogRunResult({ calls: 586, accepted: 586, callsPerRecord: 2.93 })).filter((verdict) => !verdict.ok);

    // Assess
    expect(missed.map((verdict) => verdict.detail)).toEqual(['2.93 calls per record (586 calls for 200 records), target <= 1.1']);
  });
});

describe('Function: formatRateLimitBench', () => {
  it('shows a row per rate run, the backlog, each missed target and the count met', () => {
    // Prepare
    const rateRuns = [rateRunResult(), rateRunResult({ label: 'R=20, 4 consumers', consumers: 4, calls: 480, throttled: 240, throttledShare: 0.5 })];
    const backlog = backlogRunResult();
    const report = rateLimitBenchReport({ rateRuns, backlog, verdicts: judgeBench(rateRuns, backlog), ok: false });

    // Act
    const text = formatRateLimitBench(report);

    // Assess
    const lines = text.split('\n');
    expect(lines.find((line) => line.startsWith('R=20, 1 consumer '))).toMatch(/^R=20, 1 consumer\s+240\s+240\s+240\s+0\s+0\.0 %\s+19\.8\s+0\.99\s+14\.0 s\s+yes$/);
    expect(lines.find((line) => line.startsWith('R=20, 4 consumers'))).toMatch(/\s240\s+50\.0 %\s/);
    expect(text).toContain('backlog 200 x 10, 4 consumers: 2000 changes queued before the consumers started, no rate limit; 200 destination calls, 1.00 per record');
    expect(lines.filter((line) => line.startsWith('FAIL'))).toEqual(['FAIL  R=20, 4 consumers: throttled: 50.0 % of 480 calls answered 429, target <= 1.0 %']);
    expect(lines.at(-1)).toMatch(/^7 of 8 targets met \(.*\); total 23\.0 s$/);
  });
});
