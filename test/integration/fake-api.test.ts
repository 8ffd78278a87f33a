import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  findDuplicateEffects,
  findRegressions,
  startFakeApi,
  type FailureRates,
  type FakeApi,
  type WriteLogEntry,
} from '../../lib/local/fake-api.ts';

const OCCURRED_AT = '2026-11-27T10:00:00.000Z';

interface WriteOptions {
  readonly key?: string | null;
  readonly version?: string | null;
  readonly signal?: AbortSignal;
  readonly body?: string;
}

/** Speaks the HTTP destination adapter's wire contract; `null` leaves a header out. */
const write = (
  api: FakeApi,
  method: 'PUT' | 'DELETE',
  path: { destination?: string; resourceType?: string; id: string; version: number },
  options: WriteOptions = {},
): Promise<Response> => {
  const destination = path.destination ?? 'crm';
  const resourceType = path.resourceType ?? 'contact';
  const headers: Record<string, string> = { 'X-Occurred-At': OCCURRED_AT };
  const key = options.key === undefined ? `${destination}:${resourceType}:${path.id}:${path.version}` : options.key;
  const version = options.version === undefined ? String(path.version) : options.version;
  if (key !== null) headers['Idempotency-Key'] = key;
  if (version !== null) headers['X-Record-Version'] = version;
  if (method === 'PUT') headers['Content-Type'] = 'application/json';
  return fetch(`${api.baseUrl(destination)}/${resourceType}/${encodeURIComponent(path.id)}`, {
    method,
    headers,
    ...(method === 'PUT' ? { body: options.body ?? JSON.stringify({ name: 'Ada', revision: path.version }) } : {}),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
};

const put = (api: FakeApi, id: string, version: number, options?: WriteOptions): Promise<Response> =>
  write(api, 'PUT', { id, version }, options);
const del = (api: FakeApi, id: string, version: number, options?: WriteOptions): Promise<Response> =>
  write(api, 'DELETE', { id, version }, options);
const get = (api: FakeApi, id: string, destination = 'crm'): Promise<Response> =>
  fetch(`${api.baseUrl(destination)}/contact/${encodeURIComponent(id)}`);

const logEntry = (overrides: Partial<WriteLogEntry>): WriteLogEntry => ({
  seq: 1,
  destination: 'crm',
  resourceType: 'contact',
  id: 'c-1',
  version: 1,
  op: 'upsert',
  idempotencyKey: 'crm:contact:c-1:1',
  at: 0,
  previousVersion: null,
  occurredAt: OCCURRED_AT,
  ...overrides,
});

describe('Function: startFakeApi', () => {
  let api: FakeApi;

  beforeEach(async () => {
    api = await startFakeApi();
  });

  afterEach(async () => {
    await api.stop();
  });

  describe('upsert, delete and read', () => {
    it('stores a PUT and answers 200 with the version', async () => {
      // Act
      const response = await put(api, 'c-1', 3);

      // Assess
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ version: 3 });
      expect(api.record('crm', 'contact', 'c-1')).toMatchObject({ version: 3, deleted: false, payload: { name: 'Ada', revision: 3 } });
      expect(api.writeLog()).toEqual([
        expect.objectContaining({
          seq: 1,
          destination: 'crm',
          resourceType: 'contact',
          id: 'c-1',
          version: 3,
          op: 'upsert',
          idempotencyKey: 'crm:contact:c-1:3',
          previousVersion: null,
          occurredAt: OCCURRED_AT,
        }),
      ]);
    });

    it('is a dumb last-writer-wins store that applies a lower version over a higher one', async () => {
      // Act
      await put(api, 'c-1', 5);
      const response = await put(api, 'c-1', 3);

      // Assess
      expect(response.status).toBe(200);
      expect(api.record('crm', 'contact', 'c-1')?.version).toBe(3);
      expect(api.writeLog().map((entry) => [entry.version, entry.previousVersion])).toEqual([
        [5, null],
        [3, 5],
      ]);
    });

    it('deletes with 204 and keeps a tombstone with the version', async () => {
      // Prepare
      await put(api, 'c-1', 1);

      // Act
      const response = await del(api, 'c-1', 2);

      // Assess
      expect(response.status).toBe(204);
      expect(await response.text()).toBe('');
      expect(api.record('crm', 'contact', 'c-1')).toMatchObject({ version: 2, deleted: true, payload: null });
      expect((await get(api, 'c-1')).status).toBe(404);
      expect(api.writeLog().map((entry) => entry.op)).toEqual(['upsert', 'delete']);
    });

    it('answers 404 to a DELETE of a record that never existed, without writing', async () => {
      // Act
      const response = await del(api, 'c-404', 1);

      // Assess
      expect(response.status).toBe(404);
      expect(api.writeLog()).toEqual([]);
      expect(api.record('crm', 'contact', 'c-404')).toBeUndefined();
    });

    it('answers GET with the record or 404 and counts every read', async () => {
      // Prepare
      await put(api, 'c-1', 2);

      // Act
      const found = await get(api, 'c-1');
      const missing = await get(api, 'c-2');

      // Assess
      expect(found.status).toBe(200);
      expect(await found.json()).toMatchObject({ resourceType: 'contact', id: 'c-1', version: 2, payload: { name: 'Ada' } });
      expect(missing.status).toBe(404);
      expect(api.stats()).toMatchObject({ requests: 3, writes: 1, reads: 2 });
      expect(api.stats().byDestination['crm']).toMatchObject({ requests: 3, writes: 1, reads: 2 });
    });

    it.each(['acme/eu-west/c 1', 'Zoë Ångström', '客户 42/🚀', '100%'])('round-trips the id %j', async (id) => {
      // Prepare
      // A header value is a ByteString: fetch refuses characters above U+00FF, so the key carries
      // the id percent-encoded here; the path carries it as the contract says.
      const key = `crm:contact:${encodeURIComponent(id)}:1`;

      // Act
      const response = await put(api, id, 1, { key });
      const read = await get(api, id);

      // Assess
      expect(response.status).toBe(200);
      expect(await read.json()).toMatchObject({ id, version: 1 });
      expect(api.record('crm', 'contact', id)?.id).toBe(id);
      expect(api.writeLog()[0]?.id).toBe(id);
    });

    it('keeps destinations apart by the first path segment', async () => {
      // Act
      await write(api, 'PUT', { destination: 'crm', id: 'c-1', version: 1 });
      await write(api, 'PUT', { destination: 'erp', id: 'c-1', version: 7 });

      // Assess
      expect(api.record('crm', 'contact', 'c-1')?.version).toBe(1);
      expect(api.record('erp', 'contact', 'c-1')?.version).toBe(7);
      expect(api.records('erp')).toHaveLength(1);
      expect(api.records('nobody')).toEqual([]);
    });

    it('answers 404 to an unknown route and 405 to another method', async () => {
      // Act
      const tooShort = await fetch(`${api.url}/crm/contact`);
      const tooLong = await fetch(`${api.url}/crm/contact/c-1/extra`);
      const post = await fetch(`${api.url}/crm/contact/c-1`, { method: 'POST', body: '{}' });

      // Assess
      expect(tooShort.status).toBe(404);
      expect(tooLong.status).toBe(404);
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, PUT, DELETE');
      expect(api.writeLog()).toEqual([]);
    });
  });

  describe('validation', () => {
    it.each([
      ['no Idempotency-Key', { key: null }, 'missing-idempotency-key'],
      ['no X-Record-Version', { version: null }, 'invalid-record-version'],
      ['a non-numeric X-Record-Version', { version: 'abc' }, 'invalid-record-version'],
      ['a negative X-Record-Version', { version: '-1' }, 'invalid-record-version'],
      ['a fractional X-Record-Version', { version: '1.5' }, 'invalid-record-version'],
      ['a body that is not JSON', { body: '{nope' }, 'invalid-body'],
      ['a body that is a JSON array', { body: '[1]' }, 'invalid-body'],
    ])('answers 400 to a PUT with %s, without writing', async (_, options, error) => {
      // Act
      const response = await put(api, 'c-1', 1, options);

      // Assess
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error });
      expect(api.writeLog()).toEqual([]);
      expect(api.stats().rejected).toBe(1);
    });

    it('answers 400 to a DELETE without an Idempotency-Key', async () => {
      // Prepare
      await put(api, 'c-1', 1);

      // Act
      const response = await del(api, 'c-1', 2, { key: null });

      // Assess
      expect(response.status).toBe(400);
      expect(api.record('crm', 'contact', 'c-1')?.deleted).toBe(false);
    });
  });

  describe('idempotency', () => {
    it('replays the first answer to a repeated key without writing again', async () => {
      // Prepare
      const first = await put(api, 'c-1', 1);

      // Act
      const repeated = await put(api, 'c-1', 1);

      // Assess
      expect(repeated.status).toBe(first.status);
      expect(await repeated.json()).toEqual(await first.json());
      expect(repeated.headers.get('idempotent-replayed')).toBe('true');
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      expect(api.writeLog()).toHaveLength(1);
      expect(api.stats()).toMatchObject({ writes: 1, replays: 1 });
    });

    it('replays a DELETE as 204 even after a newer write', async () => {
      // Prepare
      await put(api, 'c-1', 1);
      await del(api, 'c-1', 2);
      await put(api, 'c-1', 3);

      // Act
      const repeated = await del(api, 'c-1', 2);

      // Assess
      expect(repeated.status).toBe(204);
      expect(repeated.headers.get('idempotent-replayed')).toBe('true');
      expect(api.record('crm', 'contact', 'c-1')).toMatchObject({ version: 3, deleted: false });
      expect(api.writeLog()).toHaveLength(3);
    });

    it('answers 422 to a key reused for a different request', async () => {
      // Prepare
      await put(api, 'c-1', 1, { key: 'same' });

      // Act
      const response = await put(api, 'c-1', 2, { key: 'same' });

      // Assess
      expect(response.status).toBe(422);
      expect(await response.json()).toMatchObject({ error: 'idempotency-key-reused' });
      expect(api.record('crm', 'contact', 'c-1')?.version).toBe(1);
    });

    it('does not remember a failed request, so its retry writes', async () => {
      // Prepare
      api.setFailures('crm', { unavailable: 1 });
      const failed = await put(api, 'c-1', 1);
      api.setFailures('crm', {});

      // Act
      const retried = await put(api, 'c-1', 1);

      // Assess
      expect(failed.status).toBe(503);
      expect(retried.status).toBe(200);
      expect(retried.headers.get('idempotent-replayed')).toBeNull();
      expect(api.writeLog()).toHaveLength(1);
    });
  });

  describe('failure injection', () => {
    it('throttles with 429 and Retry-After before changing state', async () => {
      // Prepare
      api.setFailures('crm', { throttle: 1, retryAfterSeconds: 7 });

      // Act
      const response = await put(api, 'c-1', 1);

      // Assess
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('7');
      expect(api.record('crm', 'contact', 'c-1')).toBeUndefined();
      expect(api.stats().injected.throttle).toBe(1);
    });

    it('sends Retry-After: 1 by default', async () => {
      // Prepare
      api.setFailures('crm', { throttle: 1 });

      // Act
      const response = await put(api, 'c-1', 1);

      // Assess
      expect(response.headers.get('retry-after')).toBe('1');
    });

    it.each([
      ['unavailable', 503],
      ['badRequest', 400],
    ] as const)('answers %s with %i before changing state', async (kind, status) => {
      // Prepare
      api.setFailures('crm', { [kind]: 1 });

      // Act
      const response = await put(api, 'c-1', 1);

      // Assess
      expect(response.status).toBe(status);
      expect(api.writeLog()).toEqual([]);
      expect(api.stats().injected[kind]).toBe(1);
    });

    it('hangs on timeout until the client aborts, and nothing is written', async () => {
      // Prepare
      api.setFailures('crm', { timeout: 1 });

      // Act
      const attempt = put(api, 'c-1', 1, { signal: AbortSignal.timeout(200) });

      // Assess
      await expect(attempt).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(api.writeLog()).toEqual([]);
      expect(api.stats().injected.timeout).toBe(1);
    });

    it('stops quickly while a request hangs', async () => {
      // Prepare
      api.setFailures('crm', { timeout: 1 });
      const attempt = put(api, 'c-1', 1, { signal: AbortSignal.timeout(10_000) });
      await vi.waitFor(() => expect(api.stats().hanging).toBe(1));
      const started = performance.now();

      // Act
      await api.stop();

      // Assess
      expect(performance.now() - started).toBeLessThan(500);
      await expect(attempt).rejects.toThrow(TypeError);
    });

    it('resets the connection without an answer', async () => {
      // Prepare
      api.setFailures('crm', { reset: 1 });

      // Act
      const attempt = put(api, 'c-1', 1);

      // Assess
      await expect(attempt).rejects.toThrow(TypeError);
      expect(api.writeLog()).toEqual([]);
      expect(api.stats().injected.reset).toBe(1);
    });

    it('applies the write on timeoutAfterWrite, and the retry with the same key replays', async () => {
      // Prepare
      api.setFailures('crm', { timeoutAfterWrite: 1 });
      const abort = new AbortController();
      const attempt = put(api, 'c-1', 4, { signal: abort.signal });
      await vi.waitFor(() => expect(api.stats().hanging).toBe(1));

      // Act
      abort.abort();
      await expect(attempt).rejects.toMatchObject({ name: 'AbortError' });
      api.setFailures('crm', {});
      const retried = await put(api, 'c-1', 4);

      // Assess
      expect(api.record('crm', 'contact', 'c-1')?.version).toBe(4);
      expect(retried.status).toBe(200);
      expect(retried.headers.get('idempotent-replayed')).toBe('true');
      expect(api.writeLog()).toHaveLength(1);
      expect(findDuplicateEffects(api.writeLog())).toEqual([]);
    });

    it('fails only the destination it is set for', async () => {
      // Prepare
      api.setFailures('crm', { unavailable: 1 });

      // Act
      const failing = await write(api, 'PUT', { destination: 'crm', id: 'c-1', version: 1 });
      const healthy = await write(api, 'PUT', { destination: 'erp', id: 'c-1', version: 1 });

      // Assess
      expect(failing.status).toBe(503);
      expect(healthy.status).toBe(200);
      expect(api.stats().byDestination['crm']?.injected.unavailable).toBe(1);
      expect(api.stats().byDestination['erp']?.injected.unavailable).toBe(0);
    });

    it('never fails a read', async () => {
      // Prepare
      await put(api, 'c-1', 1);
      api.setFailures('crm', { reset: 1 });

      // Act
      const read = await get(api, 'c-1');

      // Assess
      expect(read.status).toBe(200);
    });

    it.each<[FailureRates, string]>([
      [{ throttle: 1.5 }, 'throttle: expected a number from 0 to 1, got 1.5'],
      [{ throttle: 0.6, reset: 0.6 }, 'expected the failure rates to add up to at most 1'],
      [{ retryAfterSeconds: -1 }, 'retryAfterSeconds: expected an integer >= 0, got -1'],
      // A typo from an untyped caller (a JSON config, the CLI).
      [JSON.parse('{"throtle":0.1}') as FailureRates, 'throtle: unknown failure kind'],
    ])('rejects the rates %o', (rates, message) => {
      // Act
      const set = (): void => api.setFailures('crm', rates);

      // Assess
      expect(set).toThrow(message);
    });
  });
});

describe('Function: startFakeApi with default failures', () => {
  it('injects failures at about the configured rate, reproducibly for a seed, before any write', async () => {
    // Prepare
    const run = async (): Promise<{ statuses: number[]; writes: number }> => {
      const api = await startFakeApi({ failures: { throttle: 0.2, unavailable: 0.1 }, seed: 11 });
      try {
        const statuses: number[] = [];
        for (let id = 0; id < 200; id += 1) statuses.push((await put(api, `c-${id}`, 1)).status);
        return { statuses, writes: api.writeLog().length };
      } finally {
        await api.stop();
      }
    };

    // Act
    const first = await run();
    const second = await run();

    // Assess
    const throttled = first.statuses.filter((status) => status === 429).length;
    const unavailable = first.statuses.filter((status) => status === 503).length;
    expect(throttled).toBeGreaterThan(20);
    expect(throttled).toBeLessThan(60);
    expect(unavailable).toBeGreaterThan(5);
    expect(unavailable).toBeLessThan(35);
    expect(first.writes).toBe(200 - throttled - unavailable);
    expect(second).toEqual(first);
  });

  it('delays answers by about latencyMs', async () => {
    // Prepare
    const api = await startFakeApi({ latencyMs: 40 });
    const started = performance.now();

    // Act
    const response = await put(api, 'c-1', 1);
    await api.stop();

    // Assess
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
  });
});

describe('Function: findRegressions', () => {
  it('detects a PUT of v3 after v5 on the real fake API', async () => {
    // Prepare
    const api = await startFakeApi();
    await put(api, 'c-1', 5);
    await put(api, 'c-1', 3);
    await api.stop();

    // Act
    const regressions = findRegressions(api.writeLog());

    // Assess
    expect(regressions).toEqual([{ destination: 'crm', resourceType: 'contact', id: 'c-1', from: 5, to: 3, seq: 2 }]);
  });

  it('counts an upsert of v3 after a delete of v5 as a regression', () => {
    // Prepare
    const log = [
      logEntry({ seq: 1, version: 1 }),
      logEntry({ seq: 2, version: 5, op: 'delete', previousVersion: 1 }),
      logEntry({ seq: 3, version: 3, previousVersion: 5 }),
    ];

    // Act
    const regressions = findRegressions(log);

    // Assess
    expect(regressions).toEqual([{ destination: 'crm', resourceType: 'contact', id: 'c-1', from: 5, to: 3, seq: 3 }]);
  });

  it('reports none for monotonic writes, per destination and record', () => {
    // Prepare
    const log = [
      logEntry({ seq: 1, version: 1 }),
      logEntry({ seq: 2, version: 9, id: 'c-2' }),
      logEntry({ seq: 3, version: 2, destination: 'erp' }),
      logEntry({ seq: 4, version: 2 }),
      logEntry({ seq: 5, version: 3, op: 'delete' }),
      logEntry({ seq: 6, version: 1, resourceType: 'invoice' }),
    ];

    // Act
    const regressions = findRegressions(log);

    // Assess
    expect(regressions).toEqual([]);
  });
});

describe('Function: findDuplicateEffects', () => {
  it('detects two writes of the same version with different keys on the real fake API', async () => {
    // Prepare
    const api = await startFakeApi();
    await put(api, 'c-1', 2, { key: 'first-key' });
    await put(api, 'c-1', 2, { key: 'second-key' });
    await api.stop();

    // Act
    const duplicates = findDuplicateEffects(api.writeLog());

    // Assess
    expect(duplicates).toEqual([
      { destination: 'crm', resourceType: 'contact', id: 'c-1', version: 2, seqs: [1, 2], idempotencyKeys: ['first-key', 'second-key'] },
    ]);
  });

  it('reports none when every version is written once', () => {
    // Prepare
    const log = [
      logEntry({ seq: 1, version: 1 }),
      logEntry({ seq: 2, version: 2 }),
      logEntry({ seq: 3, version: 1, destination: 'erp' }),
      logEntry({ seq: 4, version: 1, id: 'c-2' }),
    ];

    // Act
    const duplicates = findDuplicateEffects(log);

    // Assess
    expect(duplicates).toEqual([]);
  });
});
