import { createHash } from 'node:crypto';

/** Why a message is in a DLQ. Every dead letter the consumer writes carries one. */
export const DeadLetterReason = {
  INVALID_JSON: 'invalid-json',
  INVALID_SCHEMA: 'invalid-schema',
  TOO_LARGE: 'too-large',
  /** The destination refused the change (4xx other than 408/409/429). */
  REJECTED: 'rejected',
  /** The destination refused our credentials (401/403): fix access, then redrive. */
  AUTH: 'auth',
  /** Transient failures for the whole retry horizon (the last delivery SQS allows). */
  RETRIES_EXHAUSTED: 'retries-exhausted',
  /** A failure no rule classifies, repeated on several deliveries. */
  UNKNOWN_ERROR: 'unknown-error',
} as const;
export type DeadLetterReason = (typeof DeadLetterReason)[keyof typeof DeadLetterReason];

/** Message attribute that marks a dead letter written by the consumer (redriven ones lack it). */
export const DEAD_LETTER_REASON_ATTRIBUTE = 'sync-reason';

/** Original bodies above this are truncated in the envelope so it still fits in one SQS message. */
export const MAX_ENVELOPE_BODY_BYTES = 200 * 1024;

/** The body of every message the consumer dead-letters. */
export interface DeadLetterEnvelope {
  readonly reason: DeadLetterReason;
  readonly message: string;
  readonly destination: string;
  readonly messageId: string;
  readonly attempts: number;
  readonly firstAttemptAt: string;
  readonly lastAttemptAt: string;
  readonly originalBody: string;
  readonly originalBodyTruncated: boolean;
  readonly originalBodySha256: string;
  readonly originalAttributes: Readonly<Record<string, string>>;
  readonly status?: number;
}

export interface DeadLetterInput {
  readonly reason: DeadLetterReason;
  readonly message: string;
  readonly destination: string;
  readonly messageId: string;
  readonly attempts: number;
  readonly firstAttemptAt: number;
  readonly lastAttemptAt: number;
  readonly body: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly status?: number;
}

/**
 * Builds the error envelope: what failed, why, where, how often, and the original message (truncated
 * only beyond {@link MAX_ENVELOPE_BODY_BYTES}, with a hash of the whole).
 *
 * @example
 * buildDeadLetterEnvelope({ reason: 'invalid-json', message: 'Unexpected token', destination: 'crm', messageId, attempts: 1, firstAttemptAt: now, lastAttemptAt: now, body, attributes: {} });
 */
export const buildDeadLetterEnvelope = (input: DeadLetterInput): DeadLetterEnvelope => {
  const bytes = Buffer.from(input.body, 'utf8');
  const truncated = bytes.length > MAX_ENVELOPE_BODY_BYTES;
  return {
    reason: input.reason,
    message: input.message,
    destination: input.destination,
    messageId: input.messageId,
    attempts: input.attempts,
    firstAttemptAt: new Date(input.firstAttemptAt).toISOString(),
    lastAttemptAt: new Date(input.lastAttemptAt).toISOString(),
    originalBody: truncated ? bytes.subarray(0, MAX_ENVELOPE_BODY_BYTES).toString('utf8') : input.body,
    originalBodyTruncated: truncated,
    originalBodySha256: createHash('sha256').update(bytes).digest('hex'),
    originalAttributes: input.attributes,
    ...(input.status === undefined ? {} : { status: input.status }),
  };
};
