import { readFileSync } from 'node:fs';
import { emptyFakeApiCounters } from './lab/fake-api.ts';
import { ISOLATION_DESTINATIONS, ISOLATION_FAULTS, isolationScenarioOptions } from './lab/isolation-scenario.ts';
import type { LocalRunReport } from './report/run-report.ts';
import { runLocalPipeline } from './run-pipeline.ts';

/** How close the healthy destination must stay to its baseline: the noise of one process on 2 cores. */
export const ISOLATION_TARGETS = { minThroughputRatio: 0.8, maxLagRatio: 1.5, lagSlackMs: 300 } as const;

/** One verdict of the scenario. */
export interface IsolationVerdict {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** What the scenario found: the two runs' figures for each destination, and the verdicts. */
export interface IsolationReport {
  readonly changes: number;
  readonly outageMs: number;
  readonly healthy: {
    readonly writesPerSecond: { readonly baseline: number; readonly isolated: number; readonly ratio: number };
    readonly lagP99Ms: { readonly baseline: number | null; readonly isolated: number | null };
    readonly lagP50Ms: { readonly baseline: number | null; readonly isolated: number | null };
  };
  readonly down: { readonly deadLettered: number; readonly deferred: number; readonly retried: number; readonly breakerOpened: number; readonly breakerClosed: number };
  readonly slow: { readonly calls: number; readonly throttled: number; readonly deferred: number };
  readonly verdicts: readonly IsolationVerdict[];
  readonly ok: boolean;
  /** The isolated run's full report (for the HTML page). */
  readonly isolatedReport: LocalRunReport;
}

const writeRate = (report: LocalRunReport, destination: string): number => {
  const counters = report.fakeApiStats.byDestination[destination] ?? emptyFakeApiCounters();
  const spanMs = counters.firstWriteAt === null || counters.lastWriteAt === null ? 0 : counters.lastWriteAt - counters.firstWriteAt;
  return spanMs <= 0 ? 0 : (counters.writes / spanMs) * 1000;
};

const row = (report: LocalRunReport, destination: string) => report.destinations.find((d) => d.destination === destination)!;

/**
 * Runs the isolation scenario: the baseline (three healthy destinations) and then the same stream
 * with one destination down for a while, one slow and rate-limited, one healthy, in this process, and
 * judges I5 from the two runs: the healthy destination's write rate and lag against its baseline,
 * the down one's breaker (deferrals, no dead letters), every invariant in both runs (so the down
 * destination converged after it recovered).
 *
 * @example
 * const report = await runIsolationScenario({ changes: 200, ids: 40, seed: 1 });
 * report.ok; // true
 */
export const runIsolationScenario = async (
  size: { readonly changes: number; readonly ids: number; readonly seed: number },
  hooks: { readonly onRun?: (label: string) => void; readonly signal?: AbortSignal } = {},
): Promise<IsolationReport> => {
  const { baseline: baselineOptions, isolated: isolatedOptions } = isolationScenarioOptions(size);
  const signal = hooks.signal === undefined ? {} : { signal: hooks.signal };
  hooks.onRun?.('baseline: three healthy destinations');
  const baseline = await runLocalPipeline({ ...baselineOptions, ...signal, logFile: 'reports/isolation-baseline.log' });
  hooks.onRun?.(`isolated: ${ISOLATION_DESTINATIONS.DOWN} down for ${ISOLATION_FAULTS.outageMs / 1000} s, ${ISOLATION_DESTINATIONS.SLOW} slow and limited, ${ISOLATION_DESTINATIONS.HEALTHY} healthy`);
  const isolated = await runLocalPipeline({ ...isolatedOptions, ...signal, logFile: 'reports/isolation.log' });

  const { HEALTHY, DOWN, SLOW } = ISOLATION_DESTINATIONS;
  const rates = { baseline: writeRate(baseline, HEALTHY), isolated: writeRate(isolated, HEALTHY) };
  const ratio = rates.baseline === 0 ? 0 : rates.isolated / rates.baseline;
  const lag = (report: LocalRunReport, key: 'p50' | 'p99') => row(report, HEALTHY).lagMs[key];
  const down = row(isolated, DOWN);
  // The breaker's transitions, from the consumers' log lines (as in CloudWatch Logs).
  const transitions = readFileSync(isolated.logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes(`"destination":"${DOWN}"`));
  const breakerOpened = transitions.filter((line) => line.includes('"message":"breaker opened"')).length;
  const breakerClosed = transitions.filter((line) => line.includes('"message":"breaker closed"')).length;
  const slowCounters = isolated.fakeApiStats.byDestination[SLOW] ?? emptyFakeApiCounters();
  const failedChecks = (report: LocalRunReport) =>
    Object.entries(report.invariants)
      .filter(([, check]) => !check.ok)
      .map(([name]) => name);
  const lagBaseline = lag(baseline, 'p99') ?? 0;
  const lagIsolated = lag(isolated, 'p99') ?? Number.POSITIVE_INFINITY;
  const verdicts: IsolationVerdict[] = [
    {
      check: 'both runs drained and every invariant held (I1-I4, I6; down converged after recovering)',
      ok: baseline.drained && isolated.drained && failedChecks(baseline).length === 0 && failedChecks(isolated).length === 0,
      detail: `baseline: ${baseline.drained ? 'drained' : 'NOT drained'}, failed ${failedChecks(baseline).join(', ') || 'none'}; isolated: ${isolated.drained ? 'drained' : 'NOT drained'}, failed ${failedChecks(isolated).join(', ') || 'none'}`,
    },
    {
      check: `${HEALTHY}'s write rate beside the others, over its baseline (I5), at least ${ISOLATION_TARGETS.minThroughputRatio}`,
      ok: ratio >= ISOLATION_TARGETS.minThroughputRatio,
      detail: `${rates.isolated.toFixed(1)} / ${rates.baseline.toFixed(1)} writes/s = ${ratio.toFixed(2)}`,
    },
    {
      check: `${HEALTHY}'s lag p99 at most ${ISOLATION_TARGETS.maxLagRatio} x its baseline (+${ISOLATION_TARGETS.lagSlackMs} ms of noise) (I5)`,
      ok: lagIsolated <= lagBaseline * ISOLATION_TARGETS.maxLagRatio + ISOLATION_TARGETS.lagSlackMs,
      detail: `${lagIsolated} ms against ${lagBaseline} ms`,
    },
    {
      check: `${DOWN} dead-lettered nothing: its breaker opened (its pollers paused, its changes waited in the queue) and closed once it recovered`,
      ok: down.deadLettered === 0 && breakerOpened >= 1 && breakerClosed >= 1,
      detail: `${down.deadLettered} dead-lettered, breaker opened ${breakerOpened} and closed ${breakerClosed} times, ${down.deferred} deferred, ${down.retried} retried`,
    },
  ];
  return {
    changes: size.changes,
    outageMs: ISOLATION_FAULTS.outageMs,
    healthy: {
      writesPerSecond: { ...rates, ratio },
      lagP99Ms: { baseline: lag(baseline, 'p99'), isolated: lag(isolated, 'p99') },
      lagP50Ms: { baseline: lag(baseline, 'p50'), isolated: lag(isolated, 'p50') },
    },
    down: { deadLettered: down.deadLettered, deferred: down.deferred, retried: down.retried, breakerOpened, breakerClosed },
    slow: { calls: slowCounters.requests, throttled: slowCounters.throttledByRateLimit, deferred: row(isolated, SLOW).deferred },
    verdicts,
    ok: verdicts.every((verdict) => verdict.ok),
    isolatedReport: isolated,
  };
};
