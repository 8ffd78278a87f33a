import { retryDelaySeconds, type BackoffSettings } from './backoff.ts';
import { DeadLetterReason } from './dead-letter.ts';
import { DestinationError, DestinationErrorClass, MAX_UNKNOWN_ERROR_ATTEMPTS } from './errors.ts';

/**
 * Why a record goes back to the queue for a later attempt; the `Reason` dimension of RecordsRetried.
 * - `busy`: another attempt holds the record's lease.
 * - `fenced`: a call in doubt (of another attempt) may still land; nothing is sent until it cannot.
 * - `transient`: the destination refused for now (429, 503, refused connection); nothing landed.
 * - `outcome-unknown`: this attempt's call may have landed (timeout, reset, 500/502/504); the record
 *   is fenced for the settle window, then the change is sent again with the same key.
 * - `lease-lost`: the lease ran out before the commit and another attempt took it.
 * - `invocation-ending`: too little invocation time is left for a whole lease.
 * - `internal`: our own dependencies (DynamoDB, SQS) failed.
 * - `coalescing`: the first delivery of a change that waited in a backlog marked its version as seen
 *   and comes back shortly, so that only the newest of the backlog's versions is sent.
 */
export const RetryReason = {
  BUSY: 'busy',
  FENCED: 'fenced',
  TRANSIENT: 'transient',
  OUTCOME_UNKNOWN: 'outcome-unknown',
  LEASE_LOST: 'lease-lost',
  INVOCATION_ENDING: 'invocation-ending',
  INTERNAL: 'internal',
  COALESCING: 'coalescing',
} as const;
export type RetryReason = (typeof RetryReason)[keyof typeof RetryReason];

/**
 * Why a change is deferred: sent back to the queue as a new message with a delay, which spends none
 * of its receives (SQS counts those toward the DLQ). The destination throttled us (a 429, or the rest
 * of a batch after one), or its circuit breaker is open. Neither is a failure of the change.
 */
export const DeferReason = { THROTTLED: 'throttled', BREAKER_OPEN: 'breaker-open' } as const;
export type DeferReason = (typeof DeferReason)[keyof typeof DeferReason];

/** The longest delay SQS allows on a message (15 minutes). */
export const MAX_DELAY_SECONDS = 900;

/** How an attempt failed, as the orchestration saw it. */
export type AttemptFailure =
  | { readonly kind: 'destination'; readonly error: DestinationError }
  | { readonly kind: 'busy' | 'fenced'; readonly retryAt: number }
  | { readonly kind: 'deferred'; readonly reason: DeferReason; readonly retryAt: number }
  | { readonly kind: 'lease-lost' | 'invocation-ending' | 'internal'; readonly message: string };

/** What to do with a change whose attempt did not end applied or skipped. */
export type FailureDecision =
  | { readonly kind: 'retry'; readonly reason: RetryReason; readonly delaySeconds: number; readonly message: string }
  | { readonly kind: 'defer'; readonly reason: DeferReason; readonly delaySeconds: number; readonly message: string }
  | { readonly kind: 'dead-letter'; readonly reason: DeadLetterReason; readonly message: string; readonly status?: number };

export interface FailureDecisionInput {
  readonly failure: AttemptFailure;
  /** This delivery's number, 1 on the first (SQS ApproximateReceiveCount). */
  readonly attempts: number;
  readonly retry: BackoffSettings & { readonly maxReceiveCount: number };
  /** When this attempt's own fence ends, if a call of it may still land. */
  readonly fencedUntil?: number;
  readonly now: number;
  readonly random: () => number;
  /**
   * When the change first reached the queue (its first message's SentTimestamp; deferrals keep it)
   * and how long it may keep being deferred: past the retry horizon it is dead-lettered as
   * `retries-exhausted`, so a destination that throttles for ever cannot hold a change for ever.
   */
  readonly deferral?: { readonly firstSentAt: number; readonly horizonMs: number };
}

const secondsUntil = (at: number, now: number): number => Math.max(0, Math.ceil((at - now) / 1000));

const describe = (failure: AttemptFailure): string => {
  switch (failure.kind) {
    case 'destination':
      return failure.error.message;
    case 'busy':
      return 'another attempt holds the lease on this record';
    case 'deferred':
      return failure.reason === DeferReason.BREAKER_OPEN
        ? "the destination's circuit breaker is open"
        : 'the destination throttled this batch (429)';
    case 'fenced':
      return `a call in doubt may still land until ${new Date(failure.retryAt).toISOString()}`;
    default:
      return failure.message;
  }
};

/** The dead letter's reason for a permanent error class: `auth`, `transform-failed`, or `rejected`. */
const deadLetterReasonOf = (errorClass: DestinationErrorClass): DeadLetterReason => {
  if (errorClass === DestinationErrorClass.AUTH) return DeadLetterReason.AUTH;
  if (errorClass === DestinationErrorClass.TRANSFORM) return DeadLetterReason.TRANSFORM_FAILED;
  return DeadLetterReason.REJECTED;
};

/** The retry a failure asks for, before the retries-exhausted rule. */
const retryFor = (input: FailureDecisionInput): FailureDecision => {
  const { failure, attempts, retry, now, random } = input;
  const message = describe(failure);
  // Not a failure of this change: retry it on the first, shortest step.
  const firstStep = () => retryDelaySeconds({ attempt: 1, retry, random });
  const deferFor = (reason: DeferReason, retryAt: number): FailureDecision => ({
    kind: 'defer',
    reason,
    // At least a second, jittered, so the changes of a throttled batch do not all return at once.
    delaySeconds: Math.min(MAX_DELAY_SECONDS, secondsUntil(retryAt, now) + Math.ceil(random() * 2)),
    message,
  });
  switch (failure.kind) {
    case 'deferred':
      return deferFor(failure.reason, failure.retryAt);
    case 'busy':
      return { kind: 'retry', reason: RetryReason.BUSY, delaySeconds: firstStep(), message };
    case 'fenced':
      // Jittered past the window, so the changes waiting on one record do not all return at once.
      return { kind: 'retry', reason: RetryReason.FENCED, delaySeconds: secondsUntil(failure.retryAt, now) + firstStep(), message };
    case 'lease-lost':
      return { kind: 'retry', reason: RetryReason.LEASE_LOST, delaySeconds: firstStep(), message };
    case 'invocation-ending':
      return { kind: 'retry', reason: RetryReason.INVOCATION_ENDING, delaySeconds: firstStep(), message };
    case 'internal':
      return { kind: 'retry', reason: RetryReason.INTERNAL, delaySeconds: retryDelaySeconds({ attempt: attempts, retry, random }), message };
    case 'destination': {
      const { error } = failure;
      if (error.errorClass === DestinationErrorClass.UNKNOWN && attempts >= MAX_UNKNOWN_ERROR_ATTEMPTS) {
        return { kind: 'dead-letter', reason: DeadLetterReason.UNKNOWN_ERROR, message: `${attempts} deliveries failed with an unclassified error; last: ${message}` };
      }
      if (!error.retryable) {
        return {
          kind: 'dead-letter',
          reason: deadLetterReasonOf(error.errorClass),
          message,
          ...(error.status === undefined ? {} : { status: error.status }),
        };
      }
      // A 429 asks us to slow down: not a failure of the change, it spends none of its receives.
      if (error.errorClass === DestinationErrorClass.THROTTLED && input.deferral !== undefined) {
        return deferFor(DeferReason.THROTTLED, now + (error.retryAfterMs ?? 1000));
      }
      const backoff = retryDelaySeconds({ attempt: attempts, retry, random, ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }) });
      // A change in doubt comes back only once its own fence is over: sooner it would find it fenced.
      const fence = input.fencedUntil === undefined ? 0 : secondsUntil(input.fencedUntil, now);
      return {
        kind: 'retry',
        reason: error.outcomeUnknown ? RetryReason.OUTCOME_UNKNOWN : RetryReason.TRANSIENT,
        delaySeconds: Math.max(backoff, fence),
        message,
      };
    }
  }
};

/**
 * What to do with a change whose attempt failed: retry later (with the reason and the delay), or
 * dead-letter it now (with the reason). Permanent destination errors and repeated unclassifiable
 * ones dead-letter; everything else retries, until the last delivery SQS allows, which dead-letters
 * as `retries-exhausted` with the envelope instead of letting redrive move a bare message.
 *
 * @example
 * decideOnFailure({ failure: { kind: 'busy', retryAt }, attempts: 1, retry, now: Date.now(), random: Math.random }); // { kind: 'retry', reason: 'busy', … }
 */
export const decideOnFailure = (input: FailureDecisionInput): FailureDecision => {
  const decision = retryFor(input);
  if (decision.kind === 'defer' && input.deferral !== undefined && input.now - input.deferral.firstSentAt > input.deferral.horizonMs) {
    const hours = Math.round(input.deferral.horizonMs / 360_000) / 10;
    return { kind: 'dead-letter', reason: DeadLetterReason.RETRIES_EXHAUSTED, message: `deferred for longer than the retry horizon (${hours} h); last: ${decision.message}` };
  }
  if (decision.kind === 'retry' && input.attempts >= input.retry.maxReceiveCount) {
    return { kind: 'dead-letter', reason: DeadLetterReason.RETRIES_EXHAUSTED, message: `${input.attempts} deliveries failed; last: ${decision.message}` };
  }
  return decision;
};

/**
 * Quick in-invocation retries for blips: about 100 and 200 ms, jittered. Only for failures whose
 * outcome is known (503, a refused connection): a call in doubt is never repeated while it may still
 * land, and throttling means the destination asked us to slow down.
 */
export const MAX_QUICK_RETRIES = 2;
const QUICK_RETRY_BASE_MS = 100;
const QUICK_RETRY_CLASSES: ReadonlySet<DestinationErrorClass> = new Set([DestinationErrorClass.SERVER, DestinationErrorClass.NETWORK]);
/** A call starts only with this much of the lease left beyond its own timeout. */
export const LEASE_MARGIN_MS = 250;

export interface QuickRetryInput {
  readonly failure: DestinationError;
  /** Quick retries already made in this attempt. */
  readonly quickRetries: number;
  /** Lease time left now. */
  readonly leaseRemainingMs: number;
  readonly requestTimeoutMs: number;
  readonly random: () => number;
}

/**
 * The pause before repeating a failed call under the same lease, or undefined to end the attempt.
 * The repeated call must end (by its own timeout) before the lease does.
 *
 * @example
 * quickRetryPauseMs({ failure: new DestinationError('503', { errorClass: 'server', status: 503 }), quickRetries: 0, leaseRemainingMs: 9000, requestTimeoutMs: 5000, random: () => 0.5 }); // 75
 */
export const quickRetryPauseMs = (input: QuickRetryInput): number | undefined => {
  const { failure, quickRetries } = input;
  if (!failure.retryable || failure.outcomeUnknown || !QUICK_RETRY_CLASSES.has(failure.errorClass)) return undefined;
  if (quickRetries >= MAX_QUICK_RETRIES) return undefined;
  const pauseMs = QUICK_RETRY_BASE_MS * 2 ** quickRetries * (0.5 + input.random() / 2);
  return input.leaseRemainingMs - pauseMs >= input.requestTimeoutMs + LEASE_MARGIN_MS ? pauseMs : undefined;
};

/** In-invocation waits for a busy record: about 50, 100, 200, 400 and 800 ms, jittered. */
export const MAX_BUSY_WAITS = 5;
const BUSY_WAIT_BASE_MS = 50;

/**
 * The pause before asking for a busy record's lease again, or undefined to give the change back to
 * the queue. Another attempt holding the record usually finishes within one destination call; a
 * fenced record does not free up within an invocation, so it is never waited for here.
 *
 * @example
 * busyWaitPauseMs({ busyWaits: 0, random: () => 0.5 }); // 37.5
 */
export const busyWaitPauseMs = (input: { readonly busyWaits: number; readonly random: () => number }): number | undefined =>
  input.busyWaits >= MAX_BUSY_WAITS ? undefined : BUSY_WAIT_BASE_MS * 2 ** input.busyWaits * (0.5 + input.random() / 2);
