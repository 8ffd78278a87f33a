import type { DestinationConfig, PipelineConfig } from './pipeline-config.ts';

/**
 * Physical names and queue settings, defined once: the CDK stack creates exactly these resources and
 * the local runtime creates the same ones on the emulators.
 */
export interface DestinationResources {
  readonly queueName: string;
  readonly deadLetterQueueName: string;
  /** At least 6x the function timeout, as AWS advises for SQS event sources. */
  readonly visibilityTimeoutSeconds: number;
  readonly retentionPeriodSeconds: number;
  readonly deadLetterRetentionPeriodSeconds: number;
  readonly maxReceiveCount: number;
}

const FOURTEEN_DAYS_IN_SECONDS = 14 * 24 * 60 * 60;
const DAY_IN_SECONDS = 24 * 60 * 60;

/**
 * How long a consumer holds the per-record lease: twice the destination call's hard timeout plus a
 * second, so a slow call can never be overtaken by a second consumer (invariant I1).
 */
export const leaseDurationMsFor = (destination: Pick<DestinationConfig, 'requestTimeoutMs'>): number =>
  destination.requestTimeoutMs * 2 + 1_000;

/**
 * The consumer's Powertools service name: its log lines' `service` and the `service` dimension
 * Powertools adds to every metric, so the alarms must use exactly this value.
 */
export const consumerServiceName = (config: Pick<PipelineConfig, 'name'>, destination: Pick<DestinationConfig, 'name'>): string =>
  `${config.name}-${destination.name}`;

/** The table holding the version ledger (one item per destination and record). */
export const ledgerTableName = (config: PipelineConfig): string => `${config.name}-ledger`;

/** The EventBridge bus publishers send changes to. */
export const eventBusName = (config: PipelineConfig): string => `${config.name}-changes`;

/**
 * The scheduled EventBridge rule that probes a destination whose circuit breaker is open. The
 * longest name derived from the config: an EventBridge rule name has at most 64 characters, which
 * is why the config refuses a pipeline and destination name longer than 57 together.
 *
 * @example
 * probeRuleName(config, config.destinations[0]); // 'sync-pipeline-crm-probe'
 */
export const probeRuleName = (config: Pick<PipelineConfig, 'name'>, destination: Pick<DestinationConfig, 'name'>): string =>
  `${config.name}-${destination.name}-probe`;

/**
 * The start of every ledger key of a destination: its records' (`ledgerKey`) and its control item's.
 * The consumer's IAM policy allows it these keys only (`dynamodb:LeadingKeys`).
 *
 * @example
 * ledgerKeyPrefix({ name: 'crm' }); // 'crm#'
 */
export const ledgerKeyPrefix = (destination: Pick<DestinationConfig, 'name'>): string => `${destination.name}#`;

/** Partition key attribute of the ledger table. */
export const LEDGER_KEY_ATTRIBUTE = 'pk';
/** TTL attribute of the ledger table (idempotency-style records that may expire). */
export const LEDGER_TTL_ATTRIBUTE = 'expiration';

/**
 * @example
 * destinationResources(config, config.destinations[0]).queueName; // 'sync-pipeline-crm'
 */
export const destinationResources = (config: PipelineConfig, destination: DestinationConfig): DestinationResources => ({
  queueName: `${config.name}-${destination.name}`,
  deadLetterQueueName: `${config.name}-${destination.name}-dlq`,
  visibilityTimeoutSeconds: destination.functionTimeoutSeconds * 6,
  retentionPeriodSeconds: destination.retentionDays * DAY_IN_SECONDS,
  // SQS's most, and always longer than the source's (see the config's retentionDays).
  deadLetterRetentionPeriodSeconds: FOURTEEN_DAYS_IN_SECONDS,
  maxReceiveCount: destination.retry.maxReceiveCount,
});
