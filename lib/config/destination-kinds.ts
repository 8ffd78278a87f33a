import * as z from 'zod';
import { intInRange, lazily } from '../contract/validation.ts';

/*
 * Every schema here is built at its first use ({@link lazily}), not when the module loads: the
 * consumer imports this module for its constants, and validates nothing at init when its config is
 * the one `cdk synth` validated (see `readDestinationConfig`).
 */

/**
 * Destination kinds the pipeline knows how to call. A new kind is one adapter class in
 * `lib/adapters`, its config schema in {@link destinationKindSchemas} below and its factory in
 * `lib/adapters/destination-factory.ts` (whose type refuses a kind without one).
 */
export const DestinationKind = { HTTP: 'http', MODULE: 'module' } as const;
export type DestinationKind = (typeof DestinationKind)[keyof typeof DestinationKind];
export const DESTINATION_KINDS: readonly DestinationKind[] = Object.values(DestinationKind);

/** Hosts an `http://` URL may name without `allowInsecureHttp`: this machine only. */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

const parsedUrl = (value: string): URL | undefined => {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
};

/**
 * An API's base URL: http(s), no query or fragment, and no credentials (`user:token@` would sit in
 * the template's environment and in every error quoting the URL: credentials go in `auth`).
 * Whether `http://` is allowed is checked with the destination (loopback or `allowInsecureHttp`).
 */
const baseUrlSchema = lazily(() =>
  z
    .string({ error: 'expected an http(s) URL' })
    .refine(
      (value) => {
        const url = parsedUrl(value);
        return url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '';
      },
      { error: 'expected an http(s) URL without query or fragment' },
    )
    .refine(
      (value) => {
        const url = parsedUrl(value);
        return url === undefined || (url.username === '' && url.password === '');
      },
      { error: 'expected a URL without user or password (credentials belong in auth, read from Secrets Manager)' },
    ),
);

/** Whether `url` may be used as it is: https, or http to a loopback host. */
export const isSecureOrLoopback = (url: string): boolean => {
  const parsed = parsedUrl(url);
  return parsed !== undefined && (parsed.protocol === 'https:' || LOOPBACK_HOSTS.has(parsed.hostname));
};

/** A Secrets Manager secret: its name or its ARN. Only the name reaches the environment, never the value. */
const secretSchema = lazily(() =>
  z
    .string({ error: 'expected a Secrets Manager secret name or ARN' })
    .regex(/^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+|[A-Za-z0-9/_+=.@-]{1,512})$/, {
      error: 'expected a Secrets Manager secret name (letters, digits, /_+=.@-) or ARN',
    }),
);

/** A customer-managed KMS key, by its ARN (the pipeline's `kmsKeyArn`, a secret's `auth.kmsKeyArn`). */
export const kmsKeyArnSchema = lazily(() =>
  z
    .string({ error: 'expected a KMS key ARN' })
    .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, { error: 'expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)' }),
);

const authCommon = lazily(() => ({
  secret: secretSchema(),
  /** The customer-managed KMS key the secret is encrypted with, if any: the consumer gets kms:Decrypt on it. */
  kmsKeyArn: kmsKeyArnSchema().optional(),
  /** How long a read secret is used before it is read again (a 401 reads it again at once). */
  maxAgeSeconds: intInRange(1, 86_400).default(300),
}));

/** The characters of an HTTP token (RFC 9110), such as a header name. */
const TOKEN_CHARS = "A-Za-z0-9!#$%&'*+.^_`|~-";
/** An HTTP token of any length. */
export const HTTP_TOKEN = new RegExp(`^[${TOKEN_CHARS}]+$`);

const headerNameSchema = lazily(() =>
  z
    .string({ error: 'expected an HTTP header name' })
    .regex(new RegExp(`^[${TOKEN_CHARS}]{1,64}$`), { error: 'expected an HTTP header name (1 to 64 token characters)' }),
);

/**
 * A destination's credentials, each from one Secrets Manager secret: `bearer` (the secret is the
 * token), `api-key` (the key, in `header`), `basic` (`{"username","password"}`),
 * `oauth2-client-credentials` (`{"clientId","clientSecret"}`, exchanged at `tokenUrl` for a token
 * kept until shortly before it expires), `standard-webhooks` (`whsec_…`: each request signed the
 * Standard Webhooks way).
 */
const authSchema = lazily(() =>
  z.discriminatedUnion(
    'type',
    [
      z.strictObject({ type: z.literal('bearer'), ...authCommon() }),
      z.strictObject({ type: z.literal('api-key'), header: headerNameSchema().default('X-Api-Key'), ...authCommon() }),
      z.strictObject({ type: z.literal('basic'), ...authCommon() }),
      z.strictObject({
        type: z.literal('oauth2-client-credentials'),
        tokenUrl: baseUrlSchema(),
        scopes: z.array(z.string({ error: 'expected a scope' }).regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, { error: 'expected an OAuth scope token' })).default([]),
        ...authCommon(),
      }),
      z.strictObject({ type: z.literal('standard-webhooks'), ...authCommon() }),
    ],
    { error: 'expected auth.type "bearer", "api-key", "basic", "oauth2-client-credentials" or "standard-webhooks"' },
  ),
);
export type AuthConfig = z.output<ReturnType<typeof authSchema>>;

/** `{name}` placeholders of a path template (the adapter fills them in with the same pattern). */
export const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;
/** What every request can fill in without a transform. */
export const BUILT_IN_PLACEHOLDERS: ReadonlySet<string> = new Set(['resourceType', 'id', 'version']);

/** The placeholder names of a path template, in order. */
export const placeholdersOf = (template: string): string[] => [...template.matchAll(PLACEHOLDER)].map((match) => match[1]!);

/**
 * A path template: starts with `/`, placeholders `{name}` (each filled in as exactly one encoded
 * path segment), no query or fragment.
 */
const pathTemplateSchema = lazily(() =>
  z
    .string({ error: 'expected a path template such as "/contacts/{id}"' })
    .regex(/^\/[^?#\s]*$/, { error: 'expected a path template starting with "/", without query, fragment or spaces' })
    .refine((template) => template.replace(PLACEHOLDER, '').match(/[{}]/) === null, { error: 'expected placeholders of the form {name}' }),
);

/** Header names a static header may not have: credentials belong in `auth`. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key']);

const requestSchema = lazily(() =>
  z.strictObject({
    method: z.enum(['PUT', 'PATCH', 'POST'], { error: 'expected "PUT", "PATCH" or "POST"' }).default('PUT'),
    path: pathTemplateSchema().default('/{resourceType}/{id}'),
    /** Sent on every request (an API version, a tenant); not for credentials. */
    headers: z
      .record(headerNameSchema(), z.string({ error: 'expected a header value' }).regex(/^[\x20-\x7e]*$/, { error: 'expected visible ASCII' }))
      .refine((headers) => Object.keys(headers).every((name) => !CREDENTIAL_HEADERS.has(name.toLowerCase())), {
        error: 'expected no credential header (Authorization, Cookie, X-Api-Key): credentials belong in auth, read from Secrets Manager',
      })
      .default({}),
    /** A delete: `DELETE` on the same path by default, or a request of its own (a soft delete). */
    delete: z
      .strictObject({
        method: z.enum(['DELETE', 'PUT', 'PATCH', 'POST'], { error: 'expected "DELETE", "PUT", "PATCH" or "POST"' }).default('DELETE'),
        /** @default the upsert's path */
        path: pathTemplateSchema().optional(),
        /** `transform`: the transform's body is sent (it sees `op: "delete"`); `none`: no body. */
        body: z.enum(['none', 'transform'], { error: 'expected "none" or "transform"' }).default('none'),
      })
      .prefault({}),
  }),
);

/** What a status rule makes of an answer, on top of the default table. */
export const StatusOutcome = {
  /** The destination holds this version or a newer one: skipped as stale. */
  STALE: 'stale',
  /** Dead-lettered now as `rejected`. */
  REJECTED: 'rejected',
  /** Retried with backoff. */
  RETRY: 'retry',
  /** The wanted state is there already: counted as applied. */
  DONE: 'done',
  /** Dead-lettered now as `auth`. */
  AUTH: 'auth',
  /** Throttled: deferred as a 429 is. */
  THROTTLED: 'throttled',
} as const;
export type StatusOutcome = (typeof StatusOutcome)[keyof typeof StatusOutcome];

const statusRuleSchema = lazily(() =>
  z.strictObject({
    status: intInRange(300, 599),
    /** @default both */
    op: z.enum(['upsert', 'delete'], { error: 'expected "upsert" or "delete"' }).optional(),
    outcome: z.enum(Object.values(StatusOutcome) as [StatusOutcome, ...StatusOutcome[]], {
      error: `expected one of ${Object.values(StatusOutcome).join(', ')}`,
    }),
  }),
);
export type StatusRule = z.output<ReturnType<typeof statusRuleSchema>>;

/** A user module, by its path from the directory the app runs in (the project's, where cdk.json is). */
const modulePathSchema = lazily(() =>
  z
    .string({ error: 'expected a module path such as "./transforms/crm.ts"' })
    .regex(/^\.{1,2}\/[^\0]*\.(ts|mts|js|mjs)$/, { error: 'expected a relative path ("./…" or "../…") to a .ts, .mts, .js or .mjs module' }),
);

/**
 * The destination's own version check ("external versioning"): the API applies a write only when
 * the version it holds is lower than the one sent, and answers `refusedStatus` otherwise. With it, no
 * late request can move a record backwards, however late it lands.
 */
const versionPreconditionSchema = lazily(() =>
  z.strictObject({
    /** The request header that carries the version. */
    header: headerNameSchema().default('If-Match'),
    /** `etag`: the version as a quoted entity tag (`"5"`), as If-Match expects; `plain`: `5`. */
    format: z.enum(['etag', 'plain'], { error: 'expected "etag" or "plain"' }).default('etag'),
    /** What the API answers when it holds this version or a newer one: skipped as stale. */
    refusedStatus: intInRange(400, 499).default(412),
  }),
);

/** The fields only an `http` destination has; they stay at the destination's top level, as users write them. */
const httpFields = lazily(() => ({
  kind: z.literal(DestinationKind.HTTP),
  /** The API's root; each request's path (`request.path`) is appended to it. */
  baseUrl: baseUrlSchema(),
  /** Allows `http://` to a host other than this machine (a private network); documented, off by default. */
  allowInsecureHttp: z.boolean({ error: 'expected true or false' }).default(false),
  versionPrecondition: versionPreconditionSchema().optional(),
  /** @default no credentials */
  auth: authSchema().optional(),
  request: requestSchema().prefault({}),
  /** Per-API answers, before the default table: the first rule matching the status (and op) decides. */
  statusRules: z.array(statusRuleSchema(), { error: 'expected a list of status rules' }).default([]),
  /** A module shaping each request (see `Transform` in lib/core/plugins.ts). @default the payload as the body */
  transform: modulePathSchema().optional(),
}));
export type HttpDestinationFields = z.output<z.ZodObject<ReturnType<typeof httpFields>>>;

/** The fields of a `module` destination: a user module implements the destination (see `DestinationModuleFactory`). */
const moduleFields = lazily(() => ({
  kind: z.literal(DestinationKind.MODULE),
  module: modulePathSchema(),
  /** Passed to the module as they are written. */
  options: z.record(z.string(), z.unknown()).default({}),
  /** @default no credentials */
  auth: authSchema().optional(),
}));
export type ModuleDestinationFields = z.output<z.ZodObject<ReturnType<typeof moduleFields>>>;

/**
 * One strict schema per kind: the common fields (given by the pipeline config, so this file does
 * not import it) plus the kind's own. Register a new kind by adding its schema to the list.
 *
 * @example
 * z.discriminatedUnion('kind', destinationKindSchemas({ name: z.string() }));
 */
export const destinationKindSchemas = <Common extends z.core.$ZodLooseShape>(common: Common) =>
  [z.strictObject({ ...common, ...httpFields() }), z.strictObject({ ...common, ...moduleFields() })] as const;
