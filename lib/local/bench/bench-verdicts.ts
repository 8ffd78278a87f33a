import type { BenchRunFigures, BenchRuns, RateRunResult, TargetVerdict } from './bench-results.ts';

/**
 * What the per-destination isolation must achieve; the bench exits 1 when a figure misses one.
 *
 * @example
 * result.rateShare >= RATE_LIMIT_BENCH_TARGETS.minRateShare;
 */
export const RATE_LIMIT_BENCH_TARGETS = {
  /** Sustained accepted writes per second over the limit R, at least. */
  minRateShare: 0.95,
  /** Share of destination calls answered 429, at most. */
  maxThrottledShare: 0.01,
  /** Destination calls per record of the backlog, at most; 1.0 is one call, for the newest version. */
  maxCallsPerRecord: 1.1,
  /**
   * A pipeline rate run is judged on its rate only where the pipeline's own ceiling (no rate limit)
   * is at least this many times R; below, the ceiling and not the limiter sets the pace. 1.25: with
   * less headroom, the pipeline's own dips (one event loop for everything, on 2 shared cores) take
   * it under 0.95 x R whatever the limiter does (seen at a ceiling of 115/s against R = 100).
   */
  minCeilingOverRate: 1.25,
} as const;

const percent = (share: number): string => `${(share * 100).toFixed(1)} %`;

const drainedVerdict = (run: BenchRunFigures): TargetVerdict => ({
  layer: run.layer,
  label: run.label,
  target: 'drained',
  status: run.drained ? 'met' : 'missed',
  detail: run.drained ? 'every record ended' : `stopped after ${(run.durationMs / 1000).toFixed(1)} s with records not yet accepted`,
});

/** rate/R against its target, or n/a where the pipeline's ceiling is below `minCeilingOverRate` x R. */
const rateVerdict = (run: RateRunResult, ceilingPerSecond: number | null): TargetVerdict => {
  const targets = RATE_LIMIT_BENCH_TARGETS;
  const rate = run.sustainedPerSecond === null ? 'no sustained rate (fewer than two writes)' : `rate/R ${run.rateShare!.toFixed(2)} (${run.sustainedPerSecond.toFixed(1)} writes/s)`;
  const verdict = { layer: run.layer, label: run.label, target: 'rate' } as const;
  // As a ratio: a product such as 1.1 x 100 is a hair off in floating point.
  if (run.layer === 'pipeline' && ceilingPerSecond !== null && ceilingPerSecond / run.perSecond < targets.minCeilingOverRate) {
    const floor = (targets.minCeilingOverRate * run.perSecond).toFixed(1);
    return { ...verdict, status: 'n/a', detail: `n/a: the pipeline's ceiling here is ${ceilingPerSecond.toFixed(1)}/s, below ${targets.minCeilingOverRate} x R = ${floor}/s; ${rate}` };
  }
  const ok = run.rateShare !== null && run.rateShare >= targets.minRateShare;
  // Without a single 429 the limit never bit: the consumers' own pace held the rate down.
  const why = !ok && run.throttled === 0 ? ' (no call was throttled: the consumers, not the limit, set the pace)' : '';
  return { ...verdict, status: ok ? 'met' : 'missed', detail: `${rate}, target >= ${targets.minRateShare}${why}` };
};

const throttledVerdict = (run: RateRunResult): TargetVerdict => ({
  layer: run.layer,
  label: run.label,
  target: 'throttled',
  status: run.throttledShare <= RATE_LIMIT_BENCH_TARGETS.maxThrottledShare ? 'met' : 'missed',
  detail: `${percent(run.throttledShare)} of ${run.calls} calls answered 429, target <= ${percent(RATE_LIMIT_BENCH_TARGETS.maxThrottledShare)}`,
});

/**
 * Checks every run against {@link RATE_LIMIT_BENCH_TARGETS}: each rate run of either layer drained,
 * its rate/R and its 429 share (a pipeline run's rate n/a where the pipeline's own ceiling, measured
 * in the same bench, is below 1.25 x R); the backlog drained and its calls per record. The ceiling run
 * is a measurement, not a target.
 *
 * @example
 * judgeBench({ limiterRuns, pipelineRuns, ceiling, backlog }).filter((verdict) => verdict.status === 'missed');
 */
export const judgeBench = (runs: BenchRuns): TargetVerdict[] => {
  const ceilingPerSecond = runs.ceiling?.sustainedPerSecond ?? null;
  const verdicts = [...runs.limiterRuns, ...runs.pipelineRuns].flatMap((run) => [drainedVerdict(run), rateVerdict(run, ceilingPerSecond), throttledVerdict(run)]);
  const { backlog } = runs;
  if (backlog !== null) {
    verdicts.push(drainedVerdict(backlog), {
      layer: backlog.layer,
      label: backlog.label,
      target: 'calls-per-record',
      status: backlog.callsPerRecord <= RATE_LIMIT_BENCH_TARGETS.maxCallsPerRecord ? 'met' : 'missed',
      detail: `${backlog.callsPerRecord.toFixed(2)} calls per record (${backlog.calls} calls for ${backlog.records} records), target <= ${RATE_LIMIT_BENCH_TARGETS.maxCallsPerRecord}`,
    });
  }
  return verdicts;
};
