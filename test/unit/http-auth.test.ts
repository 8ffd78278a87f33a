import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAuthenticator, tokenKeepMs } from '../../lib/adapters/http-auth.ts';
import type { SecretReader, SecretReadOptions } from '../../lib/adapters/secrets.ts';
import type { AuthConfig } from '../../lib/config/destination-kinds.ts';
import { DestinationError } from '../../lib/core/errors.ts';
import type { OutgoingRequest } from '../../lib/core/plugins.ts';
import { failureOf } from '../helpers/factories.ts';

/** A SecretReader over a map of values; records every read. */
class FakeSecrets implements SecretReader {
  public readonly values = new Map<string, string>();
  public readonly reads: Array<{ secret: string } & SecretReadOptions> = [];
  public failNext: DestinationError | undefined;

  public read(secret: string, options: SecretReadOptions): Promise<string> {
    this.reads.push({ secret, maxAgeSeconds: options.maxAgeSeconds, forceFetch: options.forceFetch ?? false });
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure !== undefined) return Promise.reject(failure);
    const value = this.values.get(secret);
    if (value === undefined) return Promise.reject(new DestinationError(`Secret "${secret}" could not be read: ResourceNotFoundException`, { errorClass: 'auth' }));
    return Promise.resolve(value);
  }
}

const request = (overrides: Partial<OutgoingRequest> = {}): OutgoingRequest => ({
  method: 'PUT',
  url: 'https://crm.example.com/api/contact/c-1',
  body: '{"name":"Ada"}',
  idempotencyKey: 'crm:contact:c-1:3',
  ...overrides,
});

const common = { secret: 'crm/credentials', maxAgeSeconds: 300 } as const;

describe('Function: createAuthenticator (secret headers)', () => {
  let secrets: FakeSecrets;
  const make = (auth: AuthConfig) => createAuthenticator(auth, { secrets, requestTimeoutMs: 1000 });

  beforeEach(() => {
    secrets = new FakeSecrets();
  });

  it('sends a bearer token read with the auth maxAgeSeconds, without forcing', async () => {
    // Prepare
    secrets.values.set('crm/credentials', 'tok-123\n');
    const auth = make({ type: 'bearer', secret: 'crm/credentials', maxAgeSeconds: 60 });

    // Act
    const headers = await auth.headers(request());

    // Assess
    expect(headers).toEqual({ Authorization: 'Bearer tok-123' });
    expect(secrets.reads).toEqual([{ secret: 'crm/credentials', maxAgeSeconds: 60, forceFetch: false }]);
  });

  it('sends an API key in the configured header', async () => {
    // Prepare
    secrets.values.set('crm/credentials', 'key-abc');

    // Act
    const custom = await make({ type: 'api-key', header: 'X-Crm-Key', ...common }).headers(request());
    const standard = await make({ type: 'api-key', header: 'X-Api-Key', ...common }).headers(request());

    // Assess
    expect(custom).toEqual({ 'X-Crm-Key': 'key-abc' });
    expect(standard).toEqual({ 'X-Api-Key': 'key-abc' });
  });

  it('sends basic credentials from a JSON secret, UTF-8 and base64', async () => {
    // Prepare
    secrets.values.set('crm/credentials', JSON.stringify({ username: 'ada', password: 'pä:ss' }));

    // Act
    const headers = await make({ type: 'basic', ...common }).headers(request());

    // Assess
    expect(headers).toEqual({ Authorization: `Basic ${Buffer.from('ada:pä:ss', 'utf8').toString('base64')}` });
  });

  it.each([
    { type: 'basic' as const, value: 'hunter2-not-json', says: 'is not JSON with username and password' },
    { type: 'basic' as const, value: '{"username":"ada","pass":"hunter2-word"}', says: 'is not JSON with username and password' },
    { type: 'basic' as const, value: '{"username":"ada:x","password":"hunter2-word"}', says: 'has a username that is empty or contains ":"' },
    { type: 'bearer' as const, value: 'hunter2\nX-Injected: yes', says: 'is not a usable bearer token' },
    { type: 'bearer' as const, value: '  ', says: 'is not a usable bearer token' },
    { type: 'standard-webhooks' as const, value: 'hunter2-no-prefix', says: 'is not a Standard Webhooks secret' },
    { type: 'standard-webhooks' as const, value: 'whsec_hunter2!!', says: 'is not a Standard Webhooks secret' },
  ])('refuses a malformed $type secret as auth, naming the secret and never the value ($says)', async ({ type, value, says }) => {
    // Prepare
    secrets.values.set('crm/credentials', value);

    // Act
    const error = await failureOf(make({ type, ...common }).headers(request()));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', retryable: false, outcomeUnknown: false });
    expect(error.message).toContain(`Secret "crm/credentials" ${says}`);
    expect(error.message).not.toContain('hunter2');
    expect(error.cause).toBeUndefined();
  });

  it('reads the secret again with forceFetch after refresh, then from the cache again', async () => {
    // Prepare
    secrets.values.set('crm/credentials', 'tok-1');
    const auth = make({ type: 'bearer', ...common });
    await auth.headers(request());
    secrets.values.set('crm/credentials', 'tok-2');

    // Act
    await auth.refresh();
    const refreshed = await auth.headers(request());
    await auth.headers(request());

    // Assess
    expect(refreshed).toEqual({ Authorization: 'Bearer tok-2' });
    expect(secrets.reads.map((read) => read.forceFetch)).toEqual([false, true, false]);
  });

  it('forces the next read again when the forced one failed', async () => {
    // Prepare
    secrets.values.set('crm/credentials', 'tok-1');
    const auth = make({ type: 'bearer', ...common });
    await auth.refresh();
    secrets.failNext = new DestinationError('Secret "crm/credentials" could not be read: ThrottlingException', { errorClass: 'server' });

    // Act
    const error = await failureOf(auth.headers(request()));
    await auth.headers(request());

    // Assess
    expect(error.errorClass).toBe('server');
    expect(secrets.reads.map((read) => read.forceFetch)).toEqual([true, true]);
  });
});

describe('Function: createAuthenticator (standard-webhooks), checked with the standardwebhooks library', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  let secrets: FakeSecrets;

  beforeEach(() => {
    secrets = new FakeSecrets();
    secrets.values.set('hooks/secret', secret);
  });

  const make = (now?: () => number) =>
    createAuthenticator({ type: 'standard-webhooks', secret: 'hooks/secret', maxAgeSeconds: 300 }, { secrets, requestTimeoutMs: 1000, ...(now ? { now } : {}) });

  it('signs a request the library verifies', async () => {
    // Prepare
    const body = JSON.stringify({ id: 'c-1', name: 'Ada' });

    // Act
    const headers = await make().headers(request({ body }));

    // Assess
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual({ id: 'c-1', name: 'Ada' });
    expect(headers['webhook-id']).toBe('crm:contact:c-1:3');
  });

  it('fails verification for a tampered body (the negative control)', async () => {
    // Prepare
    const headers = await make().headers(request({ body: '{"amount":1}' }));

    // Act
    const verifying = () => new Webhook(secret).verify('{"amount":100}', { ...headers });

    // Assess
    expect(verifying).toThrow(WebhookVerificationError);
  });

  it('fails verification under another secret', async () => {
    // Prepare
    const headers = await make().headers(request());

    // Act
    const verifying = () => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(request().body!, { ...headers });

    // Assess
    expect(verifying).toThrow(WebhookVerificationError);
  });

  it('signs a request without a body over the empty string', async () => {
    // Prepare
    const headers = await make().headers(request({ method: 'DELETE', body: undefined }));

    // Act
    const verified = new Webhook(secret).verify('', { ...headers });

    // Assess
    expect(verified).toBeUndefined();
  });

  it('uses the header-safe idempotency key as webhook-id and unix seconds from now, the same on a retry', async () => {
    // Prepare
    const nowMs = Date.now();
    const auth = make(() => nowMs);
    const unicode = request({ idempotencyKey: 'crm:contact:müller 1:3' });

    // Act
    const first = await auth.headers(unicode);
    const retry = await auth.headers(unicode);

    // Assess
    expect(first['webhook-id']).toBe('crm:contact:m%C3%BCller%201:3');
    expect(first['webhook-timestamp']).toBe(String(Math.floor(nowMs / 1000)));
    expect(retry).toEqual(first);
    expect(first['webhook-signature']).toBe(new Webhook(secret).sign(first['webhook-id']!, new Date(nowMs), unicode.body!));
    expect(new Webhook(secret).verify(unicode.body!, { ...first })).toEqual({ name: 'Ada' });
  });
});

/** What the token server saw of one request. */
interface TokenRequest {
  readonly method: string;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly body: string;
}

const readAll = async (incoming: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

/** Client id and secret as the server decodes HTTP Basic with form-encoded parts (RFC 6749 §2.3.1). */
const decodeClientBasic = (authorization: string | undefined): { id: string; secret: string } => {
  const decoded = Buffer.from((authorization ?? '').replace(/^Basic /, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const formDecode = (value: string) => new URLSearchParams(`v=${value}`).get('v')!;
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
};

describe('Function: createAuthenticator (oauth2-client-credentials) against a local token server', () => {
  let server: Server;
  let tokenUrl: string;
  let seen: TokenRequest[];
  /** What the server answers next; `hang` never answers. */
  let answer: { status: number; body: unknown; delayMs?: number; hang?: boolean };
  let issued: number;
  let secrets: FakeSecrets;
  let nowMs: number;
  const credentials = { clientId: 'sync pipeline:1', clientSecret: 'hunter2 & co+%/' };

  beforeAll(async () => {
    server = createServer((incoming, response) => {
      void (async () => {
        const body = await readAll(incoming);
        seen.push({ method: incoming.method!, authorization: incoming.headers.authorization, contentType: incoming.headers['content-type'], body });
        if (answer.hang) return;
        if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
        issued += 1;
        const payload = typeof answer.body === 'function' ? (answer.body as (n: number) => unknown)(issued) : answer.body;
        response.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(payload));
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    seen = [];
    issued = 0;
    nowMs = 1_700_000_000_000;
    answer = { status: 200, body: (n: number) => ({ access_token: `at-${n}`, token_type: 'Bearer', expires_in: 3600 }) };
    secrets = new FakeSecrets();
    secrets.values.set('crm/oauth', JSON.stringify(credentials));
  });

  const make = (options: { scopes?: string[]; requestTimeoutMs?: number; url?: string } = {}) =>
    createAuthenticator(
      { type: 'oauth2-client-credentials', tokenUrl: options.url ?? tokenUrl, scopes: options.scopes ?? [], secret: 'crm/oauth', maxAgeSeconds: 300 },
      { secrets, requestTimeoutMs: options.requestTimeoutMs ?? 2000, now: () => nowMs },
    );

  it('exchanges the client credentials, sent with HTTP Basic (form-encoded parts), for a bearer token', async () => {
    // Act
    const headers = await make({ scopes: ['contacts.write', 'contacts.read'] }).headers(request());

    // Assess
    expect(headers).toEqual({ Authorization: 'Bearer at-1' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', contentType: 'application/x-www-form-urlencoded' });
    expect(Object.fromEntries(new URLSearchParams(seen[0]!.body))).toEqual({ grant_type: 'client_credentials', scope: 'contacts.write contacts.read' });
    expect(decodeClientBasic(seen[0]!.authorization)).toEqual({ id: credentials.clientId, secret: credentials.clientSecret });
    // The form-encoding is visible on the wire: a space is '+', '&' is '%26'.
    expect(Buffer.from(seen[0]!.authorization!.slice(6), 'base64').toString()).toBe('sync+pipeline%3A1:hunter2+%26+co%2B%25%2F');
  });

  it('sends no scope when none is configured, and accepts token_type in any case', async () => {
    // Prepare
    answer = { status: 200, body: { access_token: 'at-x', token_type: 'BEARER', expires_in: 3600 } };

    // Act
    const headers = await make().headers(request());

    // Assess
    expect(headers).toEqual({ Authorization: 'Bearer at-x' });
    expect(Object.fromEntries(new URLSearchParams(seen[0]!.body))).toEqual({ grant_type: 'client_credentials' });
  });

  it('keeps the token until 60 s before it expires', async () => {
    // Prepare
    const auth = make();
    await auth.headers(request());

    // Act
    nowMs += 3_539_000;
    const stillCached = await auth.headers(request());
    nowMs += 2_000;
    const renewed = await auth.headers(request());

    // Assess
    expect([stillCached, renewed]).toEqual([{ Authorization: 'Bearer at-1' }, { Authorization: 'Bearer at-2' }]);
    expect(seen).toHaveLength(2);
  });

  it('keeps a short-lived token for half its life', async () => {
    // Prepare
    answer = { status: 200, body: (n: number) => ({ access_token: `at-${n}`, token_type: 'Bearer', expires_in: 60 }) };
    const auth = make();
    await auth.headers(request());

    // Act
    nowMs += 29_000;
    const stillCached = await auth.headers(request());
    nowMs += 2_000;
    const renewed = await auth.headers(request());

    // Assess
    expect([stillCached, renewed]).toEqual([{ Authorization: 'Bearer at-1' }, { Authorization: 'Bearer at-2' }]);
    expect(tokenKeepMs(3600)).toBe(3_540_000);
    expect(tokenKeepMs(60)).toBe(30_000);
  });

  it('shares one token request between concurrent callers', async () => {
    // Prepare
    answer = { ...answer, delayMs: 100 };
    const auth = make();

    // Act
    const all = await Promise.all(Array.from({ length: 8 }, () => auth.headers(request())));

    // Assess
    expect(new Set(all.map((headers) => headers.Authorization))).toEqual(new Set(['Bearer at-1']));
    expect(seen).toHaveLength(1);
  });

  it('drops the token on refresh and reads the secret again with forceFetch', async () => {
    // Prepare
    const auth = make();
    await auth.headers(request());

    // Act
    await auth.refresh();
    const headers = await auth.headers(request());

    // Assess
    expect(headers).toEqual({ Authorization: 'Bearer at-2' });
    expect(seen).toHaveLength(2);
    expect(secrets.reads.map((read) => read.forceFetch)).toEqual([false, true]);
  });

  it('gets a new token when the secret was rotated', async () => {
    // Prepare
    const auth = make();
    await auth.headers(request());
    secrets.values.set('crm/oauth', JSON.stringify({ clientId: 'sync', clientSecret: 'rotated' }));

    // Act
    const headers = await auth.headers(request());

    // Assess
    expect(headers).toEqual({ Authorization: 'Bearer at-2' });
    expect(decodeClientBasic(seen[1]!.authorization)).toEqual({ id: 'sync', secret: 'rotated' });
  });

  it.each([
    { status: 401, body: { error: 'invalid_client', error_description: 'bad client hunter2' }, says: 'answered 401 (invalid_client)' },
    { status: 400, body: { error: 'invalid_scope' }, says: 'answered 400 (invalid_scope)' },
    { status: 403, body: 'nope', says: 'answered 403' },
  ])('makes a $status from the token endpoint a permanent auth error', async ({ status, body, says }) => {
    // Prepare
    answer = { status, body };

    // Act
    const error = await failureOf(make().headers(request()));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', status, retryable: false, outcomeUnknown: false });
    expect(error.message).toBe(`OAuth token request to ${tokenUrl} ${says}`);
    expect(error.message).not.toContain('hunter2');
  });

  it('makes a 503 transient, and tries again on the next call', async () => {
    // Prepare
    answer = { status: 503, body: { error: 'temporarily_unavailable' } };
    const auth = make();

    // Act
    const error = await failureOf(auth.headers(request()));
    answer = { status: 200, body: { access_token: 'at-ok', token_type: 'bearer', expires_in: 3600 } };
    const headers = await auth.headers(request());

    // Assess
    expect(error).toMatchObject({ errorClass: 'server', status: 503, retryable: true, outcomeUnknown: false });
    expect(headers).toEqual({ Authorization: 'Bearer at-ok' });
  });

  it('gives up at requestTimeoutMs with a transient timeout', async () => {
    // Prepare
    answer = { status: 200, body: {}, hang: true };
    const startedAt = Date.now();

    // Act
    const error = await failureOf(make({ requestTimeoutMs: 150 }).headers(request()));

    // Assess
    expect(error).toMatchObject({ errorClass: 'timeout', retryable: true, outcomeUnknown: false });
    expect(error.message).toBe(`OAuth token request to ${tokenUrl} timed out after 150 ms`);
    expect(Date.now() - startedAt).toBeLessThan(2000);
  });

  it('makes a refused connection a transient network error', async () => {
    // Prepare: a port that was just freed, so nothing listens on it
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    // Act
    const error = await failureOf(make({ url: `http://127.0.0.1:${port}/token` }).headers(request()));

    // Assess
    expect(error).toMatchObject({ errorClass: 'network', retryable: true, outcomeUnknown: false });
    expect(error.message).toContain('ECONNREFUSED');
  });

  it.each([
    { body: { access_token: 'at-1', token_type: 'mac', expires_in: 3600 }, says: 'answered token_type "mac"; only Bearer is supported' },
    { body: { token_type: 'Bearer', expires_in: 3600 }, says: 'answered 200 without a usable access_token' },
    { body: 'not json', says: 'answered 200 without a usable access_token' },
  ])('refuses a token answer it cannot use as auth ($says)', async ({ body, says }) => {
    // Prepare
    answer = { status: 200, body };

    // Act
    const error = await failureOf(make().headers(request()));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', retryable: false });
    expect(error.message).toBe(`OAuth token request to ${tokenUrl} ${says}`);
  });

  it('refuses malformed client credentials before any token request, never quoting them', async () => {
    // Prepare
    secrets.values.set('crm/oauth', '{"clientId":"sync","secret":"hunter2"}');

    // Act
    const error = await failureOf(make().headers(request()));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', retryable: false });
    expect(error.message).toBe('Secret "crm/oauth" is not JSON with clientId and clientSecret (strings)');
    expect(seen).toHaveLength(0);
  });
});
