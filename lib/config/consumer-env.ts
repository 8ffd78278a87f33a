/**
 * Environment variables the consumer function reads at cold start. The CDK construct sets them and
 * the handler reads them, both through these names.
 */
export const ConsumerEnv = {
  /** The destination's config as JSON, as `cdk synth` validated it (serializeDestinationConfig). */
  DESTINATION: 'SYNC_DESTINATION',
  /**
   * SHA-256 of that JSON (destinationConfigDigest): while the text still has it, the consumer reads
   * it without validating it again; changed text is validated at cold start (readDestinationConfig).
   */
  DESTINATION_SHA256: 'SYNC_DESTINATION_SHA256',
  LEDGER_TABLE_NAME: 'SYNC_LEDGER_TABLE_NAME',
  /** The source queue, for ChangeMessageVisibility (backoff before a retry). */
  QUEUE_URL: 'SYNC_QUEUE_URL',
  /**
   * The source queue's ARN: with the function's own name (AWS_LAMBDA_FUNCTION_NAME, set by Lambda)
   * it finds the function's event source mapping (ListEventSourceMappings), which the circuit
   * breaker disables and the probe enables again. The mapping's UUID cannot be passed: the mapping
   * depends on the function.
   */
  QUEUE_ARN: 'SYNC_QUEUE_ARN',
  DEAD_LETTER_QUEUE_URL: 'SYNC_DEAD_LETTER_QUEUE_URL',
  METRICS_NAMESPACE: 'POWERTOOLS_METRICS_NAMESPACE',
  SERVICE_NAME: 'POWERTOOLS_SERVICE_NAME',
  LOG_LEVEL: 'POWERTOOLS_LOG_LEVEL',
} as const;
