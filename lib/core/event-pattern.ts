/**
 * EventBridge event-pattern matching, as far as this module goes, with the service's documented
 * semantics (EventBridge user guide, "Event patterns" and "Content filtering"):
 * - an object in the pattern narrows into the event's field of that name; every field listed must
 *   match (and), each leaf lists what its field may be (or);
 * - a leaf matches the event's value when one of its conditions does; when the event's value is an
 *   array, when one of its elements does (arrays of arrays are flattened, as the service does);
 * - exact values are compared as they are: strings case-sensitively, numbers by value, `true`,
 *   `false` and `null` as themselves;
 * - a field missing from the event matches nothing but `{ exists: false }`; a field whose value is
 *   an object is no leaf: it matches nothing but `{ exists: false }` either (exists matching "only
 *   works on leaf nodes");
 * - `{ prefix }` matches strings only; `{ numeric: [op, n, …] }` JSON numbers only, every comparison
 *   holding; `{ 'anything-but': … }` any value present other than those listed (one string or
 *   number, a list of strings only or of numbers only, or `{ prefix }`: strings without it).
 *
 * Everything else the service offers (`suffix`, `equals-ignore-case`, `wildcard`, `cidr`, `$or`, …)
 * is refused with an {@link EventPatternError} rather than matched approximately. Numbers: the
 * service matches `numeric` only between -5e9 and 5e9 (patterns outside are refused here too) and
 * compares with 15 significant digits; JavaScript's doubles carry about as many, so values that
 * differ only beyond that may compare differently at the margin.
 *
 * Written here rather than taken from a library: the one npm package modelling EventBridge's
 * matcher is not installed, and what the rules use is small enough to check against the docs and
 * against moto's TestEventPattern (test/integration/local-event-bus.test.ts).
 */

/** An exact value a leaf may list. */
export type EventPatternValue = string | number | boolean | null;

/** The content filters {@link matchesEventPattern} knows; anything else is refused. */
export type EventPatternFilter =
  | { readonly prefix: string }
  | { readonly exists: boolean }
  | { readonly 'anything-but': string | number | readonly string[] | readonly number[] | { readonly prefix: string } }
  | { readonly numeric: ReadonlyArray<string | number> };

/** What a field of the event may be: any one of these (an empty list is refused, as by the service). */
export type EventPatternLeaf = ReadonlyArray<EventPatternValue | EventPatternFilter>;

/**
 * An EventBridge event pattern: each leaf lists the values a field may have (any one matches), each
 * object narrows into a field of the event.
 *
 * @example
 * const pattern: EventPattern = { detail: { resourceType: ['contact', 'company'] } };
 */
export interface EventPattern {
  readonly [field: string]: EventPatternLeaf | EventPattern;
}

/** Raised for a pattern the service would refuse, or one using a filter this module does not implement. */
export class EventPatternError extends Error {
  /** Where in the pattern, e.g. `detail.resourceType[1]`. */
  public readonly path: string;

  public constructor(message: string, path: string, options?: ErrorOptions) {
    super(`Event pattern at ${path === '' ? 'its root' : path}: ${message}`, options);
    this.name = 'EventPatternError';
    this.path = path;
  }
}

/** The bounds of EventBridge's numeric matching (user guide, "Numeric matching"). */
export const NUMERIC_MATCHING_LIMIT = 5e9;

type Scalar = string | number | boolean | null;
/** Tells whether one scalar value of the event satisfies a condition. */
type ScalarTest = (value: Scalar) => boolean;
/** A compiled leaf: given the event's scalar values at the field (none when absent or not a leaf). */
type LeafTest = (values: readonly Scalar[]) => boolean;
/** A compiled pattern object: given the event's value at its level. */
type NodeTest = (value: unknown) => boolean;

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isScalar = (value: unknown): value is Scalar => value === null || ['string', 'number', 'boolean'].includes(typeof value);
const describeValue = (value: unknown): string => (value === undefined ? 'undefined' : JSON.stringify(value));

const NUMERIC_OPERATORS: Readonly<Record<string, (a: number, b: number) => boolean>> = {
  '=': (a, b) => a === b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

const compileNumeric = (spec: unknown, path: string): ScalarTest => {
  if (!Array.isArray(spec) || spec.length === 0 || spec.length % 2 !== 0) {
    throw new EventPatternError(`expected "numeric" to list operator and number pairs, e.g. [">", 0, "<=", 5], got ${describeValue(spec)}`, path);
  }
  const comparisons: Array<(value: number) => boolean> = [];
  for (let i = 0; i < spec.length; i += 2) {
    const operator = NUMERIC_OPERATORS[String(spec[i])];
    const bound: unknown = spec[i + 1];
    if (typeof spec[i] !== 'string' || operator === undefined) {
      throw new EventPatternError(`expected a numeric operator (=, <, <=, >, >=), got ${describeValue(spec[i])}`, `${path}.numeric[${i}]`);
    }
    if (typeof bound !== 'number' || !Number.isFinite(bound) || Math.abs(bound) > NUMERIC_MATCHING_LIMIT) {
      throw new EventPatternError(`expected a number from -${NUMERIC_MATCHING_LIMIT} to ${NUMERIC_MATCHING_LIMIT}, got ${describeValue(bound)}`, `${path}.numeric[${i + 1}]`);
    }
    comparisons.push((value) => operator(value, bound));
  }
  return (value) => typeof value === 'number' && comparisons.every((holds) => holds(value));
};

const compileAnythingBut = (spec: unknown, path: string): ScalarTest => {
  if (isPlainObject(spec)) {
    const keys = Object.keys(spec);
    if (keys.length !== 1 || keys[0] !== 'prefix' || typeof spec.prefix !== 'string') {
      throw new EventPatternError(`"anything-but" with an object supports only { prefix: "…" } here, got ${describeValue(spec)}`, path);
    }
    const prefix = spec.prefix;
    return (value) => typeof value === 'string' && !value.startsWith(prefix);
  }
  const listed: unknown[] = Array.isArray(spec) ? spec : [spec];
  const strings = listed.every((v) => typeof v === 'string');
  const numbers = listed.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (listed.length === 0 || !(strings || numbers)) {
    throw new EventPatternError(`expected "anything-but" to be a string, a number, or a non-empty list of only strings or only numbers, got ${describeValue(spec)}`, path);
  }
  const excluded = new Set(listed as Scalar[]);
  return (value) => !excluded.has(value);
};

/** One condition of a leaf, as a test of the field's values (present or not). */
const compileCondition = (condition: unknown, path: string): LeafTest => {
  if (isScalar(condition)) return (values) => values.includes(condition);
  if (!isPlainObject(condition)) throw new EventPatternError(`expected a string, number, boolean, null or a filter object, got ${describeValue(condition)}`, path);
  const keys = Object.keys(condition);
  const [filter] = keys;
  if (keys.length !== 1 || filter === undefined) throw new EventPatternError(`expected a filter object with one key, got ${describeValue(condition)}`, path);
  const spec = condition[filter];
  const some = (test: ScalarTest): LeafTest => (values) => values.some(test);
  switch (filter) {
    case 'prefix':
      if (typeof spec !== 'string') throw new EventPatternError(`expected "prefix" to be a string, got ${describeValue(spec)}`, path);
      return some((value) => typeof value === 'string' && value.startsWith(spec));
    case 'exists':
      if (typeof spec !== 'boolean') throw new EventPatternError(`expected "exists" to be true or false, got ${describeValue(spec)}`, path);
      return (values) => (values.length > 0) === spec;
    case 'anything-but':
      return some(compileAnythingBut(spec, `${path}.anything-but`));
    case 'numeric':
      return some(compileNumeric(spec, path));
    default:
      throw new EventPatternError(`the filter ${JSON.stringify(filter)} is not supported by this matcher (supported: exact values, prefix, exists, anything-but, numeric)`, path);
  }
};

const compileLeaf = (leaf: readonly unknown[], path: string): LeafTest => {
  if (leaf.length === 0) throw new EventPatternError('expected at least one value in the list (an empty list matches nothing, and EventBridge refuses it)', path);
  const conditions = leaf.map((condition, index) => compileCondition(condition, `${path}[${index}]`));
  return (values) => conditions.some((condition) => condition(values));
};

/** The scalar values of an event's field: none when absent or an object, every element of an array (flattened). */
const scalarsOf = (value: unknown): Scalar[] => {
  if (Array.isArray(value)) return value.flatMap(scalarsOf);
  return isScalar(value) ? [value] : [];
};

const compileNode = (pattern: unknown, path: string): NodeTest => {
  if (!isPlainObject(pattern)) throw new EventPatternError(`expected an object of fields, got ${describeValue(pattern)}`, path);
  const fields = Object.entries(pattern);
  if (fields.length === 0) throw new EventPatternError('expected at least one field (EventBridge refuses an empty pattern)', path);
  const tests = fields.map(([field, sub]): ((event: Record<string, unknown> | undefined) => boolean) => {
    const at = path === '' ? field : `${path}.${field}`;
    // EventBridge reads `$or` as an operator, not a field: refused rather than matched as a field.
    if (field === '$or') throw new EventPatternError('the operator "$or" is not supported by this matcher (write one rule per alternative)', at);
    const valueOf = (event: Record<string, unknown> | undefined): unknown => (event !== undefined && Object.hasOwn(event, field) ? event[field] : undefined);
    if (Array.isArray(sub)) {
      const leaf = compileLeaf(sub, at);
      return (event) => leaf(scalarsOf(valueOf(event)));
    }
    const node = compileNode(sub, at);
    return (event) => node(valueOf(event));
  });
  const matchObject = (event: Record<string, unknown> | undefined): boolean => tests.every((test) => test(event));
  // An array of objects: one element must match the whole sub-pattern (fields are not combined
  // across elements). Anything that is not an object narrows to nothing: only `exists: false` holds.
  const objectsOf = (value: unknown): Array<Record<string, unknown>> => (Array.isArray(value) ? value.flatMap(objectsOf) : isPlainObject(value) ? [value] : []);
  return (value) => {
    const objects = objectsOf(value);
    return objects.length === 0 ? matchObject(undefined) : objects.some(matchObject);
  };
};

/**
 * Compiles a pattern once into a test of events, checking it as it goes: a pattern the service
 * would refuse, or one using a filter not implemented here, throws at once, never matches wrongly.
 *
 * @throws {EventPatternError} naming the place in the pattern and what is wrong with it
 * @example
 * const isContact = compileEventPattern({ detail: { resourceType: ['contact'] } });
 * isContact({ detail: { resourceType: 'contact', id: 'c-1' } }); // true
 */
export const compileEventPattern = (pattern: EventPattern): ((event: unknown) => boolean) => {
  const root = compileNode(pattern, '');
  return (event) => isPlainObject(event) && root(event);
};

/**
 * Whether EventBridge would deliver `event` (the whole event: `source`, `detail-type`, `detail`, …)
 * to a rule with `pattern`. See the module's comment for what is supported.
 *
 * @throws {EventPatternError} for a pattern the service would refuse or a filter not implemented here
 * @example
 * matchesEventPattern({ detail: { resourceType: ['contact', 'company'] } }, { detail: { resourceType: 'company' } }); // true
 * matchesEventPattern({ detail: { resourceType: ['contact'] } }, { detail: { resourceType: 'Contact' } }); // false
 */
export const matchesEventPattern = (pattern: EventPattern, event: unknown): boolean => compileEventPattern(pattern)(event);
