import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ParsedChangeEvent } from '../contract/change-event.ts';
import { RetryReason } from '../core/attempt.ts';
import { planRecordTurns } from '../core/batch-plan.ts';
import { readChangeMessage } from '../core/message-body.ts';
import { MetricDimension, MetricName } from '../core/metrics.ts';
import type { RecordOutcome } from '../core/outcome.ts';
import { processRecord, type RecordProcessorDeps } from './process-record.ts';

export interface ConsumerHandlerDeps extends RecordProcessorDeps {
  readonly logger: Logger;
  /** Configured with the namespace and the default dimension `Destination`. */
  readonly metrics: Metrics;
}

/** Powertools' switch that would skip idempotency, and with it our version check. */
const IDEMPOTENCY_DISABLED_ENV = 'POWERTOOLS_IDEMPOTENCY_DISABLED';

/** Thrown inside the batch processor to mark a record for redelivery (partial batch response). */
class RetryLaterError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

const countBy = <K extends string>(items: readonly K[]): Map<K, number> => {
  const counts = new Map<K, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
};

/**
 * Publishes one invocation's outcomes as EMF: counts with the `Destination` dimension, and per-reason
 * or per-error-class breakdowns as single metrics with one extra low-cardinality dimension.
 */
const publishOutcomeMetrics = (metrics: Metrics, outcomes: readonly RecordOutcome[]): void => {
  const ofKind = <K extends RecordOutcome['kind']>(kind: K) =>
    outcomes.filter((outcome): outcome is Extract<RecordOutcome, { kind: K }> => outcome.kind === kind);
  const applied = ofKind('applied');
  const skipped = ofKind('skipped');
  const retried = ofKind('retry');
  const deadLettered = ofKind('dead-lettered');

  metrics.addMetric(MetricName.RECORDS_RECEIVED, MetricUnit.Count, outcomes.length);
  metrics.addMetric(MetricName.RECORDS_APPLIED, MetricUnit.Count, applied.length);
  metrics.addMetric(MetricName.RECORDS_SKIPPED, MetricUnit.Count, skipped.length);
  metrics.addMetric(MetricName.RECORDS_RETRIED, MetricUnit.Count, retried.length);
  metrics.addMetric(MetricName.RECORDS_DEAD_LETTERED, MetricUnit.Count, deadLettered.length);
  metrics.addMetric(MetricName.RECORDS_FAILED, MetricUnit.Count, retried.length + deadLettered.length);
  for (const outcome of applied) {
    metrics.addMetric(MetricName.END_TO_END_LAG, MetricUnit.Milliseconds, outcome.endToEndLagMs);
    metrics.addMetric(MetricName.QUEUE_LAG, MetricUnit.Milliseconds, outcome.queueLagMs);
  }
  for (const outcome of outcomes) {
    if ('latencyMs' in outcome && outcome.latencyMs !== undefined) {
      metrics.addMetric(MetricName.DESTINATION_LATENCY, MetricUnit.Milliseconds, outcome.latencyMs);
    }
  }

  const breakdown = (name: MetricName, dimension: string, values: readonly string[]): void => {
    for (const [value, count] of countBy(values)) {
      const single = metrics.singleMetric();
      single.addDimension(dimension, value);
      single.addMetric(name, MetricUnit.Count, count);
    }
  };
  breakdown(MetricName.RECORDS_SKIPPED, MetricDimension.REASON, skipped.map((o) => o.reason));
  breakdown(MetricName.RECORDS_DEAD_LETTERED, MetricDimension.REASON, deadLettered.map((o) => o.reason));
  breakdown(MetricName.RECORDS_RETRIED, MetricDimension.REASON, retried.map((o) => o.reason));
  breakdown(
    MetricName.DESTINATION_ERRORS,
    MetricDimension.ERROR_CLASS,
    // Every failed destination call, including quick in-invocation retries, so that the error rate
    // (errors / (applied + errors)) counts calls, not records.
    outcomes.flatMap((o) => ('callErrors' in o && o.callErrors !== undefined ? o.callErrors : [])),
  );
};

/**
 * Builds the SQS consumer for one destination. The Lambda entry point and the local runtime both
 * call this with their own clients, so they run the same code.
 *
 * Each record ends applied, skipped (duplicate or stale) or dead-lettered, and its message is deleted;
 * or it is reported in `batchItemFailures` after its next visibility was set (retry with backoff).
 *
 * @example
 * export const handler = createConsumerHandler({ destinationName: 'crm', retry, leaseDurationMs, ledger, destination, queue, logger, metrics });
 */
export const createConsumerHandler = (deps: ConsumerHandlerDeps) => {
  const { logger, metrics } = deps;
  // The version check and the lease run inside Powertools idempotency; with it disabled, every
  // change would go straight to the destination and older versions could overwrite newer ones (I1).
  const disabled = process.env[IDEMPOTENCY_DISABLED_ENV]?.trim().toLowerCase();
  if (disabled !== undefined && disabled !== '' && disabled !== 'false' && disabled !== '0') {
    throw new Error(
      `${IDEMPOTENCY_DISABLED_ENV} is set to "${process.env[IDEMPOTENCY_DISABLED_ENV]}": the consumer's version check runs inside ` +
        'Powertools idempotency and cannot be turned off. Unset the variable.',
    );
  }

  const handleRecord = async (
    record: SQSRecord,
    idempotencyConfig: IdempotencyConfig,
    parsed: ParsedChangeEvent,
  ): Promise<RecordOutcome> => {
    try {
      return await processRecord(record, deps, idempotencyConfig, parsed);
    } catch (error) {
      // Only reached when even the dead-letter send failed: keep the message on the queue.
      const message = error instanceof Error ? error.message : String(error);
      return { kind: 'retry', ref: { messageId: record.messageId }, reason: RetryReason.INTERNAL, delaySeconds: 0, message };
    }
  };

  const logOutcome = (outcome: RecordOutcome, correlationId: string): void => {
    const fields = {
      destination: deps.destinationName,
      ...outcome.ref,
      correlationId,
      outcome: outcome.kind,
      ...('reason' in outcome ? { reason: outcome.reason } : {}),
      ...('errorClass' in outcome && outcome.errorClass !== undefined ? { errorClass: outcome.errorClass } : {}),
      ...('message' in outcome ? { error: outcome.message } : {}),
      ...('delaySeconds' in outcome ? { retryInSeconds: outcome.delaySeconds } : {}),
    };
    if (outcome.kind === 'dead-lettered') logger.error('record dead-lettered', fields);
    else if (outcome.kind === 'retry') logger.warn('record will be retried', fields);
    else logger.info(`record ${outcome.kind}`, fields);
  };

  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    // Every log line of this invocation carries its request id, so a lost invocation can be traced.
    logger.addContext(context);
    const idempotencyConfig = new IdempotencyConfig({ eventKeyJmesPath: 'idempotencyKey', throwOnNoIdempotencyKey: true });
    idempotencyConfig.registerLambdaContext(context);
    const outcomes: RecordOutcome[] = [];
    const processor = new BatchProcessor(EventType.SQS);
    // readChangeMessage never throws: a bad body becomes a rejection, dead-lettered by its record.
    const receivedAt = (deps.now ?? Date.now)();
    const parsed = new Map(event.Records.map((record) => [record, readChangeMessage(record.body, receivedAt)]));
    const turns = planRecordTurns(parsed);

    const recordHandler = async (record: SQSRecord): Promise<void> => {
      const turn = turns.get(record);
      await turn?.ready;
      let outcome: RecordOutcome;
      try {
        outcome = await handleRecord(record, idempotencyConfig, parsed.get(record) ?? readChangeMessage(record.body, receivedAt));
      } finally {
        turn?.done();
      }
      outcomes.push(outcome);
      logOutcome(outcome, record.messageAttributes?.correlationId?.stringValue ?? record.messageId);
      if (outcome.kind === 'retry') throw new RetryLaterError(outcome.message);
    };

    try {
      return await processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false });
    } finally {
      publishOutcomeMetrics(metrics, outcomes);
      metrics.publishStoredMetrics();
    }
  };
};
