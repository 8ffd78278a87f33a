import * as z from 'zod';

/**
 * One message shape for every validation failure in the project (config and change events alike):
 * `path: expected …, got …`, e.g. `destinations[1].maxConcurrency: expected an integer from 2 to 1000, got 1`.
 *
 * @example
 * formatPath(['destinations', 1, 'maxConcurrency']); // 'destinations[1].maxConcurrency'
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    const name = String(key);
    return acc === '' ? name : `${acc}.${name}`;
  }, '');

/** Renders a received value for an error message without dumping large or hostile input. */
export const describeValue = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `a ${typeof value}`;
};

/**
 * Says what kind of value was received without showing any of it, for fields whose content must
 * not reach logs (a change's payload).
 *
 * @example
 * describeKind('secret'); // 'a string'
 */
export const describeKind = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
};

/** Which issue paths must not show their value (see {@link describeKind}). */
export type RedactPath = (path: ReadonlyArray<PropertyKey>) => boolean;

const describeIssue = (issue: z.core.$ZodIssue, redact?: RedactPath): string => {
  const where = formatPath(issue.path) || '(root)';
  // A discriminated union without a matching member reports the whole object; show the discriminator.
  const input =
    issue.code === 'invalid_union' && 'discriminator' in issue && typeof issue.discriminator === 'string' && typeof issue.input === 'object' && issue.input !== null
      ? (issue.input as Record<string, unknown>)[issue.discriminator]
      : 'input' in issue
        ? issue.input
        : undefined;
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  }
  // zod's own messages start with "Invalid input: "; ours are already phrased as "expected …".
  const message = issue.message.replace(/^Invalid input: /, '').replace(/, received \w+$/, '');
  return `${where}: ${message}, got ${redact?.(issue.path) === true ? describeKind(input) : describeValue(input)}`;
};

/** Raised when a value fails its schema; `issues` holds one formatted line per problem. */
export class ValidationError extends Error {
  public readonly issues: readonly string[];

  public constructor(subject: string, issues: readonly string[], options?: ErrorOptions) {
    super(`Invalid ${subject}:\n  - ${issues.join('\n  - ')}`, options);
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

/**
 * Parses `input` with `schema`, or throws a {@link ValidationError} listing every problem as
 * `path: expected …, got …`.
 *
 * @example
 * parseOrThrow(z.int(), 'x', 'retry count'); // throws "Invalid retry count:\n  - (root): expected int, got \"x\""
 */
export const parseOrThrow = <T extends z.ZodType>(schema: T, input: unknown, subject: string): z.output<T> => {
  const result = safeParseWithIssues(schema, input);
  if (!result.ok) throw new ValidationError(subject, result.issues);
  return result.value;
};

/** Like {@link parseOrThrow} but returns the formatted issues instead of throwing. */
export const safeParseWithIssues = <T extends z.ZodType>(
  schema: T,
  input: unknown,
  options: { readonly redact?: RedactPath } = {},
): { ok: true; value: z.output<T> } | { ok: false; issues: string[] } => {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, issues: result.error.issues.map((issue) => describeIssue(issue, options.redact)) };
};

/**
 * A value built at its first use, then kept. For schemas: a module that builds them as it loads
 * makes every importer pay for them at start, whether it validates anything or not.
 *
 * @example
 * const nameSchema = lazily(() => z.string().regex(/^[a-z]+$/));
 * nameSchema().parse('crm'); // built here, once
 */
export const lazily = <T>(build: () => T): (() => T) => {
  let built: { readonly value: T } | undefined;
  return () => (built ??= { value: build() }).value;
};

/**
 * An integer in `[min, max]` whose every failure reads `expected an integer from min to max`.
 *
 * @example
 * intInRange(2, 1000); // rejects 1 with "expected an integer from 2 to 1000"
 */
export const intInRange = (min: number, max: number) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};
