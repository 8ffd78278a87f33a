import { describe, expect, it } from 'vitest';
import { HttpDestination } from '../../lib/adapters/http-destination.ts';
import { DestinationError } from '../../lib/core/errors.ts';
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
