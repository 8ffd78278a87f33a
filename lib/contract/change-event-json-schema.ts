import * as z from 'zod';
import { ChangeEventSchema, EARLIEST_OCCURRED_AT, MAX_CHANGE_EVENT_BYTES, MAX_CLOCK_SKEW_MS, MAX_PAYLOAD_DEPTH } from './change-event.ts';

/** The `$id` of the change event's JSON Schema: a name, not a download address. */
export const CHANGE_EVENT_SCHEMA_ID = 'urn:sync-pipeline:schema:change-event';

/**
 * Every refinement of {@link ChangeEventSchema} that JSON Schema cannot express, by field, one line
 * per refinement in the order the schema declares them. The generator counts the refinements it
 * meets and refuses to run when a field has more or fewer than are listed here, so a rule added to
 * the contract cannot vanish from the JSON Schema unnoticed: it must be stated here (it then
 * appears in the schema's descriptions).
 *
 * @example
 * UNREPRESENTED_REFINEMENTS.id.length; // 4
 */
export const UNREPRESENTED_REFINEMENTS = {
  '(root)': [`occurredAt at most ${MAX_CLOCK_SKEW_MS / 3_600_000} h ahead of the validating clock`],
  id: [
    'well-formed Unicode (no lone surrogates)',
    'no control characters (C0, DEL, C1)',
    'not only whitespace',
    'not "." or ".." (URLs resolve them as dot segments)',
  ],
  occurredAt: [`from ${EARLIEST_OCCURRED_AT} on`],
  payload: [
    `every string and key well-formed Unicode (no lone surrogates), every number finite, at most ${MAX_PAYLOAD_DEPTH} levels of nesting (the payload itself is level 1), no key named "__proto__" at any level`,
  ],
} as const satisfies Readonly<Record<string, readonly string[]>>;

/** Rules about the message text rather than the value, checked where the text is parsed. */
export const TEXT_RULES = [
  `the whole JSON text at most ${MAX_CHANGE_EVENT_BYTES} bytes of UTF-8`,
  'each key at most once per object',
  'every number readable as a 64-bit float without change (no integer beyond 2^53 that would round, no 1e400)',
] as const;

/** Zod types JSON Schema represents exactly; any other type (a transform, a date, a custom check) stops the generator unless described. */
const REPRESENTABLE_TYPES: ReadonlySet<string> = new Set(['string', 'number', 'boolean', 'null', 'literal', 'enum', 'object', 'array', 'union', 'optional', 'nullable']);

/** The field a JSON Schema path belongs to: the last property named on it, or '(root)'. */
const fieldOf = (path: ReadonlyArray<string | number>): string => {
  const at = path.lastIndexOf('properties');
  return at < 0 ? '(root)' : String(path[at + 1]);
};

type JsonSchemaObject = Record<string, unknown>;

/** z.toJSONSchema with every refinement counted per field and every unrepresentable type refused (payload's custom type becomes an object). */
const convert = (source: z.ZodType, io: 'input' | 'output'): { schema: JsonSchemaObject; refinements: Map<string, number> } => {
  const refinements = new Map<string, number>();
  const schema = z.toJSONSchema(source, {
    target: 'draft-2020-12',
    io,
    // 'any' lets the override see custom types instead of zod throwing; the override throws for every one it cannot place.
    unrepresentable: 'any',
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def as { readonly type: string; readonly checks?: ReadonlyArray<{ readonly _zod: { readonly def: { readonly check: string } } }> };
      const field = fieldOf(ctx.path);
      // Each refine makes a new schema that carries the checks before it; the last one has them all.
      const custom = (def.checks ?? []).filter((check) => check._zod.def.check === 'custom').length;
      refinements.set(field, Math.max(refinements.get(field) ?? 0, custom));
      if (def.type === 'custom' && field === 'payload') ctx.jsonSchema.type = 'object';
      else if (!REPRESENTABLE_TYPES.has(def.type)) {
        throw new Error(`Expected every type of ChangeEventSchema to have a JSON Schema form, got a zod ${def.type} at ${field}: describe it in lib/contract/change-event-json-schema.ts`);
      }
    },
  }) as JsonSchemaObject;
  return { schema, refinements };
};

const checkRefinementsDescribed = (refinements: ReadonlyMap<string, number>): void => {
  const listed: Readonly<Record<string, readonly string[]>> = UNREPRESENTED_REFINEMENTS;
  for (const field of new Set([...refinements.keys(), ...Object.keys(listed)])) {
    const found = refinements.get(field) ?? 0;
    const described = listed[field]?.length ?? 0;
    if (found !== described) {
      throw new Error(
        `Expected UNREPRESENTED_REFINEMENTS.${field} to describe each of the ${found} refinement(s) ChangeEventSchema has there, got ${described}: JSON Schema cannot express them, so state each one`,
      );
    }
  }
};

const bulletList = (lines: readonly string[]): string => lines.map((line) => `- ${line}`).join('\n');

const describeField = (field: string): string | undefined => {
  const refinements: Readonly<Record<string, readonly string[]>> = UNREPRESENTED_REFINEMENTS;
  const lines = refinements[field] ?? [];
  return lines.length === 0 ? undefined : `Also required, beyond what this schema checks: ${lines.join('; ')}.`;
};

const SCHEMA_DESCRIPTION = [
  'One change published to sync-pipeline: the record (resourceType, id), its version (monotonic per record), when it happened at the source (occurredAt) and what it does (op: upsert with the payload, or delete).',
  'Generated from the one zod schema (ChangeEventSchema) by scripts/generate-schema.ts; do not edit by hand.',
  'The pipeline also enforces these rules, which JSON Schema cannot express; a change breaking one is dead-lettered with the reason:',
  bulletList(Object.entries(UNREPRESENTED_REFINEMENTS).flatMap(([field, rules]) => rules.map((rule) => `${field}: ${rule}`))),
  'And about the message text itself:',
  bulletList(TEXT_RULES),
].join('\n');

/**
 * The JSON Schema (draft 2020-12) of the change event, generated from {@link ChangeEventSchema} for
 * publishers in other languages. It describes the input a publisher sends (`io: 'input'`); the
 * contract has no transforms or defaults, which the generator checks (input and output forms must
 * be the same). Refinements JSON Schema cannot express are stated in the descriptions, and the
 * generator refuses to run when one is not (see {@link UNREPRESENTED_REFINEMENTS}).
 *
 * @param source - the zod schema to convert; tests pass variants of it @default ChangeEventSchema
 * @throws {Error} when the contract has a rule or a type this module does not account for
 * @example
 * const schema = changeEventJsonSchema();
 * schema.$id; // 'urn:sync-pipeline:schema:change-event'
 */
export const changeEventJsonSchema = (source: z.ZodType = ChangeEventSchema): JsonSchemaObject => {
  const input = convert(source, 'input');
  const output = convert(source, 'output');
  if (JSON.stringify(input.schema) !== JSON.stringify(output.schema)) {
    throw new Error('Expected ChangeEventSchema to read and write the same shape (no transforms or defaults), got different input and output JSON Schemas: decide which one publishers need');
  }
  checkRefinementsDescribed(input.refinements);
  const { $schema, ...body } = input.schema;
  for (const branch of (body.oneOf ?? []) as JsonSchemaObject[]) {
    for (const [field, property] of Object.entries((branch.properties ?? {}) as Record<string, JsonSchemaObject>)) {
      const description = describeField(field);
      if (description !== undefined) property.description = description;
    }
  }
  return { $schema, $id: CHANGE_EVENT_SCHEMA_ID, title: 'sync-pipeline change event', description: SCHEMA_DESCRIPTION, ...body };
};

/**
 * The checked-in file's text: {@link changeEventJsonSchema} as JSON, two-space indented, newline at the end.
 *
 * @example
 * writeFileSync('schemas/change-event.schema.json', renderChangeEventJsonSchema());
 */
export const renderChangeEventJsonSchema = (): string => `${JSON.stringify(changeEventJsonSchema(), null, 2)}\n`;
