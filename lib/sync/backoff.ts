import type { RetryConfig } from '../config/pipeline-config.ts';

/** SQS refuses a visibility timeout above 12 hours. */
export const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;

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

export interface RetryDelayInput {
  /** 1 on the first delivery (SQS ApproximateReceiveCount). */
  readonly attempt: number;
  readonly retry: Pick<RetryConfig, 'baseDelaySeconds' | 'maxDelaySeconds'>;
  /** What the destination asked for (429 Retry-After); wins when longer than the backoff. */
  readonly retryAfterMs?: number;
  /** Uniform [0, 1); injectable so schedules are reproducible. */
  readonly random: () => number;
}

/**
 * Seconds until the next delivery of a transiently failed record: full jitter over an exponential
 * ceiling, `random(0, min(max, base * 2^(attempt-1)))`, at least 1 s, raised to a longer Retry-After,
 * clamped to SQS's 12-hour limit.
 *
 * @example
 * retryDelaySeconds({ attempt: 3, retry: { baseDelaySeconds: 2, maxDelaySeconds: 900 }, random: () => 0.5 }); // 4
 */
export const retryDelaySeconds = (input: RetryDelayInput): number => {
  const { attempt, retry, retryAfterMs, random } = input;
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(retry.maxDelaySeconds, retry.baseDelaySeconds * 2 ** exponent);
  const jittered = Math.max(1, Math.round(random() * ceiling));
  const requested = retryAfterMs === undefined ? 0 : Math.ceil(retryAfterMs / 1000);
  return Math.min(MAX_VISIBILITY_TIMEOUT_SECONDS, Math.max(jittered, requested));
};
