import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDestination } from '../../lib/adapters/destination-factory.ts';
import { HttpDestination, type HttpDestinationOptions } from '../../lib/adapters/http-destination.ts';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import type { StatusRule } from '../../lib/config/destination-kinds.ts';
import { DestinationError } from '../../lib/core/errors.ts';
import type { Authenticator, OutgoingRequest, Transform } from '../../lib/core/plugins.ts';
import { changeEvent, failureOf } from '../helpers/factories.ts';

const answering = (status: number, headers: Record<string, string> = {}): typeof fetch =>
  (async () => new Response(status === 204 ? null : '{}', { status, headers })) as typeof fetch;

describe('Class: HttpDestination', () => {
  it.each<[number, string, boolean, boolean]>([
    [400, 'client', false, false],
    [413, 'client', false, false],
    [422, 'client', false, false],
    [401, 'auth', false, false],
    [403, 'auth', false, false],
    [408, 'timeout', true, false],
    [409, 'conflict', true, false],
    [429, 'throttled', true, false],
    [500, 'server', true, true],
    [501, 'server', true, false],
    [502, 'server', true, true],
    [503, 'server', true, false],
    [504, 'timeout', true, true],
  ])('maps status %i to class %s (retryable: %s, outcome unknown: %s)', async (status, errorClass, retryable, outcomeUnknown) => {
    // Prepare
    const destination = new HttpDestination({ baseUrl: 'https://api.test', requestTimeoutMs: 1000, fetch: answering(status) });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass, status, retryable, outcomeUnknown });
  });

  it('carries a 429 Retry-After in milliseconds', async () => {
    // Prepare
    const destination = new HttpDestination({ baseUrl: 'https://api.test', requestTimeoutMs: 1000, fetch: answering(429, { 'retry-after': '7' }) });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error.retryAfterMs).toBe(7000);
  });

  it('treats 404 on delete as done', async () => {
    // Prepare
    const destination = new HttpDestination({ baseUrl: 'https://api.test', requestTimeoutMs: 1000, fetch: answering(404) });

    // Act & Assess
    await expect(destination.apply({ event: changeEvent({ op: 'delete' }), idempotencyKey: 'k' })).resolves.toBe('applied');
  });

  it.each<['etag' | 'plain', string]>([
    ['etag', '"7"'],
    ['plain', '7'],
  ])('sends the version precondition (%s) and reads its refusal as superseded', async (format, value) => {
    // Prepare
    const headers: Array<Headers> = [];
    let status = 200;
    const recording = (async (_url: string, init: RequestInit) => {
      headers.push(new Headers(init.headers));
      return new Response('{}', { status });
    }) as typeof fetch;
    const destination = new HttpDestination({
      baseUrl: 'https://api.test',
      requestTimeoutMs: 1000,
      fetch: recording,
      versionPrecondition: { header: 'If-Match', format, refusedStatus: 412 },
    });

    // Act
    const applied = await destination.apply({ event: changeEvent({ version: 7 }), idempotencyKey: 'k' });
    status = 412;
    const refused = await destination.apply({ event: changeEvent({ version: 7 }), idempotencyKey: 'k' });
    status = 409;
    const conflict = await failureOf(destination.apply({ event: changeEvent({ version: 7 }), idempotencyKey: 'k' }));

    // Assess
    expect([applied, refused]).toEqual(['applied', 'superseded']);
    expect(headers[0]?.get('if-match')).toBe(value);
    expect(conflict.errorClass).toBe('conflict');
  });

  it('sends no precondition header when none is configured, and a 412 is then a client error', async () => {
    // Prepare
    const headers: Array<Headers> = [];
    const recording = (async (_url: string, init: RequestInit) => {
      headers.push(new Headers(init.headers));
      return new Response('{}', { status: 412 });
    }) as typeof fetch;
    const destination = new HttpDestination({ baseUrl: 'https://api.test', requestTimeoutMs: 1000, fetch: recording });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(headers[0]?.has('if-match')).toBe(false);
    expect(error.errorClass).toBe('client');
  });

  it('sends PUT with the payload, the idempotency key and the version, the id as one path segment', async () => {
    // Prepare
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const recording = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response('{}', { status: 200 });
    }) as unknown as typeof fetch;
    const destination = new HttpDestination({ baseUrl: 'https://api.test/v1/', requestTimeoutMs: 1000, fetch: recording });

    // Act
    await destination.apply({ event: changeEvent({ id: 'a/b c?d#é', version: 7 }), idempotencyKey: 'crm:contact:a/b c?d#é:7' });

    // Assess
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe('https://api.test/v1/contact/a%2Fb%20c%3Fd%23%C3%A9');
    expect(calls[0]?.init.method).toBe('PUT');
    expect(calls[0]?.init.headers).toMatchObject({ 'Idempotency-Key': 'crm:contact:a/b%20c?d#%C3%A9:7', 'X-Record-Version': '7' });
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual(changeEvent().payload);
  });

  it('refuses for good a request that cannot be encoded, without sending it', async () => {
    // Prepare
    let sent = 0;
    const counting = (async () => {
      sent += 1;
      return new Response('{}', { status: 200 });
    }) as unknown as typeof fetch;
    const destination = new HttpDestination({ baseUrl: 'https://api.test', requestTimeoutMs: 1000, fetch: counting });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent({ id: 'bad-\ud800' }), idempotencyKey: 'crm:contact:bad-\ud800:1' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'client', retryable: false });
    expect(sent).toBe(0);
  });

  it('lets an adapter refine the status mapping', async () => {
    // Prepare: this API answers 422 for "still indexing, retry"
    const destination = new HttpDestination({
      baseUrl: 'https://api.test',
      requestTimeoutMs: 1000,
      fetch: answering(422),
      classifyStatus: (status) => (status === 422 ? 'server' : undefined),
    });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'server', retryable: true });
  });
});

/** One request as the API saw it. */
interface SentRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly body: string | undefined;
}

/** A fetch answering the given statuses in turn (the last one from then on), recording each request. */
const recording = (statuses: readonly number[] = [200], headers: Record<string, string> = {}) => {
  const sent: SentRequest[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    sent.push({ url, method: String(init.method), headers: new Headers(init.headers), body: init.body === undefined ? undefined : String(init.body) });
    const status = statuses[Math.min(sent.length - 1, statuses.length - 1)]!;
    return new Response(status === 204 ? null : '{}', { status, headers });
  }) as unknown as typeof globalThis.fetch;
  return { sent, fetch };
};

const destinationWith = (options: Partial<HttpDestinationOptions>, statuses?: readonly number[], headers?: Record<string, string>) => {
  const api = recording(statuses, headers);
  const destination = new HttpDestination({ baseUrl: 'https://api.test/v1', requestTimeoutMs: 1000, fetch: api.fetch, ...options });
  return { destination, sent: api.sent };
};

/** An authenticator that signs with a counter, so a refresh shows in the header it sends. */
const countingAuth = () => {
  const seen: OutgoingRequest[] = [];
  let generation = 1;
  let refreshes = 0;
  const auth: Authenticator = {
    headers: async (request) => {
      seen.push(request);
      return { Authorization: `Bearer token-${generation}`, 'X-Signature': `sig(${request.method} ${request.url} ${request.body ?? ''})` };
    },
    refresh: async () => {
      refreshes += 1;
      generation += 1;
    },
  };
  return { auth, seen, refreshes: () => refreshes };
};

const SECRET_PAYLOAD = { name: 'Ada Lovelace', email: 'ada@example.com' };
const cyclic: Record<string, unknown> = { name: 'Ada' };
cyclic['self'] = cyclic;

describe('Class: HttpDestination, request mapping', () => {
  it.each<[string, string, string]>([
    ['a slash', 'a/b', 'a%2Fb'],
    ['a percent sign', '100%', '100%25'],
    ['unicode', 'müller-東京', 'm%C3%BCller-%E6%9D%B1%E4%BA%AC'],
    ['reserved characters', 'a?b#c d', 'a%3Fb%23c%20d'],
  ])('fills the path template with the id as exactly one segment (%s)', async (_what, id, segment) => {
    // Prepare
    const { destination, sent } = destinationWith({ baseUrl: 'https://api.test/v1//', request: { path: '/records/{resourceType}/{id}/versions/{version}' } });

    // Act
    await destination.apply({ event: changeEvent({ id, version: 3 }), idempotencyKey: 'k' });

    // Assess
    expect(sent[0]?.url).toBe(`https://api.test/v1/records/contact/${segment}/versions/3`);
  });

  it.each<['PUT' | 'PATCH' | 'POST']>([['PUT'], ['PATCH'], ['POST']])('sends an upsert as %s with the payload as JSON', async (method) => {
    // Prepare
    const { destination, sent } = destinationWith({ request: { method } });

    // Act
    const result = await destination.apply({ event: changeEvent(), idempotencyKey: 'k' });

    // Assess
    expect(result).toBe('applied');
    expect(sent[0]).toMatchObject({ method, url: 'https://api.test/v1/contact/c-1' });
    expect(JSON.parse(sent[0]!.body!)).toEqual(SECRET_PAYLOAD);
    expect(sent[0]?.headers.get('content-type')).toBe('application/json');
  });

  it('sends a delete as DELETE on the same path, without a body', async () => {
    // Prepare
    const { destination, sent } = destinationWith({ request: { method: 'PATCH', path: '/objects/{id}' } });

    // Act
    await destination.apply({ event: changeEvent({ op: 'delete', payload: undefined }), idempotencyKey: 'k' });

    // Assess
    expect(sent[0]).toMatchObject({ method: 'DELETE', url: 'https://api.test/v1/objects/c-1', body: undefined });
    expect(sent[0]?.headers.has('content-type')).toBe(false);
  });

  it("sends a soft delete as its own request, on its own path, with the transform's body", async () => {
    // Prepare
    const events: string[] = [];
    const transform: Transform = (event) => {
      events.push(event.op);
      return event.op === 'delete' ? { body: { archived: true, version: event.version } } : { body: { properties: event.payload } };
    };
    const { destination, sent } = destinationWith({
      request: { path: '/objects/{id}', delete: { method: 'POST', path: '/objects/{id}/archive', body: 'transform' } },
      transform,
    });

    // Act
    await destination.apply({ event: changeEvent({ op: 'delete', version: 4 }), idempotencyKey: 'k' });
    await destination.apply({ event: changeEvent({ version: 5 }), idempotencyKey: 'k' });

    // Assess
    expect(events).toEqual(['delete', 'upsert']);
    expect(sent[0]).toMatchObject({ method: 'POST', url: 'https://api.test/v1/objects/c-1/archive', body: '{"archived":true,"version":4}' });
    expect(sent[0]?.headers.get('content-type')).toBe('application/json');
    expect(sent[1]).toMatchObject({ method: 'PUT', url: 'https://api.test/v1/objects/c-1', body: JSON.stringify({ properties: SECRET_PAYLOAD }) });
  });

  it("sends no body on a delete whose body is none, even when the transform returns one, but uses the transform's path params", async () => {
    // Prepare
    const { destination, sent } = destinationWith({
      request: { path: '/{objectType}/{id}' },
      transform: () => ({ body: { ignored: true }, pathParams: { objectType: 'people' } }),
    });

    // Act
    await destination.apply({ event: changeEvent({ op: 'delete' }), idempotencyKey: 'k' });

    // Assess
    expect(sent[0]).toMatchObject({ method: 'DELETE', url: 'https://api.test/v1/people/c-1', body: undefined });
  });

  it("layers the headers: static, then the transform's, then ours, whatever their case", async () => {
    // Prepare
    const { destination, sent } = destinationWith({
      headers: { 'X-Legacy': 'legacy' },
      request: { headers: { 'X-Api-Version': '2024-01', 'X-Tenant': 'acme' } },
      transform: () => ({ headers: { 'x-tenant': 'acme-eu', 'idempotency-key': 'mine', 'X-Trace': 't-1' } }),
    });

    // Act
    await destination.apply({ event: changeEvent({ version: 9 }), idempotencyKey: 'crm:contact:c-1:9' });

    // Assess
    const headers = sent[0]!.headers;
    expect(Object.fromEntries(headers)).toMatchObject({
      'x-legacy': 'legacy',
      'x-api-version': '2024-01',
      'x-tenant': 'acme-eu',
      'x-trace': 't-1',
      'idempotency-key': 'crm:contact:c-1:9',
      'x-record-version': '9',
    });
  });

  it("sends the transform's body and fills its own placeholders from pathParams, each as one segment", async () => {
    // Prepare
    const seen: unknown[] = [];
    const { destination, sent } = destinationWith({
      request: { method: 'PATCH', path: '/crm/v3/objects/{objectType}/{id}' },
      transform: async (event) => {
        seen.push(event);
        return { body: { properties: event.payload }, pathParams: { objectType: 'contacts/eu' } };
      },
    });
    const event = changeEvent({ id: 'c/1' });

    // Act
    await destination.apply({ event, idempotencyKey: 'k' });

    // Assess
    expect(seen).toEqual([event]);
    expect(sent[0]).toMatchObject({ method: 'PATCH', url: 'https://api.test/v1/crm/v3/objects/contacts%2Feu/c%2F1' });
    expect(JSON.parse(sent[0]!.body!)).toEqual({ properties: SECRET_PAYLOAD });
  });

  it('builds the adapter from the config: request, status rules, the transform and the authenticator', async () => {
    // Prepare
    const api = recording([423]);
    vi.stubGlobal('fetch', api.fetch);
    const config = parsePipelineConfig({
      destinations: [
        {
          name: 'hub',
          kind: 'http',
          baseUrl: 'https://api.test/v3',
          resourceTypes: ['contact'],
          request: { method: 'POST', path: '/{objectType}/{id}', headers: { 'X-Api-Version': '3' } },
          statusRules: [{ status: 423, outcome: 'stale' }],
          transform: './transforms/hub.ts',
        },
      ],
    });
    const { auth } = countingAuth();

    // Act
    const destination = createDestination(config.destinations[0]!, { transform: () => ({ pathParams: { objectType: 'contacts' } }) }, { auth });
    const result = await destination.apply({ event: changeEvent(), idempotencyKey: 'k' });

    // Assess
    expect(result).toBe('superseded');
    expect(api.sent[0]).toMatchObject({ method: 'POST', url: 'https://api.test/v3/contacts/c-1' });
    expect(api.sent[0]?.headers.get('x-api-version')).toBe('3');
    expect(api.sent[0]?.headers.get('authorization')).toBe('Bearer token-1');
  });
});

describe('Class: HttpDestination, transforms that fail', () => {
  it.each<[string, Transform]>([
    ['throws', () => { throw new Error(`no owner for ${'x'.repeat(400)}`); }],
    ['rejects', async () => { throw new Error(`no owner for ${'x'.repeat(400)}`); }],
  ])('dead-letters a change whose transform %s as class transform, its message cut, without sending', async (_what, transform) => {
    // Prepare
    const { destination, sent } = destinationWith({ transform });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'transform', retryable: false, outcomeUnknown: false });
    expect(error.message).toMatch(/^transform failed: no owner for x+\.\.\.$/);
    expect(error.message).toHaveLength('transform failed: '.length + 300);
    expect(error.message).not.toContain('Ada');
    expect(sent).toHaveLength(0);
  });

  it.each<[string, unknown, string]>([
    ['null', null, 'transform returned null, expected an object'],
    ['an array', [1], 'transform returned an array, expected an object'],
    ['a string', 'Ada Lovelace', 'transform returned a string, expected an object'],
    ['undefined', undefined, 'transform returned undefined, expected an object'],
    ['headers that are not an object', { headers: 'Ada' }, 'transform returned headers as a string, expected an object of strings'],
    ['a path param that is not a string', { pathParams: { objectType: 7 } }, 'transform returned pathParams.objectType as a number, expected a string'],
    ['a header value HTTP refuses', { headers: { 'X-Owner': 'Ada\r\nLovelace' } }, 'transform returned header X-Owner with a value HTTP does not allow'],
    ['a body JSON cannot hold', { body: () => 'Ada', pathParams: { objectType: 'o' } }, 'transform returned a body that is a function, which JSON cannot hold'],
    ['a cyclic body', { body: cyclic, pathParams: { objectType: 'o' } }, 'transform returned a body that cannot be sent as JSON (TypeError)'],
  ])('refuses a transform that returns %s, as class transform, without quoting it', async (_what, shape, message) => {
    // Prepare
    const { destination, sent } = destinationWith({ request: { path: '/{objectType}/{id}' }, transform: () => shape as never });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'transform', retryable: false });
    expect(error.message).toContain(message);
    expect(error.message).not.toContain('Ada');
    expect(sent).toHaveLength(0);
  });

  it.each<[string, Record<string, string> | undefined, string]>([
    ['missing', undefined, 'nothing fills in {objectType} of the path'],
    ['empty', { objectType: '' }, 'give {objectType} an empty, "." or ".." value'],
    ['"."', { objectType: '.' }, 'give {objectType} an empty, "." or ".." value'],
    ['".."', { objectType: '..' }, 'give {objectType} an empty, "." or ".." value'],
  ])('refuses a path param that is %s, naming the placeholder', async (_what, pathParams, message) => {
    // Prepare
    const { destination, sent } = destinationWith({
      request: { path: '/{objectType}/{id}' },
      transform: () => ({ ...(pathParams === undefined ? {} : { pathParams }), body: SECRET_PAYLOAD }),
    });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'transform', retryable: false });
    expect(error.message).toMatch(/^PUT contact\/c-1: /);
    expect(error.message).toContain(message);
    expect(sent).toHaveLength(0);
  });

  it('refuses a placeholder nothing can fill when there is no transform', async () => {
    // Prepare
    const { destination, sent } = destinationWith({ request: { path: '/{tenant}/{id}' } });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'transform', message: expect.stringContaining('{tenant}') });
    expect(sent).toHaveLength(0);
  });

  it('gives up on a transform that does not finish within the call timeout', async () => {
    // Prepare
    const { destination, sent } = destinationWith({ requestTimeoutMs: 50, transform: () => new Promise(() => undefined) });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'transform', message: 'transform did not finish within 50 ms', outcomeUnknown: false });
    expect(sent).toHaveLength(0);
  });
});

describe('Class: HttpDestination, status rules', () => {
  it.each<[StatusRule['outcome'], number, string | { errorClass: string; retryable: boolean; outcomeUnknown: boolean }]>([
    ['stale', 422, 'superseded'],
    ['done', 409, 'applied'],
    ['rejected', 503, { errorClass: 'client', retryable: false, outcomeUnknown: false }],
    ['auth', 400, { errorClass: 'auth', retryable: false, outcomeUnknown: false }],
    ['throttled', 503, { errorClass: 'throttled', retryable: true, outcomeUnknown: false }],
    ['retry', 500, { errorClass: 'server', retryable: true, outcomeUnknown: false }],
  ])('reads a rule with outcome %s (on %i) before the status tables', async (outcome, status, expected) => {
    // Prepare: classifyStatus would say otherwise; the rule decides first
    const { destination } = destinationWith({ statusRules: [{ status, outcome }], classifyStatus: () => 'unknown' }, [status]);

    // Act
    const answer = destination.apply({ event: changeEvent(), idempotencyKey: 'k' });

    // Assess
    if (typeof expected === 'string') await expect(answer).resolves.toBe(expected);
    else expect(await failureOf(answer)).toMatchObject({ ...expected, status, message: `PUT contact/c-1 answered ${status} (status rule: ${outcome})` });
  });

  it('carries Retry-After on a throttled rule', async () => {
    // Prepare
    const { destination } = destinationWith({ statusRules: [{ status: 420, outcome: 'throttled' }] }, [420], { 'retry-after': '12' });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'throttled', retryAfterMs: 12_000 });
  });

  it('applies a rule only to its op, and the first matching rule decides', async () => {
    // Prepare
    const { destination } = destinationWith(
      {
        statusRules: [
          { status: 410, op: 'delete', outcome: 'done' },
          { status: 410, outcome: 'rejected' },
          { status: 410, outcome: 'stale' },
        ],
      },
      [410],
    );

    // Act
    const deleted = await destination.apply({ event: changeEvent({ op: 'delete' }), idempotencyKey: 'k' });
    const upserted = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(deleted).toBe('applied');
    expect(upserted).toMatchObject({ errorClass: 'client', status: 410 });
  });

  it('decides before the precondition refusal', async () => {
    // Prepare
    const { destination } = destinationWith(
      { statusRules: [{ status: 412, outcome: 'retry' }], versionPrecondition: { header: 'If-Match', format: 'etag', refusedStatus: 412 } },
      [412],
    );

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'server', outcomeUnknown: false });
  });
});

describe('Class: HttpDestination, credentials', () => {
  it('computes the auth headers over the final body and sends them last', async () => {
    // Prepare
    const { auth, seen } = countingAuth();
    const { destination, sent } = destinationWith({
      request: { method: 'POST', path: '/{objectType}' },
      transform: (event) => ({ body: { id: event.id, properties: event.payload }, pathParams: { objectType: 'contacts' }, headers: { Authorization: 'Bearer forged' } }),
      auth,
    });

    // Act
    await destination.apply({ event: changeEvent({ id: 'ü-1' }), idempotencyKey: 'crm:contact:ü-1:1' });

    // Assess
    const body = JSON.stringify({ id: 'ü-1', properties: SECRET_PAYLOAD });
    expect(seen).toEqual([{ method: 'POST', url: 'https://api.test/v1/contacts', body, idempotencyKey: 'crm:contact:%C3%BC-1:1' }]);
    expect(sent[0]?.body).toBe(body);
    expect(sent[0]?.headers.get('authorization')).toBe('Bearer token-1');
    expect(sent[0]?.headers.get('x-signature')).toBe(`sig(POST https://api.test/v1/contacts ${body})`);
  });

  it('gives the authenticator no body on a delete without one', async () => {
    // Prepare
    const { auth, seen } = countingAuth();
    const { destination } = destinationWith({ auth });

    // Act
    await destination.apply({ event: changeEvent({ op: 'delete' }), idempotencyKey: 'k' });

    // Assess
    expect(seen).toEqual([{ method: 'DELETE', url: 'https://api.test/v1/contact/c-1', body: undefined, idempotencyKey: 'k' }]);
  });

  it('refreshes the credentials once on a 401 and sends again, re-authorized', async () => {
    // Prepare
    const { auth, refreshes } = countingAuth();
    const { destination, sent } = destinationWith({ auth }, [401, 200]);

    // Act
    const result = await destination.apply({ event: changeEvent(), idempotencyKey: 'k' });

    // Assess
    expect(result).toBe('applied');
    expect(refreshes()).toBe(1);
    expect(sent.map((request) => request.headers.get('authorization'))).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(sent[1]?.body).toBe(sent[0]?.body);
  });

  it('reads a second 401 as class auth, after exactly one refresh', async () => {
    // Prepare
    const { auth, refreshes } = countingAuth();
    const { destination, sent } = destinationWith({ auth }, [401]);

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', status: 401, retryable: false });
    expect(error.message).toBe('PUT contact/c-1 answered 401 after a 401 and refreshed credentials');
    expect(refreshes()).toBe(1);
    expect(sent).toHaveLength(2);
  });

  it('reads the answer after a refresh like any other (a 503 then)', async () => {
    // Prepare
    const { auth } = countingAuth();
    const { destination } = destinationWith({ auth }, [401, 503]);

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'server', status: 503 });
  });

  it('reads a 401 without an authenticator as class auth, sent once', async () => {
    // Prepare
    const { destination, sent } = destinationWith({}, [401]);

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', message: 'PUT contact/c-1 answered 401' });
    expect(sent).toHaveLength(1);
  });

  it('fails with a known outcome, sending nothing, when the credentials cannot be read', async () => {
    // Prepare
    const auth: Authenticator = {
      headers: async () => {
        throw new Error('secret sync/crm not found');
      },
      refresh: async () => undefined,
    };
    const { destination, sent } = destinationWith({ auth });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'unknown', outcomeUnknown: false, message: 'PUT contact/c-1: its credentials are unavailable (secret sync/crm not found)' });
    expect(sent).toHaveLength(0);
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
});
