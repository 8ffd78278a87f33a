import * as z from 'zod';
import { describeValue, formatPath, safeParseWithIssues } from './validation.ts';

/** What a change does to the record at the destination. */
export const ChangeOp = { UPSERT: 'upsert', DELETE: 'delete' } as const;
export type ChangeOp = (typeof ChangeOp)[keyof typeof ChangeOp];

/**
 * Largest message body SQS accepts; a change event must fit in one message.
 *
 * @example
 * Buffer.byteLength(body, 'utf8') <= MAX_CHANGE_EVENT_BYTES; // else parseChangeEvent says 'too-large'
 */
export const MAX_CHANGE_EVENT_BYTES = 256 * 1024;

/**
 * The `detail-type` of a change event on an EventBridge bus: what a publisher sends and what a rule
 * may match on (the stack's rules match on `detail.resourceType` only).
 *
 * @example
 * new PutEventsCommand({ Entries: [{ EventBusName: bus, Source: 'orders', DetailType: CHANGE_DETAIL_TYPE, Detail: serializeChangeEvent(event) }] });
 */
export const CHANGE_DETAIL_TYPE = 'sync-pipeline.change';

/**
 * Longest `id`, in UTF-16 code units: percent-encoded, even 512 CJK characters keep the URL, the
 * `Idempotency-Key` header (about 4.6 KB) and the ledger's partition key (under DynamoDB's 2048
 * bytes) inside their limits.
 *
 * @example
 * 'x'.repeat(MAX_ID_LENGTH + 1); // an id parseChangeEvent refuses
 */
export const MAX_ID_LENGTH = 512;

/**
 * Deepest nesting of objects and arrays in `payload`, the payload object itself being level 1.
 * Far deeper than any real record, and inside every common JSON parser's limit (System.Text.Json
 * refuses more than 64 levels), so a destination never sees a body it cannot read. Without a limit
 * a payload of 40 000 levels fits in one message and makes `JSON.stringify` overflow the stack on
 * every attempt to send it.
 *
 * @example
 * parseChangeEvent(JSON.stringify({ ...event, payload: { a: { a: { a: 1 } } } })); // 3 levels: fine; 33 are refused
 */
export const MAX_PAYLOAD_DEPTH = 32;

/**
 * How far `occurredAt` may lie ahead of the consumer's clock. 24 hours tolerates any clock skew and
 * any time-zone mislabelling (offsets reach 14 hours), and still catches sentinel values
 * (9999-12-31, 2099-12-31) and publisher clocks days off, whose negative lag would be clamped to 0
 * and go unnoticed.
 *
 * @example
 * parseChangeEvent(body, Date.parse('2026-11-27T10:00:00Z')); // refuses occurredAt after 2026-11-28T10:00:00Z
 */
export const MAX_CLOCK_SKEW_MS = 24 * 60 * 60 * 1000;

/**
 * Earliest plausible `occurredAt`. The field is the zero point of lag and nothing else reads it; a
 * value before 2000 is always a defaulted or mis-parsed field (epoch 0 from a null,
 * 0001-01-01 from .NET's DateTime.MinValue, 1900-01-01 from SQL Server, seconds read as
 * milliseconds), and accepting it would fire the lag alarm with decades of "lag". A backfill of old
 * records should stamp the time of the export, not the record's ancient modification time.
 *
 * @example
 * Date.parse(event.occurredAt) >= Date.parse(EARLIEST_OCCURRED_AT); // true for every valid event
 */
export const EARLIEST_OCCURRED_AT = '2000-01-01T00:00:00Z';
const EARLIEST_OCCURRED_AT_MS = Date.parse(EARLIEST_OCCURRED_AT);

/** Rejection details beyond this many characters are cut: the detail travels in a DLQ envelope. */
const MAX_DETAIL_CHARS = 1000;
/** Payload problems reported per message; one is enough to fix, a few show a pattern. */
const MAX_PAYLOAD_ISSUES = 5;

/** Characters some SQS implementations refuse in a message body (astral ones, U+FFFE, U+FFFF). */
const SQS_UNSAFE_CHARACTERS = /[\u{10000}-\u{10FFFF}\uFFFE\uFFFF]/gu;

/**
 * Writes every character outside the Basic Multilingual Plane, and the non-characters U+FFFE and
 * U+FFFF, as JSON `\u` escapes. Applied to JSON text it gives the same JSON value in characters
 * every SQS implementation takes; applied to plain text (a rejection detail) it keeps the text
 * printable and sendable anywhere.
 *
 * @example
 * escapeForSqs('{"note":"🚀"}'); // '{"note":"\\ud83d\\ude80"}'
 */
export const escapeForSqs = (text: string): string =>
  text.replace(SQS_UNSAFE_CHARACTERS, (char) =>
    Array.from({ length: char.length }, (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );

const LONE_SURROGATE_MESSAGE = 'expected well-formed unicode (no lone surrogates)';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** An object JSON can carry: no class instances (Date, Map), no arrays. */
const isJsonObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
};

interface PayloadIssue {
  readonly path: PropertyKey[];
  readonly message: string;
  readonly input: unknown;
}

/**
 * Walks a payload and says what would not reach the destination exactly as published. The walk is
 * bounded by {@link MAX_PAYLOAD_DEPTH}, so it also ends on cyclic in-memory objects.
 */
const findPayloadIssues = (payload: Record<string, unknown>): PayloadIssue[] => {
  const issues: PayloadIssue[] = [];
  const visit = (value: unknown, path: PropertyKey[], depth: number): void => {
    if (issues.length >= MAX_PAYLOAD_ISSUES) return;
    if (value === null || typeof value === 'boolean') return;
    if (typeof value === 'string') {
      // JSON text sent to the destination must be UTF-8, which has no encoding for a lone surrogate.
      // Payload values are data, not identifiers: the detail names only the offending code unit.
      if (!value.isWellFormed()) issues.push({ path, message: LONE_SURROGATE_MESSAGE, input: LONE_SURROGATE.exec(value)?.[0] });
      return;
    }
    if (typeof value === 'number') {
      // JSON.stringify writes NaN and Infinity as null: the destination would get another value.
      if (!Number.isFinite(value)) issues.push({ path, message: 'expected a finite number', input: value });
      return;
    }
    const isArray = Array.isArray(value);
    if (!isArray && !isJsonObject(value)) {
      issues.push({ path, message: 'expected a JSON value', input: value });
      return;
    }
    if (depth > MAX_PAYLOAD_DEPTH) {
      issues.push({ path, message: `expected at most ${MAX_PAYLOAD_DEPTH} levels of nesting`, input: depth });
      return;
    }
    if (isArray) {
      for (let index = 0; index < value.length; index += 1) visit(value[index], [...path, index], depth + 1);
      return;
    }
    for (const key of Object.keys(value)) {
      if (key === '__proto__') {
        issues.push({ path, message: 'expected no key named "__proto__" (rename the field)', input: key });
        continue;
      }
      if (!key.isWellFormed()) {
        issues.push({ path, message: 'expected keys in well-formed unicode (no lone surrogates)', input: key });
        continue;
      }
      visit(value[key], [...path, key], depth + 1);
    }
  };
  visit(payload, [], 1);
  return issues;
};

/**
 * `payload`: a JSON object whose every key and string is well-formed unicode, whose numbers are
 * finite, nested at most {@link MAX_PAYLOAD_DEPTH} levels, with no key named `__proto__` at any level.
 *
 * Keys named `constructor` or `prototype` are ordinary data (an external API may well have a field
 * called `constructor`) and pass through. `__proto__` is refused rather than passed on: it is the
 * prototype-pollution vector of every JavaScript service downstream (merge helpers, `Object.assign`),
 * no real field is named so, and zod's own `z.record` would silently drop it, so the destination
 * would get other JSON than was published. Refusing it is loud; dropping it would not be.
 *
 * The parsed object is returned as is, not copied: the payload a destination receives is exactly the
 * object `JSON.parse` built from the message body.
 */
const payloadSchema = z
  .custom<Record<string, unknown>>(isJsonObject, { error: 'expected a JSON object' })
  .superRefine((payload, ctx) => {
    for (const issue of findPayloadIssues(payload)) {
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message, input: issue.input });
    }
  });

/**
 * `id`: 1 to {@link MAX_ID_LENGTH} characters of well-formed unicode, at least one of them not
 * whitespace, no control characters (C0, DEL, C1), and not `.` or `..`.
 *
 * Any other unicode is fine (`müller/客户 42`, emoji, spaces, `/`): the HTTP adapter percent-encodes
 * the id into one URL path segment and the `Idempotency-Key` header. A lone surrogate has no UTF-8
 * encoding, so neither can carry it (`encodeURIComponent` throws). `.` and `..` are dot segments:
 * URL parsers resolve `{baseUrl}/contact/..` to `{baseUrl}/` and `{baseUrl}/contact/.` to
 * `{baseUrl}/contact/` (`%2e` counts as a dot too), so such an id would address another resource. Control characters break logs, CSV exports and most APIs' path
 * routing. Surrounding whitespace is kept: ids are opaque, and padded keys (CHAR columns) exist.
 */
const idSchema = z
  .string({ error: 'expected a non-empty string id' })
  .min(1, { error: 'expected a non-empty string id', abort: true })
  .max(MAX_ID_LENGTH, { error: `expected an id of at most ${MAX_ID_LENGTH} characters` })
  .refine((id) => id.isWellFormed(), { error: LONE_SURROGATE_MESSAGE })
  .refine((id) => !/\p{Cc}/u.test(id), { error: 'expected no control characters' })
  .refine((id) => id.trim() !== '', { error: 'expected an id that is not only whitespace' })
  .refine((id) => id !== '.' && id !== '..', { error: 'expected an id other than "." or ".." (URLs resolve them as dot segments)' });

/**
 * `version`: an integer from 0 to Number.MAX_SAFE_INTEGER. Strings ("3"), fractions, negatives and
 * integers a double cannot hold exactly (2^53 and beyond, 1e300) are refused: versions are compared
 * and must never be rounded into each other.
 */
const versionSchema = z
  .int({
    error: (issue) =>
      issue.code === 'too_big'
        ? `expected a non-negative integer version of at most ${Number.MAX_SAFE_INTEGER}`
        : 'expected a non-negative integer version',
  })
  .min(0, { error: 'expected a non-negative integer version' });

/**
 * `occurredAt`: an ISO 8601 date-time with seconds and an explicit offset (`Z` or `±hh:mm`), a real
 * calendar date, from {@link EARLIEST_OCCURRED_AT} on. How far ahead of now it may be is checked
 * against a clock, by {@link ChangeEventSchema} and {@link parseChangeEvent}.
 */
const occurredAtSchema = z.iso
  .datetime({ offset: true, abort: true, error: 'expected an ISO 8601 timestamp with seconds and an offset, like 2026-11-27T10:00:00Z' })
  .refine((value) => Date.parse(value) >= EARLIEST_OCCURRED_AT_MS, { error: `expected a time from ${EARLIEST_OCCURRED_AT} on` });

const baseFields = {
  resourceType: z
    .string({ error: 'expected a resource type' })
    .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, {
      error: 'expected 1 to 64 letters, digits, "_", "." or "-", starting with a letter',
    }),
  id: idSchema,
  version: versionSchema,
  occurredAt: occurredAtSchema,
};

const OP_MESSAGE = `expected "${ChangeOp.UPSERT}" or "${ChangeOp.DELETE}"`;

/** Every rule that does not need a clock. */
const changeEventRules = z.discriminatedUnion(
  'op',
  [
    z.strictObject({ ...baseFields, op: z.literal(ChangeOp.UPSERT), payload: payloadSchema }),
    z.strictObject({ ...baseFields, op: z.literal(ChangeOp.DELETE), payload: payloadSchema.optional() }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? OP_MESSAGE : 'expected a JSON object') },
);

/** Why `occurredAt` is too far ahead of `nowMs`, or undefined when it is not. */
const futureOccurredAtMessage = (occurredAt: string, nowMs: number): string | undefined => {
  const latest = nowMs + MAX_CLOCK_SKEW_MS;
  if (Date.parse(occurredAt) <= latest) return undefined;
  return `expected a time at most ${MAX_CLOCK_SKEW_MS / 3_600_000} h ahead of now (until ${new Date(latest).toISOString()})`;
};

/**
 * The one contract between publishers and the pipeline. `version` is monotonic per
 * (resourceType, id); `occurredAt` is when the change happened at the source (the zero point of lag).
 * A delete may omit `payload`. Top-level fields other than these six are refused (`__proto__` and
 * `constructor` included), and so is anything that would not reach a destination exactly as
 * published; each field's rules are on its schema above. `occurredAt` more than
 * {@link MAX_CLOCK_SKEW_MS} ahead of the wall clock is refused at validation time.
 *
 * Validating an object checks what the object holds; rules about the JSON text itself (duplicate
 * keys, numbers a double cannot hold) need the text and live in {@link parseChangeEvent}.
 *
 * @example
 * ChangeEventSchema.parse({ resourceType: 'contact', id: 'c-1', version: 3, occurredAt: '2026-11-27T10:00:00Z', op: 'upsert', payload: { email: 'a@example.com' } });
 */
export const ChangeEventSchema = changeEventRules.superRefine((event, ctx) => {
  const message = futureOccurredAtMessage(event.occurredAt, Date.now());
  if (message !== undefined) ctx.addIssue({ code: 'custom', path: ['occurredAt'], message, input: event.occurredAt });
});

export type ChangeEvent = z.output<typeof ChangeEventSchema>;

/**
 * Why a message could not be read as a change event. `invalid-json`: the body is not JSON, or is
 * JSON that does not read back as written (a duplicate key, a number a double cannot hold);
 * `invalid-schema`: it reads fine but is not a change event; `too-large`: over
 * {@link MAX_CHANGE_EVENT_BYTES}. `detail` lists problems as `path: expected …, got …`, joined
 * by `; `, at most 1000 characters, astral characters escaped (it travels in a DLQ envelope).
 *
 * @example
 * const rejection: ChangeEventRejection = { reason: 'invalid-schema', detail: 'id: expected an id other than "." or ".." (URLs resolve them as dot segments), got ".."' };
 */
export type ChangeEventRejection = { readonly reason: RejectionReason; readonly detail: string };

/** The reasons of a {@link ChangeEventRejection}; dead letters of bad input carry them as they are. */
export const RejectionReason = { INVALID_JSON: 'invalid-json', INVALID_SCHEMA: 'invalid-schema', TOO_LARGE: 'too-large' } as const;
export type RejectionReason = (typeof RejectionReason)[keyof typeof RejectionReason];

/**
 * True when a JSON number literal reads as a double without changing what it says: it neither
 * overflows to infinity nor underflows to zero, and an integer written without fraction or exponent
 * is held exactly (12345678901234567890 would reach the destination as 12345678901234567000).
 * A literal with a fraction or an exponent is taken as a floating-point value and may round.
 */
const readsAsWritten = (literal: string): boolean => {
  const value = Number(literal);
  if (!Number.isFinite(value)) return false;
  if (value === 0) return !/[1-9]/.test(literal.replace(/[eE].*$/, ''));
  if (Number.isSafeInteger(value) || !/^-?\d+$/.test(literal)) return true;
  return BigInt(literal) === BigInt(value);
};

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
/** Characters that continue a JSON number after its first one: digits, '.', 'e', 'E', '+', '-'. */
const isNumberPart = (code: number): boolean =>
  (code >= DIGIT_0 && code <= DIGIT_9) || code === 0x2e || code === 0x65 || code === 0x45 || code === 0x2b || code === MINUS;

/**
 * Reads valid JSON text for what `JSON.parse` hides: a key given twice in one object (parsers
 * disagree on which one wins, so the publisher's validator and this consumer could read different
 * versions) and numbers that do not read as written. Returns the first problem found. The text has
 * already passed `JSON.parse`, so the scan only tracks structure; it is linear and costs about as
 * much as `JSON.parse` itself.
 *
 * @example
 * findJsonTextProblem('{"a":1,"a":2}'); // '(root): expected each key once, got "a" more than once'
 */
export const findJsonTextProblem = (text: string): string | undefined => {
  // One frame per open object or array: the member being read (key or index), and an object's keys.
  const frames: Array<{ member: PropertyKey; keys: Set<string> | undefined; expectingKey: boolean }> = [];
  const pathOf = (depth: number): string => formatPath(frames.slice(0, depth).map((frame) => frame.member)) || '(root)';
  let index = 0;
  while (index < text.length) {
    const code = text.charCodeAt(index);
    const top = frames[frames.length - 1];
    if (code === QUOTE) {
      // The closing quote is the first one not escaped by an odd run of backslashes.
      let end = text.indexOf('"', index + 1);
      for (;;) {
        if (end < 0) return undefined; // unreachable for text JSON.parse accepted; never loop on it
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes += 1;
        if (backslashes % 2 === 0) break;
        end = text.indexOf('"', end + 1);
      }
      if (top?.keys !== undefined && top.expectingKey) {
        const raw = text.slice(index + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.keys.has(key)) return `${pathOf(frames.length - 1)}: expected each key once, got ${describeValue(key)} more than once`;
        top.keys.add(key);
        top.member = key;
      }
      index = end + 1;
    } else if (code === MINUS || (code >= DIGIT_0 && code <= DIGIT_9)) {
      let end = index + 1;
      while (end < text.length && isNumberPart(text.charCodeAt(end))) end += 1;
      const literal = text.slice(index, end);
      if (!readsAsWritten(literal)) {
        return `${pathOf(frames.length)}: expected a number a 64-bit float holds as written, got ${literal} (reads as ${String(Number(literal))})`;
      }
      index = end;
    } else {
      if (code === OPEN_BRACE) frames.push({ member: '', keys: new Set(), expectingKey: true });
      else if (code === OPEN_BRACKET) frames.push({ member: 0, keys: undefined, expectingKey: false });
      else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) frames.pop();
      else if (code === COLON && top !== undefined) top.expectingKey = false;
      else if (code === COMMA && top !== undefined) {
        if (top.keys === undefined) top.member = (top.member as number) + 1;
        else top.expectingKey = true;
      }
      // Whitespace and the letters of true, false and null need nothing.
      index += 1;
    }
  }
  return undefined;
};

/** Whether `JSON.stringify(value)` is `text` exactly; false for a value nested too deep to write back. */
const writesBackAs = (value: unknown, text: string): boolean => {
  try {
    return JSON.stringify(value) === text;
  } catch {
    return false;
  }
};

/** Joins issues into one detail, bounded in length and safe to send through any SQS. */
const toDetail = (issues: readonly string[]): string => {
  const joined = issues.join('; ');
  const chars = Array.from(joined);
  const bounded = chars.length <= MAX_DETAIL_CHARS ? joined : `${chars.slice(0, MAX_DETAIL_CHARS).join('')}… (${chars.length - MAX_DETAIL_CHARS} more characters)`;
  return escapeForSqs(bounded);
};

const reject = (reason: RejectionReason, issues: readonly string[]) =>
  ({ ok: false, rejection: { reason, detail: toDetail(issues) } }) as const;

/** What {@link parseChangeEvent} returns: the event, or why the body is not one. */
export type ParsedChangeEvent = { readonly ok: true; readonly event: ChangeEvent } | { readonly ok: false; readonly rejection: ChangeEventRejection };

/** What {@link checkChangeEvent} returns: the event, or every problem as `path: expected …, got …`. */
export type CheckedChangeEvent = { readonly ok: true; readonly event: ChangeEvent } | { readonly ok: false; readonly issues: readonly string[] };

/**
 * Checks a value (parsed JSON, or an object a publisher built) against {@link ChangeEventSchema}
 * with `occurredAt` judged against `now`, in the messages {@link parseChangeEvent} gives: payload
 * content never appears in them (rejections are logged, payloads are not). Never throws.
 *
 * @param now - the clock, epoch milliseconds @default Date.now()
 * @example
 * const checked = checkChangeEvent({ resourceType: 'contact', id: '', version: 1, occurredAt: '2026-11-27T10:00:00Z', op: 'delete' });
 * if (!checked.ok) console.log(checked.issues); // ['id: expected a non-empty string id, got ""']
 */
export const checkChangeEvent = (value: unknown, now: number = Date.now()): CheckedChangeEvent => {
  // The union reports a bad `op` with the whole object as its input; say which value was wrong.
  if (!isJsonObject(value)) return { ok: false, issues: [`(root): expected a JSON object, got ${describeValue(value)}`] };
  if (value.op !== ChangeOp.UPSERT && value.op !== ChangeOp.DELETE) {
    // op is a short enum, safe to show.
    return { ok: false, issues: [`op: ${OP_MESSAGE}, got ${describeValue(value.op)}`] };
  }
  const result = safeParseWithIssues(changeEventRules, value, { redact: (path) => path[0] === 'payload' });
  if (!result.ok) return { ok: false, issues: result.issues };
  const future = futureOccurredAtMessage(result.value.occurredAt, now);
  if (future !== undefined) return { ok: false, issues: [`occurredAt: ${future}, got ${describeValue(result.value.occurredAt)}`] };
  return { ok: true, event: result.value };
};

/**
 * Parses an SQS message body into a change event, or says exactly why not. Never throws. In order:
 *
 * 1. `too-large`: more than {@link MAX_CHANGE_EVENT_BYTES} bytes of UTF-8.
 * 2. `invalid-json`: not JSON (a byte order mark, trailing text, NaN, an empty body included); or a
 *    key repeated in one object; or a number a double cannot hold as written (an integer beyond
 *    2^53 that would round, 1e400). Such text reads differently in different parsers, so the
 *    destination would not get what the publisher meant.
 * 3. `invalid-schema`: valid JSON that breaks a rule of {@link ChangeEventSchema}, with `occurredAt`
 *    checked against `now` (more than {@link MAX_CLOCK_SKEW_MS} ahead is refused).
 *
 * `JSON.parse` creates a `__proto__` key as an own property, so parsing cannot pollute a prototype;
 * the schema then refuses such keys. The event's payload is the very object `JSON.parse` built.
 *
 * @param now - the consumer's clock, epoch milliseconds @default Date.now()
 * @example
 * const result = parseChangeEvent('{"resourceType":"contact"}');
 * if (!result.ok) console.log(result.rejection.detail); // 'op: expected "upsert" or "delete", got nothing'
 */
export const parseChangeEvent = (body: string, now: number = Date.now()): ParsedChangeEvent => {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > MAX_CHANGE_EVENT_BYTES) {
    return reject(RejectionReason.TOO_LARGE, [`(root): expected at most ${MAX_CHANGE_EVENT_BYTES} bytes of UTF-8, got ${bytes} bytes`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    // V8 quotes the text around the error; a body may hold personal data, so keep only the cause.
    const cause = (error as Error).message.split(/, (?:\.\.\.)?"/)[0];
    return reject(RejectionReason.INVALID_JSON, [`(root): expected JSON text (${cause}), got ${body.length} characters`]);
  }
  // Text that JSON.stringify writes back exactly (as a JavaScript publisher's usually is) has no
  // repeated key (the parsed object keeps one of each) and only numbers that read as written: the
  // scan is needed only for other text.
  const textProblem = writesBackAs(json, body) ? undefined : findJsonTextProblem(body);
  if (textProblem !== undefined) return reject(RejectionReason.INVALID_JSON, [textProblem]);

  const checked = checkChangeEvent(json, now);
  return checked.ok ? checked : reject(RejectionReason.INVALID_SCHEMA, checked.issues);
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
export const serializeChangeEvent = (event: ChangeEvent): string => escapeForSqs(JSON.stringify(event));
