/**
 * Limits of SQS and of Lambda's SQS event source that the pipeline's code and config must respect,
 * spelled once. Config, the publisher, the DLQ reader and the local stand-ins import them. (The
 * largest body, 256 KiB, is the contract's own rule: `MAX_CHANGE_EVENT_BYTES`.)
 */
export const SqsLimits = {
  /** Messages per ReceiveMessage, and entries per SendMessageBatch / DeleteMessageBatch / ChangeMessageVisibilityBatch. */
  MAX_BATCH_ENTRIES: 10,
  /** Longest visibility timeout, counted from when the message was received (12 hours). */
  MAX_VISIBILITY_TIMEOUT_SECONDS: 43_200,
  /** Longest long poll of one ReceiveMessage. */
  MAX_WAIT_TIME_SECONDS: 20,
  /** Longest message retention (14 days). */
  MAX_RETENTION_SECONDS: 1_209_600,
} as const;

/** Longest Lambda invocation (15 minutes). */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

/** Limits of Lambda's SQS event source mapping (standard queues). */
export const EventSourceLimits = {
  /** Most records per invocation. */
  MAX_BATCH_SIZE: 10_000,
  /** Longest batching window. */
  MAX_BATCHING_WINDOW_SECONDS: 300,
} as const;

/**
 * Lambda's SQS event source rule: a batch larger than one receive (10) must be gathered over a
 * batching window of at least 1 s. Returns the message of the one validation issue (on `batchSize`),
 * or undefined when the settings are fine; both the config and the local event source poller use it.
 *
 * @example
 * batchingWindowIssue({ batchSize: 50, hasWindow: false, windowField: 'maxBatchingWindowSeconds' });
 * // 'expected at most 10 unless maxBatchingWindowSeconds is at least 1 (an SQS event source rule)'
 */
export const batchingWindowIssue = (settings: { readonly batchSize: number; readonly hasWindow: boolean; readonly windowField: string }): string | undefined =>
  settings.batchSize > SqsLimits.MAX_BATCH_ENTRIES && !settings.hasWindow
    ? `expected at most ${SqsLimits.MAX_BATCH_ENTRIES} unless ${settings.windowField} is at least 1 (an SQS event source rule)`
    : undefined;

/**
 * Splits items into chunks of at most `size` (SQS batch calls take at most 10 entries).
 *
 * @example
 * chunk([1, 2, 3], 2); // [[1, 2], [3]]
 */
export const chunk = <T>(items: readonly T[], size: number = SqsLimits.MAX_BATCH_ENTRIES): T[][] => {
  const chunks: T[][] = [];
  for (let index = 0; index < items.length; index += size) chunks.push(items.slice(index, index + size));
  return chunks;
};
