import { makeIdempotent, type IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import type { SQSRecord } from 'aws-lambda';
import type { IdNormalization, RetryConfig } from '../config/pipeline-config.ts';
import { idempotencyKey, type ChangeEvent, type ParsedChangeEvent } from '../contract/change-event.ts';
import { busyWaitPauseMs, decideOnFailure, LEASE_MARGIN_MS, quickRetryPauseMs, RetryReason, type AttemptFailure } from '../core/attempt.ts';
import { buildDeadLetter, DeadLetterReason } from '../core/dead-letter.ts';
import { WriteResult, type Destination } from '../core/destination.ts';
import { DestinationError, DestinationErrorClass, findInCauseChain } from '../core/errors.ts';
import { decideLease, isSkipDecision, learnOutcome, ledgerKey, type LeaseDecision, type LedgerEntry, type LedgerStore } from '../core/ledger.ts';
import { SkipReason, type CallDetails, type RecordOutcome, type RecordRef } from '../core/outcome.ts';
import type { RecordQueue } from '../core/record-queue.ts';
import { sleep, type Sleep } from '../core/sleep.ts';
import { LedgerPersistenceLayer, LeaseLostError, type ApplyResult } from '../adapters/ledger-persistence-layer.ts';
import { messageAttributesOf, readDeferral } from './deferral.ts';
import type { CallResult, GateVerdict, SendGate } from './send-gate.ts';

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
  /** @default a real pause (setTimeout) */
  readonly sleep?: Sleep;
  /** A fresh lease token per acquisition. @default `newLeaseToken` (ledger-persistence-layer.ts) */
  readonly newLeaseToken?: () => string;
  /**
   * How long a change may keep being deferred (throttled, breaker open) after it first reached the
   * queue: the retry horizon. Without it a 429 is retried like any transient failure. @default none
   */
  readonly deferralHorizonMs?: number;
  /** Backlog coalescing (see the destination's `coalescing`). @default off */
  readonly coalescing?: { readonly backlogAgeMs: number; readonly holdSeconds: number };
}

/**
 * What one invocation knows of its records' ledger entries, by `ledgerKey`: what a batch read found
 * before the attempts (see `SkipShareEstimate`), and what each attempt learnt since (its commit, the
 * ledger's refusal; see `learnOutcome`). A batch's older versions of a record run after its newest
 * (`planRecordTurns`), so they are skipped on what the newest left here, with no write.
 */
export type KnownEntries = Map<string, LedgerEntry>;

/** What one delivery of a record works with: its deps with the defaults resolved, and its delivery facts. */
interface Delivery {
  readonly record: SQSRecord;
  readonly deps: RecordProcessorDeps;
  readonly idempotencyConfig: IdempotencyConfig;
  readonly now: () => number;
  readonly random: () => number;
  readonly pause: Sleep;
  /** This delivery's number, 1 on the first (SQS ApproximateReceiveCount). */
  readonly attempts: number;
  readonly receivedAt: number;
  /** Time left in the invocation; one lease when there is no Lambda context (tests, scripts). */
  readonly remainingMs: () => number;
  /** The invocation's door to the destination (rate limit, breaker), when it has one. */
  readonly gate: SendGate | undefined;
}

/** What an attempt's calls learnt, shared by the calls and the persistence layer that ends the lease. */
interface AttemptState {
  callStartedAt?: number;
  /** The failure of the last call, when the attempt ended on one. */
  failure?: DestinationError;
  /** Set once a call of this attempt may land after the client gave up: the end of its settle window. */
  fencedUntil?: number;
  readonly callErrors: DestinationErrorClass[];
}

const IN_PROGRESS_ERROR = 'IdempotencyAlreadyInProgressError';

/** Thrown inside the lease when the gate says not to call now: the lease is released, the change deferred. */
class DeferralSignal extends Error {
  public readonly verdict: Extract<GateVerdict, { go: false }>;

  public constructor(verdict: Extract<GateVerdict, { go: false }>) {
    super(`deferred: ${verdict.reason}`);
    this.name = 'DeferralSignal';
    this.verdict = verdict;
  }
}

/**
 * How the rate limiter and the breaker count a call's end: a 429, a transient failure, or an answer.
 *
 * @example
 * await gate.finished(callResultOf(failure), failure?.retryAfterMs); // 'throttled' for a 429
 */
export const callResultOf = (failure: DestinationError | undefined): CallResult => {
  if (failure === undefined) return 'answered';
  if (failure.errorClass === DestinationErrorClass.THROTTLED) return 'throttled';
  // A refusal (4xx) and a 409 for a key in flight are answers of a working destination.
  return failure.retryable && failure.errorClass !== DestinationErrorClass.CONFLICT ? 'failed' : 'answered';
};

const startDelivery = (record: SQSRecord, deps: RecordProcessorDeps, idempotencyConfig: IdempotencyConfig, gate: SendGate | undefined): Delivery => {
  const now = deps.now ?? Date.now;
  return {
    gate,
    record,
    deps,
    idempotencyConfig,
    now,
    random: deps.random ?? Math.random,
    pause: deps.sleep ?? sleep,
    attempts: Number(record.attributes.ApproximateReceiveCount) || 1,
    receivedAt: now(),
    remainingMs: () => idempotencyConfig.lambdaContext?.getRemainingTimeInMillis() ?? deps.leaseDurationMs,
  };
};

/** Writes the dead letter (resolves once the DLQ has it) and returns the outcome that says so. */
const deadLetter = async (
  delivery: Delivery,
  ref: RecordRef,
  reason: DeadLetterReason,
  message: string,
  details: CallDetails & { status?: number } = {},
): Promise<RecordOutcome> => {
  const { record, deps, idempotencyConfig } = delivery;
  await deps.queue.deadLetter(
    buildDeadLetter({
      reason,
      message,
      destination: deps.destinationName,
      messageId: record.messageId,
      attempts: delivery.attempts,
      firstAttemptAt: Number(record.attributes.ApproximateFirstReceiveTimestamp) || delivery.receivedAt,
      lastAttemptAt: delivery.now(),
      body: record.body,
      attributes: messageAttributesOf(record),
      ...(details.status === undefined ? {} : { status: details.status }),
      ...(idempotencyConfig.lambdaContext === undefined ? {} : { invocationId: idempotencyConfig.lambdaContext.awsRequestId }),
    }),
  );
  const { status: _status, ...calls } = details;
  return { kind: 'dead-lettered', ref, reason, message, ...calls };
};

/** Carries out the decision for a failed attempt: a dead letter now, or the retry or deferral the handler sends. */
const carryOutFailure = async (
  delivery: Delivery,
  ref: RecordRef,
  failure: AttemptFailure,
  details: CallDetails = {},
  fencedUntil?: number,
): Promise<RecordOutcome> => {
  const { deps, record } = delivery;
  const horizonMs = deps.deferralHorizonMs;
  const decision = decideOnFailure({
    failure,
    attempts: delivery.attempts,
    retry: deps.retry,
    now: delivery.now(),
    random: delivery.random,
    ...(fencedUntil === undefined ? {} : { fencedUntil }),
    ...(horizonMs === undefined ? {} : { deferral: { firstSentAt: readDeferral(record).firstSentAt, horizonMs } }),
  });
  if (decision.kind === 'dead-letter') {
    return deadLetter(delivery, ref, decision.reason, decision.message, { ...details, ...(decision.status === undefined ? {} : { status: decision.status }) });
  }
  return { kind: decision.kind === 'defer' ? 'deferred' : 'retry', ref, reason: decision.reason, delaySeconds: decision.delaySeconds, message: decision.message, ...details } as RecordOutcome;
};

/** Step 1's verdict: the change to send (ids normalized as configured), or why it goes to the DLQ now. */
type ValidatedChange =
  | { readonly ok: true; readonly event: ChangeEvent; readonly ref: RecordRef }
  | { readonly ok: false; readonly ref: RecordRef; readonly reason: DeadLetterReason; readonly message: string };

/**
 * The change as this destination handles it: its id normalized as configured (`idNormalization`), so
 * that the ledger record, the lease and the call all name the same record.
 *
 * @example
 * normalizeChange({ idNormalization: 'NFC' }, event).id; // event.id in NFC
 */
export const normalizeChange = (deps: Pick<RecordProcessorDeps, 'idNormalization'>, event: ChangeEvent): ChangeEvent =>
  deps.idNormalization === 'NFC' ? { ...event, id: event.id.normalize('NFC') } : event;

const validateChange = (parsed: ParsedChangeEvent, deps: RecordProcessorDeps, messageId: string): ValidatedChange => {
  if (!parsed.ok) return { ok: false, ref: { messageId }, reason: parsed.rejection.reason, message: parsed.rejection.detail };
  const event = normalizeChange(deps, parsed.event);
  const ref: RecordRef = { messageId, resourceType: event.resourceType, id: event.id, version: event.version };
  if (!deps.resourceTypes.has(event.resourceType)) {
    // A direct SQS publisher must not make the consumer write to a path the destination was not given.
    const message = `resource type ${JSON.stringify(event.resourceType)} is not routed to ${deps.destinationName}`;
    return { ok: false, ref, reason: DeadLetterReason.NOT_ROUTED, message };
  }
  return { ok: true, event, ref };
};

/** The destination error underneath Powertools' wrappers; anything else thrown by a call is one of unknown outcome. */
const asDestinationError = (error: unknown): DestinationError =>
  findInCauseChain(error, (current) => (current instanceof DestinationError ? current : undefined)) ??
  new DestinationError(error instanceof Error ? error.message : String(error), { errorClass: DestinationErrorClass.UNKNOWN, cause: error });

/**
 * Step 4: the calls of one attempt, under one lease: the first, then quick retries for blips whose
 * outcome is known, each only while the lease can hold it.
 */
const callWithQuickRetries = async (
  delivery: Delivery,
  call: { readonly event: ChangeEvent; readonly key: string; readonly state: AttemptState; readonly leaseExpiresAt: () => number | undefined },
): Promise<ApplyResult> => {
  const { deps, now } = delivery;
  const { event, key, state } = call;
  for (let quickRetries = 0; ; quickRetries += 1) {
    if (delivery.gate !== undefined) {
      // The call must end (by its timeout) before the lease does, slot wait included.
      const verdict = await delivery.gate.acquire((call.leaseExpiresAt() ?? 0) - deps.requestTimeoutMs - LEASE_MARGIN_MS);
      if (!verdict.go) throw new DeferralSignal(verdict);
    }
    state.callStartedAt = now();
    try {
      const result = await deps.destination.apply({ event, idempotencyKey: key });
      await delivery.gate?.finished('answered');
      state.failure = undefined;
      return result === WriteResult.SUPERSEDED ? { outcome: 'skipped', reason: SkipReason.STALE, appliedVersion: event.version } : { outcome: 'applied' };
    } catch (error) {
      const failure = asDestinationError(error);
      state.failure = failure;
      // A transform failure is ours, before any request: not a failed destination call (error rate).
      if (failure.errorClass !== DestinationErrorClass.TRANSFORM) state.callErrors.push(failure.errorClass);
      await delivery.gate?.finished(callResultOf(failure), failure.retryAfterMs);
      // The request may land until the settle window after the client gave up on it.
      if (failure.outcomeUnknown) state.fencedUntil = now() + deps.settleMs;
      const pauseMs = quickRetryPauseMs({
        failure,
        quickRetries,
        leaseRemainingMs: (call.leaseExpiresAt() ?? 0) - now(),
        requestTimeoutMs: deps.requestTimeoutMs,
        random: delivery.random,
      });
      if (pauseMs === undefined) throw failure;
      await delivery.pause(pauseMs);
    }
  }
};

const callDetails = (state: AttemptState, now: number): CallDetails => ({
  ...(state.failure === undefined ? {} : { errorClass: state.failure.errorClass }),
  callErrors: state.callErrors,
  ...(state.callStartedAt === undefined ? {} : { latencyMs: now - state.callStartedAt }),
});

/** How an attempt that threw failed, what it may report of its calls, and whether a busy wait can help. */
interface AttemptError {
  readonly failure: AttemptFailure;
  readonly details: CallDetails;
  /** The attempt's own fence, when a call of it may still land. */
  readonly fencedUntil?: number;
  /** Another attempt holds the lease: it usually finishes within one call, so waiting may pay. */
  readonly busy: boolean;
}

const classifyAttemptError = (error: unknown, state: AttemptState, lastDecision: LeaseDecision | undefined, now: number): AttemptError => {
  if (error instanceof Error && error.name === IN_PROGRESS_ERROR) {
    // Step 3 said busy or fenced: the ledger's decision says which, and until when.
    const retryAt = lastDecision?.status === 'busy' || lastDecision?.status === 'fenced' ? lastDecision.retryAt : now;
    const kind = lastDecision?.status === 'fenced' ? 'fenced' : 'busy';
    return { failure: { kind, retryAt }, details: {}, busy: lastDecision?.status === 'busy' };
  }
  if (state.failure !== undefined && findInCauseChain(error, (e) => (e === state.failure ? e : undefined)) !== undefined) {
    return {
      failure: { kind: 'destination', error: state.failure },
      details: callDetails(state, now),
      ...(state.fencedUntil === undefined ? {} : { fencedUntil: state.fencedUntil }),
      busy: false,
    };
  }
  const deferral = findInCauseChain(error, (e) => (e instanceof DeferralSignal ? e : undefined));
  if (deferral !== undefined) {
    return { failure: { kind: 'deferred', reason: deferral.verdict.reason, retryAt: deferral.verdict.retryAt }, details: callDetails(state, now), busy: false };
  }
  const lost = findInCauseChain(error, (e) => (e instanceof LeaseLostError ? e : undefined));
  if (lost !== undefined) return { failure: { kind: 'lease-lost', message: lost.message }, details: callDetails(state, now), busy: false };
  return { failure: { kind: 'internal', message: error instanceof Error ? error.message : String(error) }, details: callDetails(state, now), busy: false };
};

/** Step 5 on success: the persistence layer has committed the version and released the lease. */
const endedOutcome = (delivery: Delivery, ref: RecordRef, event: ChangeEvent, result: ApplyResult, state: AttemptState): RecordOutcome => {
  const at = delivery.now();
  if (result.outcome === 'skipped') return { kind: 'skipped', ref, reason: result.reason, ...(state.callStartedAt === undefined ? {} : callDetails(state, at)) };
  return {
    kind: 'applied',
    ref,
    endToEndLagMs: Math.max(0, at - Date.parse(event.occurredAt)),
    queueLagMs: Math.max(0, at - (Number(delivery.record.attributes.SentTimestamp) || at)),
    latencyMs: state.callStartedAt === undefined ? 0 : at - state.callStartedAt,
    callErrors: state.callErrors,
  };
};

/**
 * Steps 2 to 5 for a valid change: Powertools idempotency over the version ledger (one conditional
 * write checks the duplicate, the version and the lease), the call, then the commit or the failure's
 * decision. A busy record is waited for a few times within the invocation, each pause leaving room
 * for a whole lease.
 */
const attemptUnderLease = async (delivery: Delivery, event: ChangeEvent, ref: RecordRef, known: KnownEntries | undefined): Promise<RecordOutcome> => {
  const { deps, idempotencyConfig, now } = delivery;
  const key = idempotencyKey(deps.destinationName, event);
  let state: AttemptState = { callErrors: [] };
  const record = { destination: deps.destinationName, resourceType: event.resourceType, id: event.id };
  const knownKey = ledgerKey(record);
  // What the batch already knows skips the change (the batch read, or an earlier record of the batch):
  // the conditional write would refuse it too (the fields a skip rests on only grow), and Powertools
  // would return that refusal as the completed record's outcome; so it ends here, with neither.
  const knownEntry = known?.get(knownKey);
  const knownDecision = knownEntry === undefined ? undefined : decideLease(knownEntry, { version: event.version }, now());
  if (knownDecision !== undefined && isSkipDecision(knownDecision)) return { kind: 'skipped', ref, reason: knownDecision.status };
  // Optional fields are set to undefined rather than spread in: this runs once per record.
  const persistenceStore = new LedgerPersistenceLayer({
    ledger: deps.ledger,
    record,
    event,
    idempotencyKey: key,
    leaseDurationMs: deps.leaseDurationMs,
    settleMs: deps.settleMs,
    fencedUntil: () => state.fencedUntil,
    newLeaseToken: deps.newLeaseToken,
    now,
  });
  const call = (_input: { idempotencyKey: string }) =>
    callWithQuickRetries(delivery, { event, key, state, leaseExpiresAt: () => persistenceStore.leaseExpiresAt });
  const apply = makeIdempotent(call, { persistenceStore, config: idempotencyConfig });

  for (let busyWaits = 0; ; busyWaits += 1) {
    state = { callErrors: [] };
    try {
      const result = (await apply({ idempotencyKey: key })) as ApplyResult;
      if (known !== undefined) {
        const decision = persistenceStore.lastDecision;
        const learnt = result.outcome === 'applied' ? { applied: event.version } : decision === undefined ? undefined : { decision };
        if (learnt !== undefined) known.set(knownKey, learnOutcome(known.get(knownKey), learnt));
      }
      return endedOutcome(delivery, ref, event, result, state);
    } catch (error) {
      const attemptError = classifyAttemptError(error, state, persistenceStore.lastDecision, now());
      const pauseMs = attemptError.busy ? busyWaitPauseMs({ busyWaits, random: delivery.random }) : undefined;
      // Every pause leaves room for a whole lease, so a later call can never outlive the invocation.
      if (pauseMs !== undefined && delivery.remainingMs() - pauseMs >= deps.leaseDurationMs) {
        await delivery.pause(pauseMs);
        continue;
      }
      // Step 5 on failure: the lease is released (fenced if a call may still land); retry or dead-letter.
      return carryOutFailure(delivery, ref, attemptError.failure, attemptError.details, attemptError.fencedUntil);
    }
  }
};

/**
 * Backlog coalescing, its first pass: a change received for the first time after waiting in a
 * backlog marks its version as seen in the ledger and comes back after the hold, by when the
 * backlog's newer versions of the record have marked theirs. The second pass then sends only the
 * newest (older ones find a newer seen version and are skipped as superseded). A deferred change was
 * marked before; a destination whose retry budget could not spare the receive is not held.
 */
const holdForCoalescing = async (delivery: Delivery, event: ChangeEvent, ref: RecordRef): Promise<RecordOutcome | undefined> => {
  const { deps, record } = delivery;
  const coalescing = deps.coalescing;
  if (coalescing === undefined || delivery.attempts !== 1 || deps.retry.maxReceiveCount < 3) return undefined;
  const sentAt = Number(record.attributes.SentTimestamp);
  if (!(delivery.now() - sentAt >= coalescing.backlogAgeMs) || readDeferral(record).count > 0) return undefined;
  const key = { destination: deps.destinationName, resourceType: event.resourceType, id: event.id };
  await deps.ledger.markSeen(key, event.version);
  const message = `waited ${Math.round((delivery.now() - sentAt) / 1000)} s in a backlog: version marked as seen, held ${coalescing.holdSeconds} s so only the newest goes`;
  return { kind: 'retry', ref, reason: RetryReason.COALESCING, delaySeconds: coalescing.holdSeconds, message };
};

/**
 * Processes one SQS record for one destination, in the five steps of the architecture: (1) parse,
 * validate and check the routing; (2) Powertools idempotency on the idempotency key; (3) the version
 * check against the ledger, which takes the record's lease only if this version is newer and the
 * record is neither leased nor fenced; (4) call the destination with the key; (5) commit, or carry
 * out the failure's decision (retry with backoff, or dead-letter). Every path ends in an outcome, and
 * a `retry` outcome has already set the message's next visibility. It throws only when a dead letter
 * cannot be written to the DLQ; the handler then keeps the message on the queue.
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
  parsed: ParsedChangeEvent,
  gate?: SendGate,
  known?: KnownEntries,
): Promise<RecordOutcome> => {
  const delivery = startDelivery(record, deps, idempotencyConfig, gate);
  const change = validateChange(parsed, deps, record.messageId);
  if (!change.ok) return deadLetter(delivery, change.ref, change.reason, change.message);
  const held = await holdForCoalescing(delivery, change.event, change.ref);
  if (held !== undefined) return held;
  // The breaker is open, or a 429 stopped this batch: no lease, no call; the change waits.
  const stopped = gate?.deferral();
  if (stopped !== undefined && !stopped.go) return carryOutFailure(delivery, change.ref, { kind: 'deferred', reason: stopped.reason, retryAt: stopped.retryAt });
  // A lease must never be cut short by the invocation's end: a call still in flight when the
  // function dies could then land after a newer version. Too little time left: hand it back.
  if (delivery.remainingMs() < deps.leaseDurationMs) {
    const message = `only ${delivery.remainingMs()} ms left in the invocation, less than one lease (${deps.leaseDurationMs} ms)`;
    return carryOutFailure(delivery, change.ref, { kind: 'invocation-ending', message });
  }
  return attemptUnderLease(delivery, change.event, change.ref, known);
};
