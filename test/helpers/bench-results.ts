import type { BacklogRunResult, CeilingRunResult, RateRunResult } from '../../lib/local/bench/bench-results.ts';
import type { RateLimitBenchReport } from '../../lib/local/bench/rate-limit-bench.ts';

/** A limiter-layer rate run at R = 20 with one consumer that met every target; override any field. */
export const rateRunResult = (overrides: Partial<RateRunResult> = {}): RateRunResult => ({
  scenario: 'rate',
  layer: 'limiter',
  label: 'limiter R=20, 1 consumer',
  perSecond: 20,
  consumers: 1,
  records: 200,
  calls: 200,
  accepted: 200,
  throttled: 0,
  other: 0,
  durationMs: 11_000,
  drained: true,
  writeSpanMs: 9_950,
  sustainedPerSecond: 19.8,
  rateShare: 0.99,
  throttledShare: 0,
  controlRequestsPerCall: 0.105,
  ...overrides,
});

/** A pipeline-layer rate run at R = 100 with 4 consumers that met every target; override any field. */
export const pipelineRunResult = (overrides: Partial<RateRunResult> = {}): RateRunResult =>
  rateRunResult({ layer: 'pipeline', label: 'pipeline R=100, 4 consumers', controlRequestsPerCall: undefined, perSecond: 100, consumers: 4, records: 1_000, calls: 1_000, accepted: 1_000, sustainedPerSecond: 99, ...overrides });

/** The pipeline's ceiling at 150 writes/s with one consumer; override any field. */
export const ceilingRunResult = (overrides: Partial<CeilingRunResult> = {}): CeilingRunResult => ({
  scenario: 'ceiling',
  layer: 'pipeline',
  label: 'pipeline ceiling, 1 consumer, no rate limit',
  consumers: 1,
  records: 600,
  calls: 600,
  accepted: 600,
  throttled: 0,
  other: 0,
  durationMs: 5_000,
  drained: true,
  writeSpanMs: 3_990,
  sustainedPerSecond: 150,
  ...overrides,
});

/** The backlog run of 200 records x 10 versions with 4 consumers, one call per record; override any field. */
export const backlogRunResult = (overrides: Partial<BacklogRunResult> = {}): BacklogRunResult => ({
  scenario: 'backlog',
  layer: 'pipeline',
  label: 'pipeline backlog 200 x 10, 4 consumers',
  records: 200,
  versions: 10,
  consumers: 4,
  calls: 200,
  accepted: 200,
  throttled: 0,
  other: 0,
  durationMs: 24_000,
  drained: true,
  callsPerRecord: 1,
  ...overrides,
});

/** A bench report of the given runs, as run by default; override any field. */
export const rateLimitBenchReport = (overrides: Partial<RateLimitBenchReport> = {}): RateLimitBenchReport => ({
  settings: {
    limiter: { rates: [20], consumers: [1], drainSeconds: 10, maxRecords: 6_000 },
    pipeline: { rates: [100], consumers: [4], drainSeconds: 12, maxRecords: 1_000 },
    ceiling: { records: 600, consumers: 1 },
    backlog: { records: 200, versions: 10, consumers: 4 },
    seed: 1,
    logDir: 'reports/bench-ratelimit',
    apiBurstSeconds: 1,
    destination: {
      batchSize: 10,
      maxConcurrency: 5,
      retry: { baseDelaySeconds: 1, maxDelaySeconds: 8, maxReceiveCount: 100 },
      rateLimitBurst: 'max(10, R x 0.1 s)',
      backlogCoalescing: { backlogAgeSeconds: 1, holdSeconds: 5 },
    },
  },
  limiterRuns: [rateRunResult()],
  pipelineRuns: [pipelineRunResult()],
  ceiling: ceilingRunResult(),
  backlog: backlogRunResult(),
  verdicts: [],
  ok: true,
  interrupted: false,
  durationMs: 60_000,
  ...overrides,
});
