import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { safeParseWithIssues } from '../../lib/contract/validation.ts';
import {
  ChangeEventSchema,
  MAX_CHANGE_EVENT_BYTES,
  MAX_CLOCK_SKEW_MS,
  escapeForSqs,
  idempotencyKey,
  parseChangeEvent,
  serializeChangeEvent,
  type ChangeEvent,
} from '../../lib/contract/change-event.ts';
import { createRandom } from '../../lib/core/random.ts';
import { edgeCaseChanges, HostileCategory, hostileMessages } from '../helpers/hostile-messages.ts';

const NOW = Date.parse('2026-11-27T10:00:00.000Z');

const valid = {
  resourceType: 'contact',
  id: 'c-1',
  version: 3,
  occurredAt: '2026-11-27T09:59:00.000Z',
  op: 'upsert',
  payload: { name: 'Ada Lovelace' },
} as const;

/** The body of `valid` with some fields replaced (`undefined` removes one). */
const bodyWith = (overrides: Record<string, unknown>): string => JSON.stringify({ ...valid, ...overrides });

const rejectionOf = (body: string, now = NOW) => {
  const result = parseChangeEvent(body, now);
  if (result.ok) throw new Error(`expected ${body.slice(0, 80)} to be rejected`);
  return result.rejection;
};

/** Characters fauxqs refuses in a message body (real SQS refuses U+FFFE and U+FFFF too). */
const SQS_REFUSED = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/;

describe('Function: parseChangeEvent', () => {
  it.each([
    ['a unicode id with a slash and a space', { id: 'müller/客户 42' }],
    ['an emoji in the payload', { payload: { note: 'launch 🚀', family: '👨‍👩‍👧' } }],
    ['a delete without payload', { op: 'delete', payload: undefined }],
    ['version 0', { version: 0 }],
    ['version Number.MAX_SAFE_INTEGER', { version: Number.MAX_SAFE_INTEGER }],
    ['an id of only dots that is not a dot segment', { id: '...' }],
    ['a payload field named constructor', { payload: { constructor: { prototype: { admin: true } } } }],
    ['occurredAt exactly 2000-01-01', { occurredAt: '2000-01-01T00:00:00Z' }],
    ['occurredAt exactly the skew allowance ahead', { occurredAt: new Date(NOW + MAX_CLOCK_SKEW_MS).toISOString() }],
  ])('accepts %s', (_label, overrides) => {
    // Prepare
    const body = bodyWith(overrides);

    // Act
    const result = parseChangeEvent(body, NOW);

    // Assess
    expect(result).toEqual({ ok: true, event: JSON.parse(body) });
  });

  it.each(edgeCaseChanges({ now: NOW }).map((change) => [change.label, change] as const))('accepts the edge case: %s', (_label, change) => {
    // Act
    const result = parseChangeEvent(change.body, NOW);

    // Assess
    expect(result).toEqual({ ok: true, event: change.event });
  });

  it.each<[string, string, 'invalid-json' | 'invalid-schema' | 'too-large', string]>([
    // Size and JSON text
    ['a body over the limit', 'x'.repeat(MAX_CHANGE_EVENT_BYTES + 1), 'too-large', `(root): expected at most ${MAX_CHANGE_EVENT_BYTES} bytes of UTF-8, got ${MAX_CHANGE_EVENT_BYTES + 1} bytes`],
    ['an empty body', '', 'invalid-json', '(root): expected JSON text (Unexpected end of JSON input), got 0 characters'],
    ['a duplicate top-level key', bodyWith({}).replace('"version":3', '"version":3,"version":4'), 'invalid-json', '(root): expected each key once, got "version" more than once'],
    ['a duplicate payload key written once escaped', bodyWith({}).replace('"name":', '"name":"A","n\\u0061me":'), 'invalid-json', 'payload: expected each key once, got "name" more than once'],
    ['a version beyond 2^53 that rounds', bodyWith({}).replace('"version":3', '"version":9007199254740993'), 'invalid-json', 'version: expected a number a 64-bit float holds as written, got 9007199254740993 (reads as 9007199254740992)'],
    ['a payload integer that rounds', bodyWith({ payload: { list: [{ n: 0 }] } }).replace('"n":0', '"n":12345678901234567890'), 'invalid-json', 'payload.list[0].n: expected a number a 64-bit float holds as written, got 12345678901234567890 (reads as 12345678901234567000)'],
    ['a payload number that overflows', bodyWith({ payload: { n: 0 } }).replace('"n":0', '"n":1e309'), 'invalid-json', 'payload.n: expected a number a 64-bit float holds as written, got 1e309 (reads as Infinity)'],
    ['a payload number that underflows to zero', bodyWith({ payload: { n: 0 } }).replace('"n":0', '"n":1e-400'), 'invalid-json', 'payload.n: expected a number a 64-bit float holds as written, got 1e-400 (reads as 0)'],
    // Top level and op
    ['null', 'null', 'invalid-schema', '(root): expected a JSON object, got null'],
    ['an array', '[]', 'invalid-schema', '(root): expected a JSON object, got an array of 0'],
    ['an unknown op', bodyWith({ op: 'update' }), 'invalid-schema', 'op: expected "upsert" or "delete", got "update"'],
    ['a missing op', bodyWith({ op: undefined }), 'invalid-schema', 'op: expected "upsert" or "delete", got nothing'],
    ['a top-level __proto__', bodyWith({}).replace('{', '{"__proto__":{"polluted":true},'), 'invalid-schema', '(root): unknown field(s) "__proto__"'],
    ['a top-level constructor', bodyWith({ constructor: { prototype: {} } }), 'invalid-schema', '(root): unknown field(s) "constructor"'],
    // id
    ['an empty id', bodyWith({ id: '' }), 'invalid-schema', 'id: expected a non-empty string id, got ""'],
    ['an id of only whitespace and a tab', bodyWith({ id: ' \t ' }), 'invalid-schema', 'id: expected no control characters, got " \\t "; id: expected an id that is not only whitespace, got " \\t "'],
    ['an id of only spaces', bodyWith({ id: '   ' }), 'invalid-schema', 'id: expected an id that is not only whitespace, got "   "'],
    ['an id with NUL', bodyWith({ id: 'c\u00001' }), 'invalid-schema', 'id: expected no control characters, got "c\\u00001"'],
    ['an id with a C1 control', bodyWith({ id: 'c\u00851' }), 'invalid-schema', 'id: expected no control characters, got "c\u00851"'],
    ['an id with a lone surrogate', bodyWith({ id: 'c-\uD800' }), 'invalid-schema', 'id: expected well-formed unicode (no lone surrogates), got "c-\\ud800"'],
    ['id ".."', bodyWith({ id: '..' }), 'invalid-schema', 'id: expected an id other than "." or ".." (URLs resolve them as dot segments), got ".."'],
    ['id "."', bodyWith({ id: '.' }), 'invalid-schema', 'id: expected an id other than "." or ".." (URLs resolve them as dot segments), got "."'],
    ['an id of 513 characters', bodyWith({ id: 'x'.repeat(513) }), 'invalid-schema', `id: expected an id of at most 512 characters, got "${'x'.repeat(57)}..."`],
    ['a numeric id', bodyWith({ id: 42 }), 'invalid-schema', 'id: expected a non-empty string id, got 42'],
    // version
    ['a negative version', bodyWith({ version: -1 }), 'invalid-schema', 'version: expected a non-negative integer version, got -1'],
    ['a fractional version', bodyWith({ version: 1.5 }), 'invalid-schema', 'version: expected a non-negative integer version, got 1.5'],
    ['a version string', bodyWith({ version: '3' }), 'invalid-schema', 'version: expected a non-negative integer version, got "3"'],
    ['version 2^53', bodyWith({ version: 2 ** 53 }), 'invalid-schema', 'version: expected a non-negative integer version of at most 9007199254740991, got 9007199254740992'],
    ['version 1e300', bodyWith({ version: 1e300 }), 'invalid-schema', 'version: expected a non-negative integer version of at most 9007199254740991, got 1e+300'],
    // occurredAt
    ['occurredAt without an offset', bodyWith({ occurredAt: '2026-11-27T10:00:00' }), 'invalid-schema', 'occurredAt: expected an ISO 8601 timestamp with seconds and an offset, like 2026-11-27T10:00:00Z, got "2026-11-27T10:00:00"'],
    ['occurredAt on 30 February', bodyWith({ occurredAt: '2026-02-30T00:00:00Z' }), 'invalid-schema', 'occurredAt: expected an ISO 8601 timestamp with seconds and an offset, like 2026-11-27T10:00:00Z, got "2026-02-30T00:00:00Z"'],
    ['occurredAt before 2000', bodyWith({ occurredAt: '1999-12-31T23:59:59Z' }), 'invalid-schema', 'occurredAt: expected a time from 2000-01-01T00:00:00Z on, got "1999-12-31T23:59:59Z"'],
    ['occurredAt the epoch', bodyWith({ occurredAt: '1970-01-01T00:00:00.000Z' }), 'invalid-schema', 'occurredAt: expected a time from 2000-01-01T00:00:00Z on, got "1970-01-01T00:00:00.000Z"'],
    ['occurredAt 1 ms beyond the skew allowance', bodyWith({ occurredAt: new Date(NOW + MAX_CLOCK_SKEW_MS + 1).toISOString() }), 'invalid-schema', 'occurredAt: expected a time at most 24 h ahead of now (until 2026-11-28T10:00:00.000Z), got "2026-11-28T10:00:00.001Z"'],
    ['occurredAt 9999-12-31', bodyWith({ occurredAt: '9999-12-31T23:59:59Z' }), 'invalid-schema', 'occurredAt: expected a time at most 24 h ahead of now (until 2026-11-28T10:00:00.000Z), got "9999-12-31T23:59:59Z"'],
    // payload
    ['an upsert without payload', bodyWith({ payload: undefined }), 'invalid-schema', 'payload: expected a JSON object, got nothing'],
    ['a delete with payload null', bodyWith({ op: 'delete', payload: null }), 'invalid-schema', 'payload: expected a JSON object, got null'],
    ['a payload __proto__ key', bodyWith({ payload: { name: 'x' } }).replace('"name"', '"__proto__":{"polluted":true},"name"'), 'invalid-schema', 'payload: expected no key named "__proto__" (rename the field), got a string'],
    ['a nested payload __proto__ key', bodyWith({ payload: { a: [{ b: 1 }] } }).replace('"b"', '"__proto__"'), 'invalid-schema', 'payload.a[0]: expected no key named "__proto__" (rename the field), got a string'],
    ['a payload value with a lone surrogate', bodyWith({ payload: { note: 'private text \uDC00' } }), 'invalid-schema', 'payload.note: expected well-formed unicode (no lone surrogates), got a string'],
    ['a payload key with a lone surrogate', bodyWith({ payload: { ['k\uD800']: 1 } }), 'invalid-schema', 'payload: expected keys in well-formed unicode (no lone surrogates), got a string'],
    ['a payload 33 levels deep', bodyWith({ payload: JSON.parse(`${'{"a":'.repeat(33)}1${'}'.repeat(33)}`) }), 'invalid-schema', `payload${'.a'.repeat(32)}: expected at most 32 levels of nesting, got a number`],
  ])('rejects %s', (_label, body, reason, detail) => {
    // Act
    const rejection = rejectionOf(body);

    // Assess
    expect(rejection).toEqual({ reason, detail });
  });

  it('lists every schema problem of a message, each as path: expected …, got …', () => {
    // Act
    const rejection = rejectionOf(bodyWith({ resourceType: 'con tact', id: '', version: -2, occurredAt: 'yesterday' }));

    // Assess
    expect(rejection.detail.split('; ')).toEqual([
      'resourceType: expected 1 to 64 letters, digits, "_", "." or "-", starting with a letter, got "con tact"',
      'id: expected a non-empty string id, got ""',
      'version: expected a non-negative integer version, got -2',
      'occurredAt: expected an ISO 8601 timestamp with seconds and an offset, like 2026-11-27T10:00:00Z, got "yesterday"',
    ]);
  });

  it('checks occurredAt against the clock it is given, and the wall clock by default', () => {
    // Prepare
    const inTwoDays = bodyWith({ occurredAt: new Date(Date.now() + 2 * 24 * 3_600_000).toISOString() });

    // Act
    const withDefaultClock = parseChangeEvent(inTwoDays);
    const withLaterClock = parseChangeEvent(inTwoDays, Date.now() + 2 * 24 * 3_600_000);

    // Assess
    expect(withDefaultClock.ok).toBe(false);
    expect(withLaterClock.ok).toBe(true);
  });

  it('bounds the detail and writes it in characters every SQS takes', () => {
    // Prepare
    const manyUnknownFields = bodyWith(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`🚀field${i}`, i])));

    // Act
    const rejection = rejectionOf(manyUnknownFields);

    // Assess
    expect(rejection.reason).toBe('invalid-schema');
    expect(rejection.detail.startsWith('(root): unknown field(s) "\\ud83d\\ude80field0"')).toBe(true);
    expect(rejection.detail).toMatch(/… \(\d+ more characters\)$/);
    expect(rejection.detail.length).toBeLessThan(7000);
    expect(SQS_REFUSED.test(rejection.detail)).toBe(false);
  });

  it('hands on the payload exactly as JSON.parse read it, constructor keys and key order included', () => {
    // Prepare
    const body = bodyWith({ payload: { b: 1, constructor: { prototype: { polluted: 'yes' } }, a: [{ constructor: 'x' }], prototype: null } });

    // Act
    const result = parseChangeEvent(body, NOW);

    // Assess
    if (!result.ok) throw new Error(result.rejection.detail);
    expect(JSON.stringify(result.event.payload)).toBe(JSON.stringify(JSON.parse(body).payload));
    expect(Object.keys(result.event.payload ?? {})).toEqual(['b', 'constructor', 'a', 'prototype']);
    expect(Object.getPrototypeOf(result.event.payload)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses __proto__ in a payload that z.record would silently drop', () => {
    // Prepare
    const body = bodyWith({ payload: { name: 'x' } }).replace('"name"', '"__proto__":{"admin":true},"name"');
    const payload = (JSON.parse(body) as { payload: unknown }).payload;

    // Act
    const viaRecord = z.record(z.string(), z.unknown()).parse(payload);
    const result = parseChangeEvent(body, NOW);

    // Assess: a plain record loses the key without a word; the contract says so loudly.
    expect(Object.keys(payload as object)).toEqual(['__proto__', 'name']);
    expect(Object.keys(viaRecord)).toEqual(['name']);
    expect(result).toMatchObject({ ok: false, rejection: { reason: 'invalid-schema' } });
  });

  it('rejects every hostile message with its expected reason and a detail naming its field', () => {
    // Prepare
    const messages = hostileMessages({ now: NOW });

    // Act
    const mismatches = messages.flatMap((message) => {
      const result = parseChangeEvent(message.body, NOW);
      if (result.ok) return [`${message.category} / ${message.label}: accepted`];
      const { reason, detail } = result.rejection;
      const namesField = detail.startsWith(`${message.field}: `) || detail.includes(`; ${message.field}: `);
      return reason === message.reason && namesField ? [] : [`${message.category} / ${message.label}: ${reason} ${detail.slice(0, 200)}`];
    });

    // Assess
    expect(mismatches).toEqual([]);
    expect(messages.length).toBeGreaterThanOrEqual(200);
    expect(new Set(messages.map((message) => message.body)).size).toBe(messages.length);
    expect(new Set(messages.map((message) => message.category))).toEqual(new Set(Object.values(HostileCategory)));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('never throws, whatever the body', () => {
    // Prepare: seeded fragments of JSON, unicode and garbage, glued at random
    const random = createRandom(7);
    const pieces = ['{', '}', '[', ']', '"', ':', ',', '\\', '\\u', 'd800', '"id"', '"version"', '1e400', '-', '0', '9007199254740993', 'null', '__proto__', '\uD800', '🚀', '\u0000', ' ', valid.occurredAt];
    const bodies = Array.from({ length: 3000 }, () => Array.from({ length: 1 + random.int(40) }, () => random.pick(pieces)).join(''));

    // Act
    const outcomes = bodies.map((body) => parseChangeEvent(body, NOW));

    // Assess
    expect(outcomes.every((outcome) => outcome.ok || outcome.rejection.detail.length > 0)).toBe(true);
  });
});

describe('Ids and versions: what makes two changes the same record and version', () => {
  it.each<[string, string, number]>([
    ['1e2', '"version":1e2', 100],
    ['3.0', '"version":3.0', 3],
    ['3.000e0', '"version":3.000e0', 3],
  ])('reads version %s as the integer it writes exactly (the contract says integer, not how it is spelled)', (_label, spelling, expected) => {
    // Act
    const result = parseChangeEvent(bodyWith({}).replace('"version":3', spelling), NOW);

    // Assess
    expect(result.ok && result.event.version).toBe(expected);
    expect(result.ok && idempotencyKey('crm', result.event)).toBe(`crm:contact:c-1:${expected}`);
  });

  it('keeps NFC and NFD spellings of an id apart by default: ids are opaque, compared code point by code point', () => {
    // Prepare
    const nfc = 'm\u00fcller';
    const nfd = 'mu\u0308ller';

    // Act
    const a = parseChangeEvent(bodyWith({ id: nfc }), NOW);
    const b = parseChangeEvent(bodyWith({ id: nfd }), NOW);

    // Assess: both valid, and two records (a destination that normalises opts in with idNormalization: "NFC")
    expect(a.ok && b.ok).toBe(true);
    expect(a.ok && b.ok && idempotencyKey('crm', a.event) !== idempotencyKey('crm', b.event)).toBe(true);
  });
});

describe('Object: ChangeEventSchema', () => {
  it.each<[string, unknown, string]>([
    ['a Date', new Date(0), 'payload.when: expected a JSON value, got a object'],
    ['undefined', undefined, 'payload.when: expected a JSON value, got nothing'],
    ['a bigint', 10n, 'payload.when: expected a JSON value, got a bigint'],
    ['a function', () => 1, 'payload.when: expected a JSON value, got a function'],
    ['NaN', Number.NaN, 'payload.when: expected a finite number, got NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'payload.when: expected a finite number, got Infinity'],
    ['a Map', new Map(), 'payload.when: expected a JSON value, got a object'],
  ])('rejects a payload value that JSON cannot carry: %s', (_label, value, issue) => {
    // Act
    const result = safeParseWithIssues(ChangeEventSchema, { ...valid, payload: { when: value } });

    // Assess
    expect(result).toEqual({ ok: false, issues: [issue] });
  });

  it('stops at the depth limit on a cyclic payload instead of looping', () => {
    // Prepare
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;

    // Act
    const result = safeParseWithIssues(ChangeEventSchema, { ...valid, payload: cyclic });

    // Assess
    expect(result).toEqual({ ok: false, issues: [`payload${'.self'.repeat(32)}: expected at most 32 levels of nesting, got 33`] });
  });

  it('accepts a payload without a prototype and refuses a class instance', () => {
    // Prepare
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { name: 'Ada' });

    // Act
    const withBare = ChangeEventSchema.safeParse({ ...valid, payload: bare });
    const withInstance = safeParseWithIssues(ChangeEventSchema, { ...valid, payload: new URL('https://example.com') });

    // Assess
    expect(withBare.success).toBe(true);
    expect(withInstance).toEqual({ ok: false, issues: ['payload: expected a JSON object, got a object'] });
  });

  it('refuses occurredAt more than the skew allowance ahead of the wall clock', () => {
    // Prepare
    const ahead = new Date(Date.now() + MAX_CLOCK_SKEW_MS + 60_000).toISOString();

    // Act
    const result = safeParseWithIssues(ChangeEventSchema, { ...valid, occurredAt: ahead });

    // Assess
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.issues[0]).toMatch(/^occurredAt: expected a time at most 24 h ahead of now/);
  });
});

describe('Function: serializeChangeEvent', () => {
  it('writes astral characters and non-characters as escapes that read back to the same event', () => {
    // Prepare
    const event = { ...valid, id: 'nonchar-\uFFFE', payload: { note: '🚀 \uFFFF 客户' } } as ChangeEvent;

    // Act
    const body = serializeChangeEvent(event);

    // Assess
    expect(SQS_REFUSED.test(body)).toBe(false);
    expect(parseChangeEvent(body, NOW)).toEqual({ ok: true, event });
  });
});

describe('Function: escapeForSqs', () => {
  it('escapes what SQS refuses and leaves everything else', () => {
    // Act
    const escaped = escapeForSqs('a🚀\uFFFE\uFFFF€\u2028');

    // Assess
    expect(escaped).toBe('a\\ud83d\\ude80\\ufffe\\uffff€\u2028');
  });
});
