/**
 * The event the scheduled probe sends a destination's consumer function (the constant input of its
 * EventBridge rule). The handler tells it from an SQS batch with {@link isProbeEvent}; while the
 * destination's circuit breaker is open, a probe tries the destination once and re-enables the event
 * source mapping when it answers.
 *
 * @example
 * RuleTargetInput.fromObject(PROBE_EVENT); // the rule's Input: {"sync-pipeline":"probe"}
 */
export const PROBE_EVENT = { 'sync-pipeline': 'probe' } as const;
export type ProbeEvent = typeof PROBE_EVENT;

/**
 * Whether a Lambda event is the probe: an object whose `sync-pipeline` field is `probe`. An SQS
 * event (an object with `Records`) never is.
 *
 * @example
 * isProbeEvent({ 'sync-pipeline': 'probe' }); // true
 * isProbeEvent({ Records: [] }); // false
 */
export const isProbeEvent = (event: unknown): event is ProbeEvent =>
  typeof event === 'object' &&
  event !== null &&
  !Array.isArray(event) &&
  (event as Record<string, unknown>)['sync-pipeline'] === PROBE_EVENT['sync-pipeline'];
