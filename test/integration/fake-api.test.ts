import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { findDuplicateEffects, findRegressions } from '../../lib/local/lab/oracles.ts';
import {
  startFakeApi,
  type FailureRates,
  type FakeApi,
  type FakeApiOptions,
  type WriteLogEntry,
} from '../../lib/local/lab/fake-api.ts';
import { writeLogEntry } from '../helpers/run-report.ts';

const OCCURRED_AT = '2026-11-27T10:00:00.000Z';

interface WriteOptions {
  readonly key?: string | null;
  readonly version?: string | null;
  readonly signal?: AbortSignal;
  readonly body?: string;
  /** Sent as well, e.g. a version precondition header. */
  readonly headers?: Readonly<Record<string, string>>;
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
  const headers: Record<string, string> = { 'X-Occurred-At': OCCURRED_AT, ...options.headers };
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

/** A PUT of c-1 v1 refused with an injected 503 (nothing reached the store), then the same PUT again. */
const retryAfterRefusal = async (api: FakeApi): Promise<{ failed: Response; retried: Response }> => {
  api.setFailures('crm', { unavailable: 1 });
  const failed = await put(api, 'c-1', 1);
  api.setFailures('crm', {});
  return { failed, retried: await put(api, 'c-1', 1) };
};

/** A PUT of c-1 v4 applied while its answer is lost (the client gives up), then the same PUT again. */
const retryAfterLostAnswer = async (api: FakeApi): Promise<Response> => {
  api.setFailures('crm', { timeoutAfterWrite: 1 });
  const abort = new AbortController();
  const attempt = put(api, 'c-1', 4, { signal: abort.signal });
  await vi.waitFor(() => expect(api.stats().hanging).toBe(1));
  abort.abort();
  await expect(attempt).rejects.toMatchObject({ name: 'AbortError' });
  api.setFailures('crm', {});
  return put(api, 'c-1', 4);
};

const logEntry = (overrides: Partial<WriteLogEntry>): WriteLogEntry =>
  writeLogEntry({ idempotencyKey: 'crm:contact:c-1:1', at: 0, occurredAt: OCCURRED_AT, ...overrides });

/** Polls until the fake API's write log holds `length` entries (a late write has landed). */
const waitForLog = async (api: FakeApi, length: number, timeout = 3_000): Promise<readonly WriteLogEntry[]> => {
  await vi.waitFor(() => expect(api.writeLog()).toHaveLength(length), { timeout, interval: 10 });
  return api.writeLog();
};

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
          replayed: false,
          answered: true,
        }),
      ]);
      expect(api.stats()).toMatchObject({ requests: 1, writes: 1, replays: 0 });
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

  describe('credentials', () => {
    it('answers 401 without effect to a request lacking the credential, and after a rotation only the new one passes', async () => {
      // Prepare
      api.setCredential('crm', 'Bearer old-token');

      // Act
      const none = await put(api, 'c-1', 1);
      const wrong = await write(api, 'PUT', { id: 'c-1', version: 1 }, { headers: { Authorization: 'Bearer nope' } });
      const right = await write(api, 'PUT', { id: 'c-1', version: 1 }, { headers: { Authorization: 'Bearer old-token' } });
      api.setCredential('crm', 'Bearer new-token');
      const rotated = await write(api, 'PUT', { id: 'c-1', version: 2 }, { headers: { Authorization: 'Bearer old-token' } });
      const renewed = await write(api, 'PUT', { id: 'c-1', version: 2 }, { headers: { Authorization: 'Bearer new-token' } });
      const otherDestination = await write(api, 'PUT', { destination: 'erp', id: 'e-1', version: 1 });

      // Assess
      expect([none.status, wrong.status, right.status, rotated.status, renewed.status, otherDestination.status]).toEqual([401, 401, 200, 401, 200, 200]);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect(api.writeLog().map((entry) => `${entry.destination} ${entry.id} v${entry.version}`)).toEqual(['crm c-1 v1', 'crm c-1 v2', 'erp e-1 v1']);
      expect(api.stats().byDestination['crm']).toMatchObject({ unauthorized: 3, writes: 2 });
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

  describe('idempotency (not deduplicated, the default)', () => {
    it('applies a repeated key again like any other write and counts one replay', async () => {
      // Prepare
      const first = await put(api, 'c-1', 1);

      // Act
      const repeated = await put(api, 'c-1', 1);

      // Assess
      expect(first.status).toBe(200);
      expect(repeated.status).toBe(200);
      expect(repeated.headers.get('idempotent-replayed')).toBeNull();
      expect(api.writeLog().map((entry) => [entry.seq, entry.idempotencyKey, entry.previousVersion, entry.replayed])).toEqual([
        [1, 'crm:contact:c-1:1', null, false],
        [2, 'crm:contact:c-1:1', 1, false],
      ]);
      expect(api.stats()).toMatchObject({ requests: 2, writes: 2, replays: 1 });
      expect(api.stats().byDestination['crm']).toMatchObject({ writes: 2, replays: 1 });
    });

    it('lets a repeated older request overwrite a newer version (last writer wins)', async () => {
      // Prepare
      await put(api, 'c-1', 5);
      await put(api, 'c-1', 6);

      // Act
      const repeated = await put(api, 'c-1', 5);

      // Assess
      expect(repeated.status).toBe(200);
      expect(api.record('crm', 'contact', 'c-1')?.version).toBe(5);
      expect(api.writeLog()).toHaveLength(3);
      expect(findRegressions(api.writeLog())).toEqual([{ destination: 'crm', resourceType: 'contact', id: 'c-1', from: 6, to: 5, seq: 3 }]);
    });

    it('writes a key reused for a different request, without a 422', async () => {
      // Prepare
      await put(api, 'c-1', 1, { key: 'same' });

      // Act
      const response = await put(api, 'c-1', 2, { key: 'same' });

      // Assess
      expect(response.status).toBe(200);
      expect(api.record('crm', 'contact', 'c-1')?.version).toBe(2);
      expect(api.stats()).toMatchObject({ writes: 2, replays: 1, rejected: 0 });
    });

    it('does not count a retry after a failure before the store as a replay', async () => {
      // Act
      const { failed, retried } = await retryAfterRefusal(api);

      // Assess
      expect(failed.status).toBe(503);
      expect(retried.status).toBe(200);
      expect(api.writeLog()).toHaveLength(1);
      expect(api.stats()).toMatchObject({ requests: 2, writes: 1, replays: 0 });
    });

    it('answers two concurrent requests with the same key by writing both', async () => {
      // Act
      const [first, second] = await Promise.all([put(api, 'c-1', 1), put(api, 'c-1', 1)]);

      // Assess
      expect([first.status, second.status]).toEqual([200, 200]);
      expect(api.writeLog()).toHaveLength(2);
      expect(api.stats()).toMatchObject({ writes: 2, replays: 1, conflicts: 0 });
    });
  });

  describe('answered', () => {
    it('is true for a write whose client received the answer', async () => {
      // Act
      const response = await put(api, 'c-1', 1);

      // Assess
      expect(response.status).toBe(200);
      expect(api.writeLog()).toEqual([expect.objectContaining({ seq: 1, answered: true, replayed: false })]);
    });

    it('is false for timeoutAfterWrite, whose answer is never sent', async () => {
      // Prepare
      api.setFailures('crm', { timeoutAfterWrite: 1 });

      // Act
      const attempt = put(api, 'c-1', 1, { signal: AbortSignal.timeout(200) });

      // Assess
      await expect(attempt).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(api.writeLog()).toEqual([expect.objectContaining({ seq: 1, version: 1, answered: false })]);
      expect(api.record('crm', 'contact', 'c-1')?.version).toBe(1);
    });

    it('is false for a lateWrite that lands after the client gave up, and the hold ends with the connection', async () => {
      // Prepare
      api.setFailures('crm', { lateWrite: 1, lateWriteDelayMs: 300 });
      const attempt = put(api, 'c-1', 1, { signal: AbortSignal.timeout(100) });
      await expect(attempt).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(api.writeLog()).toEqual([]);

      // Act
      const log = await waitForLog(api, 1);

      // Assess
      expect(log).toEqual([expect.objectContaining({ seq: 1, version: 1, answered: false, replayed: false })]);
      expect(api.stats()).toMatchObject({ writes: 1, hanging: 0 });
      expect(api.stats().injected.lateWrite).toBe(1);
    });

    it('is false for a lateWrite that lands while the client still waits', async () => {
      // Prepare
      api.setFailures('crm', { lateWrite: 1, lateWriteDelayMs: 50 });
      const attempt = put(api, 'c-1', 1, { signal: AbortSignal.timeout(600) });

      // Act
      const log = await waitForLog(api, 1);

      // Assess
      expect(log[0]?.answered).toBe(false);
      expect(api.stats().hanging).toBe(1);
      await expect(attempt).rejects.toMatchObject({ name: 'TimeoutError' });
      await vi.waitFor(() => expect(api.stats().hanging).toBe(0));
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
      ['unavailable', 503, 'unavailable'],
      ['badRequest', 400, 'injected-bad-request'],
      ['conflict', 409, 'conflict'],
    ] as const)('answers %s with %i before changing state', async (kind, status, error) => {
      // Prepare
      api.setFailures('crm', { [kind]: 1 });

      // Act
      const response = await put(api, 'c-1', 1);

      // Assess
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject({ error });
      expect(api.writeLog()).toEqual([]);
      expect(api.record('crm', 'contact', 'c-1')).toBeUndefined();
      expect(api.stats()).toMatchObject({ writes: 0, replays: 0, rejected: 0 });
      expect(api.stats().injected[kind]).toBe(1);
      expect(api.stats().byDestination['crm']?.injected[kind]).toBe(1);
    });

    it('answers a DELETE with an injected conflict as 409 and keeps the record', async () => {
      // Prepare
      await put(api, 'c-1', 1);
      api.setFailures('crm', { conflict: 1 });

      // Act
      const response = await del(api, 'c-1', 2);

      // Assess
      expect(response.status).toBe(409);
      expect(api.record('crm', 'contact', 'c-1')).toMatchObject({ version: 1, deleted: false });
      expect(api.writeLog()).toHaveLength(1);
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

    it('applies the write on timeoutAfterWrite, and the retry with the same key writes it again', async () => {
      // Act
      const retried = await retryAfterLostAnswer(api);

      // Assess
      expect(api.record('crm', 'contact', 'c-1')?.version).toBe(4);
      expect(retried.status).toBe(200);
      expect(retried.headers.get('idempotent-replayed')).toBeNull();
      expect(api.writeLog().map((entry) => [entry.version, entry.replayed, entry.answered])).toEqual([
        [4, false, false],
        [4, false, true],
      ]);
      expect(api.stats()).toMatchObject({ writes: 2, replays: 1, hanging: 0 });
      // The retry after an unknown outcome is allowed.
      expect(findDuplicateEffects(api.writeLog())).toEqual([]);
    });

    it('accepts a lateWriteDelayMs far beyond the client timeout and holds the write until then', async () => {
      // Prepare
      api.setFailures('crm', { lateWrite: 1, lateWriteDelayMs: 60_000 });

      // Act
      const attempt = put(api, 'c-1', 1, { signal: AbortSignal.timeout(100) });

      // Assess
      await expect(attempt).rejects.toMatchObject({ name: 'TimeoutError' });
      await vi.waitFor(() => expect(api.stats().hanging).toBe(0));
      expect(api.writeLog()).toEqual([]);
      expect(api.record('crm', 'contact', 'c-1')).toBeUndefined();
      expect(api.stats().injected.lateWrite).toBe(1);
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
      [{ conflict: -0.1 }, 'conflict: expected a number from 0 to 1, got -0.1'],
      [{ conflict: 0.5, lateWrite: 0.6 }, 'expected the failure rates to add up to at most 1'],
      [{ lateWriteDelayMs: 2.5 }, 'lateWriteDelayMs: expected an integer >= 0, got 2.5'],
      [{ lateWriteDelayMs: -1 }, 'lateWriteDelayMs: expected an integer >= 0, got -1'],
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

  it('writes a request whose client timed out during the latency, and logs it unanswered', async () => {
    // Prepare
    // Each request waits 300 to 900 ms; the client gives up after 100.
    const api = await startFakeApi({ latencyMs: 600 });
    try {
      // Act
      const attempt = put(api, 'c-1', 1, { signal: AbortSignal.timeout(100) });
      await expect(attempt).rejects.toMatchObject({ name: 'TimeoutError' });
      const log = await waitForLog(api, 1);
      const next = await put(api, 'c-2', 1);

      // Assess
      expect(log).toEqual([expect.objectContaining({ seq: 1, id: 'c-1', answered: false, replayed: false })]);
      expect(api.record('crm', 'contact', 'c-1')?.version).toBe(1);
      expect(next.status).toBe(200);
      expect(api.writeLog()[1]).toMatchObject({ seq: 2, id: 'c-2', answered: true });
    } finally {
      await api.stop();
    }
  });

  it('leaves nothing hanging for a timeoutAfterWrite whose client left during the latency', async () => {
    // Prepare
    const api = await startFakeApi({ latencyMs: 600, failures: { timeoutAfterWrite: 1 } });
    try {
      // Act
      const attempt = put(api, 'c-1', 1, { signal: AbortSignal.timeout(100) });
      await expect(attempt).rejects.toMatchObject({ name: 'TimeoutError' });
      const log = await waitForLog(api, 1);

      // Assess
      expect(log[0]?.answered).toBe(false);
      expect(api.stats()).toMatchObject({ writes: 1, hanging: 0 });
      expect(api.stats().injected.timeoutAfterWrite).toBe(1);
    } finally {
      await api.stop();
    }
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

describe('Function: startFakeApi with deduplicate', () => {
  let api: FakeApi;

  beforeEach(async () => {
    api = await startFakeApi({ deduplicate: true });
  });

  afterEach(async () => {
    await api.stop();
  });

  it('replays the first answer to a repeated key without writing again, and logs the replay', async () => {
    // Prepare
    const first = await put(api, 'c-1', 1);

    // Act
    const repeated = await put(api, 'c-1', 1);

    // Assess
    expect(repeated.status).toBe(first.status);
    expect(await repeated.json()).toEqual(await first.json());
    expect(repeated.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(api.writeLog().map((entry) => [entry.seq, entry.version, entry.previousVersion, entry.replayed, entry.answered])).toEqual([
      [1, 1, null, false, true],
      [2, 1, 1, true, true],
    ]);
    expect(api.stats()).toMatchObject({ requests: 2, writes: 1, replays: 1 });
  });

  it('replays a DELETE as 204 even after a newer write, leaving the newer version', async () => {
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
    expect(api.writeLog().map((entry) => [entry.op, entry.version, entry.replayed])).toEqual([
      ['upsert', 1, false],
      ['delete', 2, false],
      ['upsert', 3, false],
      ['delete', 2, true],
    ]);
    expect(api.stats()).toMatchObject({ writes: 3, replays: 1 });
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
    expect(api.writeLog()).toHaveLength(1);
    expect(api.stats()).toMatchObject({ writes: 1, rejected: 1 });
  });

  it('does not remember a failed request, so its retry writes', async () => {
    // Act
    const { failed, retried } = await retryAfterRefusal(api);

    // Assess
    expect(failed.status).toBe(503);
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(api.writeLog()).toEqual([expect.objectContaining({ replayed: false, answered: true })]);
    expect(api.stats()).toMatchObject({ writes: 1, replays: 0 });
  });

  it('replays the retry after timeoutAfterWrite, which is not a duplicate effect', async () => {
    // Act
    const retried = await retryAfterLostAnswer(api);

    // Assess
    expect(api.record('crm', 'contact', 'c-1')?.version).toBe(4);
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    expect(api.writeLog().map((entry) => [entry.replayed, entry.answered])).toEqual([
      [false, false],
      [true, true],
    ]);
    expect(api.stats()).toMatchObject({ writes: 1, replays: 1 });
    expect(findDuplicateEffects(api.writeLog())).toEqual([]);
  });

  it('logs a late write that lands after its answered retry as a replay, and flags it', async () => {
    // Prepare
    api.setFailures('crm', { lateWrite: 1, lateWriteDelayMs: 300 });
    await expect(put(api, 'c-1', 2, { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ name: 'TimeoutError' });
    api.setFailures('crm', {});
    const retried = await put(api, 'c-1', 2);

    // Act
    const log = await waitForLog(api, 2);

    // Assess
    expect(retried.status).toBe(200);
    expect(log.map((entry) => [entry.replayed, entry.answered])).toEqual([
      [false, true],
      [true, false],
    ]);
    expect(api.stats()).toMatchObject({ writes: 1, replays: 1 });
    expect(findDuplicateEffects(log)).toEqual([expect.objectContaining({ version: 2, seqs: [1, 2], repeatedAfterAnswer: [1] })]);
  });
});

describe('Function: startFakeApi with conflictWhileInFlight', () => {
  it('answers 409 to a repeat while a lateWrite is held, and writes the repeat once the first has landed', async () => {
    // Prepare
    const api = await startFakeApi({ conflictWhileInFlight: true });
    try {
      api.setFailures('crm', { lateWrite: 1, lateWriteDelayMs: 400 });
      await expect(put(api, 'c-1', 1, { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ name: 'TimeoutError' });
      api.setFailures('crm', {});

      // Act
      const whileHeld = await put(api, 'c-1', 1);
      const otherKey = await put(api, 'c-2', 1);
      await waitForLog(api, 2);
      const afterLanding = await put(api, 'c-1', 1);

      // Assess
      expect(whileHeld.status).toBe(409);
      expect(await whileHeld.json()).toMatchObject({ error: 'idempotency-key-in-flight' });
      expect(otherKey.status).toBe(200);
      expect(afterLanding.status).toBe(200);
      expect(api.writeLog().map((entry) => [entry.id, entry.answered])).toEqual([
        ['c-2', true],
        ['c-1', false],
        ['c-1', true],
      ]);
      expect(api.stats()).toMatchObject({ conflicts: 1, writes: 3, replays: 1, rejected: 0 });
      expect(api.stats().byDestination['crm']?.conflicts).toBe(1);
    } finally {
      await api.stop();
    }
  });

  it('holds the key from receipt, through the injected latency, and not after the first finished', async () => {
    // Prepare
    const api = await startFakeApi({ conflictWhileInFlight: true, latencyMs: 200 });
    try {
      // Act
      const [first, second] = await Promise.all([put(api, 'c-1', 1), put(api, 'c-1', 1)]);
      const afterwards = await put(api, 'c-1', 1);

      // Assess
      expect([first.status, second.status].sort()).toEqual([200, 409]);
      expect(afterwards.status).toBe(200);
      expect(api.writeLog()).toHaveLength(2);
      expect(api.stats()).toMatchObject({ requests: 3, conflicts: 1, writes: 2, replays: 1 });
    } finally {
      await api.stop();
    }
  });

  it('holds the key while an injected timeout hangs, and frees it when the client gives up', async () => {
    // Prepare
    const api = await startFakeApi({ conflictWhileInFlight: true });
    try {
      api.setFailures('crm', { timeout: 1 });
      const abort = new AbortController();
      const hanging = put(api, 'c-1', 1, { signal: abort.signal });
      await vi.waitFor(() => expect(api.stats().hanging).toBe(1));
      api.setFailures('crm', {});

      // Act
      const whileHanging = await put(api, 'c-1', 1);
      abort.abort();
      await expect(hanging).rejects.toMatchObject({ name: 'AbortError' });
      await vi.waitFor(() => expect(api.stats().hanging).toBe(0));
      const afterwards = await put(api, 'c-1', 1);

      // Assess
      expect(whileHanging.status).toBe(409);
      expect(afterwards.status).toBe(200);
      expect(api.stats()).toMatchObject({ conflicts: 1, writes: 1 });
    } finally {
      await api.stop();
    }
  });

  it('replays in dedup mode once the first request finished', async () => {
    // Prepare
    const api = await startFakeApi({ conflictWhileInFlight: true, deduplicate: true, latencyMs: 100 });
    try {
      const [first, second] = await Promise.all([put(api, 'c-1', 1), put(api, 'c-1', 1)]);

      // Act
      const afterwards = await put(api, 'c-1', 1);

      // Assess
      expect([first.status, second.status].sort()).toEqual([200, 409]);
      expect(afterwards.status).toBe(200);
      expect(afterwards.headers.get('idempotent-replayed')).toBe('true');
      expect(api.writeLog().map((entry) => entry.replayed)).toEqual([false, true]);
    } finally {
      await api.stop();
    }
  });
});

describe('Function: startFakeApi with versionPrecondition', () => {
  const HEADER = 'X-External-Version';
  let api: FakeApi;

  /** A write that names its version in the precondition header, as `5` unless told. */
  const versioned = (method: 'PUT' | 'DELETE', id: string, version: number, value = String(version)): Promise<Response> =>
    write(api, method, { id, version }, { headers: { [HEADER]: value } });

  beforeEach(async () => {
    // Configured in another case than sent: the header name is matched case-insensitively.
    api = await startFakeApi({ versionPrecondition: { header: 'x-EXTERNAL-version', refusedStatus: 409 } });
  });

  afterEach(async () => {
    await api.stop();
  });

  it.each(['PUT', 'DELETE'] as const)('answers 428 to a %s without the header, without writing', async (method) => {
    // Prepare
    await versioned('PUT', 'c-1', 1);

    // Act
    const response = await write(api, method, { id: 'c-1', version: 2 });

    // Assess
    expect(response.status).toBe(428);
    expect(await response.json()).toMatchObject({ error: 'precondition-required' });
    expect(api.record('crm', 'contact', 'c-1')).toMatchObject({ version: 1, deleted: false });
    expect(api.stats()).toMatchObject({ writes: 1, rejected: 1, preconditionFailed: 0 });
  });

  it.each(['5', '"5"', 'W/"5"'])('accepts the version written as %s', async (value) => {
    // Prepare
    await versioned('PUT', 'c-1', 4);

    // Act
    const response = await versioned('PUT', 'c-1', 5, value);

    // Assess
    expect(response.status).toBe(200);
    expect(api.record('crm', 'contact', 'c-1')?.version).toBe(5);
  });

  it.each(['v5', '"5', 'W/5', '5.0', '-5', ''])('answers 400 to the value %j, without writing', async (value) => {
    // Act
    const response = await versioned('PUT', 'c-1', 5, value);

    // Assess
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid-version-precondition' });
    expect(api.writeLog()).toEqual([]);
    expect(api.stats().rejected).toBe(1);
  });

  it('refuses an equal or older version with refusedStatus and the version held, and accepts a newer one', async () => {
    // Prepare
    await versioned('PUT', 'c-1', 5);

    // Act
    const equal = await versioned('PUT', 'c-1', 5);
    const older = await versioned('PUT', 'c-1', 4);
    const newer = await versioned('PUT', 'c-1', 6);

    // Assess
    expect(equal.status).toBe(409);
    expect(await equal.json()).toEqual({ error: 'version-conflict', heldVersion: 5, message: expect.any(String) });
    expect(older.status).toBe(409);
    expect(await older.json()).toMatchObject({ error: 'version-conflict', heldVersion: 5 });
    expect(newer.status).toBe(200);
    expect(api.record('crm', 'contact', 'c-1')?.version).toBe(6);
    expect(api.writeLog().map((entry) => entry.version)).toEqual([5, 6]);
    // The equal one repeated the first's key, so it is a replay, refused like any other write.
    expect(api.stats()).toMatchObject({ writes: 2, preconditionFailed: 2, replays: 1, rejected: 0 });
  });

  it('refuses versions up to a delete tombstone, and accepts the next one', async () => {
    // Prepare
    await versioned('PUT', 'c-1', 1);
    await versioned('DELETE', 'c-1', 3);

    // Act
    const older = await versioned('PUT', 'c-1', 2);
    const equal = await versioned('PUT', 'c-1', 3);
    const newer = await versioned('PUT', 'c-1', 4);

    // Assess
    expect(older.status).toBe(409);
    expect(await older.json()).toMatchObject({ heldVersion: 3 });
    expect(equal.status).toBe(409);
    expect(newer.status).toBe(200);
    expect(api.record('crm', 'contact', 'c-1')).toMatchObject({ version: 4, deleted: false });
    expect(api.stats().preconditionFailed).toBe(2);
  });

  it('refuses a very late write when it lands after a newer version, and keeps the newer version', async () => {
    // Prepare
    api.setFailures('crm', { lateWrite: 1, lateWriteDelayMs: 1_500 });
    await expect(write(api, 'PUT', { id: 'c-1', version: 5 }, { headers: { [HEADER]: '5' }, signal: AbortSignal.timeout(100) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    api.setFailures('crm', {});
    const newer = await versioned('PUT', 'c-1', 6);

    // Act
    await vi.waitFor(() => expect(api.stats().preconditionFailed).toBe(1), { timeout: 3_000, interval: 20 });

    // Assess
    expect(newer.status).toBe(200);
    expect(api.record('crm', 'contact', 'c-1')?.version).toBe(6);
    expect(api.writeLog().map((entry) => entry.version)).toEqual([6]);
    expect(findRegressions(api.writeLog())).toEqual([]);
    expect(api.stats()).toMatchObject({ writes: 1, hanging: 0 });
  });

  it('uses the configured refusedStatus, and with deduplicate replays a retry before checking the version', async () => {
    // Prepare
    const dedup = await startFakeApi({ deduplicate: true, versionPrecondition: { header: 'If-Match', refusedStatus: 412 } });
    try {
      const send = (version: number, key?: string): Promise<Response> =>
        write(dedup, 'PUT', { id: 'c-1', version }, { headers: { 'If-Match': `W/"${version}"` }, ...(key === undefined ? {} : { key }) });
      await send(5);

      // Act
      const retry = await send(5);
      const otherKey = await send(5, 'another-key');

      // Assess
      expect(retry.status).toBe(200);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(otherKey.status).toBe(412);
      expect(await otherKey.json()).toMatchObject({ error: 'version-conflict', heldVersion: 5 });
      expect(dedup.writeLog().map((entry) => entry.replayed)).toEqual([false, true]);
      expect(dedup.stats()).toMatchObject({ writes: 1, replays: 1, preconditionFailed: 1 });
    } finally {
      await dedup.stop();
    }
  });
});

describe('Function: startFakeApi with rateLimits', () => {
  /** A clock the test steps by hand; the fake API reads it for its buckets and write times. */
  const steppedClock = (start = Date.UTC(2026, 11, 1)): { now: () => number; advance: (ms: number) => void } => {
    let at = start;
    return { now: () => at, advance: (ms) => (at += ms) };
  };
  let api: FakeApi;
  let clock: ReturnType<typeof steppedClock>;

  beforeEach(async () => {
    clock = steppedClock();
    api = await startFakeApi({ rateLimits: { crm: { perSecond: 20 } }, now: clock.now });
  });

  afterEach(async () => {
    await api.stop();
  });

  it('accepts a one-second burst plus 20/s of 100 writes sent over a second, and answers the rest 429', async () => {
    // Act: one write every 10 ms of the API's clock; the bucket holds 20 and gains 0.2 per step.
    const statuses: number[] = [];
    for (let id = 0; id < 100; id += 1) {
      statuses.push((await put(api, `c-${id}`, 1)).status);
      clock.advance(10);
    }

    // Assess: 20 + floor(990 ms x 20/s) = 39 accepted.
    const accepted = statuses.filter((status) => status === 200).length;
    expect(accepted).toBe(39);
    expect(statuses.filter((status) => status === 429)).toHaveLength(100 - accepted);
    expect(statuses.slice(0, 20).every((status) => status === 200)).toBe(true);
    expect(api.writeLog()).toHaveLength(accepted);
    expect(api.stats()).toMatchObject({ requests: 100, writes: accepted, throttledByRateLimit: 100 - accepted });
    expect(api.stats().byDestination['crm']).toMatchObject({ writes: accepted, throttledByRateLimit: 100 - accepted });
  });

  it('answers 429 with Retry-After: 1 before validating, writes nothing, and counts apart from injected 429s', async () => {
    // Prepare
    await api.stop();
    api = await startFakeApi({ rateLimits: { crm: { perSecond: 1 } }, now: clock.now });
    await put(api, 'c-1', 1);

    // Act
    const throttled = await put(api, 'c-2', 1);
    const malformed = await put(api, 'c-3', 1, { key: null });

    // Assess
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(await throttled.json()).toMatchObject({ error: 'rate-limited' });
    expect(malformed.status).toBe(429);
    expect(api.record('crm', 'contact', 'c-2')).toBeUndefined();
    expect(api.writeLog().map((entry) => entry.id)).toEqual(['c-1']);
    expect(api.stats()).toMatchObject({ requests: 3, writes: 1, rejected: 0, replays: 0, throttledByRateLimit: 2, injected: { throttle: 0 } });
  });

  it('refills continuously at perSecond and never holds more than the burst', async () => {
    // Prepare
    api.setRateLimit('crm', { perSecond: 10, burst: 2 });
    const statusAfter = async (ms: number, id: string): Promise<number> => {
      clock.advance(ms);
      return (await put(api, id, 1)).status;
    };

    // Act
    const statuses = [
      await statusAfter(0, 'a'),
      await statusAfter(0, 'b'),
      await statusAfter(0, 'c'),
      await statusAfter(50, 'd'),
      await statusAfter(50, 'e'),
      await statusAfter(10_000, 'f'),
      await statusAfter(0, 'g'),
      await statusAfter(0, 'h'),
    ];

    // Assess
    expect(statuses).toEqual([200, 200, 429, 429, 200, 200, 200, 429]);
  });

  it('limits each destination on its own and never limits reads', async () => {
    // Prepare
    api.setRateLimit('crm', { perSecond: 1 });
    await put(api, 'c-1', 1);

    // Act
    const crm = await put(api, 'c-2', 1);
    const erp = await Promise.all([1, 2, 3].map((n) => write(api, 'PUT', { destination: 'erp', id: `e-${n}`, version: 1 })));
    const reads = await Promise.all([1, 2, 3].map(() => get(api, 'c-1')));

    // Assess
    expect(crm.status).toBe(429);
    expect(erp.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(reads.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(api.stats().byDestination['erp']).toMatchObject({ writes: 3, throttledByRateLimit: 0 });
  });

  it('keeps the tokens held when the limit changes, and lifts it with undefined', async () => {
    // Prepare: 20 tokens held, 19 of them spent.
    for (let id = 0; id < 19; id += 1) await put(api, `c-${id}`, 1);

    // Act
    api.setRateLimit('crm', { perSecond: 5, burst: 10 });
    const lowered = [(await put(api, 'x-1', 1)).status, (await put(api, 'x-2', 1)).status];
    api.setRateLimit('crm', undefined);
    const lifted = await Promise.all([1, 2, 3].map(async (n) => (await put(api, `y-${n}`, 1)).status));

    // Assess
    expect(lowered).toEqual([200, 429]);
    expect(lifted).toEqual([200, 200, 200]);
  });

  it('holds to the bucket on the real clock: at most the burst plus perSecond per second elapsed', async () => {
    // Prepare
    const real = await startFakeApi({ rateLimits: { crm: { perSecond: 20 } } });
    const started = performance.now();
    try {
      // Act
      const statuses: number[] = [];
      for (let id = 0; id < 100; id += 1) statuses.push((await put(real, `c-${id}`, 1)).status);
      const elapsedSeconds = (performance.now() - started) / 1000;

      // Assess
      const accepted = statuses.filter((status) => status === 200).length;
      expect(accepted).toBeGreaterThanOrEqual(20);
      expect(accepted).toBeLessThanOrEqual(20 + Math.ceil(20 * elapsedSeconds));
      expect(statuses.filter((status) => status === 429)).toHaveLength(100 - accepted);
      expect(real.stats()).toMatchObject({ requests: 100, writes: accepted, throttledByRateLimit: 100 - accepted });
    } finally {
      await real.stop();
    }
  });
});

describe('Function: startFakeApi write times', () => {
  it('records the first and last write times and the writes of each second, on its clock, per destination and in total', async () => {
    // Prepare
    let at = 1_000_000;
    const api = await startFakeApi({ now: () => at });
    try {
      // Act
      for (const [offset, destination] of [[0, 'crm'], [500, 'crm'], [1_500, 'erp'], [1_999, 'crm'], [3_200, 'crm']] as const) {
        at = 1_000_000 + offset;
        await write(api, 'PUT', { destination, id: `c-${offset}`, version: 1 });
      }
      await put(api, 'c-0', 1, { key: null });

      // Assess
      const { byDestination, ...totals } = api.stats();
      expect(totals).toMatchObject({ writes: 5, firstWriteAt: 1_000_000, lastWriteAt: 1_003_200, writesPerSecond: [2, 2, 0, 1] });
      expect(byDestination['crm']).toMatchObject({ writes: 4, firstWriteAt: 1_000_000, lastWriteAt: 1_003_200, writesPerSecond: [2, 1, 0, 1] });
      expect(byDestination['erp']).toMatchObject({ writes: 1, firstWriteAt: 1_001_500, lastWriteAt: 1_001_500, writesPerSecond: [1] });
      expect(api.writeLog().map((entry) => entry.at)).toEqual([0, 500, 1_500, 1_999, 3_200].map((offset) => 1_000_000 + offset));
      expect(api.record('crm', 'contact', 'c-500')?.writtenAt).toBe(1_000_500);
    } finally {
      await api.stop();
    }
  });

  it('has no write times before the first write', async () => {
    // Prepare
    const api = await startFakeApi();
    try {
      // Act
      const stats = api.stats();

      // Assess
      expect(stats).toMatchObject({ writes: 0, firstWriteAt: null, lastWriteAt: null, writesPerSecond: [] });
    } finally {
      await api.stop();
    }
  });
});

describe('Function: startFakeApi with a destination latency', () => {
  it('delays one destination by its own latency, reads too, and not the others', async () => {
    // Prepare
    const api = await startFakeApi({ latencyMsByDestination: { erp: 300 } });
    try {
      // Act
      const timed = async (request: () => Promise<Response>): Promise<{ status: number; ms: number }> => {
        const started = performance.now();
        const { status } = await request();
        return { status, ms: performance.now() - started };
      };
      const slowWrite = await timed(() => write(api, 'PUT', { destination: 'erp', id: 'e-1', version: 1 }));
      const slowRead = await timed(() => get(api, 'e-1', 'erp'));
      api.setLatency('erp', 0);
      api.setLatency('crm', 150);
      const healed = await timed(() => write(api, 'PUT', { destination: 'erp', id: 'e-2', version: 1 }));
      const slowed = await timed(() => put(api, 'c-1', 1));

      // Assess: lower bounds only; the slow side's is what the latency defines.
      expect(slowWrite).toMatchObject({ status: 200 });
      expect(slowWrite.ms).toBeGreaterThanOrEqual(290);
      expect(slowRead.ms).toBeGreaterThanOrEqual(290);
      expect(slowed.ms).toBeGreaterThanOrEqual(140);
      expect(healed.ms).toBeLessThan(slowWrite.ms);
    } finally {
      await api.stop();
    }
  });

  it('rejects a negative latency', async () => {
    // Prepare
    const api = await startFakeApi();
    try {
      // Act
      const setting = () => api.setLatency('erp', -1);

      // Assess
      expect(setting).toThrow('Expected `latency of erp` to be a number >= 0, got `-1`');
    } finally {
      await api.stop();
    }
  });
});

describe('Function: startFakeApi option validation', () => {
  it.each<[FakeApiOptions, string]>([
    [{ versionPrecondition: { header: '', refusedStatus: 409 } }, 'versionPrecondition.header: expected a non-empty HTTP header name'],
    [{ versionPrecondition: { header: 'X Version', refusedStatus: 409 } }, 'versionPrecondition.header: expected a non-empty HTTP header name (a token such as If-Match), got "X Version"'],
    [{ versionPrecondition: { header: 'If-Match', refusedStatus: 500 } }, 'versionPrecondition.refusedStatus: expected an integer from 400 to 499, got 500'],
    [{ versionPrecondition: { header: 'If-Match', refusedStatus: 409.5 } }, 'versionPrecondition.refusedStatus: expected an integer from 400 to 499, got 409.5'],
    [JSON.parse('{"versionPrecondition":"If-Match"}') as FakeApiOptions, 'versionPrecondition: expected an object { header, refusedStatus }, got "If-Match"'],
    [JSON.parse('{"deduplicate":"yes"}') as FakeApiOptions, 'deduplicate: expected a boolean, got "yes"'],
    [JSON.parse('{"conflictWhileInFlight":1}') as FakeApiOptions, 'conflictWhileInFlight: expected a boolean, got 1'],
    [{ rateLimits: { crm: { perSecond: -1 } } }, 'Invalid fake API rate limit of crm:\n  - perSecond: expected a number > 0, got -1'],
    [{ rateLimits: { crm: { perSecond: 5, burst: 0.5 } } }, 'burst: expected a number >= 1, got 0.5'],
    [{ latencyMsByDestination: { erp: Number.NaN } }, 'Expected `latency of erp` to be a number >= 0, got `NaN`'],
  ])('rejects the options %o', async (options, message) => {
    // Act
    const starting = startFakeApi(options);

    // Assess
    await expect(starting).rejects.toThrow(message);
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

  it('counts a replay of an older version as a regression, although the store keeps the newer one', async () => {
    // Prepare
    const api = await startFakeApi({ deduplicate: true });
    await put(api, 'c-1', 5);
    await put(api, 'c-1', 6);
    const replayed = await put(api, 'c-1', 5);
    await api.stop();

    // Act
    const regressions = findRegressions(api.writeLog());

    // Assess
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(api.record('crm', 'contact', 'c-1')?.version).toBe(6);
    expect(api.writeLog()[2]).toMatchObject({ seq: 3, version: 5, previousVersion: 6, replayed: true });
    expect(regressions).toEqual([{ destination: 'crm', resourceType: 'contact', id: 'c-1', from: 6, to: 5, seq: 3 }]);
  });

  it('counts a replay as a write of its version for what follows', () => {
    // Prepare
    const log = [
      logEntry({ seq: 1, version: 2 }),
      logEntry({ seq: 2, version: 7, replayed: true, previousVersion: 2 }),
      logEntry({ seq: 3, version: 4, previousVersion: 2 }),
    ];

    // Act
    const regressions = findRegressions(log);

    // Assess
    expect(regressions).toEqual([{ destination: 'crm', resourceType: 'contact', id: 'c-1', from: 7, to: 4, seq: 3 }]);
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
      {
        destination: 'crm',
        resourceType: 'contact',
        id: 'c-1',
        version: 2,
        seqs: [1, 2],
        idempotencyKeys: ['first-key', 'second-key'],
        repeatedAfterAnswer: [1],
      },
    ]);
  });

  it('flags a repeat with the same key after an answered write on the real fake API', async () => {
    // Prepare
    const api = await startFakeApi();
    await put(api, 'c-1', 2);
    await put(api, 'c-1', 2);
    await api.stop();

    // Act
    const duplicates = findDuplicateEffects(api.writeLog());

    // Assess
    expect(duplicates).toEqual([
      expect.objectContaining({ version: 2, seqs: [1, 2], idempotencyKeys: ['crm:contact:c-1:2', 'crm:contact:c-1:2'], repeatedAfterAnswer: [1] }),
    ]);
  });

  it('flags a replay after an answered write, as a non-deduplicating API would have written it', async () => {
    // Prepare
    const api = await startFakeApi({ deduplicate: true });
    await put(api, 'c-1', 2);
    await put(api, 'c-1', 2);
    await api.stop();

    // Act
    const duplicates = findDuplicateEffects(api.writeLog());

    // Assess
    expect(api.stats().writes).toBe(1);
    expect(duplicates).toEqual([expect.objectContaining({ seqs: [1, 2], repeatedAfterAnswer: [1] })]);
  });

  it('allows repeats after answers that never arrived, whatever the last one got', () => {
    // Prepare
    const log = [
      logEntry({ seq: 1, version: 3, answered: false }),
      logEntry({ seq: 2, version: 3, answered: false }),
      logEntry({ seq: 3, version: 3, answered: true }),
      logEntry({ seq: 4, version: 4, answered: false }),
      logEntry({ seq: 5, version: 4, answered: false, replayed: true }),
    ];

    // Act
    const duplicates = findDuplicateEffects(log);

    // Assess
    expect(duplicates).toEqual([]);
  });

  it('excuses as many answered-then-repeated entries of a key as lostAnswers says', () => {
    // Prepare
    const key = 'crm:contact:c-1:2';
    const log = [
      logEntry({ seq: 1, version: 2, idempotencyKey: key }),
      logEntry({ seq: 2, version: 2, idempotencyKey: key }),
      logEntry({ seq: 3, version: 2, idempotencyKey: key }),
    ];

    // Act
    const withoutExcuses = findDuplicateEffects(log);
    const oneExcused = findDuplicateEffects(log, { lostAnswers: new Map([[key, 1]]) });
    const bothExcused = findDuplicateEffects(log, { lostAnswers: new Map([[key, 2]]) });
    const otherKeyExcused = findDuplicateEffects(log, { lostAnswers: new Map([['crm:contact:c-2:2', 5]]) });

    // Assess
    expect(withoutExcuses).toEqual([expect.objectContaining({ seqs: [1, 2, 3], repeatedAfterAnswer: [1, 2] })]);
    expect(oneExcused).toEqual([expect.objectContaining({ seqs: [1, 2, 3], repeatedAfterAnswer: [2] })]);
    expect(bothExcused).toEqual([]);
    expect(otherKeyExcused).toEqual(withoutExcuses);
  });

  it('honours lostAnswers for a consumer that crashed after the call returned, on the real fake API', async () => {
    // Prepare
    const api = await startFakeApi();
    await put(api, 'c-1', 2);
    // The consumer died before recording the outcome, so the next delivery calls again.
    await put(api, 'c-1', 2);
    await api.stop();

    // Act
    const duplicates = findDuplicateEffects(api.writeLog(), { lostAnswers: new Map([['crm:contact:c-1:2', 1]]) });

    // Assess
    expect(api.writeLog()).toHaveLength(2);
    expect(duplicates).toEqual([]);
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
