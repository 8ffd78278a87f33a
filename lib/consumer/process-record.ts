import { makeIdempotent, type IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import type { SQSRecord } from 'aws-lambda';
import type { IdNormalization, RetryConfig } from '../config/pipeline-config.ts';
import { idempotencyKey, parseChangeEvent, type ChangeEvent } from '../contract/change-event.ts';
import { WriteResult, type Destination } from '../core/destination.ts';
import { LedgerPersistenceLayer, LeaseLostError, type ApplyResult } from '../adapters/ledger-persistence-layer.ts';
import type { RecordQueue } from '../core/record-queue.ts';
import { busyWaitPauseMs, decideOnFailure, quickRetryPauseMs, type AttemptFailure, type RetryReason } from '../core/attempt.ts';
import { buildDeadLetterEnvelope, DeadLetterReason } from '../core/dead-letter.ts';
import { DestinationError, DestinationErrorClass, findInCauseChain } from '../core/errors.ts';
import type { LedgerStore } from '../core/ledger.ts';

/** Everything one record's processing touches, as ports. */
export interface RecordProcessorDeps {
  readonly destinationName: string;
  /** The resource types routed to this destination; any other is dead-lettered as `not-routed`. */
  readonly resourceTypes: ReadonlySet<string>;
  /** @default 'none' */
  readonly idNormalization?: IdNormalization;
  readonly retry: Pick<RetryConfig, 'baseDelaySeconds' | 'maxDelaySeconds' | 'maxReceiveCount'>;
  readonly leaseDurationMs: number;
  /** The destination call's hard timeout; no call starts with less lease than this left. */
  readonly requestTimeoutMs: number;
  /** How long after a call in doubt nothing else is sent to the record. */
  readonly settleMs: number;
  readonly ledger: LedgerStore;
  readonly destination: Destination;
  readonly queue: RecordQueue;
  /** Uniform [0, 1), for backoff jitter. @default Math.random */
  readonly random?: () => number;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** A fresh lease token per acquisition. @default crypto.randomUUID */
  readonly newLeaseToken?: () => string;
}

/** Identity of the record for logs; never the payload. */
export interface RecordRef {
  readonly messageId: string;
  readonly resourceType?: string;
  readonly id?: string;
  readonly version?: number;
}

/** What every failed outcome may say about the calls behind it. */
interface CallDetails {
  readonly errorClass?: DestinationErrorClass;
  /** Every failed call of the attempt (quick retries included), for the error-rate metric. */
  readonly callErrors?: readonly DestinationErrorClass[];
  readonly latencyMs?: number;
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
  | ({ readonly kind: 'skipped'; readonly ref: RecordRef; readonly reason: 'duplicate' | 'stale' } & CallDetails)
  | ({ readonly kind: 'retry'; readonly ref: RecordRef; readonly reason: RetryReason; readonly delaySeconds: number; readonly message: string } & CallDetails)
  | ({ readonly kind: 'dead-lettered'; readonly ref: RecordRef; readonly reason: DeadLetterReason; readonly message: string } & CallDetails);

const flattenAttributes = (record: SQSRecord): Record<string, string> => {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.messageAttributes ?? {})) {
    if (value.stringValue !== undefined) flat[name] = value.stringValue;
  }
  return flat;
};

const IN_PROGRESS_ERROR = 'IdempotencyAlreadyInProgressError';

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The destination error underneath Powertools' wrappers; anything else thrown by a call is one of unknown outcome. */
const asDestinationError = (error: unknown): DestinationError =>
  findInCauseChain(error, (current) => (current instanceof DestinationError ? current : undefined)) ??
  new DestinationError(error instanceof Error ? error.message : String(error), { errorClass: DestinationErrorClass.UNKNOWN, cause: error });

/** What an attempt's calls learnt, shared by the calls and the persistence layer that ends the lease. */
interface AttemptState {
  callStartedAt?: number;
  /** The failure of the last call, when the attempt ended on one. */
  failure?: DestinationError;
  /** Set once a call of this attempt may land after the client gave up: the end of its settle window. */
  fencedUntil?: number;
  readonly callErrors: DestinationErrorClass[];
}

/**
 * Processes one SQS record for one destination: validate and check the routing, then (Powertools
 * idempotency over the version ledger) take the record's lease only if this version is newer and the
 * record is neither leased nor fenced, call the destination with the idempotency key, commit. Every
 * path ends in an outcome, and a `retry` outcome has already set the message's next visibility. It
 * throws only when a dead letter cannot be written to the DLQ; the handler then keeps the message on
 * the queue.
 *
 * A call whose outcome is unknown ends the attempt and fences the record for the settle window: no
 * other version is sent while the request may still land, and the change itself comes back after it.
 * Invalid input, unrouted types and permanent destination errors are dead-lettered with a reason
 * before the outcome is returned, so the message is deleted from the source queue only once the DLQ
 * holds it.
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
  const sleep = deps.sleep ?? defaultSleep;
  const attempts = Number(record.attributes.ApproximateReceiveCount) || 1;
  const receivedAt = now();

  const deadLetter = async (ref: RecordRef, reason: DeadLetterReason, message: string, details: CallDetails & { status?: number } = {}): Promise<RecordOutcome> => {
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
        ...(details.status === undefined ? {} : { status: details.status }),
        ...(idempotencyConfig.lambdaContext === undefined ? {} : { invocationId: idempotencyConfig.lambdaContext.awsRequestId }),
      }),
    );
    const { status: _status, ...calls } = details;
    return { kind: 'dead-lettered', ref, reason, message, ...calls };
  };

  /** Carries out the decision for a failed attempt: a dead letter, or the message's next visibility. */
  const fail = async (ref: RecordRef, failure: AttemptFailure, details: CallDetails, fencedUntil?: number): Promise<RecordOutcome> => {
    const decision = decideOnFailure({
      failure,
      attempts,
      retry: deps.retry,
      now: now(),
      random,
      ...(fencedUntil === undefined ? {} : { fencedUntil }),
    });
    if (decision.kind === 'dead-letter') {
      return deadLetter(ref, decision.reason, decision.message, { ...details, ...(decision.status === undefined ? {} : { status: decision.status }) });
    }
    try {
      await deps.queue.delayRetry(record.receiptHandle, decision.delaySeconds);
    } catch {
      // The message still comes back after the queue's visibility timeout; only the pacing is lost.
    }
    return { kind: 'retry', ref, reason: decision.reason, delaySeconds: decision.delaySeconds, message: decision.message, ...details };
  };

  if (!parsed.ok) return deadLetter({ messageId: record.messageId }, parsed.rejection.reason, parsed.rejection.detail);
  const event: ChangeEvent =
    deps.idNormalization === 'NFC' ? { ...parsed.event, id: parsed.event.id.normalize('NFC') } : parsed.event;
  const ref: RecordRef = { messageId: record.messageId, resourceType: event.resourceType, id: event.id, version: event.version };
  if (!deps.resourceTypes.has(event.resourceType)) {
    // A direct SQS publisher must not make the consumer write to a path the destination was not given.
    return deadLetter(ref, DeadLetterReason.NOT_ROUTED, `resource type ${JSON.stringify(event.resourceType)} is not routed to ${deps.destinationName}`);
  }
  const key = idempotencyKey(deps.destinationName, event);

  let state: AttemptState = { callErrors: [] };
  const persistenceStore = new LedgerPersistenceLayer({
    ledger: deps.ledger,
    record: { destination: deps.destinationName, resourceType: event.resourceType, id: event.id },
    event,
    idempotencyKey: key,
    leaseDurationMs: deps.leaseDurationMs,
    settleMs: deps.settleMs,
    fencedUntil: () => state.fencedUntil,
    ...(deps.newLeaseToken === undefined ? {} : { newLeaseToken: deps.newLeaseToken }),
    now,
  });

  /** The calls of one attempt, under one lease: the first, then quick retries for known-outcome blips. */
  const callDestination = async (_input: { idempotencyKey: string }): Promise<ApplyResult> => {
    for (let quickRetries = 0; ; quickRetries += 1) {
      state.callStartedAt = now();
      try {
        const result = await deps.destination.apply({ event, idempotencyKey: key });
        state.failure = undefined;
        return result === WriteResult.SUPERSEDED ? { outcome: 'skipped', reason: 'stale', appliedVersion: event.version } : { outcome: 'applied' };
      } catch (error) {
        const failure = asDestinationError(error);
        state.failure = failure;
        state.callErrors.push(failure.errorClass);
        // The request may land until the settle window after the client gave up on it.
        if (failure.outcomeUnknown) state.fencedUntil = now() + deps.settleMs;
        const pauseMs = quickRetryPauseMs({
          failure,
          quickRetries,
          leaseRemainingMs: (persistenceStore.leaseExpiresAt ?? 0) - now(),
          requestTimeoutMs: deps.requestTimeoutMs,
          random,
        });
        if (pauseMs === undefined) throw failure;
        await sleep(pauseMs);
      }
    }
  };
  const apply = makeIdempotent(callDestination, { persistenceStore, config: idempotencyConfig });
  const details = (): CallDetails => ({
    ...(state.failure === undefined ? {} : { errorClass: state.failure.errorClass }),
    callErrors: state.callErrors,
    ...(state.callStartedAt === undefined ? {} : { latencyMs: now() - state.callStartedAt }),
  });

  // A lease must never be cut short by the invocation's end: a call still in flight when the
  // function dies could then land after a newer version. Too little time left: hand it back.
  const remainingMs = () => idempotencyConfig.lambdaContext?.getRemainingTimeInMillis() ?? deps.leaseDurationMs;
  if (remainingMs() < deps.leaseDurationMs) {
    const message = `only ${remainingMs()} ms left in the invocation, less than one lease (${deps.leaseDurationMs} ms)`;
    return fail(ref, { kind: 'invocation-ending', message }, {});
  }

  for (let busyWaits = 0; ; busyWaits += 1) {
    state = { callErrors: [] };
    let result: ApplyResult;
    try {
      result = (await apply({ idempotencyKey: key })) as ApplyResult;
    } catch (error) {
      if (error instanceof Error && error.name === IN_PROGRESS_ERROR) {
        const decision = persistenceStore.lastDecision;
        const retryAt = decision?.status === 'busy' || decision?.status === 'fenced' ? decision.retryAt : now();
        const pauseMs = decision?.status === 'busy' ? busyWaitPauseMs({ busyWaits, random }) : undefined;
        // Every pause leaves room for a whole lease, so a later call can never outlive the invocation.
        if (pauseMs !== undefined && remainingMs() - pauseMs >= deps.leaseDurationMs) {
          await sleep(pauseMs);
          continue;
        }
        return fail(ref, { kind: decision?.status === 'fenced' ? 'fenced' : 'busy', retryAt }, {});
      }
      if (state.failure !== undefined && findInCauseChain(error, (e) => (e === state.failure ? e : undefined)) !== undefined) {
        return fail(ref, { kind: 'destination', error: state.failure }, details(), state.fencedUntil);
      }
      const lost = findInCauseChain(error, (e) => (e instanceof LeaseLostError ? e : undefined));
      if (lost !== undefined) return fail(ref, { kind: 'lease-lost', message: lost.message }, details());
      const message = error instanceof Error ? error.message : String(error);
      return fail(ref, { kind: 'internal', message }, details());
    }
    if (result.outcome === 'skipped') return { kind: 'skipped', ref, reason: result.reason, ...(state.callStartedAt === undefined ? {} : details()) };
    const appliedAt = now();
    return {
      kind: 'applied',
      ref,
      endToEndLagMs: Math.max(0, appliedAt - Date.parse(event.occurredAt)),
      queueLagMs: Math.max(0, appliedAt - (Number(record.attributes.SentTimestamp) || appliedAt)),
      latencyMs: state.callStartedAt === undefined ? 0 : appliedAt - state.callStartedAt,
      callErrors: state.callErrors,
    };
  }
};
