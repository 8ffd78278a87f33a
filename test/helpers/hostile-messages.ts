import {
  ChangeOp,
  EARLIEST_OCCURRED_AT,
  MAX_CHANGE_EVENT_BYTES,
  MAX_CLOCK_SKEW_MS,
  MAX_ID_LENGTH,
  MAX_PAYLOAD_DEPTH,
  escapeForSqs,
  serializeChangeEvent,
  type ChangeEvent,
  type ChangeEventRejection,
} from '../../lib/contract/change-event.ts';

/**
 * The kinds of bad input a consumer meets, one per way a publisher (or an attacker) gets it wrong.
 *
 * @example
 * hostileMessages({ now }).filter((message) => message.category === HostileCategory.PROTOTYPE_KEY);
 */
export const HostileCategory = {
  /** Not JSON at all: empty, prose, JavaScript literals, comments, a byte order mark, trailing text. */
  NOT_JSON: 'not-json',
  /** A valid body cut short. */
  TRUNCATED: 'truncated-json',
  /** Valid JSON whose top level is not an object (null, numbers, arrays, a JSON string of JSON). */
  TOP_LEVEL: 'top-level-type',
  /** A key given twice in one object: parsers disagree on which one wins. */
  DUPLICATE_KEY: 'duplicate-key',
  /** Numbers a double cannot hold as written (beyond 2^53, overflowing, underflowing). */
  INEXACT_NUMBER: 'inexact-number',
  MISSING_FIELD: 'missing-field',
  UNKNOWN_FIELD: 'unknown-field',
  OP: 'op',
  RESOURCE_TYPE: 'resource-type',
  ID: 'id',
  /** Lone surrogates, in ids, payload values and keys, escaped or raw. */
  UNICODE: 'unicode',
  VERSION: 'version',
  /** Timestamps that are not ISO 8601 with seconds and an offset, or not real dates. */
  OCCURRED_AT: 'occurred-at',
  /** Well-formed timestamps that are implausible: too far ahead of now, or before 2000. */
  CLOCK: 'clock',
  PAYLOAD: 'payload',
  /** `__proto__`, `constructor` and `prototype` where they do not belong. */
  PROTOTYPE_KEY: 'prototype-key',
  /** Payloads nested deeper than the contract allows, up to tens of thousands of levels. */
  NESTING: 'nesting',
  TOO_LARGE: 'too-large',
} as const;
export type HostileCategory = (typeof HostileCategory)[keyof typeof HostileCategory];

/**
 * One bad message body and what the consumer must say about it.
 *
 * @example
 * const message: HostileMessage = { category: 'id', label: 'id ".."', body, reason: 'invalid-schema', field: 'id' };
 */
export interface HostileMessage {
  readonly category: HostileCategory;
  /** What is wrong with it, for failure messages. */
  readonly label: string;
  readonly body: string;
  readonly reason: ChangeEventRejection['reason'];
  /** The path the rejection detail must name (`id`, `payload.a`, `(root)`), as in `path: expected …`. */
  readonly field: string;
}

/**
 * A valid change whose body stresses an edge of the contract; the consumer must apply it exactly.
 *
 * @example
 * const change: EdgeCaseChange = { label: 'version 0', event, body: serializeChangeEvent(event) };
 */
export interface EdgeCaseChange {
  readonly label: string;
  /** What the body means: the destination must end up holding exactly this. */
  readonly event: ChangeEvent;
  readonly body: string;
}

/** @example const options: HostileMessagesOptions = { now: Date.now() }; */
export interface HostileMessagesOptions {
  /** The consumer's clock, epoch milliseconds; clock-relative cases are placed around it. */
  readonly now: number;
}

const HOUR_MS = 3_600_000;
const BASE_FIELDS = ['resourceType', 'id', 'version', 'occurredAt', 'op', 'payload'] as const;
type BaseField = (typeof BASE_FIELDS)[number];

/** A JSON fragment for a value, in characters every SQS implementation carries. */
const json = (value: unknown): string => escapeForSqs(JSON.stringify(value));

/** `{ "a": { "a": … value … } }`, `depth` objects deep, as text (JSON.stringify would recurse). */
const nestedObjects = (depth: number, inner = '1'): string => `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;
const nestedArrays = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/**
 * Builds bad bodies around a valid event, field by field. `fields` replaces the default JSON
 * fragment of a base field (`null` leaves it out); `extra` appends raw members in order, so
 * duplicate and `__proto__` keys are written exactly as given.
 */
const eventText = (
  defaults: Readonly<Record<BaseField, string>>,
  fields: Partial<Record<BaseField, string | null>> = {},
  extra: ReadonlyArray<readonly [string, string]> = [],
): string => {
  const members: string[] = [];
  for (const name of BASE_FIELDS) {
    const fragment = fields[name] === undefined ? defaults[name] : fields[name];
    if (fragment !== null) members.push(`"${name}":${fragment}`);
  }
  for (const [key, fragment] of extra) members.push(`${key}:${fragment}`);
  return `{${members.join(',')}}`;
};

/** Pads the payload of `event` so its serialised body is exactly `bytes` long (ASCII padding). */
const paddedToBytes = (event: ChangeEvent, bytes: number): string => {
  const empty = serializeChangeEvent({ ...event, payload: { ...event.payload, pad: '' } } as ChangeEvent);
  const missing = bytes - Buffer.byteLength(empty, 'utf8');
  if (missing < 0) throw new RangeError(`Expected \`bytes\` to be at least ${Buffer.byteLength(empty, 'utf8')}, got \`${bytes}\``);
  return serializeChangeEvent({ ...event, payload: { ...event.payload, pad: 'p'.repeat(missing) } } as ChangeEvent);
};

/**
 * More than 200 distinct bodies a consumer must dead-letter, across every {@link HostileCategory},
 * each with the reason and the field its rejection must name. Bodies are written in characters SQS
 * carries (lone surrogates and astral characters as JSON escapes, the way they arrive), except a few
 * that carry raw control characters or lone surrogates to show nothing breaks even then.
 *
 * @example
 * for (const message of hostileMessages({ now: Date.now() })) {
 *   expect(parseChangeEvent(message.body)).toMatchObject({ ok: false, rejection: { reason: message.reason } });
 * }
 */
export const hostileMessages = ({ now }: HostileMessagesOptions): HostileMessage[] => {
  const messages: HostileMessage[] = [];
  const add = (category: HostileCategory, reason: HostileMessage['reason'], field: string, label: string, body: string): void => {
    messages.push({ category, reason, field, label, body });
  };
  const at = (ms: number): string => new Date(ms).toISOString();
  const defaults: Record<BaseField, string> = {
    resourceType: json('contact'),
    id: json('hostile'),
    version: '1',
    occurredAt: json(at(now - 60_000)),
    op: json(ChangeOp.UPSERT),
    payload: json({ name: 'Ada Lovelace', email: 'ada@example.com' }),
  };
  const valid = eventText(defaults);
  const event = (fields: Partial<Record<BaseField, string | null>>, extra: ReadonlyArray<readonly [string, string]> = []) =>
    eventText(defaults, fields, extra);
  const withPayload = (payloadText: string) => event({ payload: payloadText });

  // Not JSON at all.
  const notJson: ReadonlyArray<readonly [string, string]> = [
    ['empty body', ''],
    ['one space', ' '],
    ['whitespace only', '\n\t \r\n'],
    ['prose', 'not json'],
    ['undefined', 'undefined'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['-Infinity', '-Infinity'],
    ['Python True', 'True'],
    ['nil', 'nil'],
    ['lone {', '{'],
    ['lone }', '}'],
    ['lone [', '['],
    ['mismatched brackets', '{]'],
    ['single-quoted JSON', "{'resourceType':'contact','id':'c-1'}"],
    ['unquoted keys', '{resourceType:"contact",id:"c-1"}'],
    ['trailing comma in object', valid.replace(/}$/, ',}')],
    ['trailing comma in array', withPayload('{"list":[1,2,]}')],
    ['block comment', `/* change */ ${valid}`],
    ['line comment', `// change\n${valid}`],
    ['byte order mark before a valid event', `\uFEFF${valid}`],
    ['byte order mark before {}', '\uFEFF{}'],
    ['leading zero', event({ version: '01' })],
    ['hex number', event({ version: '0x10' })],
    ['number starting with .', event({ version: '.5' })],
    ['number starting with +', event({ version: '+1' })],
    ['number ending with .', event({ version: '1.' })],
    ['exponent without digits', event({ version: '1e' })],
    ['minus alone', event({ version: '-' })],
    ['NaN as version', event({ version: 'NaN' })],
    ['Infinity as version', event({ version: 'Infinity' })],
    ['undefined as payload', event({ payload: 'undefined' })],
    ['two objects', '{}{}'],
    ['a valid event twice', `${valid}${valid}`],
    ['a valid event, then text', `${valid} trailing`],
    ['a valid event, then a second line', `${valid}\n{}`],
    ['unterminated string', '"unterminated'],
    ['invalid escape \\x', event({ id: '"\\x41"' })],
    ['short unicode escape', event({ id: '"\\u12"' })],
    ['unicode escape cut in two', event({ id: '"\\ud8"' })],
    ['raw tab inside a string', event({ id: '"a\tb"' })],
    ['raw newline inside a string', event({ id: '"a\nb"' })],
    ['raw NUL after the object', `${valid}\u0000`],
    ['XML', '<event><id>c-1</id></event>'],
    ['form encoding', 'resourceType=contact&id=c-1&version=1'],
    ['missing comma', '{"resourceType":"contact" "id":"c-1"}'],
    ['missing colon', '{"resourceType" "contact"}'],
    ['extra closing brace', `${valid}}`],
    ['typographic quotes', '{“resourceType”:“contact”}'],
    ['misspelt true', withPayload('{"active":tru}')],
    ['capitalised null', withPayload('{"x":Null}')],
    ['Python None', "{'payload': None}"],
    ['YAML', 'resourceType: contact\nid: c-1\n'],
    ['base64 of a valid event', Buffer.from(valid).toString('base64')],
  ];
  for (const [label, body] of notJson) add(HostileCategory.NOT_JSON, 'invalid-json', '(root)', label, body);

  // A valid body cut short at 20 points, and inside an escape pair.
  const cutSource = serializeChangeEvent({
    resourceType: 'contact',
    id: 'cut-🚀',
    version: 3,
    occurredAt: at(now - 60_000),
    op: ChangeOp.UPSERT,
    payload: { name: 'Ada', tags: ['a', 'b'], nested: { ok: true, n: 1.5 } },
  });
  for (let cut = 1; cut <= 20; cut += 1) {
    const end = Math.floor((cut * cutSource.length) / 21);
    add(HostileCategory.TRUNCATED, 'invalid-json', '(root)', `cut after ${end} of ${cutSource.length} characters`, cutSource.slice(0, end));
  }
  add(HostileCategory.TRUNCATED, 'invalid-json', '(root)', 'cut between the halves of an escaped emoji', cutSource.slice(0, cutSource.indexOf('\\ude80')));
  add(HostileCategory.TRUNCATED, 'invalid-json', '(root)', 'cut before the last brace', cutSource.slice(0, -1));

  // Valid JSON, but not an object.
  const topLevel: ReadonlyArray<readonly [string, string]> = [
    ['null', 'null'],
    ['true', 'true'],
    ['false', 'false'],
    ['zero', '0'],
    ['a number', '42'],
    ['a negative number', '-1'],
    ['a fraction', '1.5'],
    ['a string', '"contact"'],
    ['an empty string', '""'],
    ['an empty array', '[]'],
    ['an array of numbers', '[1,2,3]'],
    ['a valid event in an array', `[${valid}]`],
    ['a JSON string holding a valid event (double encoded)', JSON.stringify(valid)],
    ['an array 100 000 levels deep', nestedArrays(100_000)],
  ];
  for (const [label, body] of topLevel) add(HostileCategory.TOP_LEVEL, 'invalid-schema', '(root)', label, body);

  // Duplicate keys: the publisher's validator and the consumer could read different events.
  const duplicates: ReadonlyArray<readonly [string, string, string]> = [
    ['version twice, rising', '(root)', event({}, [['"version"', '2']])],
    ['version twice, the same', '(root)', event({}, [['"version"', '1']])],
    ['id twice', '(root)', event({}, [['"id"', json('other')]])],
    ['op twice, upsert then delete', '(root)', event({}, [['"op"', json('delete')]])],
    ['resourceType twice', '(root)', event({}, [['"resourceType"', json('company')]])],
    ['occurredAt twice', '(root)', event({}, [['"occurredAt"', json(at(now))]])],
    ['payload twice', '(root)', event({}, [['"payload"', '{}']])],
    ['id twice, once escaped', '(root)', event({}, [['"\\u0069d"', json('other')]])],
    ['a payload key twice', 'payload', withPayload('{"email":"a@example.com","email":"b@example.com"}')],
    ['a nested payload key twice', 'payload.address', withPayload('{"address":{"city":"Paris","city":"Lyon"}}')],
    ['a key twice in an array element', 'payload.list[1]', withPayload('{"list":[{"a":1},{"b":1,"b":2}]}')],
    ['an escaped key equal to a plain one', 'payload', withPayload('{"name":"A","n\\u0061me":"B"}')],
  ];
  for (const [label, field, body] of duplicates) add(HostileCategory.DUPLICATE_KEY, 'invalid-json', field, label, body);

  // Numbers a double cannot hold as written.
  const inexact: ReadonlyArray<readonly [string, string, string]> = [
    ['version 2^53 + 1', 'version', event({ version: '9007199254740993' })],
    ['version 1e400', 'version', event({ version: '1e400' })],
    ['version -1e400', 'version', event({ version: '-1e400' })],
    ['version uint64 max', 'version', event({ version: '18446744073709551615' })],
    ['payload int64 max', 'payload.externalId', withPayload('{"externalId":9223372036854775807}')],
    ['payload 20-digit integer', 'payload.amount', withPayload('{"amount":12345678901234567890}')],
    ['payload 1e309', 'payload.big', withPayload('{"big":1e309}')],
    ['payload -1e309', 'payload.small', withPayload('{"small":-1e309}')],
    ['payload 1e-400 (underflows to 0)', 'payload.tiny', withPayload('{"tiny":1e-400}')],
    ['payload 2.5e-400 in an array', 'payload.list[2]', withPayload('{"list":[1,2,2.5e-400]}')],
    ['payload 400-digit integer', 'payload.huge', withPayload(`{"huge":1${'0'.repeat(400)}}`)],
    ['payload snowflake id in a nested object', 'payload.tweet.id', withPayload('{"tweet":{"id":1234567890123456789}}')],
  ];
  for (const [label, field, body] of inexact) add(HostileCategory.INEXACT_NUMBER, 'invalid-json', field, label, body);

  // Missing fields.
  for (const name of ['resourceType', 'id', 'version', 'occurredAt'] as const) {
    add(HostileCategory.MISSING_FIELD, 'invalid-schema', name, `no ${name}`, event({ [name]: null }));
  }
  add(HostileCategory.MISSING_FIELD, 'invalid-schema', 'op', 'no op', event({ op: null }));
  add(HostileCategory.MISSING_FIELD, 'invalid-schema', 'payload', 'an upsert without payload', event({ payload: null }));
  add(HostileCategory.MISSING_FIELD, 'invalid-schema', 'op', 'an empty object', '{}');
  add(HostileCategory.MISSING_FIELD, 'invalid-schema', 'resourceType', 'only op', '{"op":"upsert"}');

  // Fields the contract does not have.
  const unknownFields: ReadonlyArray<readonly [string, string]> = [
    ['"extra"', '1'],
    ['"Version"', '2'],
    ['"payload "', '{}'],
    ['"type"', json('contact')],
    ['"data"', '{}'],
    ['"ID"', json('c-1')],
    ['"metadata"', '{"source":"crm"}'],
    ['"idempotencyKey"', json('crm:contact:c-1:1')],
    ['""', '1'],
    ['"op\\u0000"', json('delete')],
    ['"deep"', nestedObjects(10_000)],
  ];
  for (const [key, fragment] of unknownFields) {
    add(HostileCategory.UNKNOWN_FIELD, 'invalid-schema', '(root)', `unknown top-level field ${key}`, event({}, [[key, fragment]]));
  }

  // Wrong op.
  const ops: readonly string[] = [
    json('UPSERT'),
    json('Upsert'),
    json('update'),
    json('insert'),
    json('create'),
    json('remove'),
    json('DELETE'),
    json(''),
    json(' upsert'),
    json('upsert '),
    json('upsert\u0000'),
    json('up\u200Bsert'),
    json('upsеrt'), // Cyrillic е
    '1',
    '0',
    'null',
    'true',
    '["upsert"]',
    '{"upsert":true}',
  ];
  for (const op of ops) add(HostileCategory.OP, 'invalid-schema', 'op', `op ${op}`, event({ op }));

  // Bad resource types.
  const resourceTypes: readonly string[] = [
    json(''),
    json(' contact'),
    json('contact '),
    json('con tact'),
    json('1contact'),
    json('_contact'),
    json('contact/x'),
    json('../contact'),
    json('cöntact'),
    json('contact\u0000'),
    json('contact\n'),
    json('a'.repeat(65)),
    json('🚀'),
    json('contact%2F'),
    json('кontact'), // Cyrillic к
    json('con:tact'),
    '123',
    'null',
    'true',
    '[]',
    '{}',
  ];
  for (const resourceType of resourceTypes) {
    add(HostileCategory.RESOURCE_TYPE, 'invalid-schema', 'resourceType', `resourceType ${resourceType.slice(0, 40)}`, event({ resourceType }));
  }

  // Bad ids.
  const ids: ReadonlyArray<readonly [string, string]> = [
    ['empty', json('')],
    [`${MAX_ID_LENGTH + 1} characters`, json('x'.repeat(MAX_ID_LENGTH + 1))],
    ['10 000 characters', json('x'.repeat(10_000))],
    [`${MAX_ID_LENGTH + 1} CJK characters`, json('客'.repeat(MAX_ID_LENGTH + 1))],
    ['a number', '123'],
    ['zero', '0'],
    ['null', 'null'],
    ['true', 'true'],
    ['an object', '{}'],
    ['an array', '["c-1"]'],
    ['one space', json(' ')],
    ['spaces', json('   ')],
    ['a tab', json('\t')],
    ['a no-break space', json('\u00A0')],
    ['an ideographic space', json('\u3000')],
    ['"."', json('.')],
    ['".."', json('..')],
    ['NUL', json('\u0000')],
    ['NUL inside', json('a\u0000b')],
    ['line feed inside', json('a\nb')],
    ['carriage return inside', json('a\rb')],
    ['tab inside', json('a\tb')],
    ['DEL', json('\u007F')],
    ['C1 next line inside', json('a\u0085b')],
    ['C1 control sequence introducer', json('\u009B')],
    ['ANSI colour escape', json('\u001B[31mred')],
  ];
  for (const [label, id] of ids) add(HostileCategory.ID, 'invalid-schema', 'id', `id ${label}`, event({ id }));

  // Lone surrogates: no UTF-8 encoding, so no URL, header or JSON text for the destination.
  const unicode: ReadonlyArray<readonly [string, string, string]> = [
    ['id: a lone high surrogate', 'id', event({ id: json('\uD800') })],
    ['id: a lone low surrogate', 'id', event({ id: json('\uDC00') })],
    ['id: a reversed pair', 'id', event({ id: json('\uDC00\uD800') })],
    ['id: an emoji cut in half', 'id', event({ id: json('launch-\uD83D') })],
    ['id: a low surrogate between letters', 'id', event({ id: json('x\uDE80y') })],
    ['id: a raw (unescaped) lone surrogate', 'id', event({ id: '"raw-\uD800"' })],
    ['resourceType: a lone surrogate', 'resourceType', event({ resourceType: json('contact\uD800') })],
    ['occurredAt: a lone surrogate', 'occurredAt', event({ occurredAt: json(`${at(now)}\uD800`) })],
    ['payload value: a lone surrogate', 'payload.note', withPayload(json({ note: 'caf\uDCE9' }))],
    ['payload value: a raw lone surrogate', 'payload.note', withPayload('{"note":"raw-\uDFFF"}')],
    ['payload value: deep in arrays', 'payload.a.b[0]', withPayload(json({ a: { b: ['\uDBFF'] } }))],
    ['payload key: a lone surrogate', 'payload', withPayload(json({ ['k\uD800']: 1 }))],
    ['payload key: nested lone surrogate', 'payload.address', withPayload(json({ address: { ['\uDC01']: 'x' } }))],
  ];
  for (const [label, field, body] of unicode) add(HostileCategory.UNICODE, 'invalid-schema', field, label, body);

  // Bad versions.
  const versions: readonly string[] = [
    '-1',
    '-0.5',
    '0.5',
    '1.5',
    '1.0000001',
    '-9007199254740991',
    '9007199254740992',
    '1e300',
    '1.7976931348623157e308',
    '-1e-7',
    json('3'),
    json('1'),
    json(''),
    json('NaN'),
    json('Infinity'),
    json('0x10'),
    json('1e3'),
    'null',
    'true',
    'false',
    '[]',
    '[1]',
    '{}',
    '{"$numberLong":"1"}',
  ];
  for (const version of versions) add(HostileCategory.VERSION, 'invalid-schema', 'version', `version ${version}`, event({ version }));

  // Timestamps that are not ISO 8601 with seconds and an offset, or not real dates.
  const occurredAts: readonly string[] = [
    json('2026-11-27T10:00:00'),
    json('2026-11-27'),
    json('2026-11-27T10:00Z'),
    json('2026-11-27 10:00:00Z'),
    json('2026-11-27t10:00:00z'),
    json('2026-11-27T10:00:00+0200'),
    json('2026-11-27T10:00:00+02'),
    json('Fri, 27 Nov 2026 10:00:00 GMT'),
    json('Fri Nov 27 2026 10:00:00 GMT+0000 (Coordinated Universal Time)'),
    String(now),
    String(Math.floor(now / 1000)),
    json(String(now)),
    json(''),
    'null',
    'true',
    '{}',
    json('2026-02-30T00:00:00Z'),
    json('2026-13-01T00:00:00Z'),
    json('2026-11-31T00:00:00Z'),
    json('2026-11-27T24:00:00Z'),
    json('2026-11-27T23:59:60Z'),
    json('2026-11-27T10:60:00Z'),
    json(' 2026-11-27T10:00:00Z'),
    json('2026-11-27T10:00:00Z '),
    json('+002026-11-27T10:00:00Z'),
    json('2026-W48-5T10:00:00Z'),
    json('2026-331T10:00:00Z'),
    json('now'),
    json('yesterday'),
    json(new Date(now * 1000).toISOString()), // milliseconds multiplied by 1000 again: year +05xxxx
  ];
  for (const occurredAt of occurredAts) {
    add(HostileCategory.OCCURRED_AT, 'invalid-schema', 'occurredAt', `occurredAt ${occurredAt.slice(0, 50)}`, event({ occurredAt }));
  }

  // Well-formed but implausible timestamps.
  const clock: ReadonlyArray<readonly [string, string]> = [
    ['the skew allowance plus one minute ahead', at(now + MAX_CLOCK_SKEW_MS + 60_000)],
    ['25 hours ahead', at(now + 25 * HOUR_MS)],
    ['a week ahead', at(now + 7 * 24 * HOUR_MS)],
    ['a year ahead', at(now + 365 * 24 * HOUR_MS)],
    ['2100', '2100-01-01T00:00:00Z'],
    ['9999-12-31 (a sentinel)', '9999-12-31T23:59:59Z'],
    ['the skew allowance ahead, in another offset', new Date(now + MAX_CLOCK_SKEW_MS + HOUR_MS).toISOString().replace('Z', '+00:00')],
    ['one second before 2000', '1999-12-31T23:59:59Z'],
    ['one millisecond before 2000', '1999-12-31T23:59:59.999Z'],
    ['2000 in a later offset (still 1999 in UTC)', '2000-01-01T00:00:00+01:00'],
    ['the epoch (a null read as 0)', '1970-01-01T00:00:00Z'],
    ['the epoch with milliseconds', '1970-01-01T00:00:00.000Z'],
    ['1900 (SQL Server default)', '1900-01-01T00:00:00Z'],
    ['1753 (SQL Server datetime minimum)', '1753-01-01T00:00:00Z'],
    ['year 1 (.NET DateTime.MinValue)', '0001-01-01T00:00:00Z'],
    ['year 0', '0000-01-01T00:00:00Z'],
    ['seconds read as milliseconds', at(Math.floor(now / 1000))],
  ];
  for (const [label, value] of clock) add(HostileCategory.CLOCK, 'invalid-schema', 'occurredAt', `occurredAt ${label}`, event({ occurredAt: json(value) }));

  // Payloads that are not JSON objects.
  const payloads: ReadonlyArray<readonly [string, Partial<Record<BaseField, string | null>>]> = [
    ['upsert with payload null', { payload: 'null' }],
    ['upsert with payload []', { payload: '[]' }],
    ['upsert with payload "x"', { payload: json('x') }],
    ['upsert with payload 1', { payload: '1' }],
    ['upsert with payload true', { payload: 'true' }],
    ['upsert with a payload array of objects', { payload: '[{"a":1}]' }],
    ['upsert with the payload as a JSON string', { payload: json(JSON.stringify({ a: 1 })) }],
    ['delete with payload null', { op: json(ChangeOp.DELETE), payload: 'null' }],
    ['delete with payload []', { op: json(ChangeOp.DELETE), payload: '[]' }],
    ['delete with payload "gone"', { op: json(ChangeOp.DELETE), payload: json('gone') }],
  ];
  for (const [label, fields] of payloads) add(HostileCategory.PAYLOAD, 'invalid-schema', 'payload', label, event(fields));

  // Prototype keys.
  const polluter = '{"polluted":"yes","isAdmin":true}';
  const prototypeKeys: ReadonlyArray<readonly [string, string, string]> = [
    ['top-level __proto__', '(root)', event({}, [['"__proto__"', polluter]])],
    ['top-level __proto__ first', '(root)', `{"__proto__":${polluter},${valid.slice(1)}`],
    ['top-level constructor.prototype', '(root)', event({}, [['"constructor"', `{"prototype":${polluter}}`]])],
    ['top-level prototype', '(root)', event({}, [['"prototype"', polluter]])],
    ['payload __proto__', 'payload', withPayload(`{"__proto__":${polluter}}`)],
    ['payload __proto__ null', 'payload', withPayload('{"name":"Ada","__proto__":null}')],
    ['payload __proto__ string', 'payload', withPayload('{"__proto__":"x"}')],
    ['payload __proto__ escaped', 'payload', withPayload(`{"\\u005f_proto__":${polluter}}`)],
    ['payload nested __proto__', 'payload.a', withPayload(`{"a":{"__proto__":${polluter}}}`)],
    ['payload __proto__ in an array element', 'payload.list[0]', withPayload(`{"list":[{"__proto__":${polluter}}]}`)],
    ['payload __proto__ ten levels down', `payload${'.a'.repeat(9)}`, withPayload(nestedObjects(9, `{"__proto__":${polluter}}`))],
    ['payload constructor.prototype next to __proto__', 'payload', withPayload(`{"constructor":{"prototype":${polluter}},"__proto__":${polluter}}`)],
  ];
  for (const [label, field, body] of prototypeKeys) add(HostileCategory.PROTOTYPE_KEY, 'invalid-schema', field, label, body);

  // Nesting beyond the contract.
  const tooDeep = MAX_PAYLOAD_DEPTH + 1;
  const nesting: ReadonlyArray<readonly [string, string, string]> = [
    [`objects ${tooDeep} levels deep`, `payload${'.a'.repeat(tooDeep - 1)}`, withPayload(nestedObjects(tooDeep))],
    ['objects 100 levels deep', `payload${'.a'.repeat(tooDeep - 1)}`, withPayload(nestedObjects(100))],
    ['objects 40 000 levels deep', `payload${'.a'.repeat(tooDeep - 1)}`, withPayload(nestedObjects(40_000))],
    [`arrays ${tooDeep} levels deep`, `payload.list${'[0]'.repeat(tooDeep - 2)}`, withPayload(`{"list":${nestedArrays(tooDeep - 1)}}`)],
    ['arrays 100 000 levels deep', `payload.list${'[0]'.repeat(tooDeep - 2)}`, withPayload(`{"list":${nestedArrays(100_000)}}`)],
    // The payload is level 1, each '[' and '{' one more: level 33 is the 17th object.
    ['objects and arrays alternating', `payload${'.a[0]'.repeat((tooDeep - 1) / 2)}`, withPayload(`${'{"a":['.repeat(40)}1${']}'.repeat(40)}`)],
  ];
  for (const [label, field, body] of nesting) add(HostileCategory.NESTING, 'invalid-schema', field, label, body);

  // Over the size limit.
  const sized = (bytes: number) =>
    paddedToBytes({ resourceType: 'contact', id: 'large', version: 1, occurredAt: at(now - 60_000), op: ChangeOp.UPSERT, payload: {} }, bytes);
  const tooLarge: ReadonlyArray<readonly [string, string]> = [
    ['a valid event one byte over the limit', sized(MAX_CHANGE_EVENT_BYTES + 1)],
    ['a valid event of 300 KiB', sized(300 * 1024)],
    ['a valid event of 1 MiB', sized(1024 * 1024)],
    ['300 KiB of x', 'x'.repeat(300 * 1024)],
    ['300 KiB of quotes', '"'.repeat(300 * 1024)],
    ['300 KiB of whitespace around {}', `${' '.repeat(300 * 1024)}{}`],
    ['100 000 euro signs (3 bytes each)', withPayload(json({ note: '€'.repeat(100_000) }))],
    ['300 KiB of nesting', nestedObjects(52_000)],
    ['a payload of 300 KiB of escaped emoji', withPayload(json({ note: '🚀'.repeat(25_000) }))],
  ];
  for (const [label, body] of tooLarge) add(HostileCategory.TOO_LARGE, 'too-large', '(root)', label, body);

  return messages;
};

/**
 * Valid changes at the edges of the contract (unicode ids, dot-like ids, the largest version, the
 * oldest and newest timestamps, `constructor` keys, the deepest payload, the largest body), each
 * with a distinct (resourceType, id). Deletes are version 2 of a record: to see one applied, upsert
 * version 1 of it first.
 *
 * @example
 * for (const change of edgeCaseChanges({ now: Date.now() })) expect(parseChangeEvent(change.body).ok).toBe(true);
 */
export const edgeCaseChanges = ({ now }: HostileMessagesOptions): EdgeCaseChange[] => {
  const at = (ms: number): string => new Date(ms).toISOString();
  const base = (id: string, overrides: Partial<ChangeEvent> = {}): ChangeEvent =>
    ({
      resourceType: 'contact',
      id,
      version: 1,
      occurredAt: at(now - 60_000),
      op: ChangeOp.UPSERT,
      payload: { name: 'Ada Lovelace' },
      ...overrides,
    }) as ChangeEvent;
  const changes: EdgeCaseChange[] = [];
  const add = (label: string, event: ChangeEvent, body: string = serializeChangeEvent(event)): void => {
    changes.push({ label, event, body });
  };
  /** A body written by hand; its meaning is what JSON.parse reads from it. */
  const addText = (label: string, body: string): void => {
    add(label, JSON.parse(body) as ChangeEvent, body);
  };

  for (const [label, id] of [
    ['a unicode id with a slash and a space', 'müller/客户 42'],
    ['an emoji id', '🚀 launch'],
    ['id "..." (not a dot segment)', '...'],
    ['an id starting with a dot', '.hidden'],
    ['an id with dot segments inside', 'a/../b'],
    ['an id with surrounding spaces', ' padded '],
    ['an id with percent signs', '%2e%2e'],
    ['an id with URL syntax', 'q?x=1#frag&y=+'],
    [`an id of ${MAX_ID_LENGTH} characters`, 'x'.repeat(MAX_ID_LENGTH)],
    [`an id of ${MAX_ID_LENGTH} CJK characters`, '客'.repeat(MAX_ID_LENGTH)],
    ['an id of mathematical letters (astral)', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢'],
    ['an id with a combining accent', 'cafe\u0301'],
    ['an id with a precomposed accent (another record)', 'caf\u00E9'],
    ['a right-to-left id', 'עברית-1'],
    ['an id with a noncharacter', 'nonchar-\uFFFE'],
    ['an id with a ZWJ sequence', '👨‍👩‍👧'],
    ['an id with a line separator', 'line\u2028sep'],
  ] as const) {
    add(label, base(id));
  }
  add('version 0', base('version-0', { version: 0 }));
  add('version Number.MAX_SAFE_INTEGER', base('version-max', { version: Number.MAX_SAFE_INTEGER }));
  add('occurredAt exactly 2000-01-01', base('occurred-2000', { occurredAt: EARLIEST_OCCURRED_AT }));
  add('occurredAt 23 h ahead (inside the skew allowance)', base('occurred-ahead', { occurredAt: at(now + 23 * HOUR_MS) }));
  add('occurredAt with a +14:00 offset', base('occurred-plus-14', { occurredAt: at(now - HOUR_MS).replace(/\.\d+Z$/, '+14:00') }));
  add('occurredAt with a -12:00 offset', base('occurred-minus-12', { occurredAt: at(now - 13 * HOUR_MS).replace(/\.\d+Z$/, '-12:00') }));
  add('occurredAt with nanoseconds', base('occurred-nanos', { occurredAt: at(now - 60_000).replace(/\.(\d+)Z$/, '.$1456789Z') }));
  add('a delete without payload', base('delete-bare', { op: ChangeOp.DELETE, version: 2, payload: undefined }));
  add('a delete with an empty payload', base('delete-empty', { op: ChangeOp.DELETE, version: 2, payload: {} }));
  add('an empty payload', base('payload-empty', { payload: {} }));
  add(
    'a payload of emoji, CJK, RTL, combining and ZWJ text',
    base('payload-unicode', { payload: { emoji: '🚀✨', cjk: '客户', rtl: 'עברית', combining: 'e\u0301', zwj: '👩‍💻', nonchar: '\uFFFF', nul: 'a\u0000b' } }),
  );
  add(
    'payload fields named constructor and prototype',
    base('payload-constructor', { payload: { constructor: 'Ada', prototype: { polluted: 'yes' } } }),
  );
  add(
    'a payload constructor.prototype object',
    base('payload-constructor-prototype', { payload: { constructor: { prototype: { polluted: 'yes', isAdmin: true } } } }),
  );
  add(
    'payload fields named after Object.prototype methods',
    base('payload-object-methods', { payload: { toString: 'x', hasOwnProperty: 1, valueOf: null, isPrototypeOf: [], __defineGetter__: 'g' } }),
  );
  add('payload keys that are empty, numeric or blank', base('payload-odd-keys', { payload: { '': 1, '0': 'zero', '1': 'one', '-1': 'minus', ' ': 'space' } }));
  const deepest: Record<string, unknown> = { leaf: true };
  let deepPayload: Record<string, unknown> = deepest;
  for (let level = 1; level < MAX_PAYLOAD_DEPTH; level += 1) deepPayload = { a: deepPayload };
  add(`a payload ${MAX_PAYLOAD_DEPTH} levels deep`, base('payload-deepest', { payload: deepPayload }));
  add(
    'payload numbers at the edges of a double',
    base('payload-numbers', {
      payload: { twoTo53: 2 ** 53, minSafe: Number.MIN_SAFE_INTEGER, big: 1e300, max: Number.MAX_VALUE, tiny: 5e-324, tenth: 0.1, small: -1.5e-10 },
    }),
  );
  add('payload nulls, booleans and mixed arrays', base('payload-mixed', { payload: { n: null, t: true, f: false, list: [1, 'two', null, { three: [3] }, []] } }));
  add('a payload with 1000 keys', base('payload-wide', { payload: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])) }));
  add('a payload string of 100 KiB', base('payload-long-string', { payload: { note: 'n'.repeat(100 * 1024) } }));
  const limit = base('body-at-limit', { payload: {} });
  const atLimit = paddedToBytes(limit, MAX_CHANGE_EVENT_BYTES);
  add(`a body of exactly ${MAX_CHANGE_EVENT_BYTES} bytes`, JSON.parse(atLimit) as ChangeEvent, atLimit);
  add('resource type of one letter', base('rt-short', { resourceType: 'a' }));
  add('resource type of 64 characters', base('rt-long', { resourceType: `C${'x'.repeat(62)}_` }));
  add('resource type with dots, dashes and underscores', base('rt-punctuated', { resourceType: 'Contact.v2_x-y' }));
  add('raw emoji in the body (as SQS may deliver it)', base('raw-emoji', { payload: { note: '🚀' } }), JSON.stringify(base('raw-emoji', { payload: { note: '🚀' } })));
  addText('version written as 7.0', serializeChangeEvent(base('text-version-7.0', { version: 7 })).replace('"version":7', '"version":7.0'));
  addText('version written as 1e1', serializeChangeEvent(base('text-version-1e1', { version: 10 })).replace('"version":10', '"version":1e1'));
  addText('an escaped payload key \\u0063onstructor', serializeChangeEvent(base('text-escaped-key', { payload: { constructor: 'c' } })).replace('"constructor"', '"\\u0063onstructor"'));
  addText('a pretty-printed body', JSON.stringify(base('text-pretty', { payload: { a: [1, 2], b: { c: 'd' } } }), null, 2));
  addText('an exact 2^53 written out', serializeChangeEvent(base('text-two-to-53', { payload: {} })).replace('"payload":{}', '"payload":{"n":9007199254740992}'));
  return changes;
};
