import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ValidationError, describeValue } from '../config/validation.ts';
import { ChangeOp } from '../contract/change-event.ts';
import { createRandom } from './random.ts';

/** The ways the fake API can misbehave on a write (PUT or DELETE). */
export const FailureKind = {
  /** 429 with `Retry-After`; nothing written. */
  THROTTLE: 'throttle',
  /** 503; nothing written. */
  UNAVAILABLE: 'unavailable',
  /** Never answers until the client gives up; nothing written. */
  TIMEOUT: 'timeout',
  /** Destroys the connection without an answer; nothing written. */
  RESET: 'reset',
  /** 400, as if the API rejected the request for good; nothing written. */
  BAD_REQUEST: 'badRequest',
  /** Applies the write, then never answers: the outcome-unknown case idempotency keys exist for. */
  TIMEOUT_AFTER_WRITE: 'timeoutAfterWrite',
  /**
   * Holds the request for `lateWriteDelayMs`, then applies it: a call the client gave up on that
   * still lands, later, as requests stuck in a proxy or a queue do.
   */
  LATE_WRITE: 'lateWrite',
} as const;
export type FailureKind = (typeof FailureKind)[keyof typeof FailureKind];

const FAILURE_KINDS: readonly FailureKind[] = Object.values(FailureKind);

/**
 * How often each failure is injected into writes, each a share from 0 to 1 (together at most 1).
 * Reads (GET) are never failed, so a test can always inspect the store.
 *
 * @example
 * const rates: FailureRates = { throttle: 0.1, timeoutAfterWrite: 0.02, retryAfterSeconds: 2 };
 */
export interface FailureRates {
  /** @default 0 */
  readonly throttle?: number;
  /** @default 0 */
  readonly unavailable?: number;
  /** @default 0 */
  readonly timeout?: number;
  /** @default 0 */
  readonly reset?: number;
  /** @default 0 */
  readonly badRequest?: number;
  /** @default 0 */
  readonly timeoutAfterWrite?: number;
  /** @default 0 */
  readonly lateWrite?: number;
  /** Not a rate: the seconds an injected 429 sends in `Retry-After`. @default 1 */
  readonly retryAfterSeconds?: number;
  /** Not a rate: how long an injected late write is held before it lands. @default 1000 */
  readonly lateWriteDelayMs?: number;
}

/**
 * @example
 * const options: FakeApiOptions = { failures: { unavailable: 0.05 }, seed: 7, latencyMs: 5 };
 */
export interface FakeApiOptions {
  /** Failure rates of every destination that has none of its own (see `FakeApi.setFailures`). @default no failures */
  readonly failures?: FailureRates;
  /** Seed of the failure and latency draws; sequential requests see the same failures on every run. @default 1 */
  readonly seed?: number;
  /**
   * Mean delay before a request is handled; each request waits a seeded random 50% to 150% of it, so
   * concurrent requests can overtake each other as on a real network. @default 0
   */
  readonly latencyMs?: number;
}

/**
 * What the fake API holds for one record. A delete leaves a tombstone that keeps the version it
 * was deleted at, so a later stale upsert is visible as a regression.
 *
 * @example
 * const held: StoredRecord | undefined = fakeApi.record('crm', 'contact', 'c-1'); // { version: 3, deleted: false, … }
 */
export interface StoredRecord {
  readonly resourceType: string;
  readonly id: string;
  readonly version: number;
  /** The last upserted payload; null once deleted. */
  readonly payload: Readonly<Record<string, unknown>> | null;
  readonly deleted: boolean;
  /** Epoch milliseconds of the write that produced this state. */
  readonly writtenAt: number;
}

/**
 * One state-changing request, in the order the fake API applied them.
 *
 * @example
 * fakeApi.writeLog()[0]; // { seq: 1, destination: 'crm', resourceType: 'contact', id: 'c-1', version: 1, op: 'upsert', previousVersion: null, … }
 */
export interface WriteLogEntry {
  /** 1, 2, 3, … across all destinations. */
  readonly seq: number;
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
  readonly version: number;
  readonly op: ChangeOp;
  readonly idempotencyKey: string;
  /** Epoch milliseconds when the write was applied. */
  readonly at: number;
  /** The version held before this write (a tombstone's too), or null when the record was new. */
  readonly previousVersion: number | null;
  /** The `X-Occurred-At` header as sent, or null; `at - occurredAt` is the end-to-end lag. */
  readonly occurredAt: string | null;
}

/**
 * Counters of one destination, or of all of them.
 *
 * @example
 * const { writes, replays, injected } = fakeApi.stats();
 */
export interface FakeApiCounters {
  /** Every request received, answered or not. */
  readonly requests: number;
  /** Requests that changed state (one write log entry each). */
  readonly writes: number;
  /** Requests answered from the idempotency store without writing. */
  readonly replays: number;
  /** GET requests; a pipeline that does not read its destinations keeps this at 0. */
  readonly reads: number;
  /** Requests refused as malformed (400, 413, 415, 422), not counting injected failures. */
  readonly rejected: number;
  /** DELETEs of records that never existed (404): the goal state, with nothing to write. */
  readonly deleteMisses: number;
  readonly injected: Readonly<Record<FailureKind, number>>;
}

/**
 * @example
 * fakeApi.stats().byDestination['crm']?.writes; // 42
 */
export interface FakeApiStats extends FakeApiCounters {
  /** Requests held open right now by an injected timeout. */
  readonly hanging: number;
  readonly byDestination: Readonly<Record<string, FakeApiCounters>>;
}

/**
 * A running fake API. See {@link startFakeApi}.
 *
 * @example
 * const fakeApi = await startFakeApi();
 * const baseUrl = fakeApi.baseUrl('crm'); // what the destination config points at
 * await fakeApi.stop();
 */
export interface FakeApi {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  readonly url: string;
  /** `${url}/${destination}`: the base URL of one fake external system. */
  baseUrl(destination: string): string;
  /**
   * Replaces the failure rates of one destination (fields left out are 0); takes effect on the next
   * request. `setFailures('crm', {})` heals it.
   */
  setFailures(destination: string, rates: FailureRates): void;
  /** Replaces the failure rates of every destination that has none of its own. */
  setDefaultFailures(rates: FailureRates): void;
  /** Every write so far, in the order applied. */
  writeLog(): readonly WriteLogEntry[];
  /** Deletes answered 404 because the record never existed (nothing written, but the goal state). */
  deleteMisses(): readonly DeleteMiss[];
  record(destination: string, resourceType: string, id: string): StoredRecord | undefined;
  /** Every record a destination holds, tombstones included. */
  records(destination: string): readonly StoredRecord[];
  stats(): FakeApiStats;
  /** Drops every open connection (hanging ones too) and closes the server. */
  stop(): Promise<void>;
}

/** A delete of a record the destination never held. */
export interface DeleteMiss {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
  readonly version: number;
}

/** A write to one (destination, resourceType, id) that moved it to a lower version. */
export interface Regression {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
  readonly from: number;
  readonly to: number;
  /** The write log entry that regressed. */
  readonly seq: number;
}

/** More than one write of the same version of the same record at one destination. */
export interface DuplicateEffect {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
  readonly version: number;
  readonly seqs: readonly number[];
  readonly idempotencyKeys: readonly string[];
}

type ResolvedFailures = Readonly<Record<FailureKind, number>> & { readonly retryAfterSeconds: number; readonly lateWriteDelayMs: number };

interface MutableCounters {
  requests: number;
  writes: number;
  replays: number;
  reads: number;
  rejected: number;
  deleteMisses: number;
  injected: Record<FailureKind, number>;
}

interface StoredResponse {
  readonly fingerprint: string;
  readonly status: number;
  readonly body: string | null;
}

interface Route {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
}

/** Largest request body accepted; the SQS message limit with room for JSON overhead. */
const MAX_BODY_BYTES = 1024 * 1024;
const ALLOWED_METHODS = 'GET, PUT, DELETE';
const DEFAULT_RETRY_AFTER_SECONDS = 1;
const DEFAULT_LATE_WRITE_DELAY_MS = 1_000;
const DEFAULT_SEED = 1;

const newCounters = (): MutableCounters => ({
  requests: 0,
  writes: 0,
  replays: 0,
  reads: 0,
  rejected: 0,
  deleteMisses: 0,
  injected: Object.fromEntries(FAILURE_KINDS.map((kind) => [kind, 0])) as Record<FailureKind, number>,
});

const copyCounters = (counters: MutableCounters): FakeApiCounters => ({ ...counters, injected: { ...counters.injected } });

const resolveFailureRates = (rates: FailureRates): ResolvedFailures => {
  const issues: string[] = [];
  const known = new Set<string>([...FAILURE_KINDS, 'retryAfterSeconds', 'lateWriteDelayMs']);
  for (const key of Object.keys(rates)) {
    if (!known.has(key)) issues.push(`${key}: unknown failure kind (expected one of ${[...known].join(', ')})`);
  }
  const resolved = {} as Record<FailureKind, number>;
  let total = 0;
  for (const kind of FAILURE_KINDS) {
    const rate = rates[kind] ?? 0;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
      issues.push(`${kind}: expected a number from 0 to 1, got ${describeValue(rate)}`);
      continue;
    }
    resolved[kind] = rate;
    total += rate;
  }
  // One draw per request picks at most one failure, so the rates must fit in one unit interval.
  if (total > 1 + Number.EPSILON) issues.push(`(root): expected the failure rates to add up to at most 1, got ${total}`);
  const retryAfterSeconds = rates.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
  if (!Number.isSafeInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
    issues.push(`retryAfterSeconds: expected an integer >= 0, got ${describeValue(retryAfterSeconds)}`);
  }
  const lateWriteDelayMs = rates.lateWriteDelayMs ?? DEFAULT_LATE_WRITE_DELAY_MS;
  if (!Number.isSafeInteger(lateWriteDelayMs) || lateWriteDelayMs < 0) {
    issues.push(`lateWriteDelayMs: expected an integer >= 0, got ${describeValue(lateWriteDelayMs)}`);
  }
  if (issues.length > 0) throw new ValidationError('fake API failure rates', issues);
  return { ...resolved, retryAfterSeconds, lateWriteDelayMs };
};

/** Splits `/{destination}/{resourceType}/{id}`; each segment is percent-decoded on its own. */
const parseRoute = (url: string): Route | undefined => {
  const [path = ''] = url.split('?', 1);
  if (!path.startsWith('/')) return undefined;
  const segments = path.slice(1).split('/');
  if (segments.length !== 3 || segments.some((segment) => segment === '')) return undefined;
  try {
    const [destination, resourceType, id] = segments.map((segment) => decodeURIComponent(segment)) as [string, string, string];
    return { destination, resourceType, id };
  } catch {
    return undefined;
  }
};

const readBody = async (request: IncomingMessage): Promise<string | undefined> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    // Keep draining so the connection stays usable, but stop holding the bytes.
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const headerValue = (request: IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const send = (
  response: ServerResponse,
  status: number,
  body: string | null,
  headers: Readonly<Record<string, string>> = {},
): void => {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, {
    ...(body === null ? {} : { 'Content-Type': 'application/json' }),
    ...headers,
  });
  response.end(body ?? undefined);
};

const errorBody = (error: string, message: string): string => JSON.stringify({ error, message });

/**
 * Starts a fake of many external systems at once on `127.0.0.1` (a free port). The first path
 * segment names the destination, so a destination's `baseUrl` is `fakeApi.baseUrl(name)`; it then
 * serves the wire contract of the HTTP destination adapter:
 *
 * - `PUT /{destination}/{resourceType}/{id}`, JSON object body: 200 `{ version }`
 * - `DELETE /{destination}/{resourceType}/{id}`: 204, or 404 when the record never existed
 * - `GET /{destination}/{resourceType}/{id}`: 200 record JSON, or 404 (counted in `reads`)
 * - `Idempotency-Key` and `X-Record-Version` (integer >= 0) are required on writes (else 400).
 *
 * It is deliberately a dumb last-writer-wins store: it applies a lower version over a higher one,
 * so a pipeline that lets a stale write through shows up in {@link findRegressions}. Like real APIs
 * (Stripe-style), a repeated `Idempotency-Key` whose request already produced a success gets that
 * same answer again with `Idempotent-Replayed: true` and writes nothing; that includes writes
 * whose answer was lost to an injected `timeoutAfterWrite`. A key reused for a different request
 * gets 422. Injected failures (see {@link FailureRates}) happen before any state change, except
 * `timeoutAfterWrite`.
 *
 * @example
 * const fakeApi = await startFakeApi({ failures: { throttle: 0.1 }, seed: 3 });
 * await fetch(`${fakeApi.baseUrl('crm')}/contact/${encodeURIComponent('c/1')}`, {
 *   method: 'PUT',
 *   headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'crm:contact:c/1:1', 'X-Record-Version': '1' },
 *   body: JSON.stringify({ name: 'Ada' }),
 * });
 * findRegressions(fakeApi.writeLog()); // []
 * await fakeApi.stop();
 */
export const startFakeApi = async (options: FakeApiOptions = {}): Promise<FakeApi> => {
  const latencyMs = options.latencyMs ?? 0;
  if (!Number.isFinite(latencyMs) || latencyMs < 0) {
    throw new RangeError(`Expected \`latencyMs\` to be a number >= 0, got \`${String(latencyMs)}\``);
  }
  const random = createRandom(options.seed ?? DEFAULT_SEED);
  let defaultFailures = resolveFailureRates(options.failures ?? {});
  const failuresByDestination = new Map<string, ResolvedFailures>();

  const stores = new Map<string, Map<string, StoredRecord>>();
  const idempotency = new Map<string, Map<string, StoredResponse>>();
  const log: WriteLogEntry[] = [];
  const deleteMisses: DeleteMiss[] = [];
  const totals = newCounters();
  const countersByDestination = new Map<string, MutableCounters>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let hanging = 0;
  let stopped = false;

  const storeOf = (destination: string): Map<string, StoredRecord> => {
    let store = stores.get(destination);
    if (store === undefined) {
      store = new Map();
      stores.set(destination, store);
    }
    return store;
  };
  const idempotencyOf = (destination: string): Map<string, StoredResponse> => {
    let responses = idempotency.get(destination);
    if (responses === undefined) {
      responses = new Map();
      idempotency.set(destination, responses);
    }
    return responses;
  };
  const countersOf = (destination: string): MutableCounters => {
    let counters = countersByDestination.get(destination);
    if (counters === undefined) {
      counters = newCounters();
      countersByDestination.set(destination, counters);
    }
    return counters;
  };
  const count = (destination: string, field: 'writes' | 'replays' | 'reads' | 'rejected' | 'deleteMisses'): void => {
    totals[field] += 1;
    countersOf(destination)[field] += 1;
  };

  const delay = (): Promise<void> => {
    if (latencyMs === 0) return Promise.resolve();
    const waitMs = latencyMs * (0.5 + random.next());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, waitMs);
      timers.add(timer);
    });
  };

  /** One draw picks at most one failure; no draw at all when the destination is healthy. */
  const drawFailure = (destination: string): FailureKind | undefined => {
    const rates = failuresByDestination.get(destination) ?? defaultFailures;
    if (FAILURE_KINDS.every((kind) => rates[kind] === 0)) return undefined;
    const draw = random.next();
    let threshold = 0;
    for (const kind of FAILURE_KINDS) {
      threshold += rates[kind];
      if (draw < threshold) return kind;
    }
    return undefined;
  };

  const hang = (response: ServerResponse): void => {
    hanging += 1;
    response.once('close', () => {
      hanging -= 1;
    });
  };

  const handleRead = (route: Route, response: ServerResponse): void => {
    count(route.destination, 'reads');
    const held = storeOf(route.destination).get(`${route.resourceType}\u0000${route.id}`);
    if (held === undefined || held.deleted) {
      send(response, 404, errorBody('not-found', `no ${route.resourceType} ${JSON.stringify(route.id)}`));
      return;
    }
    send(response, 200, JSON.stringify(held));
  };

  /** Validates a write; answers and returns undefined when it is malformed. */
  const parseWrite = (
    request: IncomingMessage,
    response: ServerResponse,
    route: Route,
    body: string,
  ): { idempotencyKey: string; version: number; payload: Record<string, unknown> | null } | undefined => {
    const reject = (status: number, error: string, message: string): undefined => {
      count(route.destination, 'rejected');
      send(response, status, errorBody(error, message));
      return undefined;
    };
    const idempotencyKey = headerValue(request, 'idempotency-key');
    if (idempotencyKey === undefined || idempotencyKey === '') {
      return reject(400, 'missing-idempotency-key', 'expected an Idempotency-Key header');
    }
    const versionHeader = headerValue(request, 'x-record-version');
    const version = versionHeader !== undefined && /^\d+$/.test(versionHeader) ? Number(versionHeader) : Number.NaN;
    if (!Number.isSafeInteger(version)) {
      return reject(400, 'invalid-record-version', `expected X-Record-Version to be an integer >= 0, got ${describeValue(versionHeader)}`);
    }
    if (request.method === 'DELETE') return { idempotencyKey, version, payload: null };
    const contentType = headerValue(request, 'content-type') ?? '';
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      return reject(415, 'unsupported-media-type', `expected Content-Type application/json, got ${describeValue(contentType)}`);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch {
      return reject(400, 'invalid-body', 'expected a JSON object body, got invalid JSON');
    }
    if (!isPlainObject(payload)) {
      return reject(400, 'invalid-body', `expected a JSON object body, got ${describeValue(payload)}`);
    }
    return { idempotencyKey, version, payload };
  };

  const handleWrite = (request: IncomingMessage, response: ServerResponse, route: Route, body: string): void => {
    const write = parseWrite(request, response, route, body);
    if (write === undefined) return;
    const applyWrite = (answer: Parameters<typeof completeWrite>[4]): void => completeWrite(request, route, body, write, answer);
    const { destination, resourceType, id } = route;

    const failure = drawFailure(destination);
    if (failure !== undefined) {
      totals.injected[failure] += 1;
      countersOf(destination).injected[failure] += 1;
    }
    switch (failure) {
      case FailureKind.THROTTLE: {
        const { retryAfterSeconds } = failuresByDestination.get(destination) ?? defaultFailures;
        send(response, 429, errorBody('throttled', 'injected: too many requests'), { 'Retry-After': String(retryAfterSeconds) });
        return;
      }
      case FailureKind.UNAVAILABLE:
        send(response, 503, errorBody('unavailable', 'injected: service unavailable'));
        return;
      case FailureKind.BAD_REQUEST:
        send(response, 400, errorBody('injected-bad-request', 'injected: request rejected'));
        return;
      case FailureKind.TIMEOUT:
        hang(response);
        return;
      case FailureKind.RESET:
        response.socket?.resetAndDestroy();
        return;
      case FailureKind.LATE_WRITE: {
        // The write lands after the client gave up; the answer goes nowhere.
        const { lateWriteDelayMs } = failuresByDestination.get(destination) ?? defaultFailures;
        const timer = setTimeout(() => {
          timers.delete(timer);
          applyWrite(() => hang(response));
        }, lateWriteDelayMs);
        timers.add(timer);
        return;
      }
      default:
        break;
    }
    applyWrite((status, answerBody, headers) => {
      if (failure === FailureKind.TIMEOUT_AFTER_WRITE) hang(response);
      else send(response, status, answerBody, headers);
    });
  };

  /** Everything after failure injection: replay, 404 on a missing delete, or the write itself. */
  const completeWrite = (
    request: IncomingMessage,
    route: Route,
    body: string,
    write: { readonly idempotencyKey: string; readonly version: number; readonly payload: Readonly<Record<string, unknown>> | null },
    answer: (status: number, answerBody: string | null, headers?: Readonly<Record<string, string>>) => void,
  ): void => {
    const { destination, resourceType, id } = route;
    const fingerprint = `${request.method} ${resourceType} ${id} ${write.version} ${write.payload === null ? '' : body}`;
    const responses = idempotencyOf(destination);
    const earlier = responses.get(write.idempotencyKey);
    if (earlier !== undefined) {
      if (earlier.fingerprint !== fingerprint) {
        count(destination, 'rejected');
        answer(422, errorBody('idempotency-key-reused', `Idempotency-Key ${JSON.stringify(write.idempotencyKey)} was used for a different request`));
        return;
      }
      count(destination, 'replays');
      answer(earlier.status, earlier.body, { 'Idempotent-Replayed': 'true' });
      return;
    }

    const store = storeOf(destination);
    const key = `${resourceType}\u0000${id}`;
    const held = store.get(key);
    if (request.method === 'DELETE' && held === undefined) {
      count(destination, 'deleteMisses');
      deleteMisses.push(Object.freeze({ destination, resourceType, id, version: write.version }));
      answer(404, errorBody('not-found', `no ${resourceType} ${JSON.stringify(id)}`));
      return;
    }
    const at = Date.now();
    const op = request.method === 'DELETE' ? ChangeOp.DELETE : ChangeOp.UPSERT;
    store.set(key, { resourceType, id, version: write.version, payload: write.payload, deleted: op === ChangeOp.DELETE, writtenAt: at });
    log.push(
      Object.freeze({
        seq: log.length + 1,
        destination,
        resourceType,
        id,
        version: write.version,
        op,
        idempotencyKey: write.idempotencyKey,
        at,
        previousVersion: held?.version ?? null,
        occurredAt: headerValue(request, 'x-occurred-at') ?? null,
      }),
    );
    count(destination, 'writes');
    const status = op === ChangeOp.DELETE ? 204 : 200;
    const answerBody = op === ChangeOp.DELETE ? null : JSON.stringify({ version: write.version });
    // Stored before answering: a retry after a lost answer must replay, not write again (I4).
    responses.set(write.idempotencyKey, { fingerprint, status, body: answerBody });
    answer(status, answerBody);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    totals.requests += 1;
    const route = parseRoute(request.url ?? '');
    if (route === undefined) {
      request.resume();
      send(response, 404, errorBody('not-found', 'expected a path /{destination}/{resourceType}/{id}'));
      return;
    }
    countersOf(route.destination).requests += 1;
    const method = request.method ?? '';
    if (method !== 'GET' && method !== 'PUT' && method !== 'DELETE') {
      request.resume();
      send(response, 405, errorBody('method-not-allowed', `expected ${ALLOWED_METHODS}, got ${method}`), { Allow: ALLOWED_METHODS });
      return;
    }
    const body = await readBody(request);
    await delay();
    if (stopped) return;
    if (body === undefined) {
      count(route.destination, 'rejected');
      send(response, 413, errorBody('payload-too-large', `expected a body of at most ${MAX_BODY_BYTES} bytes`));
      return;
    }
    if (method === 'GET') handleRead(route, response);
    else handleWrite(request, response, route, body);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      send(response, 500, errorBody('internal', error instanceof Error ? error.message : String(error)));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    baseUrl: (destination) => `${url}/${encodeURIComponent(destination)}`,
    setFailures: (destination, rates) => {
      failuresByDestination.set(destination, resolveFailureRates(rates));
    },
    setDefaultFailures: (rates) => {
      defaultFailures = resolveFailureRates(rates);
    },
    writeLog: () => log.slice(),
    deleteMisses: () => deleteMisses.slice(),
    record: (destination, resourceType, id) => {
      const held = stores.get(destination)?.get(`${resourceType}\u0000${id}`);
      return held === undefined ? undefined : structuredClone(held);
    },
    records: (destination) => [...(stores.get(destination)?.values() ?? [])].map((held) => structuredClone(held)),
    stats: () => ({
      ...copyCounters(totals),
      hanging,
      byDestination: Object.fromEntries([...countersByDestination].map(([name, counters]) => [name, copyCounters(counters)])),
    }),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      // server.close() waits for open connections; hanging requests never end on their own.
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
};

/**
 * Every write that moved a record at a destination to a lower version than the one it held
 * (invariant I1). A delete counts as writing its version, and a tombstone keeps it: a delete of v5
 * followed by an upsert of v3 is a regression. Works on any log, in `seq` order.
 *
 * @example
 * findRegressions(fakeApi.writeLog()); // [{ destination: 'crm', resourceType: 'contact', id: 'c-1', from: 5, to: 3, seq: 2 }]
 */
export const findRegressions = (log: readonly WriteLogEntry[]): Regression[] => {
  const held = new Map<string, number>();
  const regressions: Regression[] = [];
  for (const entry of [...log].sort((a, b) => a.seq - b.seq)) {
    const key = `${entry.destination}\u0000${entry.resourceType}\u0000${entry.id}`;
    const previous = held.get(key);
    if (previous !== undefined && entry.version < previous) {
      regressions.push({
        destination: entry.destination,
        resourceType: entry.resourceType,
        id: entry.id,
        from: previous,
        to: entry.version,
        seq: entry.seq,
      });
    }
    held.set(key, entry.version);
  }
  return regressions;
};

/**
 * Every (destination, resourceType, id, version) written more than once (invariant I4: effect
 * once). Replays answered from the idempotency store are not writes and do not count.
 *
 * @example
 * findDuplicateEffects(fakeApi.writeLog()); // [{ destination: 'crm', resourceType: 'contact', id: 'c-1', version: 2, seqs: [3, 7], … }]
 */
export const findDuplicateEffects = (log: readonly WriteLogEntry[]): DuplicateEffect[] => {
  const groups = new Map<string, WriteLogEntry[]>();
  for (const entry of [...log].sort((a, b) => a.seq - b.seq)) {
    const key = `${entry.destination}\u0000${entry.resourceType}\u0000${entry.id}\u0000${entry.version}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [entry]);
    else group.push(entry);
  }
  return [...groups.values()]
    .filter((group) => group.length > 1)
    .map((group) => {
      const [first] = group as [WriteLogEntry, ...WriteLogEntry[]];
      return {
        destination: first.destination,
        resourceType: first.resourceType,
        id: first.id,
        version: first.version,
        seqs: group.map((entry) => entry.seq),
        idempotencyKeys: group.map((entry) => entry.idempotencyKey),
      };
    });
};
