import { parsePipelineConfig } from '../../config/pipeline-config.ts';
import type { LocalRunOptions } from './run-options.ts';

/** The three destinations of the isolation scenario. */
export const ISOLATION_DESTINATIONS = { DOWN: 'down', SLOW: 'slow', HEALTHY: 'healthy' } as const;

/** How the scenario's destinations misbehave. */
export const ISOLATION_FAULTS = {
  /** `down` answers 503 to everything for this long from the start, then recovers. */
  outageMs: 8_000,
  /** `slow` answers every call after this long... */
  slowLatencyMs: 2_000,
  /** ...and takes at most this many requests per second (429 above it); its config says the same. */
  slowPerSecond: 10,
} as const;

/** Timings short enough for a run to end in seconds: a backoff in seconds, a breaker probed every 2 s. */
const SHORT_RETRY = { baseDelaySeconds: 1, maxDelaySeconds: 4, maxReceiveCount: 40 } as const;

/**
 * The isolation scenario (I5): one stream to three destinations, `down` hard down for a while (all
 * 503), `slow` answering in 2 s and rate-limited, `healthy` healthy; and the same stream with all
 * three healthy, the baseline measured in the same run. `healthy` must do as well beside the other
 * two as in the baseline; `down` must open its breaker, dead-letter nothing, and converge once it
 * recovers; `slow` must be paced, not fail.
 *
 * @example
 * const { baseline, isolated } = isolationScenarioOptions({ changes: 200, ids: 40, seed: 1 });
 */
export const isolationScenarioOptions = (size: { readonly changes: number; readonly ids: number; readonly seed: number }): {
  readonly baseline: LocalRunOptions;
  readonly isolated: LocalRunOptions;
} => {
  const config = parsePipelineConfig({
    name: 'isolation',
    destinations: [
      {
        name: ISOLATION_DESTINATIONS.DOWN,
        kind: 'http',
        baseUrl: 'http://127.0.0.1/down',
        resourceTypes: ['contact'],
        requestTimeoutMs: 1_000,
        functionTimeoutSeconds: 6,
        settleSeconds: 2,
        retry: SHORT_RETRY,
        breaker: { failurePercent: 50, minCalls: 10, windowSeconds: 10, probeIntervalSeconds: 2 },
      },
      {
        name: ISOLATION_DESTINATIONS.SLOW,
        kind: 'http',
        baseUrl: 'http://127.0.0.1/slow',
        resourceTypes: ['contact'],
        requestTimeoutMs: 4_000,
        functionTimeoutSeconds: 30,
        settleSeconds: 2,
        retry: SHORT_RETRY,
        rateLimit: { perSecond: ISOLATION_FAULTS.slowPerSecond, burst: 10 },
      },
      {
        name: ISOLATION_DESTINATIONS.HEALTHY,
        kind: 'http',
        baseUrl: 'http://127.0.0.1/healthy',
        resourceTypes: ['contact'],
        requestTimeoutMs: 1_000,
        functionTimeoutSeconds: 6,
        settleSeconds: 2,
        retry: SHORT_RETRY,
      },
    ],
  });
  const common = { config, changes: size.changes, ids: size.ids, seed: size.seed, rate: 100, malformed: 0, pollers: 2, visibilityTimeoutSeconds: 6 } as const;
  return {
    baseline: common,
    isolated: {
      ...common,
      fakeApi: {
        latencyMsByDestination: { [ISOLATION_DESTINATIONS.SLOW]: ISOLATION_FAULTS.slowLatencyMs },
        rateLimits: { [ISOLATION_DESTINATIONS.SLOW]: { perSecond: ISOLATION_FAULTS.slowPerSecond } },
      },
      faultSchedule: [
        { atMs: 0, destination: ISOLATION_DESTINATIONS.DOWN, failures: { unavailable: 1 } },
        { atMs: ISOLATION_FAULTS.outageMs, destination: ISOLATION_DESTINATIONS.DOWN, failures: {} },
      ],
    },
  };
};
