import { createHash } from 'node:crypto';
import { escapeForSqs, RejectionReason } from '../contract/change-event.ts';

/** Why a message is in a DLQ. Every dead letter the consumer writes carries one. */
export const DeadLetterReason = {
  /** Bad input, with the contract's own reason (`invalid-json`, `invalid-schema`, `too-large`). */
  ...RejectionReason,
  /** The change's resourceType is not routed to this destination (a publisher wrote to the wrong queue). */
  NOT_ROUTED: 'not-routed',
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

/**
 * An envelope, serialised, stays under this many bytes, so it fits any SQS queue (256 KiB) whatever
 * the original body holds: the body is cut to fit (its SHA-256 kept), and so are message and
 * attributes.
 */
export const MAX_ENVELOPE_BYTES = 240 * 1024;
const MAX_MESSAGE_CHARS = 2_000;
const MAX_ATTRIBUTE_CHARS = 1_000;

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
  /** The Lambda request id of the invocation that wrote it. */
  readonly invocationId?: string;
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
  readonly invocationId?: string;
}

const clip = (text: string, maxChars: number): string => (text.length > maxChars ? `${text.slice(0, maxChars - 3)}...` : text);

/**
 * The envelope as an SQS message body: JSON, with the characters some SQS implementations refuse
 * written as `\u` escapes.
 *
 * @example
 * await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: serializeDeadLetterEnvelope(envelope) }));
 */
export const serializeDeadLetterEnvelope = (envelope: DeadLetterEnvelope): string => escapeForSqs(JSON.stringify(envelope));

/**
 * Builds the error envelope: what failed, why, where, how often, and the original message, cut only
 * as far as needed for the serialised envelope to stay under {@link MAX_ENVELOPE_BYTES} (escaping
 * can double a body's size), with the SHA-256 of the whole.
 *
 * @example
 * buildDeadLetterEnvelope({ reason: 'invalid-json', message: 'Unexpected token', destination: 'crm', messageId, attempts: 1, firstAttemptAt: now, lastAttemptAt: now, body, attributes: {} });
 */
export const buildDeadLetterEnvelope = (input: DeadLetterInput): DeadLetterEnvelope => {
  const full: DeadLetterEnvelope = {
    reason: input.reason,
    message: clip(input.message, MAX_MESSAGE_CHARS),
    destination: input.destination,
    messageId: input.messageId,
    attempts: input.attempts,
    firstAttemptAt: new Date(input.firstAttemptAt).toISOString(),
    lastAttemptAt: new Date(input.lastAttemptAt).toISOString(),
    originalBody: input.body,
    originalBodyTruncated: false,
    originalBodySha256: createHash('sha256').update(input.body, 'utf8').digest('hex'),
    originalAttributes: Object.fromEntries(Object.entries(input.attributes).map(([name, value]) => [clip(name, 256), clip(value, MAX_ATTRIBUTE_CHARS)])),
    ...(input.status === undefined ? {} : { status: input.status }),
    ...(input.invocationId === undefined ? {} : { invocationId: input.invocationId }),
  };
  let envelope = full;
  let size = Buffer.byteLength(serializeDeadLetterEnvelope(envelope), 'utf8');
  while (size > MAX_ENVELOPE_BYTES && envelope.originalBody.length > 0) {
    // Shrink in proportion to the overshoot; code points are kept whole.
    const keep = Math.floor(envelope.originalBody.length * (MAX_ENVELOPE_BYTES / size) * 0.95);
    const cut = Array.from(envelope.originalBody.slice(0, keep + 1)).slice(0, -1).join('');
    envelope = { ...full, originalBody: cut.length < envelope.originalBody.length ? cut : envelope.originalBody.slice(0, -1), originalBodyTruncated: true };
    size = Buffer.byteLength(serializeDeadLetterEnvelope(envelope), 'utf8');
  }
  return envelope;
};
