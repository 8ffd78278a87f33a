import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ValidationError, describeValue } from '../../contract/validation.ts';
import { ChangeOp } from '../../contract/change-event.ts';
import { createRandom } from '../../core/random.ts';
import { recordKey } from '../../core/record-key.ts';
import { listenOnLoopback } from '../sim/loopback-server.ts';
import { createTokenBucket, resolveRateLimit, type RateLimit, type TokenBucket } from './token-bucket.ts';

export type { RateLimit } from './token-bucket.ts';

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
  /** 409 `{"error":"conflict"}`, as an API refusing a write that clashes with a concurrent edit; nothing written. */
  CONFLICT: 'conflict',
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
  /** @default 0 */
  readonly conflict?: number;
  /** Not a rate: the seconds an injected 429 sends in `Retry-After`. @default 1 */
  readonly retryAfterSeconds?: number;
  /**
   * Not a rate: how long an injected late write is held before it lands, an integer >= 0 with no
   * upper bound; it may be far beyond the client's timeout (a request stuck in a queue for a
   * minute). @default 1000
   */
  readonly lateWriteDelayMs?: number;
}

/**
 * External versioning, as Elasticsearch's `version_type=external`: every write names the version
 * it writes in `header`, and the API refuses it unless that version is higher than the one held.
 *
 * @example
 * const precondition: VersionPrecondition = { header: 'X-External-Version', refusedStatus: 409 };
 */
export interface VersionPrecondition {
  /** The request header that carries the version (matched case-insensitively); an HTTP token such as `If-Match`. */
  readonly header: string;
  /** The status of a write refused because the record held is as new or newer: an integer from 400 to 499. */
  readonly refusedStatus: number;
}

/**
 * @example
 * const options: FakeApiOptions = { failures: { unavailable: 0.05 }, seed: 7, latencyMs: 5 };
 * const stripeLike: FakeApiOptions = { deduplicate: true, conflictWhileInFlight: true };
 * const strict: FakeApiOptions = { rateLimits: { crm: { perSecond: 20 } }, latencyMsByDestination: { erp: 2_000 } };
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
  /**
   * Whether the API deduplicates by `Idempotency-Key`, Stripe-style. Most CRMs and ERPs do not, so
   * by default a request whose key was seen before is applied again like any other write (a new
   * write log entry; last writer wins). When true, a repeated key with the same method, record,
   * version and body gets the first success's answer again with `Idempotent-Replayed: true` and
   * writes nothing (logged with `replayed: true`), and a key reused for a different request gets
   * 422. Only successes are remembered: a request refused or failed before the store is not.
   * @default false
   */
  readonly deduplicate?: boolean;
  /**
   * When true, a write whose `Idempotency-Key` matches a request of the same destination that is
   * still in flight (received, and not yet applied or refused: waiting in the injected latency,
   * held by `lateWrite` before it lands, hanging on `timeout` until its connection closes) is
   * answered 409 `{"error":"idempotency-key-in-flight"}` and writes nothing (counted in
   * `conflicts`). A request is in flight from the moment it is received, before the latency delay.
   * @default false
   */
  readonly conflictWhileInFlight?: boolean;
  /**
   * When set, the API does external versioning (see {@link VersionPrecondition}): a write without
   * the header gets 428 `{"error":"precondition-required"}`; a value other than `5`, `"5"` or
   * `W/"5"` gets 400; and a write whose version is not above the version held (tombstones
   * included) gets `refusedStatus` `{"error":"version-conflict","heldVersion":N}` and writes
   * nothing (counted in `preconditionFailed`). The version is compared when the write lands, so a
   * `lateWrite` that lands after a newer version is refused then (its answer is still lost). With
   * `deduplicate`, the replay check comes first: a retry of a write that succeeded is replayed.
   * @default no precondition
   */
  readonly versionPrecondition?: VersionPrecondition;
  /**
   * Per destination, the writes per second it takes from all its clients together (see
   * {@link FakeApi.setRateLimit}). @default no limit
   */
  readonly rateLimits?: Readonly<Record<string, RateLimit>>;
  /**
   * Per destination, the `Authorization` header value it requires (see {@link FakeApi.setCredential}).
   * @default none required
   */
  readonly credentials?: Readonly<Record<string, string>>;
  /**
   * The address to listen on: loopback unless a client elsewhere must reach it (LocalStack's Lambda
   * containers reach the host as `host.docker.internal`, so the e2e binds `0.0.0.0` there).
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /** Per destination, milliseconds added to every request's latency (see {@link FakeApi.setLatency}). @default none */
  readonly latencyMsByDestination?: Readonly<Record<string, number>>;
  /**
   * The clock of the rate limits and of every time the API records (`at`, `writtenAt`, the write
   * times in the stats), in epoch milliseconds; a test can step it. Latency still waits in real time.
   * @default Date.now
   */
  readonly now?: () => number;
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
 * One accepted request that reached the store, in the order the fake API applied them: every write,
 * and with `deduplicate` every replay answered from the idempotency store (`replayed: true`).
 * Refusals (422, a failed version precondition), delete misses and injected failures that happen
 * before the store are not in the log.
 *
 * @example
 * fakeApi.writeLog()[0]; // { seq: 1, destination: 'crm', resourceType: 'contact', id: 'c-1', version: 1, op: 'upsert', previousVersion: null, replayed: false, answered: true, … }
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
  /** Epoch milliseconds when the write was applied (or the replay answered). */
  readonly at: number;
  /**
   * The version held before this write (a tombstone's too), or null when the record was new. For a
   * replay, the version held when it was answered, which it did not change.
   */
  readonly previousVersion: number | null;
  /** The `X-Occurred-At` header as sent, or null; `at - occurredAt` is the end-to-end lag. */
  readonly occurredAt: string | null;
  /**
   * True when the request was answered from the idempotency store (`deduplicate` only): the
   * record's state did not change. A non-deduplicating API would have applied it, so
   * {@link findRegressions} and {@link findDuplicateEffects} count it as a write.
   */
  readonly replayed: boolean;
  /**
   * Whether the answer reached a client that was still waiting. False for `timeoutAfterWrite` and
   * `lateWrite` (the answer is never sent) and for any request whose client had already gone when
   * the answer would have been sent (e.g. it timed out during the injected latency).
   */
  readonly answered: boolean;
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
  /** Requests that changed state: the write log entries with `replayed: false`. */
  readonly writes: number;
  /**
   * Requests that reached the store carrying an `Idempotency-Key` this destination had already seen
   * on an earlier request that reached the store, whatever the store then did: answered from the
   * idempotency store (`deduplicate`), written again (the default), refused (422, a failed version
   * precondition) or a delete miss. A request "reaches the store" once it passed validation, the
   * in-flight check and failure injection (a late write when it lands). A pipeline that never
   * repeats a call that reached the store keeps this at 0 in both modes; a retry after a 503 does
   * not count, a retry after `timeoutAfterWrite` does.
   */
  readonly replays: number;
  /** GET requests; a pipeline that does not read its destinations keeps this at 0. */
  readonly reads: number;
  /** Requests refused as malformed (400, 413, 415, 422, 428), not counting injected failures. */
  readonly rejected: number;
  /** DELETEs of records that never existed (404): the goal state, with nothing to write. */
  readonly deleteMisses: number;
  /** Writes answered 409 because a request with the same key was in flight (`conflictWhileInFlight`). */
  readonly conflicts: number;
  /** Writes refused because the record held was as new or newer (`versionPrecondition`). */
  readonly preconditionFailed: number;
  /** Writes answered 429 because the rate limit's bucket was empty; injected 429s count in `injected.throttle`. */
  readonly throttledByRateLimit: number;
  /** Requests answered 401 because they lacked the credential the destination requires (see `setCredential`). */
  readonly unauthorized: number;
  /** Epoch milliseconds of the first and the last request counted in `writes`; null before the first. */
  readonly firstWriteAt: number | null;
  readonly lastWriteAt: number | null;
  /**
   * `writes` by whole second since `firstWriteAt`: `[0]` counts those in `[firstWriteAt,
   * firstWriteAt + 1000)`, and so on up to the second of `lastWriteAt`; a sustained rate can be read
   * from it without the bursts at either end.
   */
  readonly writesPerSecond: readonly number[];
  readonly injected: Readonly<Record<FailureKind, number>>;
}

/**
 * @example
 * fakeApi.stats().byDestination['crm']?.writes; // 42
 */
export interface FakeApiStats extends FakeApiCounters {
  /**
   * Requests held open right now by an injected `timeout`, `timeoutAfterWrite` or `lateWrite`, until
   * their client gives up (closes the connection).
   */
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
  /**
   * Limits the writes (PUT, DELETE) one destination takes from all its clients together, as real
   * APIs do: a token bucket of `burst` tokens (default one second's worth) refilled continuously at
   * `perSecond`. A write that finds it empty is answered 429 with `Retry-After: 1` before anything
   * else is looked at, has no effect, and is counted in `throttledByRateLimit`. Reads are never
   * limited. A new limit keeps the tokens the destination holds (up to its burst); a first one
   * starts full. `undefined` lifts the limit.
   *
   * @throws {ValidationError} for a `perSecond` not > 0 or a `burst` below 1
   */
  setRateLimit(destination: string, limit: RateLimit | undefined): void;
  /**
   * Requires every request to one destination to carry exactly this `Authorization` header value,
   * as a real API does: any other request is answered 401 (`WWW-Authenticate: Bearer`) before
   * anything else is looked at, has no effect, and is counted in `unauthorized`. Replacing it is a
   * rotation: from then on only the new value passes. `undefined` requires nothing.
   */
  setCredential(destination: string, authorization: string | undefined): void;
  /**
   * Adds `ms` milliseconds, fixed, to the latency of every request of one destination (on top of
   * the jittered `latencyMs`): a slow destination beside fast ones. 0 removes it.
   *
   * @throws {RangeError} for a negative or non-finite `ms`
   */
  setLatency(destination: string, ms: number): void;
  /** Every write and replay so far, in the order applied; `answered` as known now. */
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

type ResolvedFailures = Readonly<Record<FailureKind, number>> & { readonly retryAfterSeconds: number; readonly lateWriteDelayMs: number };

interface MutableCounters {
  requests: number;
  writes: number;
  replays: number;
  reads: number;
  rejected: number;
  deleteMisses: number;
  conflicts: number;
  preconditionFailed: number;
  throttledByRateLimit: number;
  unauthorized: number;
  firstWriteAt: number | null;
  lastWriteAt: number | null;
  writesPerSecond: number[];
  injected: Record<FailureKind, number>;
}

type CounterField = Exclude<keyof MutableCounters, 'injected' | 'firstWriteAt' | 'lastWriteAt' | 'writesPerSecond'>;

/** A validated write: what the store needs to apply it. */
interface ParsedWrite {
  readonly idempotencyKey: string;
  readonly version: number;
  readonly payload: Readonly<Record<string, unknown>> | null;
  /** The version named by the `versionPrecondition` header, when the API has one. */
  readonly preconditionVersion: number | undefined;
}

/** Sends an answer, or not; returns whether it reached a client that was still waiting. */
type Answer = (status: number, body: string | null, headers?: Readonly<Record<string, string>>) => boolean;

/** A received write's hold on its idempotency key while in flight. */
interface Flight {
  /** A request with the same key was in flight when this one was received. */
  readonly conflicting: boolean;
  /** Ends the hold; safe to call more than once. */
  readonly release: () => void;
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
  conflicts: 0,
  preconditionFailed: 0,
  throttledByRateLimit: 0,
  unauthorized: 0,
  firstWriteAt: null,
  lastWriteAt: null,
  writesPerSecond: [],
  injected: Object.fromEntries(FAILURE_KINDS.map((kind) => [kind, 0])) as Record<FailureKind, number>,
});

const copyCounters = (counters: MutableCounters): FakeApiCounters => ({
  ...counters,
  writesPerSecond: [...counters.writesPerSecond],
  injected: { ...counters.injected },
});

/**
 * The counters of a destination that received nothing: what `stats().byDestination` leaves out.
 *
 * @example
 * const crm = fakeApi.stats().byDestination['crm'] ?? emptyFakeApiCounters();
 */
export const emptyFakeApiCounters = (): FakeApiCounters => copyCounters(newCounters());

/** Counts one write at `at` in `writes` and in the write times. */
const countWrite = (counters: MutableCounters, at: number): void => {
  counters.writes += 1;
  counters.firstWriteAt ??= at;
  counters.lastWriteAt = Math.max(counters.lastWriteAt ?? at, at);
  const second = Math.max(0, Math.floor((at - counters.firstWriteAt) / 1000));
  while (counters.writesPerSecond.length <= second) counters.writesPerSecond.push(0);
  counters.writesPerSecond[second] = (counters.writesPerSecond[second] ?? 0) + 1;
};

/** A latency in milliseconds, validated. */
const resolveLatencyMs = (ms: number, name: string): number => {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`Expected \`${name}\` to be a number >= 0, got \`${String(ms)}\``);
  }
  return ms;
};

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

/** An HTTP header name: an RFC 9110 token. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A version precondition value: `5`, `"5"` or `W/"5"`. */
const PRECONDITION_VALUE = /^(?:(\d+)|(?:W\/)?"(\d+)")$/;

/** The options of {@link startFakeApi} other than the failure rates, validated. */
const resolveBehaviour = (
  options: FakeApiOptions,
): { deduplicate: boolean; conflictWhileInFlight: boolean; versionPrecondition: VersionPrecondition | undefined } => {
  const issues: string[] = [];
  const flag = (name: 'deduplicate' | 'conflictWhileInFlight'): boolean => {
    const value: unknown = options[name] ?? false;
    if (typeof value === 'boolean') return value;
    issues.push(`${name}: expected a boolean, got ${describeValue(value)}`);
    return false;
  };
  const deduplicate = flag('deduplicate');
  const conflictWhileInFlight = flag('conflictWhileInFlight');
  const precondition: unknown = options.versionPrecondition;
  let versionPrecondition: VersionPrecondition | undefined;
  if (precondition !== undefined) {
    if (!isPlainObject(precondition)) {
      issues.push(`versionPrecondition: expected an object { header, refusedStatus }, got ${describeValue(precondition)}`);
    } else {
      const { header, refusedStatus } = precondition;
      if (typeof header !== 'string' || !HEADER_NAME.test(header)) {
        issues.push(`versionPrecondition.header: expected a non-empty HTTP header name (a token such as If-Match), got ${describeValue(header)}`);
      }
      if (typeof refusedStatus !== 'number' || !Number.isInteger(refusedStatus) || refusedStatus < 400 || refusedStatus > 499) {
        issues.push(`versionPrecondition.refusedStatus: expected an integer from 400 to 499, got ${describeValue(refusedStatus)}`);
      }
      versionPrecondition = { header: String(header), refusedStatus: Number(refusedStatus) };
    }
  }
  if (issues.length > 0) throw new ValidationError('fake API options', issues);
  return { deduplicate, conflictWhileInFlight, versionPrecondition };
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

/** Whether the connection is still open and nothing was answered on it yet. */
const clientWaiting = (response: ServerResponse): boolean =>
  !response.headersSent && !response.destroyed && response.socket !== null && !response.socket.destroyed && response.socket.writable;

/** Answers, unless the client has gone; returns whether the answer was sent to a waiting client. */
const send = (
  response: ServerResponse,
  status: number,
  body: string | null,
  headers: Readonly<Record<string, string>> = {},
): boolean => {
  if (!clientWaiting(response)) return false;
  response.writeHead(status, {
    ...(body === null ? {} : { 'Content-Type': 'application/json' }),
    ...headers,
  });
  response.end(body ?? undefined);
  return true;
};

const errorBody = (error: string, message: string): string => JSON.stringify({ error, message });

/** Injected answers that refuse a write outright: nothing is written and the client hears why. */
const INJECTED_REFUSALS = {
  [FailureKind.UNAVAILABLE]: { status: 503, error: 'unavailable', message: 'injected: service unavailable' },
  [FailureKind.BAD_REQUEST]: { status: 400, error: 'injected-bad-request', message: 'injected: request rejected' },
  [FailureKind.CONFLICT]: { status: 409, error: 'conflict', message: 'injected: conflict' },
} as const;

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
 * so a pipeline that lets a stale write through shows up in {@link findRegressions}. It is never
 * kinder than the CRMs and ERPs it stands for: like most of them, by default it does not
 * deduplicate by `Idempotency-Key`, so a repeated request is applied again (and shows up in
 * {@link findDuplicateEffects} when its client had the first answer). `deduplicate` makes it
 * replay Stripe-style, `conflictWhileInFlight` refuses a key that is still being processed, and
 * `versionPrecondition` makes it refuse versions not above the one held (see
 * {@link FakeApiOptions}). Injected failures (see {@link FailureRates}) happen before any state
 * change, except `timeoutAfterWrite` and `lateWrite`. A destination's rate limit (`rateLimits`,
 * {@link FakeApi.setRateLimit}) is enforced on every write whoever sends it, as a real API
 * enforces its limit on an account, and is checked before anything else.
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
  const latencyMs = resolveLatencyMs(options.latencyMs ?? 0, 'latencyMs');
  const now = options.now ?? Date.now;
  const { deduplicate, conflictWhileInFlight, versionPrecondition } = resolveBehaviour(options);
  const preconditionHeader = versionPrecondition?.header.toLowerCase();
  const random = createRandom(options.seed ?? DEFAULT_SEED);
  let defaultFailures = resolveFailureRates(options.failures ?? {});
  const failuresByDestination = new Map<string, ResolvedFailures>();
  const buckets = new Map<string, TokenBucket>();
  const addedLatencyMs = new Map<string, number>();
  const setRateLimit = (destination: string, limit: RateLimit | undefined): void => {
    if (limit === undefined) {
      buckets.delete(destination);
      return;
    }
    const resolved = resolveRateLimit(limit, `fake API rate limit of ${destination}`);
    buckets.set(destination, createTokenBucket(resolved, now, buckets.get(destination)?.tokens()));
  };
  const setLatency = (destination: string, ms: number): void => {
    if (resolveLatencyMs(ms, `latency of ${destination}`) === 0) addedLatencyMs.delete(destination);
    else addedLatencyMs.set(destination, ms);
  };
  for (const [destination, limit] of Object.entries(options.rateLimits ?? {})) setRateLimit(destination, limit);
  const credentials = new Map<string, string>(Object.entries(options.credentials ?? {}));
  const setCredential = (destination: string, authorization: string | undefined): void => {
    if (authorization === undefined) credentials.delete(destination);
    else credentials.set(destination, authorization);
  };
  for (const [destination, ms] of Object.entries(options.latencyMsByDestination ?? {})) setLatency(destination, ms);

  const stores = new Map<string, Map<string, StoredRecord>>();
  const idempotency = new Map<string, Map<string, StoredResponse>>();
  /** Per destination, the keys of every request that reached the store (for `replays`). */
  const seenKeys = new Map<string, Set<string>>();
  /** Per destination, how many requests with each key are in flight right now. */
  const inFlight = new Map<string, Map<string, number>>();
  const log: WriteLogEntry[] = [];
  const deleteMisses: DeleteMiss[] = [];
  const totals = newCounters();
  const countersByDestination = new Map<string, MutableCounters>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let hanging = 0;
  let stopped = false;

  const perDestination = <T>(map: Map<string, T>, destination: string, create: () => T): T => {
    let value = map.get(destination);
    if (value === undefined) {
      value = create();
      map.set(destination, value);
    }
    return value;
  };
  const storeOf = (destination: string): Map<string, StoredRecord> => perDestination(stores, destination, () => new Map());
  const idempotencyOf = (destination: string): Map<string, StoredResponse> => perDestination(idempotency, destination, () => new Map());
  const countersOf = (destination: string): MutableCounters => perDestination(countersByDestination, destination, newCounters);
  const count = (destination: string, field: CounterField): void => {
    totals[field] += 1;
    countersOf(destination)[field] += 1;
  };

  /** Takes a hold on the key from the moment the request is received, unless it conflicts. */
  const takeFlight = (destination: string, idempotencyKey: string | undefined): Flight => {
    if (idempotencyKey === undefined || idempotencyKey === '') return { conflicting: false, release: () => {} };
    const holds = perDestination(inFlight, destination, () => new Map<string, number>());
    const held = holds.get(idempotencyKey) ?? 0;
    if (conflictWhileInFlight && held > 0) return { conflicting: true, release: () => {} };
    holds.set(idempotencyKey, held + 1);
    let released = false;
    return {
      conflicting: false,
      release: () => {
        if (released) return;
        released = true;
        const left = (holds.get(idempotencyKey) ?? 1) - 1;
        if (left > 0) holds.set(idempotencyKey, left);
        else holds.delete(idempotencyKey);
      },
    };
  };

  const delay = (destination: string): Promise<void> => {
    const added = addedLatencyMs.get(destination) ?? 0;
    if (latencyMs === 0 && added === 0) return Promise.resolve();
    // No draw without a global latency, so the failure draws of a seed stay as they were.
    const waitMs = (latencyMs === 0 ? 0 : latencyMs * (0.5 + random.next())) + added;
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

  /** Holds the request open without an answer until its client closes the connection. */
  const hang = (response: ServerResponse, onClose: () => void = () => {}): void => {
    if (response.destroyed) {
      onClose();
      return;
    }
    hanging += 1;
    response.once('close', () => {
      hanging -= 1;
      onClose();
    });
  };

  const handleRead = (route: Route, response: ServerResponse): void => {
    count(route.destination, 'reads');
    const held = storeOf(route.destination).get(recordKey(route.resourceType, route.id));
    if (held === undefined || held.deleted) {
      send(response, 404, errorBody('not-found', `no ${route.resourceType} ${JSON.stringify(route.id)}`));
      return;
    }
    send(response, 200, JSON.stringify(held));
  };

  /** Validates a write; answers and returns undefined when it is malformed. */
  const parseWrite = (request: IncomingMessage, response: ServerResponse, route: Route, body: string): ParsedWrite | undefined => {
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
    let preconditionVersion: number | undefined;
    if (versionPrecondition !== undefined && preconditionHeader !== undefined) {
      const value = headerValue(request, preconditionHeader);
      if (value === undefined) {
        return reject(428, 'precondition-required', `expected a ${versionPrecondition.header} header with the version written`);
      }
      const [, bare, quoted] = PRECONDITION_VALUE.exec(value) ?? [];
      preconditionVersion = Number(bare ?? quoted ?? Number.NaN);
      if (!Number.isSafeInteger(preconditionVersion)) {
        return reject(
          400,
          'invalid-version-precondition',
          `expected ${versionPrecondition.header} to be a version written as 5, "5" or W/"5", got ${describeValue(value)}`,
        );
      }
    }
    if (request.method === 'DELETE') return { idempotencyKey, version, payload: null, preconditionVersion };
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
    return { idempotencyKey, version, payload, preconditionVersion };
  };

  const handleWrite = (request: IncomingMessage, response: ServerResponse, route: Route, body: string, flight: Flight): void => {
    // First, as at a real API's edge: a throttled request is not even validated.
    const bucket = buckets.get(route.destination);
    if (bucket !== undefined && !bucket.take()) {
      flight.release();
      count(route.destination, 'throttledByRateLimit');
      send(response, 429, errorBody('rate-limited', `more than ${bucket.limit.perSecond} writes per second`), { 'Retry-After': '1' });
      return;
    }
    const write = parseWrite(request, response, route, body);
    if (write === undefined) {
      flight.release();
      return;
    }
    const { destination } = route;
    if (flight.conflicting) {
      count(destination, 'conflicts');
      send(
        response,
        409,
        errorBody('idempotency-key-in-flight', `a request with Idempotency-Key ${JSON.stringify(write.idempotencyKey)} is still in flight`),
      );
      return;
    }
    const landWrite = (answer: Answer): void => {
      flight.release();
      completeWrite(request, route, body, write, answer);
    };

    const failure = drawFailure(destination);
    if (failure !== undefined) {
      totals.injected[failure] += 1;
      countersOf(destination).injected[failure] += 1;
    }
    switch (failure) {
      case FailureKind.THROTTLE: {
        flight.release();
        const { retryAfterSeconds } = failuresByDestination.get(destination) ?? defaultFailures;
        send(response, 429, errorBody('throttled', 'injected: too many requests'), { 'Retry-After': String(retryAfterSeconds) });
        return;
      }
      case FailureKind.UNAVAILABLE:
      case FailureKind.BAD_REQUEST:
      case FailureKind.CONFLICT: {
        flight.release();
        const { status, error, message } = INJECTED_REFUSALS[failure];
        send(response, status, errorBody(error, message));
        return;
      }
      case FailureKind.TIMEOUT:
        // Still being processed, as far as anyone can tell, until the client gives up.
        hang(response, flight.release);
        return;
      case FailureKind.RESET:
        flight.release();
        response.socket?.resetAndDestroy();
        return;
      case FailureKind.LATE_WRITE: {
        // The write lands after the client gave up (or while it still waits); the answer goes nowhere.
        const { lateWriteDelayMs } = failuresByDestination.get(destination) ?? defaultFailures;
        hang(response);
        const timer = setTimeout(() => {
          timers.delete(timer);
          landWrite(() => false);
        }, lateWriteDelayMs);
        timers.add(timer);
        return;
      }
      case FailureKind.TIMEOUT_AFTER_WRITE:
        landWrite(() => {
          hang(response);
          return false;
        });
        return;
      default:
        landWrite((status, answerBody, headers) => send(response, status, answerBody, headers));
    }
  };

  /** Everything after failure injection: replay, refusal, 404 on a missing delete, or the write itself. */
  const completeWrite = (request: IncomingMessage, route: Route, body: string, write: ParsedWrite, answer: Answer): void => {
    const { destination, resourceType, id } = route;
    const seen = perDestination(seenKeys, destination, () => new Set<string>());
    if (seen.has(write.idempotencyKey)) count(destination, 'replays');
    else seen.add(write.idempotencyKey);

    const store = storeOf(destination);
    const key = recordKey(resourceType, id);
    const held = store.get(key);
    const op = request.method === 'DELETE' ? ChangeOp.DELETE : ChangeOp.UPSERT;
    // Frozen after answering (the answer is sent synchronously), so `answered` is final.
    const logEntry = (at: number, replayed: boolean, answered: boolean): void => {
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
          replayed,
          answered,
        }),
      );
    };

    const fingerprint = `${request.method} ${resourceType} ${id} ${write.version} ${write.payload === null ? '' : body}`;
    const responses = idempotencyOf(destination);
    const earlier = deduplicate ? responses.get(write.idempotencyKey) : undefined;
    if (earlier !== undefined) {
      if (earlier.fingerprint !== fingerprint) {
        count(destination, 'rejected');
        answer(422, errorBody('idempotency-key-reused', `Idempotency-Key ${JSON.stringify(write.idempotencyKey)} was used for a different request`));
        return;
      }
      const at = now();
      logEntry(at, true, answer(earlier.status, earlier.body, { 'Idempotent-Replayed': 'true' }));
      return;
    }

    // External versioning is checked when the write lands, not when it was received.
    const notNewer =
      versionPrecondition !== undefined && write.preconditionVersion !== undefined && held !== undefined && held.version >= write.preconditionVersion;
    if (notNewer) {
      count(destination, 'preconditionFailed');
      answer(
        versionPrecondition.refusedStatus,
        JSON.stringify({
          error: 'version-conflict',
          heldVersion: held.version,
          message: `holds version ${held.version}, expected ${versionPrecondition.header} to name a higher one, got ${write.preconditionVersion}`,
        }),
      );
      return;
    }
    if (op === ChangeOp.DELETE && held === undefined) {
      count(destination, 'deleteMisses');
      deleteMisses.push(Object.freeze({ destination, resourceType, id, version: write.version }));
      answer(404, errorBody('not-found', `no ${resourceType} ${JSON.stringify(id)}`));
      return;
    }
    const at = now();
    store.set(key, { resourceType, id, version: write.version, payload: write.payload, deleted: op === ChangeOp.DELETE, writtenAt: at });
    countWrite(totals, at);
    countWrite(countersOf(destination), at);
    const status = op === ChangeOp.DELETE ? 204 : 200;
    const answerBody = op === ChangeOp.DELETE ? null : JSON.stringify({ version: write.version });
    // Stored before answering: with deduplicate, a retry after a lost answer must replay (I4).
    if (deduplicate) responses.set(write.idempotencyKey, { fingerprint, status, body: answerBody });
    logEntry(at, false, answer(status, answerBody));
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
    const required = credentials.get(route.destination);
    if (required !== undefined && request.headers.authorization !== required) {
      request.resume();
      count(route.destination, 'unauthorized');
      send(response, 401, errorBody('unauthorized', 'expected the credential this API requires'), { 'WWW-Authenticate': 'Bearer' });
      return;
    }
    // In flight from receipt, before the body and the latency, so a repeat sent meanwhile sees it.
    const flight = method === 'GET' ? undefined : takeFlight(route.destination, headerValue(request, 'idempotency-key'));
    try {
      const body = await readBody(request);
      await delay(route.destination);
      if (stopped) return;
      if (body === undefined) {
        flight?.release();
        count(route.destination, 'rejected');
        send(response, 413, errorBody('payload-too-large', `expected a body of at most ${MAX_BODY_BYTES} bytes`));
        return;
      }
      if (flight === undefined) handleRead(route, response);
      else handleWrite(request, response, route, body, flight);
    } catch (error) {
      flight?.release();
      throw error;
    }
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

  const port = await listenOnLoopback(server, options.host);
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
    setRateLimit,
    setCredential,
    setLatency,
    writeLog: () => log.slice(),
    deleteMisses: () => deleteMisses.slice(),
    record: (destination, resourceType, id) => {
      const held = stores.get(destination)?.get(recordKey(resourceType, id));
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
