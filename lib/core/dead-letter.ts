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
  /**
   * The destination's transform threw, or returned what no request can be made of; nothing was sent.
   * Fix the transform (or the change's data it trips on), deploy, then redrive.
   */
  TRANSFORM_FAILED: 'transform-failed',
  /** Transient failures for the whole retry horizon (the last delivery SQS allows). */
  RETRIES_EXHAUSTED: 'retries-exhausted',
  /** A failure no rule classifies, repeated on several deliveries. */
  UNKNOWN_ERROR: 'unknown-error',
} as const;
export type DeadLetterReason = (typeof DeadLetterReason)[keyof typeof DeadLetterReason];

/**
 * The reasons that mean the message itself is bad: sent again unchanged, it is refused again. A
 * redrive leaves them in the DLQ unless asked for them by name.
 */
export const BAD_INPUT_REASONS: ReadonlySet<string> = new Set<string>([...Object.values(RejectionReason), DeadLetterReason.NOT_ROUTED]);

/**
 * Message attribute with the dead letter's reason, on every dead letter the consumer writes (SQS's
 * own redrive after maxReceiveCount adds none). Filterable in the console and by the CLI.
 */
export const DEAD_LETTER_REASON_ATTRIBUTE = 'sync-reason';
/** Message attribute with the rest of what the consumer knows, as compact JSON ({@link DeadLetterFacts}). */
export const DEAD_LETTER_FACTS_ATTRIBUTE = 'sync-dead-letter';
/** Every attribute the consumer adds starts so; they are dropped from a redriven message's next dead letter. */
export const DEAD_LETTER_ATTRIBUTE_PREFIX = 'sync-';

/** SQS's limits on a message: attributes per message, and the bytes of body and attributes together. */
export const MAX_MESSAGE_ATTRIBUTES = 10;
/** The smallest maximum message size an SQS queue may have by default (256 KiB); the stack keeps it. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * A legacy envelope, serialised, stays under this many bytes, so it fits any SQS queue (256 KiB)
 * whatever the original body holds: the body is cut to fit (its SHA-256 kept), and so are message and
 * attributes.
 */
export const MAX_ENVELOPE_BYTES = 240 * 1024;
const MAX_MESSAGE_CHARS = 2_000;
const MAX_ATTRIBUTE_CHARS = 1_000;

/** A message attribute in Lambda's shape (binary values base64-encoded). */
export interface MessageAttribute {
  readonly dataType: string;
  readonly stringValue?: string;
  readonly binaryValue?: string;
}

/** What every dead letter says, whatever its shape. */
interface DeadLetterBasics {
  readonly reason: DeadLetterReason;
  /** The detail: what failed and why, never the payload. */
  readonly message: string;
  readonly destination: string;
  /** The source queue's message id. */
  readonly messageId: string;
  readonly attempts: number;
  /** ISO 8601. */
  readonly firstAttemptAt: string;
  readonly lastAttemptAt: string;
  readonly status?: number;
  /** The Lambda request id of the invocation that wrote it. */
  readonly invocationId?: string;
}

/** What the consumer knows about a dead letter; travels as the {@link DEAD_LETTER_FACTS_ATTRIBUTE} attribute. */
export interface DeadLetterFacts extends DeadLetterBasics {
  /**
   * Set when the original body could not travel as it is, and the body is a {@link DeadLetterEnvelope}
   * instead (the one exception): `too-large` when body and attributes did not fit in one message
   * beside these facts (the original is cut to fit); `unsendable` when the body is one SQS could never
   * have delivered (empty, or characters outside its allowed set: only a hand-made event has them).
   */
  readonly bodyIsEnvelope?: 'too-large' | 'unsendable';
  /** Original attributes beyond the {@link MAX_MESSAGE_ATTRIBUTES} a message can carry beside ours, by name. */
  readonly overflowAttributes?: Readonly<Record<string, MessageAttribute>>;
}

/**
 * The body of every dead letter written before the body stayed the original (and, today, of the one
 * exception: an original too large to carry). Still read by the consumer and the CLI.
 */
export interface DeadLetterEnvelope extends DeadLetterBasics {
  readonly originalBody: string;
  readonly originalBodyTruncated: boolean;
  readonly originalBodySha256: string;
  readonly originalAttributes: Readonly<Record<string, string>>;
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
  readonly attributes: Readonly<Record<string, MessageAttribute>>;
  readonly status?: number;
  readonly invocationId?: string;
}

/** A dead letter ready to send: the message body and attributes, and the facts they carry. */
export interface DeadLetterMessage {
  readonly body: string;
  readonly attributes: Readonly<Record<string, MessageAttribute>>;
  readonly facts: DeadLetterFacts;
}

const clip = (text: string, maxChars: number): string => (text.length > maxChars ? `${text.slice(0, maxChars - 3)}...` : text);

/** Bytes SQS counts for an attribute: its name, its data type and its value. */
const attributeBytes = (name: string, attribute: MessageAttribute): number =>
  Buffer.byteLength(name, 'utf8') +
  Buffer.byteLength(attribute.dataType, 'utf8') +
  (attribute.stringValue === undefined ? 0 : Buffer.byteLength(attribute.stringValue, 'utf8')) +
  (attribute.binaryValue === undefined ? 0 : Buffer.from(attribute.binaryValue, 'base64').length);

/**
 * The bytes SQS counts for a message: its body and every attribute's name, type and value.
 *
 * @example
 * messageBytes(letter.body, letter.attributes) <= MAX_MESSAGE_BYTES; // true for every dead letter
 */
export const messageBytes = (body: string, attributes: Readonly<Record<string, MessageAttribute>>): number =>
  Buffer.byteLength(body, 'utf8') + Object.entries(attributes).reduce((sum, [name, attribute]) => sum + attributeBytes(name, attribute), 0);

/**
 * The envelope as an SQS message body: JSON, with the characters some SQS implementations refuse
 * written as `\u` escapes.
 *
 * @example
 * const body = serializeDeadLetterEnvelope(envelope);
 */
export const serializeDeadLetterEnvelope = (envelope: DeadLetterEnvelope): string => escapeForSqs(JSON.stringify(envelope));

const flatten = (attributes: Readonly<Record<string, MessageAttribute>>): Record<string, string> =>
  Object.fromEntries(Object.entries(attributes).flatMap(([name, value]) => (value.stringValue === undefined ? [] : [[name, value.stringValue]])));

/**
 * Builds a legacy envelope: what failed, why, where, how often, and the original message, cut only as
 * far as needed for the serialised envelope to stay under {@link MAX_ENVELOPE_BYTES} (escaping can
 * double a body's size), with the SHA-256 of the whole.
 *
 * @example
 * buildDeadLetterEnvelope({ reason: 'too-large', message: '…', destination: 'crm', messageId, attempts: 1, firstAttemptAt: now, lastAttemptAt: now, body, attributes: {} });
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
    originalAttributes: Object.fromEntries(Object.entries(flatten(input.attributes)).map(([name, value]) => [clip(name, 256), clip(value, MAX_ATTRIBUTE_CHARS)])),
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

const stringAttribute = (value: string): MessageAttribute => ({ dataType: 'String', stringValue: value });

/** Characters outside SQS's allowed set (#x9, #xA, #xD, #x20–#xD7FF, #xE000–#xFFFD, #x10000–#x10FFFF); lone surrogates too. */
const SQS_REFUSED_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/**
 * Builds the dead letter of a message: its body byte for byte and its own attributes, so that the
 * standard SQS redrive (StartMessageMoveTask, the console's "Start DLQ redrive") hands the consumer
 * exactly what the publisher sent; beside them {@link DEAD_LETTER_REASON_ATTRIBUTE} and
 * {@link DEAD_LETTER_FACTS_ATTRIBUTE}. Attributes of an earlier dead letter (a redriven message that
 * failed again) are replaced, not repeated. The original attributes beyond the eight that fit beside
 * ours travel inside the facts. Only when body and attributes exceed {@link MAX_MESSAGE_BYTES} (or the
 * body is one SQS refuses) is the body replaced by a legacy envelope with the original cut to fit, and
 * the facts say so in `bodyIsEnvelope`.
 *
 * @example
 * const letter = buildDeadLetter({ reason: 'rejected', message: 'HTTP 400', destination: 'crm', messageId, attempts: 1, firstAttemptAt: now, lastAttemptAt: now, body, attributes });
 * letter.body === body; // true
 */
export const buildDeadLetter = (input: DeadLetterInput): DeadLetterMessage => {
  const own = Object.entries(input.attributes).filter(([name]) => !name.startsWith(DEAD_LETTER_ATTRIBUTE_PREFIX));
  const carried = Object.fromEntries(own.slice(0, MAX_MESSAGE_ATTRIBUTES - 2));
  const overflow = own.slice(MAX_MESSAGE_ATTRIBUTES - 2);
  const facts: DeadLetterFacts = {
    reason: input.reason,
    message: escapeForSqs(clip(input.message, MAX_MESSAGE_CHARS)),
    destination: input.destination,
    messageId: input.messageId,
    attempts: input.attempts,
    firstAttemptAt: new Date(input.firstAttemptAt).toISOString(),
    lastAttemptAt: new Date(input.lastAttemptAt).toISOString(),
    ...(input.status === undefined ? {} : { status: input.status }),
    ...(input.invocationId === undefined ? {} : { invocationId: input.invocationId }),
    ...(overflow.length === 0 ? {} : { overflowAttributes: Object.fromEntries(overflow) }),
  };
  const ours = (withFacts: DeadLetterFacts): Record<string, MessageAttribute> => ({
    [DEAD_LETTER_REASON_ATTRIBUTE]: stringAttribute(input.reason),
    [DEAD_LETTER_FACTS_ATTRIBUTE]: stringAttribute(JSON.stringify(withFacts)),
  });
  const attributes = { ...carried, ...ours(facts) };
  const unsendable = input.body.length === 0 || SQS_REFUSED_CHARACTER.test(input.body);
  if (!unsendable && messageBytes(input.body, attributes) <= MAX_MESSAGE_BYTES) return { body: input.body, attributes, facts };
  // The one exception: the original cannot travel as it is, so the body says what it was.
  const exceptional: DeadLetterFacts = { ...facts, bodyIsEnvelope: unsendable ? 'unsendable' : 'too-large' };
  delete (exceptional as { overflowAttributes?: unknown }).overflowAttributes;
  return { body: serializeDeadLetterEnvelope(buildDeadLetterEnvelope(input)), attributes: ours(exceptional), facts: exceptional };
};

/**
 * Reads the facts attribute of a dead letter; undefined when absent or not readable.
 *
 * @example
 * readDeadLetterFacts(message.MessageAttributes?.['sync-dead-letter']?.StringValue)?.reason; // 'rejected'
 */
export const readDeadLetterFacts = (text: string | undefined): DeadLetterFacts | undefined => {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const facts = value as Partial<DeadLetterFacts>;
    return typeof facts.reason === 'string' && typeof facts.destination === 'string' ? (facts as DeadLetterFacts) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Reads a body as a legacy envelope (written before dead letters kept the original body, or the
 * exception for an original too large); undefined when the body is anything else.
 *
 * @example
 * readDeadLetterEnvelope(message.Body)?.originalBody; // the change as published
 */
export const readDeadLetterEnvelope = (body: string): DeadLetterEnvelope | undefined => {
  if (!body.includes('"originalBodySha256"')) return undefined;
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null) return undefined;
    const envelope = value as Partial<DeadLetterEnvelope>;
    return typeof envelope.originalBody === 'string' && typeof envelope.originalBodySha256 === 'string' && typeof envelope.reason === 'string'
      ? (envelope as DeadLetterEnvelope)
      : undefined;
  } catch {
    return undefined;
  }
};
