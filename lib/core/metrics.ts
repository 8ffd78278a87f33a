/**
 * Every metric the pipeline emits, defined once: the consumer emits these names, and the dashboard,
 * the alarms and the local report read them.
 */
export const MetricName = {
  RECORDS_RECEIVED: 'RecordsReceived',
  RECORDS_APPLIED: 'RecordsApplied',
  /** With dimension Reason: duplicate | stale. */
  RECORDS_SKIPPED: 'RecordsSkipped',
  /**
   * Returned to the queue for a later attempt. With dimension Reason: busy | fenced | transient |
   * outcome-unknown | lease-lost | invocation-ending | internal (see RetryReason).
   */
  RECORDS_RETRIED: 'RecordsRetried',
  /** With dimension Reason: the dead-letter reason. */
  RECORDS_DEAD_LETTERED: 'RecordsDeadLettered',
  /** Retried plus dead-lettered: every record whose attempt did not end applied or skipped. */
  RECORDS_FAILED: 'RecordsFailed',
  /** With dimension ErrorClass. */
  DESTINATION_ERRORS: 'DestinationErrors',
  DESTINATION_LATENCY: 'DestinationLatency',
  /** appliedAt - occurredAt: how stale the destination's copy was. */
  END_TO_END_LAG: 'EndToEndLag',
  /** appliedAt - SentTimestamp: time spent in the pipeline. */
  QUEUE_LAG: 'QueueLag',
  /**
   * Sent back to the queue as a new message, with a delay, without spending the change's receives.
   * With dimension Reason: throttled (a 429, and the rest of its batch) | breaker-open | coalescing.
   */
  RECORDS_DEFERRED: 'RecordsDeferred',
  /** The destination's requests per second in force (the configured ceiling, lowered after a 429); once per invocation. */
  RATE_IN_FORCE: 'RateInForce',
  /** 1 while the destination's circuit breaker is open, else 0; once per invocation and probe. */
  BREAKER_OPEN: 'BreakerOpen',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

export const MetricDimension = {
  /** Added by Powertools to every metric: the consumer's service name (see consumerServiceName). */
  SERVICE: 'service',
  DESTINATION: 'Destination',
  REASON: 'Reason',
  ERROR_CLASS: 'ErrorClass',
} as const;
