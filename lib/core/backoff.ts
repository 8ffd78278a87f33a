import { LAMBDA_MAX_TIMEOUT_SECONDS, SqsLimits } from './sqs-limits.ts';

/** The backoff settings of one destination. */
export interface BackoffSettings {
  readonly baseDelaySeconds: number;
  readonly maxDelaySeconds: number;
}

/**
 * SQS refuses a visibility timeout that ends more than 12 hours after the message was received;
 * the longest Lambda invocation (15 minutes) is kept in reserve, so the clamp is always accepted.
 */
export const MAX_VISIBILITY_TIMEOUT_SECONDS = SqsLimits.MAX_VISIBILITY_TIMEOUT_SECONDS - LAMBDA_MAX_TIMEOUT_SECONDS;

/**
 * Parses a `Retry-After` header: delta-seconds or an HTTP date. Returns milliseconds to wait, or
 * undefined when absent or unreadable.
 *
 * @example
 * parseRetryAfter('120', Date.now()); // 120000
 * parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', Date.parse('Wed, 21 Oct 2026 07:27:00 GMT')); // 60000
 */
export const parseRetryAfter = (value: string | null | undefined, now: number): number | undefined => {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
};

/**
 * The most a record waits after its `attempt`-th delivery failed: `min(max, base * 2^(attempt-1))`.
 *
 * @example
 * backoffCeilingSeconds(4, { baseDelaySeconds: 2, maxDelaySeconds: 900 }); // 16
 */
export const backoffCeilingSeconds = (attempt: number, retry: BackoffSettings): number =>
  Math.min(retry.maxDelaySeconds, retry.baseDelaySeconds * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));

/** One step of a destination's retry schedule: the wait after the `attempt`-th failed delivery. */
export interface RetryStep {
  readonly attempt: number;
  /** The wait is `max(1, round(random * ceiling))` seconds: about uniform in [1, ceiling]. */
  readonly ceilingSeconds: number;
  readonly expectedDelaySeconds: number;
  /** Time since the first attempt when the next one starts, on average and at most. */
  readonly cumulativeExpectedSeconds: number;
  readonly cumulativeMaxSeconds: number;
}

/**
 * The waits between the `maxReceiveCount` deliveries of a transiently failing change.
 *
 * @example
 * retrySchedule({ baseDelaySeconds: 2, maxDelaySeconds: 900 }, 3).map((s) => s.ceilingSeconds); // [2, 4]
 */
export const retrySchedule = (retry: BackoffSettings, maxReceiveCount: number): RetryStep[] => {
  const steps: RetryStep[] = [];
  let cumulativeExpectedSeconds = 0;
  let cumulativeMaxSeconds = 0;
  for (let attempt = 1; attempt < maxReceiveCount; attempt += 1) {
    const ceilingSeconds = backoffCeilingSeconds(attempt, retry);
    const expectedDelaySeconds = (1 + ceilingSeconds) / 2;
    cumulativeExpectedSeconds += expectedDelaySeconds;
    cumulativeMaxSeconds += ceilingSeconds;
    steps.push({ attempt, ceilingSeconds, expectedDelaySeconds, cumulativeExpectedSeconds, cumulativeMaxSeconds });
  }
  return steps;
};

/** Average time a change is retried for, over `maxReceiveCount` deliveries. */
export const expectedRetrySeconds = (retry: BackoffSettings, maxReceiveCount: number): number =>
  retrySchedule(retry, maxReceiveCount).at(-1)?.cumulativeExpectedSeconds ?? 0;

/**
 * The fewest deliveries whose average backoff covers `horizonSeconds`: the maxReceiveCount that
 * makes "retry transient failures for this long" true on average. Stops counting past 1000 (the SQS
 * limit), so callers can report a horizon SQS cannot hold.
 *
 * @example
 * maxReceiveCountForHorizon({ baseDelaySeconds: 2, maxDelaySeconds: 900 }, 24 * 3600); // 201
 */
export const maxReceiveCountForHorizon = (retry: BackoffSettings, horizonSeconds: number): number => {
  let elapsed = 0;
  let deliveries = 1;
  while (elapsed < horizonSeconds && deliveries <= 1000) {
    elapsed += (1 + backoffCeilingSeconds(deliveries, retry)) / 2;
    deliveries += 1;
  }
  return deliveries;
};

export interface RetryDelayInput {
  /** 1 on the first delivery (SQS ApproximateReceiveCount). */
  readonly attempt: number;
  readonly retry: BackoffSettings;
  /** What the destination asked for (429 Retry-After); wins when longer than the backoff. */
  readonly retryAfterMs?: number;
  /** Uniform [0, 1); injectable so schedules are reproducible. */
  readonly random: () => number;
}

/**
 * Seconds until the next delivery of a transiently failed record: full jitter over an exponential
 * ceiling, `max(1, round(random * min(max, base * 2^(attempt-1))))`, raised to a longer Retry-After,
 * clamped below SQS's 12-hour limit.
 *
 * @example
 * retryDelaySeconds({ attempt: 3, retry: { baseDelaySeconds: 2, maxDelaySeconds: 900 }, random: () => 0.5 }); // 4
 */
export const retryDelaySeconds = (input: RetryDelayInput): number => {
  const { attempt, retry, retryAfterMs, random } = input;
  const ceiling = backoffCeilingSeconds(attempt, retry);
  const jittered = Math.max(1, Math.round(random() * ceiling));
  const requested = retryAfterMs === undefined ? 0 : Math.ceil(retryAfterMs / 1000);
  return Math.min(MAX_VISIBILITY_TIMEOUT_SECONDS, Math.max(jittered, requested));
};

/** A retry schedule in milliseconds, for calls retried in process (the publisher's). */
export interface BackoffMsSettings {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * Milliseconds to wait after the `attempt`-th failed call: full jitter, `random * min(max, base * 2^(attempt-1))`,
 * the same exponential ceiling as {@link backoffCeilingSeconds}.
 *
 * @example
 * fullJitterDelayMs(3, { baseDelayMs: 100, maxDelayMs: 5000 }, () => 0.5); // 200
 */
export const fullJitterDelayMs = (attempt: number, retry: BackoffMsSettings, random: () => number): number =>
  Math.round(random() * backoffCeilingSeconds(attempt, { baseDelaySeconds: retry.baseDelayMs, maxDelaySeconds: retry.maxDelayMs }));
