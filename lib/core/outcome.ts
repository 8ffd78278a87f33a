import type { DestinationErrorClass } from './errors.ts';
import type { DeadLetterReason } from './dead-letter.ts';
import type { DeferReason, RetryReason } from './attempt.ts';

/**
 * Why a record ended without a destination call of its own; the `Reason` dimension of RecordsSkipped.
 * - `duplicate`: the destination already holds exactly this version.
 * - `stale`: it holds (or was sent) a newer one.
 * - `superseded`: a newer version of the record is waiting in the queue (backlog coalescing): only
 *   the newest of a backlog is sent.
 */
export const SkipReason = { DUPLICATE: 'duplicate', STALE: 'stale', SUPERSEDED: 'superseded' } as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

/** Identity of the record for logs; never the payload. */
export interface RecordRef {
  readonly messageId: string;
  readonly resourceType?: string;
  readonly id?: string;
  readonly version?: number;
}

/** What every failed outcome may say about the calls behind it. */
export interface CallDetails {
  readonly errorClass?: DestinationErrorClass;
  /** Every failed call of the attempt (quick retries included), for the error-rate metric. */
  readonly callErrors?: readonly DestinationErrorClass[];
  readonly latencyMs?: number;
}

/**
 * How one record's attempt ended. Only `retry` leaves the message on the queue (its next visibility
 * is set by the handler, in batches); `deferred` sends it again as a new message with a delay, and the
 * source message is deleted.
 *
 * @example
 * const outcome: RecordOutcome = { kind: 'skipped', ref: { messageId: 'm-1' }, reason: SkipReason.STALE };
 */
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
  | ({ readonly kind: 'skipped'; readonly ref: RecordRef; readonly reason: SkipReason } & CallDetails)
  | ({ readonly kind: 'retry'; readonly ref: RecordRef; readonly reason: RetryReason; readonly delaySeconds: number; readonly message: string } & CallDetails)
  | ({ readonly kind: 'deferred'; readonly ref: RecordRef; readonly reason: DeferReason; readonly delaySeconds: number; readonly message: string } & CallDetails)
  | ({ readonly kind: 'dead-lettered'; readonly ref: RecordRef; readonly reason: DeadLetterReason; readonly message: string } & CallDetails);
