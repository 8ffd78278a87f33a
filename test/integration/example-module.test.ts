import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import createBatchUpsertDestination, { BatchUpsertDestination, classifyBatchApiAnswer } from '../../examples/batch-upsert-api/batch-upsert-destination.ts';
import { createDestination } from '../../lib/adapters/destination-factory.ts';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import type { Authenticator } from '../../lib/core/plugins.ts';
import { changeEvent, failureOf } from '../helpers/factories.ts';

/** One request as the fake batch API saw it. */
interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

const readBody = async (request: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

/**
 * Behaves like the batch API: `POST /v1/objects/{type}/batch-upsert|batch-delete`, answering 200 with
 * a result per object. The id's prefix picks what goes wrong: `stale-`, `invalid-`, `throttle-` (429
 * with Retry-After), `boom-` (500), `locked-` (409 locked), `moved-` (409 of another kind), `hang-`
 * (no answer), `lost-` (200 without its result), `gone-` (404 on delete), `private-` (401 unless
 * the token is fresh).
 */
const answer = (seen: Seen): { status: number; headers?: Record<string, string>; body?: unknown } | undefined => {
  const match = /^\/v1\/objects\/([^/]+)\/(batch-upsert|batch-delete)$/.exec(seen.path);
  if (seen.method !== 'POST' || match === null) return { status: 404, body: { error: 'not_found' } };
  const body = seen.body as { objects?: Array<{ id: string }>; ids?: string[] };
  const ids = match[2] === 'batch-upsert' ? (body.objects ?? []).map((object) => object.id) : (body.ids ?? []);
  const id = ids[0] ?? '';
  if (id.startsWith('hang-')) return undefined;
  if (id.startsWith('throttle-')) return { status: 429, headers: { 'retry-after': '3' }, body: { error: 'rate_limited' } };
  if (id.startsWith('boom-')) return { status: 500, body: { error: 'internal' } };
  if (id.startsWith('locked-')) return { status: 409, body: { error: 'locked' } };
  if (id.startsWith('moved-')) return { status: 409, body: { error: 'version_moved' } };
  if (id.startsWith('gone-')) return { status: 404, body: { error: 'not_found' } };
  if (id.startsWith('private-') && seen.headers.authorization !== 'Bearer fresh') return { status: 401, body: { error: 'unauthorized' } };
  if (id.startsWith('lost-')) return { status: 200, body: { results: [] } };
  const status = id.startsWith('stale-') ? 'stale' : id.startsWith('invalid-') ? 'invalid' : 'ok';
  return { status: 200, body: { results: ids.map((each) => ({ id: each, status, ...(status === 'invalid' ? { message: 'properties.email: not an email address' } : {}) })) } };
};

/** An authenticator whose token is stale until refreshed. */
const tokenAuth = () => {
  let token = 'stale';
  let refreshes = 0;
  const auth: Authenticator = {
    headers: async () => ({ Authorization: `Bearer ${token}` }),
    refresh: async () => {
      refreshes += 1;
      token = 'fresh';
    },
  };
  return { auth, refreshes: () => refreshes };
};

describe('Example module: the batch-upsert API adapter against a server like the API', () => {
  let server: Server;
  let baseUrl: string;
  const seen: Seen[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      void readBody(request).then((text) => {
        const one: Seen = { method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: text === '' ? undefined : JSON.parse(text) };
        seen.push(one);
        const reply = answer(one);
        if (reply === undefined) return; // never answers
        response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify(reply.body ?? {}));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    seen.length = 0;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const api = (options: { requestTimeoutMs?: number; auth?: Authenticator } = {}) =>
    createBatchUpsertDestination({
      destination: 'objects',
      options: { baseUrl: `${baseUrl}/` },
      requestTimeoutMs: options.requestTimeoutMs ?? 1000,
      ...(options.auth === undefined ? {} : { auth: options.auth }),
    });

  it('sends an upsert as a one-object batch and reads "ok" as applied', async () => {
    // Act
    const result = await api().apply({ event: changeEvent({ resourceType: 'contact', id: 'ok-1', version: 7 }), idempotencyKey: 'objects:contact:ok-1:7' });

    // Assess
    expect(result).toBe('applied');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      path: '/v1/objects/contact/batch-upsert',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'objects:contact:ok-1:7' },
      body: { objects: [{ id: 'ok-1', version: 7, properties: { name: 'Ada Lovelace', email: 'ada@example.com' } }] },
    });
  });

  it('sends a delete as a batch-delete of its id, and a 404 there means already gone', async () => {
    // Act
    const deleted = await api().apply({ event: changeEvent({ op: 'delete', id: 'ok-2' }), idempotencyKey: 'k' });
    const gone = await api().apply({ event: changeEvent({ op: 'delete', id: 'gone-1' }), idempotencyKey: 'k' });

    // Assess
    expect([deleted, gone]).toEqual(['applied', 'applied']);
    expect(seen[0]).toMatchObject({ path: '/v1/objects/contact/batch-delete', body: { ids: ['ok-2'] } });
  });

  it('encodes the type and keeps the id in the body, whatever it holds', async () => {
    // Act
    await api().apply({ event: changeEvent({ resourceType: 'deal.v2', id: 'ok-a/b ü' }), idempotencyKey: 'objects:deal.v2:ok-a/b ü:1' });

    // Assess
    expect(seen[0]).toMatchObject({ path: '/v1/objects/deal.v2/batch-upsert', headers: { 'idempotency-key': 'objects:deal.v2:ok-a/b%20%C3%BC:1' } });
    expect((seen[0]?.body as { objects: Array<{ id: string }> }).objects[0]?.id).toBe('ok-a/b ü');
  });

  it('reads "stale" as superseded', async () => {
    // Act & Assess
    await expect(api().apply({ event: changeEvent({ id: 'stale-1' }), idempotencyKey: 'k' })).resolves.toBe('superseded');
  });

  it("reads \"invalid\" as a permanent client error with the API's message, never the payload", async () => {
    // Act
    const error = await failureOf(api().apply({ event: changeEvent({ id: 'invalid-1' }), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({
      errorClass: 'client',
      retryable: false,
      outcomeUnknown: false,
      message: 'batch-upsert contact/invalid-1 refused as invalid: properties.email: not an email address',
    });
    expect(error.message).not.toContain('ada@example.com');
  });

  it('reads a 429 as throttled, with its Retry-After', async () => {
    // Act
    const error = await failureOf(api().apply({ event: changeEvent({ id: 'throttle-1' }), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'throttled', status: 429, retryAfterMs: 3000, retryable: true, outcomeUnknown: false });
  });

  it('reads a 500 as a retryable server error whose outcome is unknown', async () => {
    // Act
    const error = await failureOf(api().apply({ event: changeEvent({ id: 'boom-1' }), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'server', status: 500, retryable: true, outcomeUnknown: true, message: 'batch-upsert contact/boom-1 answered 500' });
  });

  it('reads its quirk, a 409 "locked", as throttled, and another 409 as a conflict', async () => {
    // Act
    const locked = await failureOf(api().apply({ event: changeEvent({ id: 'locked-1' }), idempotencyKey: 'k' }));
    const moved = await failureOf(api().apply({ event: changeEvent({ id: 'moved-1' }), idempotencyKey: 'k' }));

    // Assess
    expect(locked).toMatchObject({ errorClass: 'throttled', status: 409 });
    expect(moved).toMatchObject({ errorClass: 'conflict', status: 409 });
  });

  it('reads a 200 without a result for the object as an error of unknown outcome', async () => {
    // Act
    const error = await failureOf(api().apply({ event: changeEvent({ id: 'lost-1' }), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'unknown', outcomeUnknown: true, retryable: true });
  });

  it('gives up at the request timeout with a timeout error of unknown outcome', async () => {
    // Prepare
    const startedAt = Date.now();

    // Act
    const error = await failureOf(api({ requestTimeoutMs: 150 }).apply({ event: changeEvent({ id: 'hang-1' }), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'timeout', retryable: true, outcomeUnknown: true, message: 'batch-upsert contact/hang-1 timed out after 150 ms' });
    expect(Date.now() - startedAt).toBeLessThan(2000);
  });

  it('refreshes its credentials once on a 401 and sends again', async () => {
    // Prepare
    const { auth, refreshes } = tokenAuth();

    // Act
    const result = await api({ auth }).apply({ event: changeEvent({ id: 'private-1' }), idempotencyKey: 'k' });

    // Assess
    expect(result).toBe('applied');
    expect(refreshes()).toBe(1);
    expect(seen.map((request) => request.headers.authorization)).toEqual(['Bearer stale', 'Bearer fresh']);
  });

  it('reads a 401 that a refresh does not cure as a permanent auth error', async () => {
    // Prepare
    let refreshes = 0;
    const auth: Authenticator = { headers: async () => ({ Authorization: 'Bearer revoked' }), refresh: async () => void (refreshes += 1) };

    // Act
    const error = await failureOf(api({ auth }).apply({ event: changeEvent({ id: 'private-2' }), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', status: 401, retryable: false });
    expect(refreshes).toBe(1);
    expect(seen).toHaveLength(2);
  });

  it('is built by the destination factory from a module config, with the authenticator of the wiring', async () => {
    // Prepare
    const config = parsePipelineConfig({
      destinations: [
        {
          name: 'objects',
          kind: 'module',
          module: './examples/batch-upsert-api/batch-upsert-destination.ts',
          options: { baseUrl },
          resourceTypes: ['contact'],
          requestTimeoutMs: 2000,
        },
      ],
    });
    const { auth } = tokenAuth();
    await auth.refresh();

    // Act
    const destination = createDestination(config.destinations[0]!, { createDestination: createBatchUpsertDestination }, { auth });
    const result = await destination.apply({ event: changeEvent({ id: 'private-3' }), idempotencyKey: 'k' });

    // Assess
    expect(destination).toBeInstanceOf(BatchUpsertDestination);
    expect(result).toBe('applied');
    expect(seen).toHaveLength(1);
  });

  it('classifies the API answers it knows before the default table', () => {
    // Act & Assess
    expect(classifyBatchApiAnswer(409, '{"error":"locked"}', 'upsert')).toBe('throttled');
    expect(classifyBatchApiAnswer(409, 'not json', 'upsert')).toBe('conflict');
    expect(classifyBatchApiAnswer(404, '', 'delete')).toBe('done');
    expect(classifyBatchApiAnswer(503, '', 'upsert')).toBe('server');
  });

  it.each<[string, unknown, string]>([
    ['missing', undefined, 'expected the API\'s https URL, such as "https://api.objects.example", got nothing'],
    ['not a string', 42, 'got number'],
    ['not a URL', 'api.objects.example', 'expected an absolute http(s) URL'],
    ['not http(s)', 'ftp://api.objects.example', 'expected an http(s) URL'],
    ['with credentials', 'https://user:s3cret@api.objects.example', 'expected a URL without user or password'],
    ['with a query', 'https://api.objects.example/?tenant=a', 'expected a URL without query or fragment'],
    ['http to another host', 'http://api.objects.example', 'expected https (http only to localhost'],
  ])('refuses an options.baseUrl that is %s, naming the destination, never quoting it', (_what, value, message) => {
    // Act
    const build = () => createBatchUpsertDestination({ destination: 'objects', options: value === undefined ? {} : { baseUrl: value }, requestTimeoutMs: 1000 });

    // Assess
    expect(build).toThrow(/^destination objects: options\.baseUrl: /);
    expect(build).toThrow(message);
    expect(build).not.toThrow(/s3cret/);
  });
});
