import { createHmac } from 'node:crypto';
import type { AuthConfig } from '../config/destination-kinds.ts';
import { classifyTransportError, DestinationError, DestinationErrorClass } from '../core/errors.ts';
import type { Authenticator, OutgoingRequest } from '../core/plugins.ts';
import { toHeaderValue } from './http-destination.ts';
import type { SecretReader } from './secrets.ts';

/** What an authenticator needs besides its config. */
export interface AuthenticatorDeps {
  readonly secrets: SecretReader;
  /** For the OAuth token endpoint. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Epoch milliseconds: signing timestamps and token expiry. @default Date.now */
  readonly now?: () => number;
  /** Hard limit of one token request, body included. */
  readonly requestTimeoutMs: number;
}

/** A token is dropped this long before it expires, so no request carries one that expires on the way. */
const TOKEN_EXPIRY_MARGIN_MS = 60_000;
const STANDARD_WEBHOOKS_PREFIX = 'whsec_';

/** A credential the secret holds that cannot be used; the message says what is wrong, never the value. */
const malformed = (secret: string, what: string): DestinationError =>
  new DestinationError(`Secret "${secret}" ${what}`, { errorClass: DestinationErrorClass.AUTH, outcomeUnknown: false });

/**
 * A value as a header carries it: surrounding whitespace dropped (as HTTP does), then visible ASCII
 * with inner spaces. Checked here because fetch's own refusal quotes the value.
 */
const headerSafe = (secret: string, value: string, what: string): string => {
  const trimmed = value.trim();
  if (!/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(trimmed)) {
    throw malformed(secret, `is not a usable ${what}: empty, or holds characters a header cannot carry (expected visible ASCII)`);
  }
  return trimmed;
};

/** The secret as JSON holding the named string fields, or undefined. (JSON.parse's own message quotes the text, so it is never used.) */
const parseFields = <K extends string>(value: string, fields: readonly K[]): Record<K, string> | undefined => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Record<string, unknown>;
  return fields.every((field) => typeof record[field] === 'string') ? (record as Record<K, string>) : undefined;
};

/**
 * One secret as the authenticator reads it: through the reader's cache for `maxAgeSeconds`, and
 * once with `forceFetch` after {@link refresh} (again on the next read if that one failed).
 */
class SecretSource {
  readonly #secret: string;
  readonly #maxAgeSeconds: number;
  readonly #reader: SecretReader;
  #forceNext = false;

  public constructor(auth: AuthConfig, reader: SecretReader) {
    this.#secret = auth.secret;
    this.#maxAgeSeconds = auth.maxAgeSeconds;
    this.#reader = reader;
  }

  public get name(): string {
    return this.#secret;
  }

  public async read(): Promise<string> {
    const forceFetch = this.#forceNext;
    this.#forceNext = false;
    try {
      return await this.#reader.read(this.#secret, { maxAgeSeconds: this.#maxAgeSeconds, forceFetch });
    } catch (error) {
      if (forceFetch) this.#forceNext = true;
      throw error;
    }
  }

  public refresh(): void {
    this.#forceNext = true;
  }
}

/** An authenticator whose headers depend on the secret alone (and the request). */
class SecretHeaders implements Authenticator {
  readonly #source: SecretSource;
  readonly #build: (secret: string, value: string, request: OutgoingRequest) => Record<string, string>;

  public constructor(source: SecretSource, build: (secret: string, value: string, request: OutgoingRequest) => Record<string, string>) {
    this.#source = source;
    this.#build = build;
  }

  public async headers(request: OutgoingRequest): Promise<Readonly<Record<string, string>>> {
    return this.#build(this.#source.name, await this.#source.read(), request);
  }

  public refresh(): Promise<void> {
    this.#source.refresh();
    return Promise.resolve();
  }
}

const basicHeader = (secret: string, value: string): Record<string, string> => {
  const fields = parseFields(value, ['username', 'password']);
  if (fields === undefined) throw malformed(secret, 'is not JSON with username and password (strings)');
  if (fields.username === '' || fields.username.includes(':')) throw malformed(secret, 'has a username that is empty or contains ":" (not allowed by HTTP Basic)');
  if (/[\x00-\x1f\x7f]/.test(fields.username + fields.password)) throw malformed(secret, 'has a username or password with control characters');
  return { Authorization: basicAuthorization(fields.username, fields.password) };
};

/**
 * The `Authorization` value of HTTP Basic for a username and password.
 *
 * @example
 * basicAuthorization('ada', 'pw'); // 'Basic YWRhOnB3'
 */
export const basicAuthorization = (username: string, password: string): string => `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;

/** The key of a `whsec_<base64>` secret. */
const webhookKey = (secret: string, value: string): Buffer => {
  const trimmed = value.trim();
  const encoded = trimmed.startsWith(STANDARD_WEBHOOKS_PREFIX) ? trimmed.slice(STANDARD_WEBHOOKS_PREFIX.length) : undefined;
  if (encoded === undefined || encoded === '' || encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw malformed(secret, 'is not a Standard Webhooks secret (expected "whsec_" followed by base64)');
  }
  return Buffer.from(encoded, 'base64');
};

/**
 * The Standard Webhooks headers of one request: `webhook-id` (the idempotency key, header-safe, so
 * the same on every retry), `webhook-timestamp` (unix seconds) and `webhook-signature`
 * (`v1,` + base64 of HMAC-SHA256 over `${id}.${timestamp}.${body}` with the secret's key).
 *
 * @example
 * standardWebhooksHeaders(key, { method: 'POST', url, body: '{"a":1}', idempotencyKey: 'crm:c-1:3' }, 1_700_000_000_000);
 * // { 'webhook-id': 'crm:c-1:3', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v1,…' }
 */
export const standardWebhooksHeaders = (key: Buffer, request: OutgoingRequest, nowMs: number): Record<string, string> => {
  const id = toHeaderValue(request.idempotencyKey);
  const timestamp = String(Math.floor(nowMs / 1000));
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${request.body ?? ''}`, 'utf8').digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
};

/**
 * How long a token is used: until {@link TOKEN_EXPIRY_MARGIN_MS} before it expires, or half its
 * life when that is shorter than twice the margin.
 *
 * @example
 * tokenKeepMs(3600); // 3_540_000
 * tokenKeepMs(60); // 30_000
 */
export const tokenKeepMs = (expiresInSeconds: number): number => {
  const lifeMs = expiresInSeconds * 1000;
  return Math.max(lifeMs - TOKEN_EXPIRY_MARGIN_MS, lifeMs / 2);
};

/** `application/x-www-form-urlencoded` of one value, as RFC 6749 §2.3.1 asks before HTTP Basic. */
const formEncode = (value: string): string => new URLSearchParams([['', value]]).toString().slice(1);

/** An OAuth error code as the spec allows it (printable ASCII without `"` and `\`), or undefined. */
const oauthErrorCode = (body: unknown): string | undefined => {
  const code = (body as { error?: unknown } | null)?.error;
  return typeof code === 'string' && /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(code) ? code : undefined;
};

interface CachedToken {
  readonly header: string;
  readonly keepUntilMs: number;
  /** The secret the token was obtained with: a rotated secret gets a new token. */
  readonly credentials: string;
}

type OAuthConfig = Extract<AuthConfig, { type: 'oauth2-client-credentials' }>;

/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4): the secret's `clientId` and `clientSecret` are sent
 * with HTTP Basic to `tokenUrl`; the bearer token is kept until shortly before it expires and
 * concurrent callers share one token request.
 */
class OAuthClientCredentials implements Authenticator {
  readonly #auth: OAuthConfig;
  readonly #source: SecretSource;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  #token: CachedToken | undefined;
  #pending: { readonly credentials: string; readonly token: Promise<CachedToken> } | undefined;

  public constructor(auth: OAuthConfig, source: SecretSource, deps: AuthenticatorDeps) {
    this.#auth = auth;
    this.#source = source;
    this.#fetch = deps.fetch ?? globalThis.fetch;
    this.#now = deps.now ?? Date.now;
    this.#timeoutMs = deps.requestTimeoutMs;
  }

  public async headers(): Promise<Readonly<Record<string, string>>> {
    const credentials = await this.#source.read();
    const token = this.#token;
    if (token !== undefined && token.credentials === credentials && this.#now() < token.keepUntilMs) return { Authorization: token.header };
    return { Authorization: (await this.#shared(credentials)).header };
  }

  public refresh(): Promise<void> {
    this.#token = undefined;
    this.#pending = undefined;
    this.#source.refresh();
    return Promise.resolve();
  }

  /** The token request under way for these credentials, or a new one; only the current request's token is kept. */
  #shared(credentials: string): Promise<CachedToken> {
    if (this.#pending !== undefined && this.#pending.credentials === credentials) return this.#pending.token;
    const token = this.#request(credentials);
    const pending = { credentials, token };
    this.#pending = pending;
    token.then(
      (obtained) => {
        if (this.#pending === pending) {
          this.#token = obtained;
          this.#pending = undefined;
        }
      },
      () => {
        if (this.#pending === pending) this.#pending = undefined;
      },
    );
    return token;
  }

  async #request(credentials: string): Promise<CachedToken> {
    const secret = this.#source.name;
    const client = parseFields(credentials, ['clientId', 'clientSecret']);
    if (client === undefined || client.clientId === '') throw malformed(secret, 'is not JSON with clientId and clientSecret (strings)');
    const target = `OAuth token request to ${this.#auth.tokenUrl}`;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.#auth.scopes.length > 0) form.set('scope', this.#auth.scopes.join(' '));
    const basic = Buffer.from(`${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`, 'utf8').toString('base64');
    const sentAt = this.#now();
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(this.#auth.tokenUrl, {
        method: 'POST',
        // A redirect would resend the client's credentials somewhere else.
        redirect: 'manual',
        headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      const errorClass = classifyTransportError(error);
      const why =
        errorClass === DestinationErrorClass.TIMEOUT
          ? `timed out after ${this.#timeoutMs} ms`
          : `failed: ${(error as { cause?: { code?: string } }).cause?.code ?? (error instanceof Error ? error.message : String(error))}`;
      // Nothing was sent to the destination: whatever happened at the token endpoint, no write is in doubt.
      throw new DestinationError(`${target} ${why}`, { errorClass, outcomeUnknown: false, cause: error });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!response.ok) throw this.#statusError(target, response.status, body);
    const answer = (body ?? {}) as { access_token?: unknown; token_type?: unknown; expires_in?: unknown };
    const accessToken = typeof answer.access_token === 'string' ? answer.access_token : '';
    if (!/^[\x21-\x7e]+$/.test(accessToken)) throw this.#authError(target, `answered ${response.status} without a usable access_token`);
    if (typeof answer.token_type !== 'string' || answer.token_type.toLowerCase() !== 'bearer') {
      const shown = typeof answer.token_type === 'string' ? JSON.stringify(answer.token_type.slice(0, 32)) : 'none';
      throw this.#authError(target, `answered token_type ${shown}; only Bearer is supported`);
    }
    // expires_in is only RECOMMENDED (§5.1), and some servers send it as a string; without it the
    // token is kept as long as the secret is.
    const expiresIn = Number(answer.expires_in);
    const lifeSeconds = answer.expires_in !== undefined && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : this.#auth.maxAgeSeconds;
    return { header: `Bearer ${accessToken}`, keepUntilMs: sentAt + tokenKeepMs(lifeSeconds), credentials };
  }

  /** 400/401 (RFC 6749 §5.2: invalid_client, invalid_grant, invalid_scope…) and other 4xx or 3xx need a human; 429 and 5xx are retried. */
  #statusError(target: string, status: number, body: unknown): DestinationError {
    const code = oauthErrorCode(body);
    const message = `${target} answered ${status}${code === undefined ? '' : ` (${code})`}`;
    if (status === 429 || status >= 500) return new DestinationError(message, { errorClass: DestinationErrorClass.SERVER, status, outcomeUnknown: false });
    return new DestinationError(message, { errorClass: DestinationErrorClass.AUTH, status, outcomeUnknown: false });
  }

  #authError(target: string, what: string): DestinationError {
    return new DestinationError(`${target} ${what}`, { errorClass: DestinationErrorClass.AUTH, outcomeUnknown: false });
  }
}

/**
 * The authenticator for a destination's `auth`: the headers each request needs, from the secret
 * read through `secrets` (cached `maxAgeSeconds`; `refresh` makes the next request read it again,
 * bypassing the cache, and drops an OAuth token). A secret that cannot be used is a permanent `auth`
 * {@link DestinationError} naming the secret and what is wrong with it, never its value.
 *
 * - `bearer`: `Authorization: Bearer <secret>`
 * - `api-key`: `<header>: <secret>`
 * - `basic`: the secret `{"username","password"}` as `Authorization: Basic …`
 * - `oauth2-client-credentials`: the secret `{"clientId","clientSecret"}` exchanged at `tokenUrl`
 *   for `Authorization: Bearer <token>`
 * - `standard-webhooks`: the secret `whsec_…` signs each request (`webhook-id`, `webhook-timestamp`,
 *   `webhook-signature`)
 *
 * @example
 * const auth = createAuthenticator({ type: 'bearer', secret: 'crm/token', maxAgeSeconds: 300 }, { secrets, requestTimeoutMs: 5000 });
 * await auth.headers({ method: 'PUT', url, body: '{}', idempotencyKey: 'crm:c-1:3' }); // { Authorization: 'Bearer …' }
 */
export const createAuthenticator = (auth: AuthConfig, deps: AuthenticatorDeps): Authenticator => {
  const source = new SecretSource(auth, deps.secrets);
  switch (auth.type) {
    case 'bearer':
      return new SecretHeaders(source, (secret, value) => ({ Authorization: `Bearer ${headerSafe(secret, value, 'bearer token')}` }));
    case 'api-key':
      return new SecretHeaders(source, (secret, value) => ({ [auth.header]: headerSafe(secret, value, 'API key') }));
    case 'basic':
      return new SecretHeaders(source, basicHeader);
    case 'oauth2-client-credentials':
      return new OAuthClientCredentials(auth, source, deps);
    case 'standard-webhooks': {
      const now = deps.now ?? Date.now;
      return new SecretHeaders(source, (secret, value, request) => standardWebhooksHeaders(webhookKey(secret, value), request, now()));
    }
  }
};
