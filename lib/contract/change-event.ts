import { z } from 'zod';
import { safeParseWithIssues } from '../config/validation.ts';

/** What a change does to the record at the destination. */
export const ChangeOp = { UPSERT: 'upsert', DELETE: 'delete' } as const;
export type ChangeOp = (typeof ChangeOp)[keyof typeof ChangeOp];

/** Largest message body SQS accepts; a change event must fit in one message. */
export const MAX_CHANGE_EVENT_BYTES = 256 * 1024;

const payloadSchema = z.record(z.string(), z.unknown(), { error: 'expected a JSON object' });

const baseFields = {
  resourceType: z
    .string({ error: 'expected a resource type' })
    .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, {
      error: 'expected 1 to 64 letters, digits, "_", "." or "-", starting with a letter',
    }),
  id: z
    .string({ error: 'expected a non-empty string id' })
    .min(1, { error: 'expected a non-empty string id' })
    .max(512, { error: 'expected an id of at most 512 characters' }),
  version: z
    .int({ error: 'expected a non-negative integer version' })
    .min(0, { error: 'expected a non-negative integer version' }),
  occurredAt: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 timestamp' }),
};

/**
 * The one contract between publishers and the pipeline. `version` is monotonic per
 * (resourceType, id); `occurredAt` is when the change happened at the source (the zero point of lag).
 * A delete may omit `payload`.
 *
 * @example
 * ChangeEventSchema.parse({ resourceType: 'contact', id: 'c-1', version: 3, occurredAt: '2026-11-27T10:00:00Z', op: 'upsert', payload: { email: 'a@example.com' } });
 */
export const ChangeEventSchema = z.discriminatedUnion(
  'op',
  [
    z.strictObject({ ...baseFields, op: z.literal(ChangeOp.UPSERT), payload: payloadSchema }),
    z.strictObject({ ...baseFields, op: z.literal(ChangeOp.DELETE), payload: payloadSchema.optional() }),
  ],
  { error: 'expected op to be "upsert" or "delete"' },
);

export type ChangeEvent = z.output<typeof ChangeEventSchema>;

/** Why a message could not be read as a change event. */
export type ChangeEventRejection = { readonly reason: 'invalid-json' | 'invalid-schema' | 'too-large'; readonly detail: string };

/**
 * Parses an SQS message body into a change event, or says exactly why not. Never throws.
 *
 * @example
 * const result = parseChangeEvent('{"resourceType":"contact"}');
 * if (!result.ok) console.log(result.rejection.detail); // 'id: expected a non-empty string id, got nothing; …'
 */
export const parseChangeEvent = (
  body: string,
): { ok: true; event: ChangeEvent } | { ok: false; rejection: ChangeEventRejection } => {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > MAX_CHANGE_EVENT_BYTES) {
    return { ok: false, rejection: { reason: 'too-large', detail: `body is ${bytes} bytes, limit ${MAX_CHANGE_EVENT_BYTES}` } };
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return { ok: false, rejection: { reason: 'invalid-json', detail: (error as Error).message } };
  }
  const result = safeParseWithIssues(ChangeEventSchema, json);
  if (!result.ok) return { ok: false, rejection: { reason: 'invalid-schema', detail: result.issues.join('; ') } };
  return { ok: true, event: result.value };
};

/**
 * The key that makes one change's effect happen once per destination; sent to the destination as
 * `Idempotency-Key`, so a repeated call after an unknown outcome (timeout) is recognisable.
 *
 * @example
 * idempotencyKey('crm', event); // 'crm:contact:c-1:3'
 */
export const idempotencyKey = (destination: string, event: Pick<ChangeEvent, 'resourceType' | 'id' | 'version'>): string =>
  `${destination}:${event.resourceType}:${event.id}:${event.version}`;

/**
 * Serialises a change event for an SQS message body. SQS accepts only some unicode (no U+FFFE/U+FFFF,
 * and some emulators refuse characters beyond U+FFFF), so every character outside the Basic
 * Multilingual Plane, and the two non-characters, is written as a JSON `\u` escape: the same JSON
 * value, in characters every SQS implementation takes.
 *
 * @example
 * serializeChangeEvent({ ...event, payload: { note: '🚀' } }); // '…"note":"\\ud83d\\ude80"…'
 */
export const serializeChangeEvent = (event: ChangeEvent): string =>
  JSON.stringify(event).replace(/[\u{10000}-\u{10FFFF}\uFFFE\uFFFF]/gu, (char) =>
    Array.from({ length: char.length }, (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
