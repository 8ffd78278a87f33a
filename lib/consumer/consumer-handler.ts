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
import { isBreakerOpen, probeDue, type BreakerSettings, type DestinationControlStore, type EventSourceSwitch, type RateLimitSettings } from '../core/destination-control.ts';
import { SkipShareEstimate } from '../core/ledger.ts';
import { sleep } from '../core/sleep.ts';
import { SqsLimits } from '../core/sqs-limits.ts';
import { isProbeEvent } from '../config/probe-event.ts';
import { deferredMessage } from './deferral.ts';
import { SeriesMetrics } from './series-metrics.ts';
import { normalizeChange, processRecord, type KnownEntries, type RecordProcessorDeps } from './process-record.ts';
import { CallTally, SendGate, type GateSummary } from './send-gate.ts';

export interface ConsumerHandlerDeps extends RecordProcessorDeps {
  readonly logger: Logger;
  /** Configured with the namespace and the default dimension `Destination`. */
  readonly metrics: Metrics;
  /**
   * The destination's shared rate limit and circuit breaker. Without `control`, neither applies (unit
   * tests of the record pipeline). @default none
   */
  readonly control?: DestinationControlStore;
  readonly rateLimit?: RateLimitSettings;
  readonly breaker?: BreakerSettings;
  /** Turns the event source off while the breaker is open, on when a probe closes it. @default none */
  readonly eventSource?: EventSourceSwitch;
}

/** Gathers the visibility changes of an invocation's retries into batches. */
interface RetryVisibility {
  add(entry: { receiptHandle: string; delaySeconds: number }): void;
  /** Sends what is pending; resolves once every batch so far was sent. */
  flush(): Promise<void>;
}

/** How long a retry's visibility change waits for others to share its batch. */
const RETRY_BATCH_WINDOW_MS = 20;

/**
 * The invocation's idempotency config: no `eventKeyJmesPath`, because the persistence layer is given
 * the key itself (`LedgerPersistenceLayer` answers it without hashing); a JMESPath expression would
 * build an interpreter on every record for nothing.
 */
const newIdempotencyConfig = (context: Context): IdempotencyConfig => {
  const config = new IdempotencyConfig({});
  config.registerLambdaContext(context);
  return config;
};

/** What a probe found. */
export type ProbeResult = 'closed' | 'still-open' | 'not-due' | 'not-open';

/** Powertools' switch that would skip idempotency, and with it our version check. */
const IDEMPOTENCY_DISABLED_ENV = 'POWERTOOLS_IDEMPOTENCY_DISABLED';

const countBy = <K extends string>(items: readonly K[]): Map<K, number> => {
  const counts = new Map<K, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
};

/**
 * The emitters of the breakdown metrics, one per (dimension, value): each is a Powertools single
 * metric (it prints its own EMF document with the extra dimension as soon as a value is added),
 * made once per handler instead of once per invocation and value, because building one reads the
 * whole Powertools environment again. The dimensions' values are few (reasons, error classes).
 */
type BreakdownEmitters = Map<string, Metrics>;

/**
 * Publishes one invocation's outcomes as EMF: counts with the `Destination` dimension, and per-reason
 * or per-error-class breakdowns as single metrics with one extra low-cardinality dimension.
 */
const publishOutcomeMetrics = (metrics: Metrics, emitters: BreakdownEmitters, outcomes: readonly RecordOutcome[]): void => {
  const ofKind = <K extends RecordOutcome['kind']>(kind: K) =>
    outcomes.filter((outcome): outcome is Extract<RecordOutcome, { kind: K }> => outcome.kind === kind);
  const applied = ofKind('applied');
  const skipped = ofKind('skipped');
  const retried = ofKind('retry');
  const deadLettered = ofKind('dead-lettered');
  const deferred = ofKind('deferred');

  metrics.addMetric(MetricName.RECORDS_RECEIVED, MetricUnit.Count, outcomes.length);
  metrics.addMetric(MetricName.RECORDS_DEFERRED, MetricUnit.Count, deferred.length);
  metrics.addMetric(MetricName.RECORDS_APPLIED, MetricUnit.Count, applied.length);
  metrics.addMetric(MetricName.RECORDS_SKIPPED, MetricUnit.Count, skipped.length);
  metrics.addMetric(MetricName.RECORDS_RETRIED, MetricUnit.Count, retried.length);
  metrics.addMetric(MetricName.RECORDS_DEAD_LETTERED, MetricUnit.Count, deadLettered.length);
  metrics.addMetric(MetricName.RECORDS_FAILED, MetricUnit.Count, retried.length + deadLettered.length);
  // One value per record: the cheap path where the metrics have one (see SeriesMetrics).
  const addValue =
    metrics instanceof SeriesMetrics
      ? (name: MetricName, value: number) => metrics.addValue(name, MetricUnit.Milliseconds, value)
      : (name: MetricName, value: number) => metrics.addMetric(name, MetricUnit.Milliseconds, value);
  for (const outcome of applied) {
    addValue(MetricName.END_TO_END_LAG, outcome.endToEndLagMs);
    addValue(MetricName.QUEUE_LAG, outcome.queueLagMs);
  }
  for (const outcome of outcomes) {
    if ('latencyMs' in outcome && outcome.latencyMs !== undefined) addValue(MetricName.DESTINATION_LATENCY, outcome.latencyMs);
  }

  const breakdown = (name: MetricName, dimension: string, values: readonly string[]): void => {
    for (const [value, count] of countBy(values)) {
      const emitterKey = `${dimension}\u0000${value}`;
      let single = emitters.get(emitterKey);
      if (single === undefined) {
        single = metrics.singleMetric();
        // A default dimension, not `addDimension`: publishing clears added dimensions, and this
        // emitter publishes on every value for the handler's whole life.
        single.setDefaultDimensions({ [dimension]: value });
        emitters.set(emitterKey, single);
      }
      single.addMetric(name, MetricUnit.Count, count);
    }
  };
  breakdown(MetricName.RECORDS_SKIPPED, MetricDimension.REASON, skipped.map((o) => o.reason));
  breakdown(MetricName.RECORDS_DEAD_LETTERED, MetricDimension.REASON, deadLettered.map((o) => o.reason));
  breakdown(MetricName.RECORDS_RETRIED, MetricDimension.REASON, retried.map((o) => o.reason));
  breakdown(MetricName.RECORDS_DEFERRED, MetricDimension.REASON, deferred.map((o) => o.reason));
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
    gate: SendGate | undefined,
    known?: KnownEntries,
  ): Promise<RecordOutcome> => {
    try {
      return await processRecord(record, deps, idempotencyConfig, parsed, gate, known);
    } catch (error) {
      // Only reached when even the dead-letter send failed: keep the message on the queue.
      const message = error instanceof Error ? error.message : String(error);
      return { kind: 'retry', ref: { messageId: record.messageId }, reason: RetryReason.INTERNAL, delaySeconds: 0, message };
    } finally {
      gate?.leave();
    }
  };

  const emitters: BreakdownEmitters = new Map();
  const skipShare = new SkipShareEstimate();

  /**
   * What the batch starts out knowing of its records' ledger entries: read at once before any lease
   * when the stream lately skipped enough records for the read to pay (see `SkipShareEstimate`),
   * else nothing; the attempts add what they learn. A failed read only costs the saving: every
   * record then takes the conditional write.
   */
  const readKnownEntries = async (messages: Iterable<ParsedChangeEvent>): Promise<KnownEntries> => {
    if (!skipShare.preReadPays || deps.ledger.readMany === undefined) return new Map();
    const records = [...messages].flatMap((message) =>
      message.ok && deps.resourceTypes.has(message.event.resourceType)
        ? [{ destination: deps.destinationName, resourceType: message.event.resourceType, id: normalizeChange(deps, message.event).id }]
        : [],
    );
    if (records.length === 0) return new Map();
    try {
      return new Map(await deps.ledger.readMany(records));
    } catch (error) {
      logger.warn('could not read the batch ledger entries; every record takes the conditional write', { destination: deps.destinationName, error: error instanceof Error ? error.message : String(error) });
      return new Map();
    }
  };
  /**
   * Whether DEBUG lines print, read once per invocation (the level can change between invocations
   * with Powertools' log sampling; asking the logger costs about as much as a log call would).
   */
  let debugLines = false;
  const readDebugLines = (): void => {
    const level = logger.getLevelName();
    debugLines = level === 'DEBUG' || level === 'TRACE';
  };

  /**
   * One line per record that failed (a retry is a warning, a dead letter an error); an applied or
   * skipped record gets a DEBUG line, and every batch one INFO summary ({@link logBatchSummary}).
   */
  const logOutcome = (outcome: RecordOutcome, correlationId: string, extra: Record<string, unknown> = {}): void => {
    const quiet = outcome.kind !== 'dead-lettered' && outcome.kind !== 'retry';
    if (quiet && !debugLines) return;
    const fields = {
      destination: deps.destinationName,
      ...outcome.ref,
      correlationId,
      outcome: outcome.kind,
      ...('reason' in outcome ? { reason: outcome.reason } : {}),
      ...('errorClass' in outcome && outcome.errorClass !== undefined ? { errorClass: outcome.errorClass } : {}),
      ...('message' in outcome ? { error: outcome.message } : {}),
      ...('delaySeconds' in outcome ? { retryInSeconds: outcome.delaySeconds } : {}),
      ...extra,
    };
    if (outcome.kind === 'dead-lettered') logger.error('record dead-lettered', fields);
    else if (outcome.kind === 'retry') logger.warn('record will be retried', fields);
    else logger.debug(`record ${outcome.kind}`, fields);
  };

  /**
   * The batch's INFO line: how many of its records ended how, in fixed fields (the reasons are in
   * the metrics, and the failed records' own lines). Flat numbers: Powertools merges the fields of
   * every line it writes, so nested or varying shapes cost more than the line is worth.
   */
  const logBatchSummary = (outcomes: readonly RecordOutcome[], refused: number): void => {
    const counts = { records: outcomes.length, applied: 0, skipped: 0, retried: 0, deadLettered: 0, deferred: 0, deferralsRefused: refused };
    for (const outcome of outcomes) {
      if (outcome.kind === 'applied') counts.applied += 1;
      else if (outcome.kind === 'skipped') counts.skipped += 1;
      else if (outcome.kind === 'retry') counts.retried += 1;
      else if (outcome.kind === 'dead-lettered') counts.deadLettered += 1;
      else counts.deferred += 1;
    }
    logger.info('batch processed', { destination: deps.destinationName, ...counts });
  };

  const now = deps.now ?? Date.now;
  // One per handler, so per Lambda container (per poller locally): answered calls wait here for the next reservation.
  const tally = new CallTally();
  const newGate = (expectedCallers: number): SendGate | undefined =>
    deps.control === undefined || deps.breaker === undefined
      ? undefined
      : new SendGate(
          {
            destination: deps.destinationName,
            control: deps.control,
            ...(deps.rateLimit === undefined ? {} : { rateLimit: deps.rateLimit }),
            breaker: deps.breaker,
            now,
            sleep: deps.sleep ?? sleep,
            tally,
          },
          expectedCallers,
        );

  /** The event source follows the breaker; a failed switch is logged, and the next invocation or probe tries again. */
  const switchEventSource = async (enabled: boolean, why: string): Promise<void> => {
    try {
      await deps.eventSource?.setEnabled(enabled);
      if (deps.eventSource !== undefined) logger.warn(enabled ? 'event source enabled' : 'event source disabled', { destination: deps.destinationName, why });
    } catch (error) {
      logger.error('could not switch the event source', { destination: deps.destinationName, enabled, why, error: error instanceof Error ? error.message : String(error) });
    }
  };

  /** Ends an invocation's gate: its breaker counts, the metrics of the rate and the breaker, and the event source. */
  const endGate = async (gate: SendGate | undefined, openAtStart: boolean): Promise<GateSummary | undefined> => {
    if (gate === undefined) return undefined;
    const summary = await gate.end();
    if (summary.rateInForce !== undefined) metrics.addMetric(MetricName.RATE_IN_FORCE, MetricUnit.CountPerSecond, summary.rateInForce);
    metrics.addMetric(MetricName.BREAKER_OPEN, MetricUnit.Count, summary.breakerOpen ? 1 : 0);
    if (summary.opened) {
      logger.warn('breaker opened', { destination: deps.destinationName, calls: summary.calls, failures: summary.failures });
      await switchEventSource(false, 'breaker opened');
    } else if (openAtStart) await switchEventSource(false, 'breaker open');
    return summary;
  };

  /**
   * The retries' visibility changes, in batches of up to ten: each goes out within a few milliseconds
   * of its decision (a message must not come back to another consumer while its invocation runs on),
   * gathered with the decisions that follow it.
   */
  const retryVisibility = (): RetryVisibility => {
    const pending: Array<{ receiptHandle: string; delaySeconds: number }> = [];
    let timer: NodeJS.Timeout | undefined;
    let sending: Promise<void> = Promise.resolve();
    const flush = (): Promise<void> => {
      clearTimeout(timer);
      timer = undefined;
      const batch = pending.splice(0);
      if (batch.length > 0) {
        // A lost visibility change only loses the pacing: the message comes back after the queue's timeout.
        sending = sending.then(() => deps.queue.delayRetries(batch)).catch(() => undefined);
      }
      return sending;
    };
    return {
      add: (entry) => {
        pending.push(entry);
        if (pending.length >= SqsLimits.MAX_BATCH_ENTRIES) void flush();
        else timer ??= setTimeout(() => void flush(), RETRY_BATCH_WINDOW_MS);
      },
      flush,
    };
  };

  /**
   * Sends the deferrals, in batches, once every record has ended (and the retries' last visibility changes).
   * A deferral SQS refused leaves its message on the queue: it is reported failed and comes back.
   */
  const settleQueue = async (ended: ReadonlyArray<{ record: SQSRecord; outcome: RecordOutcome }>, retries: RetryVisibility): Promise<string[]> => {
    await retries.flush();
    const deferrals = ended.filter(({ outcome }) => outcome.kind === 'deferred');
    if (deferrals.length === 0) return [];
    const results = await deps.queue.defer(deferrals.map(({ record, outcome }) => deferredMessage(record, (outcome as { delaySeconds: number }).delaySeconds)));
    const byId = new Map(results.map((result) => [result.messageId, result]));
    const failed: string[] = [];
    for (const { record, outcome } of deferrals) {
      const result = byId.get(record.messageId);
      const correlationId = record.messageAttributes?.correlationId?.stringValue ?? record.messageId;
      if (result !== undefined && 'sentAs' in result) logOutcome(outcome, correlationId, { deferredAs: result.sentAs });
      else {
        failed.push(record.messageId);
        logger.warn('record will be retried', { destination: deps.destinationName, ...outcome.ref, correlationId, outcome: 'retry', reason: RetryReason.INTERNAL, error: `deferral refused: ${result !== undefined && 'error' in result ? result.error : 'no answer'}` });
      }
    }
    return failed;
  };

  const handleBatch = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    // Every log line of this invocation carries its request id, so a lost invocation can be traced.
    logger.addContext(context);
    readDebugLines();
    const idempotencyConfig = newIdempotencyConfig(context);
    const ended: Array<{ record: SQSRecord; outcome: RecordOutcome }> = [];
    /** The records SQS is to deliver again: the partial batch response. */
    const failed: string[] = [];
    // readChangeMessage never throws: a bad body becomes a rejection, dead-lettered by its record.
    const receivedAt = now();
    const parsed = new Map(event.Records.map((record) => [record, readChangeMessage(record.body, receivedAt)]));
    const turns = planRecordTurns(parsed);
    const known = await readKnownEntries(parsed.values());
    const gate = newGate(event.Records.length);
    const retries = retryVisibility();
    const openAtStart = gate === undefined ? false : isBreakerOpen(await gate.begin());

    const recordHandler = async (record: SQSRecord): Promise<void> => {
      const turn = turns.get(record);
      await turn?.ready;
      let outcome: RecordOutcome;
      try {
        outcome = await handleRecord(record, idempotencyConfig, parsed.get(record) ?? readChangeMessage(record.body, receivedAt), gate, known);
      } finally {
        turn?.done();
      }
      ended.push({ record, outcome });
      // A deferral is logged once SQS has its new message (below).
      if (outcome.kind !== 'deferred') logOutcome(outcome, record.messageAttributes?.correlationId?.stringValue ?? record.messageId);
      if (outcome.kind === 'retry') {
        retries.add({ receiptHandle: record.receiptHandle, delaySeconds: outcome.delaySeconds });
        failed.push(record.messageId);
      }
    };

    try {
      // Every record at once, as Powertools' BatchProcessor does; `turns` orders those of one record.
      // processRecord ends every path in an outcome, so a throw here is a bug: that record comes back.
      await Promise.all(
        event.Records.map((record) =>
          recordHandler(record).catch((error: unknown) => {
            failed.push(record.messageId);
            logger.error('record failed unexpectedly', { destination: deps.destinationName, messageId: record.messageId, error: error instanceof Error ? error.message : String(error) });
          }),
        ),
      );
      const refused = await settleQueue(ended, retries);
      const outcomes = ended.map(({ outcome }) => outcome);
      skipShare.observe({ skipped: outcomes.filter((o) => o.kind === 'skipped').length, records: outcomes.filter((o) => o.ref.resourceType !== undefined).length });
      logBatchSummary(outcomes, refused.length);
      return { batchItemFailures: [...failed, ...refused].map((itemIdentifier) => ({ itemIdentifier })) };
    } finally {
      await endGate(gate, openAtStart).catch((error: unknown) =>
        logger.error('could not count the calls for the breaker', { destination: deps.destinationName, error: error instanceof Error ? error.message : String(error) }),
      );
      publishOutcomeMetrics(metrics, emitters, ended.map(({ outcome }) => outcome));
      metrics.publishStoredMetrics();
    }
  };

  /**
   * The breaker's probe: while it is open, and once per probe interval, one message is taken from the
   * queue and processed as the event source would (its call goes through the open breaker). A working
   * destination (applied, skipped, or a refusal it answered) closes the breaker and turns the event
   * source back on; a failure restarts the interval. An empty queue closes it too: the next batch
   * tells.
   */
  const probe = async (context: Context): Promise<ProbeResult> => {
    logger.addContext(context);
    readDebugLines();
    const gate = newGate(1);
    if (gate === undefined || deps.breaker === undefined || deps.control === undefined) return 'not-open';
    const state = await gate.begin();
    const at = now();
    if (!isBreakerOpen(state)) {
      metrics.addMetric(MetricName.BREAKER_OPEN, MetricUnit.Count, 0);
      metrics.publishStoredMetrics();
      return 'not-open';
    }
    if (!probeDue(state, deps.breaker, at)) return 'not-due';
    gate.probe();
    const received = await deps.queue.receiveOne(Math.ceil(deps.leaseDurationMs / 1000) * 2 + 1);
    let working = true;
    if (received !== undefined) {
      const record: SQSRecord = {
        messageId: received.messageId,
        receiptHandle: received.receiptHandle,
        body: received.body,
        attributes: {
          ApproximateReceiveCount: received.attributes.ApproximateReceiveCount ?? '1',
          SentTimestamp: received.attributes.SentTimestamp ?? String(at),
          SenderId: received.attributes.SenderId ?? '',
          ApproximateFirstReceiveTimestamp: received.attributes.ApproximateFirstReceiveTimestamp ?? String(at),
        },
        messageAttributes: Object.fromEntries(Object.entries(received.messageAttributes).map(([name, value]) => [name, { ...value, stringListValues: [], binaryListValues: [] }])),
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: '',
        awsRegion: '',
      };
      const idempotencyConfig = newIdempotencyConfig(context);
      const outcome = await handleRecord(record, idempotencyConfig, readChangeMessage(record.body, at), gate);
      logOutcome(outcome, record.messageAttributes?.correlationId?.stringValue ?? record.messageId, { probe: true });
      const retries = retryVisibility();
      if (outcome.kind === 'retry') retries.add({ receiptHandle: record.receiptHandle, delaySeconds: outcome.delaySeconds });
      const refused = await settleQueue([{ record, outcome }], retries);
      if (outcome.kind !== 'retry' && refused.length === 0) await deps.queue.delete(record.receiptHandle);
      working = outcome.kind === 'applied' || outcome.kind === 'skipped' || outcome.kind === 'dead-lettered';
      publishOutcomeMetrics(metrics, emitters, [outcome]);
    }
    await gate.end();
    if (working) {
      await deps.control.closeBreaker(deps.destinationName, now());
      logger.warn('breaker closed', { destination: deps.destinationName, probedWith: received?.messageId ?? 'an empty queue' });
      await switchEventSource(true, 'breaker closed');
    } else {
      await deps.control.openBreaker(deps.destinationName, now(), true);
      logger.warn('breaker still open', { destination: deps.destinationName, probedWith: received?.messageId });
    }
    metrics.addMetric(MetricName.BREAKER_OPEN, MetricUnit.Count, working ? 0 : 1);
    metrics.publishStoredMetrics();
    return working ? 'closed' : 'still-open';
  };

  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    if (isProbeEvent(event)) {
      await probe(context);
      return { batchItemFailures: [] };
    }
    return handleBatch(event, context);
  };
};
