import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { ChangeEventSchema, MAX_CLOCK_SKEW_MS, MAX_PAYLOAD_DEPTH } from '../../lib/contract/change-event.ts';
import {
  CHANGE_EVENT_SCHEMA_ID,
  changeEventJsonSchema,
  renderChangeEventJsonSchema,
  UNREPRESENTED_REFINEMENTS,
} from '../../lib/contract/change-event-json-schema.ts';

const SCHEMA_FILE = join(import.meta.dirname, '..', '..', 'schemas', 'change-event.schema.json');

// Formats are left to the pattern zod emits beside `format: date-time` (stricter than RFC 3339's
// date-time: seconds and an upper-case T and Z required), so the comparison does not hang on a
// format plugin's reading of RFC 3339.
const ajv = new Ajv2020({ strict: true, allErrors: true, validateFormats: false });
const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object);

const base = { resourceType: 'contact', id: 'c-1', version: 3, occurredAt: '2026-11-27T10:00:00Z', op: 'upsert', payload: { email: 'a@example.com' } } as const;
const without = (field: keyof typeof base): Record<string, unknown> => Object.fromEntries(Object.entries(base).filter(([key]) => key !== field));
const nested = (levels: number): Record<string, unknown> => {
  let value: Record<string, unknown> = {};
  for (let level = 1; level < levels; level += 1) value = { a: value };
  return value;
};
const inTwoDays = new Date(Date.now() + 2 * MAX_CLOCK_SKEW_MS).toISOString();

/** Valid for both validators. */
const VALID: ReadonlyArray<readonly [string, unknown]> = [
  ['an upsert', base],
  ['a delete without payload', { ...without('payload'), op: 'delete' }],
  ['a delete with a payload', { ...base, op: 'delete' }],
  ['an id in any script, with spaces and slashes', { ...base, id: 'müller/客户 42' }],
  ['an id of 512 characters', { ...base, id: 'x'.repeat(512) }],
  // zod 4 counts a string's length in code points, as JSON Schema's maxLength does.
  ['an id of 512 characters beyond U+FFFF (1024 UTF-16 units)', { ...base, id: '🚀'.repeat(512) }],
  ['a time with an offset and fractions', { ...base, occurredAt: '2026-11-27T12:00:00.123+02:00' }],
  ['a leap day', { ...base, occurredAt: '2024-02-29T00:00:00Z' }],
  ['version 0', { ...base, version: 0 }],
  ['the largest safe version', { ...base, version: Number.MAX_SAFE_INTEGER }],
  ['a resource type with dots and dashes', { ...base, resourceType: 'crm.contact-v2_x' }],
  [`a payload nested ${MAX_PAYLOAD_DEPTH} levels`, { ...base, payload: nested(MAX_PAYLOAD_DEPTH) }],
  ['a payload key named constructor', { ...base, payload: { constructor: 'x', prototype: 1 } }],
  ['an empty payload', { ...base, payload: {} }],
];

/** Invalid for both validators, field by field. */
const INVALID: ReadonlyArray<readonly [string, unknown]> = [
  ['not an object', 'x'],
  ['an array', [base]],
  ['null', null],
  ['an unknown top-level field', { ...base, extra: 1 }],
  ['a __proto__ field at the top', JSON.parse(`{"__proto__":1,${JSON.stringify(base).slice(1)}`)],
  ['no resourceType', without('resourceType')],
  ['an empty resourceType', { ...base, resourceType: '' }],
  ['a resourceType starting with a digit', { ...base, resourceType: '9lives' }],
  ['a resourceType of 65 characters', { ...base, resourceType: `a${'b'.repeat(64)}` }],
  ['a resourceType with a space', { ...base, resourceType: 'crm contact' }],
  ['a numeric resourceType', { ...base, resourceType: 5 }],
  ['no id', without('id')],
  ['an empty id', { ...base, id: '' }],
  ['an id of 513 characters', { ...base, id: 'x'.repeat(513) }],
  ['an id of 513 characters beyond U+FFFF', { ...base, id: '🚀'.repeat(513) }],
  ['a numeric id', { ...base, id: 42 }],
  ['no version', without('version')],
  ['a negative version', { ...base, version: -1 }],
  ['a fractional version', { ...base, version: 1.5 }],
  ['a version as a string', { ...base, version: '3' }],
  ['a version beyond 2^53', { ...base, version: 2 ** 53 }],
  ['no occurredAt', without('occurredAt')],
  ['an occurredAt without offset', { ...base, occurredAt: '2026-11-27T10:00:00' }],
  ['an occurredAt without seconds', { ...base, occurredAt: '2026-11-27T10:00Z' }],
  ['an occurredAt with a space', { ...base, occurredAt: '2026-11-27 10:00:00Z' }],
  ['an occurredAt on 30 February', { ...base, occurredAt: '2026-02-30T10:00:00Z' }],
  ['an occurredAt on a non-leap 29 February', { ...base, occurredAt: '2026-02-29T10:00:00Z' }],
  ['an occurredAt as epoch milliseconds', { ...base, occurredAt: 1_764_237_600_000 }],
  ['no op', without('op')],
  ['an unknown op', { ...base, op: 'merge' }],
  ['an upsert without payload', without('payload')],
  ['a payload that is an array', { ...base, payload: [1] }],
  ['a payload that is a string', { ...base, payload: 'x' }],
  ['a null payload', { ...base, payload: null }],
  ['a null payload on a delete', { ...base, op: 'delete', payload: null }],
];

type Rule = { readonly field: string; readonly rule: string };

const refinement = <F extends keyof typeof UNREPRESENTED_REFINEMENTS>(field: F, index: number): Rule => ({ field, rule: UNREPRESENTED_REFINEMENTS[field][index]! });

/** Refused by the contract, passed by the JSON Schema: each case names the listed rule it stands for. */
const ONLY_THE_CONTRACT_REFUSES: ReadonlyArray<readonly [string, unknown, Rule]> = [
  ['an id with a lone surrogate', { ...base, id: 'a\uD800' }, refinement('id', 0)],
  ['an id with a control character', { ...base, id: 'a\u0007b' }, refinement('id', 1)],
  ['an id with a C1 control character', { ...base, id: 'a\u0085b' }, refinement('id', 1)],
  ['an id of spaces', { ...base, id: '   ' }, refinement('id', 2)],
  ['the id ".."', { ...base, id: '..' }, refinement('id', 3)],
  ['the id "."', { ...base, id: '.' }, refinement('id', 3)],
  ['an occurredAt before 2000', { ...base, occurredAt: '1999-12-31T23:59:59Z' }, refinement('occurredAt', 0)],
  ['an occurredAt two days ahead', { ...base, occurredAt: inTwoDays }, refinement('(root)', 0)],
  ['a payload string with a lone surrogate', { ...base, payload: { note: '\uDC00' } }, refinement('payload', 0)],
  ['a payload key with a lone surrogate', { ...base, payload: { ['\uD800']: 1 } }, refinement('payload', 0)],
  ['a payload number that is not finite', { ...base, payload: { n: Number.NaN } }, refinement('payload', 0)],
  [`a payload nested ${MAX_PAYLOAD_DEPTH + 1} levels`, { ...base, payload: nested(MAX_PAYLOAD_DEPTH + 1) }, refinement('payload', 0)],
  ['a payload key named __proto__', { ...base, payload: JSON.parse('{"a":{"__proto__":{"admin":true}}}') }, refinement('payload', 0)],
];

describe('File: schemas/change-event.schema.json', () => {
  it('is what the generator makes from ChangeEventSchema now (run `npx node scripts/generate-schema.ts` after changing the contract)', () => {
    // Act
    const generated = renderChangeEventJsonSchema();

    // Assess
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(generated);
  });

  it('is a draft 2020-12 schema with an $id, a title and a description stating every rule it cannot express', () => {
    // Act
    const schema = changeEventJsonSchema();

    // Assess
    expect(schema).toMatchObject({ $schema: 'https://json-schema.org/draft/2020-12/schema', $id: CHANGE_EVENT_SCHEMA_ID, title: expect.any(String) });
    const listed = Object.values(UNREPRESENTED_REFINEMENTS).flat();
    for (const rule of listed) expect(schema.description).toContain(rule);
  });
});

describe('Function: changeEventJsonSchema', () => {
  it('refuses a schema with a refinement it does not describe, instead of dropping it', () => {
    // Prepare
    const withExtraRule = ChangeEventSchema.refine((event) => event.id !== 'forbidden');

    // Act
    const generate = () => changeEventJsonSchema(withExtraRule);

    // Assess
    expect(generate).toThrow('Expected UNREPRESENTED_REFINEMENTS.(root) to describe each of the 2 refinement(s) ChangeEventSchema has there, got 1');
  });

  it('refuses a transform, whose input and output differ', () => {
    // Act
    const generate = () => changeEventJsonSchema(ChangeEventSchema.transform((event) => ({ ...event, seen: true })));

    // Assess
    expect(generate).toThrow(/Expected every type of ChangeEventSchema to have a JSON Schema form, got a zod (pipe|transform)|different input and output/);
  });

  it('refuses a type JSON Schema has no form for', () => {
    // Act
    const generate = () => changeEventJsonSchema(z.object({ at: z.date() }));

    // Assess
    expect(generate).toThrow('got a zod date at at');
  });
});

describe('Agreement: the JSON Schema and the zod schema', () => {
  const contractAccepts = (value: unknown): boolean => ChangeEventSchema.safeParse(value).success;

  it.each(VALID)('both accept %s', (_name, value) => {
    // Assess
    expect(contractAccepts(value)).toBe(true);
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each(INVALID)('both refuse %s', (_name, value) => {
    // Assess
    expect(contractAccepts(value)).toBe(false);
    expect(validate(value)).toBe(false);
  });

  it.each(ONLY_THE_CONTRACT_REFUSES)('only the contract refuses %s (a listed rule)', (_name, value, { field, rule }) => {
    // Assess
    expect(contractAccepts(value)).toBe(false);
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    expect(changeEventJsonSchema().description).toContain(`${field}: ${rule}`);
  });

  it('has a case for every rule the JSON Schema lists as beyond it', () => {
    // Prepare
    const listed = [
      ...Object.entries(UNREPRESENTED_REFINEMENTS).flatMap(([field, rules]) => rules.map((rule) => `${field}: ${rule}`)),
    ];

    // Act
    const covered = new Set(ONLY_THE_CONTRACT_REFUSES.map(([, , { field, rule }]) => `${field}: ${rule}`));

    // Assess
    expect(listed.filter((rule) => !covered.has(rule))).toEqual([]);
  });
});
