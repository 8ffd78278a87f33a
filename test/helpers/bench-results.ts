import type { BacklogRunResult, RateLimitBenchReport, RateRunResult } from '../../lib/local/bench/rate-limit-bench.ts';

/** A rate run at R = 20 with one consumer that met every target; override any field. */
export const rateRunResult = (overrides: Partial<RateRunResult> = {}): RateRunResult => ({
  scenario: 'rate',
  label: 'R=20, 1 consumer',
  perSecond: 20,
  consumers: 1,
  records: 240,
  calls: 240,
  accepted: 240,
  throttled: 0,
  other: 0,
  durationMs: 14_000,
  drained: true,
  writeSpanMs: 11_950,
  sustainedPerSecond: 19.8,
  rateShare: 0.99,
  throttledShare: 0,
  ...overrides,
});

/** The backlog run of 200 records x 10 versions with 4 consumers, one call per record; override any field. */
export const backlogRunResult = (overrides: Partial<BacklogRunResult> = {}): BacklogRunResult => ({
  scenario: 'backlog',
  label: 'backlog 200 x 10, 4 consumers',
  records: 200,
  versions: 10,
  consumers: 4,
  calls: 200,
  accepted: 200,
  throttled: 0,
  other: 0,
  durationMs: 9_000,
  drained: true,
  callsPerRecord: 1,
  ...overrides,
});

/** A bench report of the given runs, as run by default; override any field. */
export const rateLimitBenchReport = (overrides: Partial<RateLimitBenchReport> = {}): RateLimitBenchReport => ({
  settings: {
    rates: [20],
    consumers: [1],
    drainSeconds: 12,
    maxRecords: 1_000,
    backlog: { records: 200, versions: 10, consumers: 4 },
    seed: 1,
    logDir: 'reports/bench-ratelimit',
    apiBurstSeconds: 1,
    destination: { batchSize: 10, maxConcurrency: 5, retry: { baseDelaySeconds: 1, maxDelaySeconds: 8, maxReceiveCount: 100 } },
  },
  rateRuns: [rateRunResult()],
  backlog: backlogRunResult(),
  verdicts: [],
  ok: true,
  interrupted: false,
  durationMs: 23_000,
  ...overrides,
});
