import type { PipelineConfig } from '../../config/pipeline-config.ts';
import { leaseDurationMsFor } from '../../config/resources.ts';
import { expectedRetrySeconds } from '../../core/backoff.ts';
import type { FailureRates } from './fake-api.ts';
import type { LocalRunOptions } from './run-options.ts';

/** The destination call timeout of a chaos run; the lease is `2 x this + 1 s` = 1,800 ms. */
export const CHAOS_REQUEST_TIMEOUT_MS = 400;

/**
 * How long after a call in doubt a chaos destination sends nothing else to the record (its
 * `settleSeconds`): long enough for every late write below to land, short enough for a run to end.
 */
export const CHAOS_SETTLE_SECONDS = 3;

/**
 * What the fake API does wrong in a chaos run: every failure we know of, at rates high enough that
 * each happens many times in 2,000 changes. Transient ones (429, 503, 409, hangs, resets) must be
 * retried to success; the 400s must end in the DLQ with a reason.
 */
export const CHAOS_FAILURES: Required<FailureRates> = {
  throttle: 0.05,
  unavailable: 0.05,
  timeout: 0.02,
  reset: 0.03,
  badRequest: 0.01,
  timeoutAfterWrite: 0.02,
  lateWrite: 0.01,
  conflict: 0.02,
  retryAfterSeconds: 1,
  // After the lease (1,800 ms from before the call), inside the settle window (3 s from when the
  // client gave up, 400 ms after sending): a stray request the fence, not the lease, must hold off.
  lateWriteDelayMs: 2_500,
};

/** Share of successful calls after which the consumer "dies" before committing. */
export const CHAOS_CRASH_RATE = 0.01;

/** Share of received messages SQS also hands to a second consumer at once (at-least-once delivery). */
export const CHAOS_CONCURRENT_COPY_RATE = 0.05;

/** Share of events the local bus delivers twice, as EventBridge's at-least-once delivery may; its deliveries are shuffled too. */
export const CHAOS_BUS_DUPLICATE_RATE = 0.05;

/** Share of changes published a second time with the same version and another payload (a publisher bug). */
export const CHAOS_TWIN_RATE = 0.02;

/** The smallest run that meets the chaos bar: >= 2,000 changes over >= 200 records. */
export const CHAOS_SIZE = { changes: 2_000, ids: 200 } as const;

const CHAOS_RETRY = { baseDelaySeconds: 1, maxDelaySeconds: 4, maxReceiveCount: 40 } as const;

/**
 * The same destinations with timings scaled down so a chaos run finishes in a minute: short call
 * timeouts (so injected hangs cost little), a short function timeout (so a crashed invocation's lease
 * expires quickly), a settle window of 3 s, and a backoff in seconds with enough deliveries that no
 * transient failure runs out of retries. The fake API does not deduplicate by key (so every repeated
 * call shows in its write log) and answers 409 to a key still in flight; SQS hands concurrent copies
 * of some messages to a second poller, and the publisher sends same-version twins.
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
      requestTimeoutMs: CHAOS_REQUEST_TIMEOUT_MS,
      settleSeconds: CHAOS_SETTLE_SECONDS,
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
  concurrentCopyRate: CHAOS_CONCURRENT_COPY_RATE,
  busDelivery: { duplicateRate: CHAOS_BUS_DUPLICATE_RATE, reorder: true },
  twinRate: CHAOS_TWIN_RATE,
  fakeApi: { failures: CHAOS_FAILURES, seed: size.seed, conflictWhileInFlight: true },
});

/** The lease of a chaos destination, for checks that a late write lands after it. */
export const CHAOS_LEASE_MS = leaseDurationMsFor({ requestTimeoutMs: CHAOS_REQUEST_TIMEOUT_MS });

/**
 * What a chaos run changes in the user's config and run settings, one line each: the timings it
 * scales down per destination, and the run settings it replaces. The CLI prints them, so no one
 * mistakes a chaos run's numbers for their own config's.
 *
 * @example
 * chaosOverrides(config, chaosRunOptions(config, { changes: 2000, ids: 200, seed: 1 }));
 * // ['crm: requestTimeoutMs 5000 -> 400, settleSeconds 120 -> 3, …', 'run: pollers 4, malformed 20, …']
 */
export const chaosOverrides = (config: PipelineConfig, chaos: LocalRunOptions): string[] => {
  const lines = config.destinations.map((destination) => {
    const changed = chaos.config.destinations.find((d) => d.name === destination.name)!;
    const pairs: Array<[string, unknown, unknown]> = [
      ['requestTimeoutMs', destination.requestTimeoutMs, changed.requestTimeoutMs],
      ['settleSeconds', destination.settleSeconds, changed.settleSeconds],
      ['functionTimeoutSeconds', destination.functionTimeoutSeconds, changed.functionTimeoutSeconds],
      ['maxConcurrency', destination.maxConcurrency, changed.maxConcurrency],
      ['retry.baseDelaySeconds', destination.retry.baseDelaySeconds, changed.retry.baseDelaySeconds],
      ['retry.maxDelaySeconds', destination.retry.maxDelaySeconds, changed.retry.maxDelaySeconds],
      ['retry.maxReceiveCount', destination.retry.maxReceiveCount, changed.retry.maxReceiveCount],
    ];
    const diffs = pairs.filter(([, from, to]) => from !== to).map(([name, from, to]) => `${name} ${String(from)} -> ${String(to)}`);
    return `${destination.name}: ${diffs.length === 0 ? 'no change' : diffs.join(', ')}`;
  });
  return [
    ...lines,
    `run: pollers ${chaos.pollers}, visibility timeout ${chaos.visibilityTimeoutSeconds} s, malformed ${chaos.malformed}, ` +
      `crash rate ${chaos.crashRate}, concurrent copy rate ${chaos.concurrentCopyRate}, twin rate ${chaos.twinRate}, bus duplicate rate ${chaos.busDelivery?.duplicateRate ?? 0} (deliveries shuffled)`,
    `fake API failure rates: ${Object.entries(CHAOS_FAILURES)
      .map(([kind, value]) => `${kind} ${value}`)
      .join(', ')}; 409 while a key is in flight`,
  ];
};
