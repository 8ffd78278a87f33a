import { z } from 'zod';
import { intInRange } from '../contract/validation.ts';

/**
 * Destination kinds the pipeline knows how to call. A new kind is one adapter class in
 * `lib/adapters`, its config schema in {@link destinationKindSchemas} below and its factory in
 * `lib/adapters/destination-factory.ts` (whose type refuses a kind without one).
 */
export const DestinationKind = { HTTP: 'http' } as const;
export type DestinationKind = (typeof DestinationKind)[keyof typeof DestinationKind];
export const DESTINATION_KINDS: readonly DestinationKind[] = Object.values(DestinationKind);

const baseUrlSchema = z
  .string({ error: 'expected an http(s) URL' })
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '';
      } catch {
        return false;
      }
    },
    { error: 'expected an http(s) URL without query or fragment' },
  );

/**
 * The destination's own version check ("external versioning"): the API applies a write only when
 * the version it holds is lower than the one sent, and answers `refusedStatus` otherwise. With it, no
 * late request can move a record backwards, however late it lands.
 */
const versionPreconditionSchema = z.strictObject({
  /** The request header that carries the version. */
  header: z
    .string({ error: 'expected an HTTP header name' })
    .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, { error: 'expected an HTTP header name (1 to 64 token characters)' })
    .default('If-Match'),
  /** `etag`: the version as a quoted entity tag (`"5"`), as If-Match expects; `plain`: `5`. */
  format: z.enum(['etag', 'plain'], { error: 'expected "etag" or "plain"' }).default('etag'),
  /** What the API answers when it holds this version or a newer one: skipped as stale. */
  refusedStatus: intInRange(400, 499).default(412),
});

/** The fields only an `http` destination has; they stay at the destination's top level, as users write them. */
const httpFields = {
  kind: z.literal(DestinationKind.HTTP),
  /** Records live at `{baseUrl}/{resourceType}/{id}`. */
  baseUrl: baseUrlSchema,
  versionPrecondition: versionPreconditionSchema.optional(),
};
export type HttpDestinationFields = z.output<z.ZodObject<typeof httpFields>>;

/**
 * One strict schema per kind: the common fields (given by the pipeline config, so this file does
 * not import it) plus the kind's own. Register a new kind by adding its schema to the list.
 *
 * @example
 * z.discriminatedUnion('kind', destinationKindSchemas({ name: z.string() }));
 */
export const destinationKindSchemas = <Common extends z.core.$ZodLooseShape>(common: Common) =>
  [z.strictObject({ ...common, ...httpFields })] as const;
