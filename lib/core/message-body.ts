import { findJsonTextProblem, parseChangeEvent, RejectionReason, type ParsedChangeEvent } from '../contract/change-event.ts';
import { readDeadLetterEnvelope } from './dead-letter.ts';

/** How a change reached the queue: as published, inside an EventBridge event, or inside a legacy dead-letter envelope. */
export const MessageWrapping = { NONE: 'none', EVENTBRIDGE: 'eventbridge', DEAD_LETTER_ENVELOPE: 'dead-letter-envelope' } as const;
export type MessageWrapping = (typeof MessageWrapping)[keyof typeof MessageWrapping];

/** A message body's change, and what it came wrapped in. */
export type ReadMessage = ParsedChangeEvent & { readonly wrapping: MessageWrapping };

/** Wrappers inside wrappers (an EventBridge event dead-lettered in a legacy envelope) are read this deep. */
const MAX_WRAPPINGS = 2;

const parseObject = (body: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The change event inside an EventBridge event (`{ version, id, "detail-type", source, …, detail }`),
 * as its own JSON text; undefined for anything else. The whole text must read the same in every
 * parser (no repeated key, no number that rounds), so the detail's text says what the publisher sent.
 */
const eventBridgeDetail = (body: string): string | undefined => {
  if (!body.includes('"detail-type"')) return undefined;
  const event = parseObject(body);
  if (event === undefined || 'resourceType' in event) return undefined;
  const { detail } = event;
  if (typeof event['detail-type'] !== 'string' || typeof event.source !== 'string' || typeof detail !== 'object' || detail === null) return undefined;
  return findJsonTextProblem(body) === undefined ? JSON.stringify(detail) : undefined;
};

/**
 * Reads an SQS message body into a change event, whatever brought it to the queue: a change as
 * published; an EventBridge event whose `detail` is one (EventBridge's own dead letters, redriven to
 * the queue); or a dead-letter envelope in the legacy shape (dead letters written before they kept
 * the original body, redriven with StartMessageMoveTask). An envelope whose original was cut to fit
 * cannot be sent again and is refused as `too-large`. Never throws.
 *
 * @example
 * readChangeMessage(JSON.stringify({ 'detail-type': 'contact changed', source: 'crm-service', detail: event })).ok; // true
 */
export const readChangeMessage = (body: string, now: number = Date.now()): ReadMessage => {
  let text = body;
  let wrapping: MessageWrapping = MessageWrapping.NONE;
  for (let depth = 0; depth < MAX_WRAPPINGS; depth += 1) {
    const detail = eventBridgeDetail(text);
    if (detail !== undefined) {
      [text, wrapping] = [detail, wrapping === MessageWrapping.NONE ? MessageWrapping.EVENTBRIDGE : wrapping];
      continue;
    }
    const envelope = readDeadLetterEnvelope(text);
    if (envelope === undefined) break;
    if (envelope.originalBodyTruncated) {
      const detailText =
        `a dead letter whose original body (SHA-256 ${envelope.originalBodySha256}) was cut to fit beside its facts; ` +
        'it cannot be sent again: publish the change anew';
      return { ok: false, rejection: { reason: RejectionReason.TOO_LARGE, detail: detailText }, wrapping: MessageWrapping.DEAD_LETTER_ENVELOPE };
    }
    [text, wrapping] = [envelope.originalBody, MessageWrapping.DEAD_LETTER_ENVELOPE];
  }
  return { ...parseChangeEvent(text, now), wrapping };
};
