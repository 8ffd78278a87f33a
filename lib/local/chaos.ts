import type { PipelineConfig } from '../config/pipeline-config.ts';
import { expectedRetrySeconds } from '../sync/backoff.ts';
import type { FailureRates } from './fake-api.ts';
import type { LocalRunOptions } from './run-pipeline.ts';

/**
 * What the fake API does wrong in a chaos run: every failure we know of, at rates high enough that
 * each happens many times in 2,000 changes. Transient ones must be retried to success; the 400s must
 * end in the DLQ with a reason.
 */
export const CHAOS_FAILURES: Required<FailureRates> = {
  throttle: 0.05,
  unavailable: 0.05,
  timeout: 0.02,
  reset: 0.03,
  badRequest: 0.01,
  timeoutAfterWrite: 0.02,
  lateWrite: 0.01,
  retryAfterSeconds: 1,
  // Longer than the call timeout (the client has given up), shorter than the lease.
  lateWriteDelayMs: 700,
};

/** Share of successful calls after which the consumer "dies" before committing. */
export const CHAOS_CRASH_RATE = 0.01;

/** The smallest run that meets the chaos bar: >= 2,000 changes over >= 200 records. */
export const CHAOS_SIZE = { changes: 2_000, ids: 200 } as const;

const CHAOS_RETRY = { baseDelaySeconds: 1, maxDelaySeconds: 4, maxReceiveCount: 40 } as const;

/**
 * The same destinations with timings scaled down so a chaos run finishes in a minute: short call
 * timeouts (so injected hangs cost little), a short function timeout (so a crashed invocation's lease
 * expires quickly), and a backoff in seconds with enough deliveries that no transient failure runs
 * out of retries.
 *
 * @example
 * const options = chaosRunOptions(loadPipelineConfig(), { changes: 2000, ids: 200, seed: 1 });
 */
export const chaosRunOptions = (
  config: PipelineConfig,
  size: { readonly changes: number; readonly ids: number; readonly seed: number },
): LocalRunOptions => ({
  config: {
    ...config,
    destinations: config.destinations.map((destination) => ({
      ...destination,
      requestTimeoutMs: 400,
      functionTimeoutSeconds: 4,
      maxConcurrency: Math.max(destination.maxConcurrency, 4),
      retry: { ...CHAOS_RETRY, horizonMinutes: Math.round(expectedRetrySeconds(CHAOS_RETRY, CHAOS_RETRY.maxReceiveCount) / 60) },
    })),
  },
  changes: size.changes,
  ids: size.ids,
  seed: size.seed,
  rate: 0,
  pollers: 4,
  malformed: 20,
  visibilityTimeoutSeconds: 6,
  crashRate: CHAOS_CRASH_RATE,
  fakeApi: { failures: CHAOS_FAILURES, seed: size.seed },
});
