import { makeIdempotent, type IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import type { SQSRecord } from 'aws-lambda';
import type { RetryConfig } from '../config/pipeline-config.ts';
import { idempotencyKey, parseChangeEvent, type ChangeEvent } from '../contract/change-event.ts';
import type { Destination } from '../adapters/destination.ts';
import { LedgerPersistenceLayer, type ApplyResult } from '../adapters/ledger-persistence-layer.ts';
import type { RecordQueue } from '../adapters/sqs-record-queue.ts';
import { retryDelaySeconds } from '../sync/backoff.ts';
import { buildDeadLetterEnvelope, DeadLetterReason } from '../sync/dead-letter.ts';
import { DestinationError, DestinationErrorClass, findInCauseChain, isOutcomeUnknown, MAX_UNKNOWN_ERROR_ATTEMPTS } from '../sync/errors.ts';
import type { LedgerStore } from '../sync/ledger.ts';

/** Everything one record's processing touches, as ports. */
export interface RecordProcessorDeps {
  readonly destinationName: string;
  readonly retry: Pick<RetryConfig, 'baseDelaySeconds' | 'maxDelaySeconds' | 'maxReceiveCount'>;
  readonly leaseDurationMs: number;
  readonly ledger: LedgerStore;
  readonly destination: Destination;
  readonly queue: RecordQueue;
  /** Uniform [0, 1), for backoff jitter. @default Math.random */
  readonly random?: () => number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Identity of the record for logs; never the payload. */
export interface RecordRef {
  readonly messageId: string;
  readonly resourceType?: string;
  readonly id?: string;
  readonly version?: number;
}

/** How one record's attempt ended. Only `retry` leaves the message on the queue. */
export type RecordOutcome =
  | {
      readonly kind: 'applied';
      readonly ref: RecordRef;
      readonly endToEndLagMs: number;
      readonly queueLagMs: number;
      readonly latencyMs: number;
      /** Failed calls before the one that succeeded (quick in-invocation retries). */
      readonly callErrors: readonly DestinationErrorClass[];
    }
  | { readonly kind: 'skipped'; readonly ref: RecordRef; readonly reason: 'duplicate' | 'stale' }
  | {
      readonly kind: 'retry';
      readonly ref: RecordRef;
      /**
       * busy: another consumer holds the record's lease (or too little invocation time is left);
       * transient: the destination failed for now; internal: our own dependencies (DynamoDB) failed.
       */
      readonly reason: 'busy' | 'transient' | 'internal';
      readonly delaySeconds: number;
      readonly errorClass?: DestinationErrorClass;
      readonly callErrors?: readonly DestinationErrorClass[];
      readonly latencyMs?: number;
      readonly message: string;
    }
  | {
      readonly kind: 'dead-lettered';
      readonly ref: RecordRef;
      readonly reason: DeadLetterReason;
      readonly errorClass?: DestinationErrorClass;
      readonly callErrors?: readonly DestinationErrorClass[];
      readonly latencyMs?: number;
      readonly message: string;
    };

const flattenAttributes = (record: SQSRecord): Record<string, string> => {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.messageAttributes ?? {})) {
    if (value.stringValue !== undefined) flat[name] = value.stringValue;
  }
  return flat;
};

const IN_PROGRESS_ERROR = 'IdempotencyAlreadyInProgressError';
/** In-invocation waits for a busy record: about 50, 100, 200, 400 and 800 ms, jittered. */
const MAX_BUSY_WAITS = 5;
const BUSY_WAIT_BASE_MS = 50;
/**
 * Quick in-invocation retries for blips (a 5xx, a reset): about 100 and 200 ms, jittered. Not for
 * throttling (the destination asked us to slow down) nor timeouts (each retry costs a full timeout).
 */
const MAX_QUICK_RETRIES = 2;
const QUICK_RETRY_BASE_MS = 100;
const QUICK_RETRY_CLASSES: ReadonlySet<DestinationErrorClass> = new Set([DestinationErrorClass.SERVER, DestinationErrorClass.NETWORK]);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Unwraps Powertools' persistence errors to the destination error underneath, if any. */
const findDestinationError = (error: unknown): DestinationError | undefined =>
  findInCauseChain(error, (current) => (current instanceof DestinationError ? current : undefined));

/**
 * Processes one SQS record for one destination: validate, then (Powertools idempotency over the
 * version ledger) take the record's lease only if this version is newer, call the destination with
 * the idempotency key, commit. Every path ends in an outcome, and a `retry` outcome has already set
 * the message's next visibility. It throws only when a dead letter cannot be written to the DLQ; the
 * handler then keeps the message on the queue.
 *
 * Invalid input and permanent destination errors are dead-lettered with a reason before the outcome
 * is returned, so the message is deleted from the source queue only once the DLQ holds it.
 *
 * @example
 * const outcome = await processRecord(sqsRecord, deps, idempotencyConfig, parseChangeEvent(sqsRecord.body));
 * if (outcome.kind === 'retry') batchItemFailures.push({ itemIdentifier: sqsRecord.messageId });
 */
export const processRecord = async (
  record: SQSRecord,
  deps: RecordProcessorDeps,
  idempotencyConfig: IdempotencyConfig,
  parsed: ReturnType<typeof parseChangeEvent>,
): Promise<RecordOutcome> => {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const attempts = Number(record.attributes.ApproximateReceiveCount) || 1;
  const receivedAt = now();
  const baseRef: RecordRef = { messageId: record.messageId };

  const deadLetter = async (
    ref: RecordRef,
    reason: DeadLetterReason,
    message: string,
    extra: { errorClass?: DestinationErrorClass; status?: number; latencyMs?: number; callErrors?: readonly DestinationErrorClass[] } = {},
  ): Promise<RecordOutcome> => {
    await deps.queue.deadLetter(
      buildDeadLetterEnvelope({
        reason,
        message,
        destination: deps.destinationName,
        messageId: record.messageId,
        attempts,
        firstAttemptAt: Number(record.attributes.ApproximateFirstReceiveTimestamp) || receivedAt,
        lastAttemptAt: now(),
        body: record.body,
        attributes: flattenAttributes(record),
        ...(extra.status === undefined ? {} : { status: extra.status }),
        ...(idempotencyConfig.lambdaContext === undefined ? {} : { invocationId: idempotencyConfig.lambdaContext.awsRequestId }),
      }),
    );
    return {
      kind: 'dead-lettered',
      ref,
      reason,
      message,
      ...(extra.errorClass === undefined ? {} : { errorClass: extra.errorClass }),
      ...(extra.latencyMs === undefined ? {} : { latencyMs: extra.latencyMs }),
      ...(extra.callErrors === undefined ? {} : { callErrors: extra.callErrors }),
    };
  };

  const retryLater = async (
    ref: RecordRef,
    reason: 'busy' | 'transient' | 'internal',
    message: string,
    extra: { errorClass?: DestinationErrorClass; retryAfterMs?: number; latencyMs?: number; callErrors?: readonly DestinationErrorClass[] } = {},
  ): Promise<RecordOutcome> => {
    if (attempts >= deps.retry.maxReceiveCount) {
      // This was the last delivery SQS allows: dead-letter it ourselves, with the envelope, rather
      // than let redrive move a bare message that says nothing about why.
      const { retryAfterMs: _ignored, ...rest } = extra;
      return deadLetter(ref, DeadLetterReason.RETRIES_EXHAUSTED, `${attempts} deliveries failed; last: ${message}`, rest);
    }
    const delaySeconds = retryDelaySeconds({
      // A busy record is not a failure of ours: retry it on the first, shortest step.
      attempt: reason === 'busy' ? 1 : attempts,
      retry: deps.retry,
      random,
      ...(extra.retryAfterMs === undefined ? {} : { retryAfterMs: extra.retryAfterMs }),
    });
    try {
      await deps.queue.delayRetry(record.receiptHandle, delaySeconds);
    } catch {
      // The message still comes back after the queue's visibility timeout; only the pacing is lost.
    }
    return {
      kind: 'retry',
      ref,
      reason,
      delaySeconds,
      message,
      ...(extra.errorClass === undefined ? {} : { errorClass: extra.errorClass }),
      ...(extra.latencyMs === undefined ? {} : { latencyMs: extra.latencyMs }),
      ...(extra.callErrors === undefined ? {} : { callErrors: extra.callErrors }),
    };
  };

  if (!parsed.ok) {
    return deadLetter(baseRef, parsed.rejection.reason, parsed.rejection.detail);
  }
  const event: ChangeEvent = parsed.event;
  const ref: RecordRef = { ...baseRef, resourceType: event.resourceType, id: event.id, version: event.version };
  const key = idempotencyKey(deps.destinationName, event);

  let callStartedAt: number | undefined;
  const callErrors: DestinationErrorClass[] = [];
  // Set when the last call failed in a way that may still land; the lease is then kept until it
  // expires, so no other version reaches the destination before the stray request could (I1).
  let outcomeUnknown = false;
  const callDestination = async (_input: { idempotencyKey: string }): Promise<ApplyResult> => {
    callStartedAt = now();
    outcomeUnknown = false;
    try {
      await deps.destination.apply({ event, idempotencyKey: key });
    } catch (error) {
      outcomeUnknown = error instanceof DestinationError ? isOutcomeUnknown(error.errorClass) : true;
      throw error;
    }
    return { outcome: 'applied' };
  };
  const latency = (): number | undefined => (callStartedAt === undefined ? undefined : now() - callStartedAt);

  const apply = makeIdempotent(callDestination, {
    persistenceStore: new LedgerPersistenceLayer({
      ledger: deps.ledger,
      record: { destination: deps.destinationName, resourceType: event.resourceType, id: event.id },
      event,
      idempotencyKey: key,
      leaseDurationMs: deps.leaseDurationMs,
      holdLeaseOnFailure: () => outcomeUnknown,
      now,
    }),
    config: idempotencyConfig,
  });
  const remainingMs = () => idempotencyConfig.lambdaContext?.getRemainingTimeInMillis() ?? deps.leaseDurationMs;

  // A lease must never be cut short by the invocation's end: a call still in flight when the
  // function dies could then land after a newer version. Too little time left: hand it back.
  if (remainingMs() < deps.leaseDurationMs) {
    return retryLater(ref, 'busy', `only ${remainingMs()} ms left in the invocation, less than one lease (${deps.leaseDurationMs} ms)`);
  }

  try {
    let result: ApplyResult | undefined;
    let busyWaits = 0;
    let quickRetries = 0;
    while (result === undefined) {
      try {
        result = (await apply({ idempotencyKey: key })) as ApplyResult;
      } catch (error) {
        const failure = findDestinationError(error);
        if (failure !== undefined) callErrors.push(failure.errorClass);
        const jitter = 0.5 + random() / 2;
        let pauseMs: number | undefined;
        // Another consumer holding the record usually finishes within one destination call: wait
        // for it here rather than spend one of the message's deliveries (and its backoff) on it.
        if (error instanceof Error && error.name === IN_PROGRESS_ERROR && busyWaits < MAX_BUSY_WAITS) {
          pauseMs = BUSY_WAIT_BASE_MS * 2 ** busyWaits * jitter;
          busyWaits += 1;
        } else if (failure !== undefined && QUICK_RETRY_CLASSES.has(failure.errorClass) && quickRetries < MAX_QUICK_RETRIES) {
          pauseMs = QUICK_RETRY_BASE_MS * 2 ** quickRetries * jitter;
          quickRetries += 1;
        }
        // Every pause leaves room for a whole lease, so a retried call can never outlive the invocation.
        if (pauseMs === undefined || remainingMs() - pauseMs < deps.leaseDurationMs) throw error;
        await sleep(pauseMs);
      }
    }
    if (result.outcome === 'skipped') return { kind: 'skipped', ref, reason: result.reason };
    const appliedAt = now();
    return {
      kind: 'applied',
      ref,
      endToEndLagMs: Math.max(0, appliedAt - Date.parse(event.occurredAt)),
      queueLagMs: Math.max(0, appliedAt - (Number(record.attributes.SentTimestamp) || appliedAt)),
      latencyMs: latency() ?? 0,
      callErrors,
    };
  } catch (error) {
    if (error instanceof Error && error.name === IN_PROGRESS_ERROR) {
      return retryLater(ref, 'busy', 'another consumer holds this record');
    }
    const failure = findDestinationError(error);
    const latencyMs = latency();
    if (failure === undefined) {
      const message = error instanceof Error ? error.message : String(error);
      return retryLater(ref, 'internal', message, latencyMs === undefined ? {} : { latencyMs });
    }
    const extra = { errorClass: failure.errorClass, callErrors, ...(latencyMs === undefined ? {} : { latencyMs }) };
    if (failure.errorClass === DestinationErrorClass.UNKNOWN && attempts >= MAX_UNKNOWN_ERROR_ATTEMPTS) {
      return deadLetter(ref, DeadLetterReason.UNKNOWN_ERROR, `${attempts} deliveries failed with an unclassified error; last: ${failure.message}`, extra);
    }
    if (failure.retryable) {
      return retryLater(ref, 'transient', failure.message, {
        ...extra,
        ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
      });
    }
    const reason = failure.errorClass === DestinationErrorClass.AUTH ? DeadLetterReason.AUTH : DeadLetterReason.REJECTED;
    return deadLetter(ref, reason, failure.message, {
      ...extra,
      ...(failure.status === undefined ? {} : { status: failure.status }),
    });
  }
};
