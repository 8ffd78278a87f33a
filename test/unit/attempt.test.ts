import { describe, expect, it } from 'vitest';
import {
  busyWaitPauseMs,
  decideOnFailure,
  LEASE_MARGIN_MS,
  MAX_BUSY_WAITS,
  MAX_QUICK_RETRIES,
  quickRetryPauseMs,
  type AttemptFailure,
  type FailureDecision,
} from '../../lib/core/attempt.ts';
import { DestinationError, DestinationErrorClass, MAX_UNKNOWN_ERROR_ATTEMPTS, type DestinationErrorOptions } from '../../lib/core/errors.ts';

const NOW = Date.parse('2026-12-01T10:00:00Z');
/** Full jitter at its top: every backoff step is its ceiling, base 2 s doubling. */
const top = () => 1;
const retry = { baseDelaySeconds: 2, maxDelaySeconds: 900, maxReceiveCount: 10 } as const;

const destinationFailure = (options: DestinationErrorOptions, message = 'the call failed'): AttemptFailure => ({
  kind: 'destination',
  error: new DestinationError(message, options),
});

describe('Function: decideOnFailure', () => {
  it.each<[string, AttemptFailure, number, Partial<FailureDecision>]>([
    ['a busy record, on the first step', { kind: 'busy', retryAt: NOW + 5_000 }, 3, { kind: 'retry', reason: 'busy', delaySeconds: 2 }],
    ['a fenced record, past the window plus the first step', { kind: 'fenced', retryAt: NOW + 10_500 }, 3, { kind: 'retry', reason: 'fenced', delaySeconds: 11 + 2 }],
    ['a lost lease, on the first step', { kind: 'lease-lost', message: 'taken over' }, 3, { kind: 'retry', reason: 'lease-lost', delaySeconds: 2, message: 'taken over' }],
    ['an ending invocation, on the first step', { kind: 'invocation-ending', message: 'late' }, 3, { kind: 'retry', reason: 'invocation-ending', delaySeconds: 2 }],
    ['our own dependencies failing, on the backoff of the delivery', { kind: 'internal', message: 'DynamoDB down' }, 3, { kind: 'retry', reason: 'internal', delaySeconds: 8 }],
    [
      'a 503 (nothing landed), on the backoff',
      destinationFailure({ errorClass: DestinationErrorClass.SERVER, status: 503, outcomeUnknown: false }),
      3,
      { kind: 'retry', reason: 'transient', delaySeconds: 8 },
    ],
    [
      'a 429 whose Retry-After is longer than the backoff',
      destinationFailure({ errorClass: DestinationErrorClass.THROTTLED, status: 429, retryAfterMs: 60_000 }),
      1,
      { kind: 'retry', reason: 'transient', delaySeconds: 60 },
    ],
    [
      'a call in doubt (timeout)',
      destinationFailure({ errorClass: DestinationErrorClass.TIMEOUT, outcomeUnknown: true }),
      2,
      { kind: 'retry', reason: 'outcome-unknown', delaySeconds: 4 },
    ],
    [
      'a 400',
      destinationFailure({ errorClass: DestinationErrorClass.CLIENT, status: 400 }, 'PUT answered 400'),
      1,
      { kind: 'dead-letter', reason: 'rejected', status: 400, message: 'PUT answered 400' },
    ],
    ['a 403', destinationFailure({ errorClass: DestinationErrorClass.AUTH, status: 403 }), 1, { kind: 'dead-letter', reason: 'auth', status: 403 }],
    [
      'a failed transform',
      destinationFailure({ errorClass: DestinationErrorClass.TRANSFORM }, 'transform failed: no owner'),
      1,
      { kind: 'dead-letter', reason: 'transform-failed', message: 'transform failed: no owner' },
    ],
    [
      'an unclassified error before the limit',
      destinationFailure({ errorClass: DestinationErrorClass.UNKNOWN, outcomeUnknown: true }),
      MAX_UNKNOWN_ERROR_ATTEMPTS - 1,
      { kind: 'retry', reason: 'outcome-unknown', delaySeconds: 4 },
    ],
    [
      'an unclassified error at the limit',
      destinationFailure({ errorClass: DestinationErrorClass.UNKNOWN }, 'boom'),
      MAX_UNKNOWN_ERROR_ATTEMPTS,
      { kind: 'dead-letter', reason: 'unknown-error', message: `${MAX_UNKNOWN_ERROR_ATTEMPTS} deliveries failed with an unclassified error; last: boom` },
    ],
  ])('decides on %s', (_label, failure, attempts, expected) => {
    // Act
    const decision = decideOnFailure({ failure, attempts, retry, now: NOW, random: top });

    // Assess
    expect(decision).toMatchObject(expected);
  });

  it.each<[string, AttemptFailure]>([
    ['busy', { kind: 'busy', retryAt: NOW + 1_000 }],
    ['transient', destinationFailure({ errorClass: DestinationErrorClass.SERVER, status: 503, outcomeUnknown: false }, 'PUT answered 503')],
    ['internal', { kind: 'internal', message: 'SQS down' }],
  ])('dead-letters a %s retry on the last delivery SQS allows as retries-exhausted', (_label, failure) => {
    // Act
    const decision = decideOnFailure({ failure, attempts: retry.maxReceiveCount, retry, now: NOW, random: top });

    // Assess
    expect(decision).toMatchObject({ kind: 'dead-letter', reason: 'retries-exhausted' });
    expect(decision.message).toMatch(new RegExp(`^${retry.maxReceiveCount} deliveries failed; last: `));
  });

  it('keeps the reason of a permanent failure on the last delivery', () => {
    // Act
    const decision = decideOnFailure({
      failure: destinationFailure({ errorClass: DestinationErrorClass.CLIENT, status: 422 }),
      attempts: retry.maxReceiveCount,
      retry,
      now: NOW,
      random: top,
    });

    // Assess
    expect(decision).toMatchObject({ kind: 'dead-letter', reason: 'rejected', status: 422 });
  });

  it.each([
    [NOW + 120_000, 2, 120],
    [NOW + 1_000, 2, 4],
    [NOW + 119_001, 1, 120],
  ])('brings a call in doubt back only after its own fence (until %d, delivery %d: %d s)', (fencedUntil, attempts, delaySeconds) => {
    // Act
    const decision = decideOnFailure({
      failure: destinationFailure({ errorClass: DestinationErrorClass.TIMEOUT, outcomeUnknown: true }),
      attempts,
      retry,
      fencedUntil,
      now: NOW,
      random: top,
    });

    // Assess
    expect(decision).toMatchObject({ kind: 'retry', reason: 'outcome-unknown', delaySeconds });
  });
});

describe('Function: quickRetryPauseMs', () => {
  const blip = new DestinationError('PUT answered 503', { errorClass: DestinationErrorClass.SERVER, status: 503, outcomeUnknown: false });
  const base = { failure: blip, quickRetries: 0, leaseRemainingMs: 9_000, requestTimeoutMs: 5_000, random: () => 0.5 };

  it.each([
    [0, 75],
    [1, 150],
  ])('pauses about 100 ms doubling, jittered, before quick retry %d', (quickRetries, pauseMs) => {
    // Act
    const pause = quickRetryPauseMs({ ...base, quickRetries });

    // Assess
    expect(pause).toBe(pauseMs);
  });

  it('stops after the quick retries allowed', () => {
    // Act
    const pause = quickRetryPauseMs({ ...base, quickRetries: MAX_QUICK_RETRIES });

    // Assess
    expect(pause).toBeUndefined();
  });

  it.each<[string, DestinationError, number | undefined]>([
    ['a refused connection (nothing was sent)', new DestinationError('refused', { errorClass: DestinationErrorClass.NETWORK, outcomeUnknown: false }), 75],
    ['a throttled call (the destination asked us to slow down)', new DestinationError('429', { errorClass: DestinationErrorClass.THROTTLED, status: 429 }), undefined],
    ['a timeout (it may still land)', new DestinationError('timeout', { errorClass: DestinationErrorClass.TIMEOUT, outcomeUnknown: true }), undefined],
    ['a 500 (it may have landed)', new DestinationError('500', { errorClass: DestinationErrorClass.SERVER, status: 500, outcomeUnknown: true }), undefined],
    ['a 400 (permanent)', new DestinationError('400', { errorClass: DestinationErrorClass.CLIENT, status: 400 }), undefined],
  ])('answers %s with %s', (_label, failure, expected) => {
    // Act
    const pause = quickRetryPauseMs({ ...base, failure });

    // Assess
    expect(pause).toBe(expected);
  });

  it.each([
    [5_000 + LEASE_MARGIN_MS + 75, 75],
    [5_000 + LEASE_MARGIN_MS + 74, undefined],
  ])('retries only when the repeated call ends before the lease does (%d ms of lease left)', (leaseRemainingMs, expected) => {
    // Act
    const pause = quickRetryPauseMs({ ...base, leaseRemainingMs });

    // Assess
    expect(pause).toBe(expected);
  });
});

describe('Function: busyWaitPauseMs', () => {
  it.each([
    [0, 37.5],
    [1, 75],
    [2, 150],
    [3, 300],
    [4, 600],
  ])('waits about 50 ms doubling, jittered, before busy wait %d', (busyWaits, pauseMs) => {
    // Act
    const pause = busyWaitPauseMs({ busyWaits, random: () => 0.5 });

    // Assess
    expect(pause).toBe(pauseMs);
  });

  it.each([
    [0, 25],
    [0.999, 49.975],
  ])('keeps the jitter between half and all of the step (random %d)', (random, pauseMs) => {
    // Act
    const pause = busyWaitPauseMs({ busyWaits: 0, random: () => random });

    // Assess
    expect(pause).toBeCloseTo(pauseMs, 6);
  });

  it('gives the change back to the queue after the waits allowed', () => {
    // Act
    const pause = busyWaitPauseMs({ busyWaits: MAX_BUSY_WAITS, random: () => 0.5 });

    // Assess
    expect(pause).toBeUndefined();
  });
});
