import { toHeaderValue } from '../../lib/adapters/http-destination.ts';
import { isSecureOrLoopback } from '../../lib/config/destination-kinds.ts';
import { ChangeOp, type ChangeEvent } from '../../lib/contract/change-event.ts';
import { parseRetryAfter } from '../../lib/core/backoff.ts';
import { WriteResult, type Destination, type DestinationWrite } from '../../lib/core/destination.ts';
import {
  ALREADY_DONE,
  classifyHttpStatus,
  classifyTransportError,
  DestinationError,
  DestinationErrorClass,
  statusError,
  transportError,
} from '../../lib/core/errors.ts';
import type { Authenticator, DestinationModuleContext, DestinationModuleFactory } from '../../lib/core/plugins.ts';

/**
 * A `kind: "module"` destination for an API shaped unlike ours: writes go in batches to one URL per
 * object type, and the answer to a batch is a 200 whose body says, per object, how it went.
 *
 * - upsert: `POST {baseUrl}/v1/objects/{type}/batch-upsert` with `{"objects":[{"id","version","properties"}]}`
 * - delete: `POST {baseUrl}/v1/objects/{type}/batch-delete` with `{"ids":[…]}`
 * - answer: `200 {"results":[{"id","status":"ok"|"stale"|"invalid","message"}]}`
 *
 * The consumer applies one change at a time, so each batch holds one object.
 */

/** What one object's result says. */
export const BatchResultStatus = { OK: 'ok', STALE: 'stale', INVALID: 'invalid' } as const;
export type BatchResultStatus = (typeof BatchResultStatus)[keyof typeof BatchResultStatus];

export interface BatchUpsertOptions {
  /** The API's root, e.g. `https://api.objects.example`. */
  readonly baseUrl: string;
  /** Hard limit of one `apply`, credentials and a resend after a 401 included. */
  readonly requestTimeoutMs: number;
  /** Authorizes each request; refreshed once on a 401. @default none */
  readonly auth?: Authenticator;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Longest part of the API's own message an error keeps. */
const MAX_API_MESSAGE_CHARS = 200;

const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 3)}...` : text);

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * This API's status conventions on top of the default table: a 409 `{"error":"locked"}` means the
 * object is being written by someone else right now (retry soon, as for a 429), not a version
 * conflict; everything else is as `classifyHttpStatus` says (404 on a delete: already gone).
 *
 * @example
 * classifyBatchApiAnswer(409, '{"error":"locked"}', 'upsert'); // 'throttled'
 * classifyBatchApiAnswer(503, '', 'upsert'); // 'server'
 */
export const classifyBatchApiAnswer = (status: number, body: string, op: ChangeOp): DestinationErrorClass | typeof ALREADY_DONE => {
  if (status === 409) {
    const answer = parseJson(body);
    if (isRecord(answer) && answer['error'] === 'locked') return DestinationErrorClass.THROTTLED;
  }
  return classifyHttpStatus(status, op);
};

/** This object's result in a batch answer, or undefined when the answer holds none. */
const resultFor = (body: string, id: string): { readonly status: unknown; readonly message: unknown } | undefined => {
  const answer = parseJson(body);
  if (!isRecord(answer) || !Array.isArray(answer['results'])) return undefined;
  const result = (answer['results'] as unknown[]).find((candidate) => isRecord(candidate) && candidate['id'] === id);
  return isRecord(result) ? { status: result['status'], message: result['message'] } : undefined;
};

/**
 * Delivers changes to the batch API, one object per call. `ok` resolves as applied, `stale` as
 * superseded (the API holds this version or a newer one), `invalid` rejects as a `client`
 * DestinationError (dead-lettered) with the API's message; 429, 5xx, timeouts and dropped
 * connections reject with the classes the built-in adapter uses, so they are retried alike.
 *
 * @example
 * const api = new BatchUpsertDestination({ baseUrl: 'https://api.objects.example', requestTimeoutMs: 5000 });
 * await api.apply({ event, idempotencyKey: 'objects:contact:c-1:3' }); // 'applied'
 */
export class BatchUpsertDestination implements Destination {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #auth: Authenticator | undefined;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;

  public constructor(options: BatchUpsertOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#timeoutMs = options.requestTimeoutMs;
    this.#auth = options.auth;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
  }

  public async apply({ event, idempotencyKey }: DestinationWrite): Promise<WriteResult> {
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const upsert = event.op === ChangeOp.UPSERT;
    // Messages name the change, never the payload or the URL.
    const target = `${upsert ? 'batch-upsert' : 'batch-delete'} ${event.resourceType}/${event.id}`;
    const url = `${this.#baseUrl}/v1/objects/${encodeURIComponent(event.resourceType)}/${upsert ? 'batch-upsert' : 'batch-delete'}`;
    const body = JSON.stringify(upsert ? { objects: [{ id: event.id, version: event.version, properties: event.payload }] } : { ids: [event.id] });
    const key = toHeaderValue(idempotencyKey);
    let answer = await this.#send(target, url, body, key, deadline);
    const auth = this.#auth;
    if (answer.status === 401 && auth !== undefined) {
      // Rotated secret or revoked token: read the credentials again and try once more, never in a loop.
      await this.#credentials(target, () => auth.refresh(), deadline);
      answer = await this.#send(target, url, body, key, deadline);
    }
    return this.#outcome(target, event, answer);
  }

  /**
   * The authenticator's work, bounded by the call's deadline (the lease is sized on it). Nothing was
   * sent when it fails, so the outcome is known; its own DestinationError keeps its class.
   */
  async #credentials<T>(target: string, work: () => Promise<T>, deadline: AbortSignal): Promise<T> {
    try {
      return await new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(deadline.reason);
        if (deadline.aborted) onAbort();
        else deadline.addEventListener('abort', onAbort, { once: true });
        work().then(resolve, reject).finally(() => deadline.removeEventListener('abort', onAbort));
      });
    } catch (error) {
      if (error instanceof DestinationError) throw error;
      const errorClass = deadline.aborted ? DestinationErrorClass.TIMEOUT : DestinationErrorClass.UNKNOWN;
      throw new DestinationError(`${target}: no credentials (${cut(error instanceof Error ? error.message : String(error), 300)})`, {
        errorClass,
        outcomeUnknown: false,
        cause: error,
      });
    }
  }

  async #send(target: string, url: string, body: string, key: string, deadline: AbortSignal): Promise<{ status: number; text: string; retryAfter: string | null }> {
    const auth = this.#auth;
    const credentials = auth === undefined ? {} : await this.#credentials(target, () => auth.headers({ method: 'POST', url, body, idempotencyKey: key }), deadline);
    try {
      const response = await this.#fetch(url, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key, ...credentials },
        body,
        signal: deadline,
      });
      // Read under the same deadline: a slow body is a timeout too.
      const text = await response.text();
      return { status: response.status, text, retryAfter: response.headers.get('retry-after') };
    } catch (error) {
      const code = error instanceof Error ? (error.cause as { code?: unknown } | undefined)?.code : undefined;
      const why = classifyTransportError(error) === DestinationErrorClass.TIMEOUT ? `timed out after ${this.#timeoutMs} ms` : `failed: ${typeof code === 'string' ? code : 'no answer'}`;
      throw transportError(`${target} ${why}`, error);
    }
  }

  #outcome(target: string, event: ChangeEvent, answer: { status: number; text: string; retryAfter: string | null }): WriteResult {
    const { status, text } = answer;
    if (status < 200 || status >= 300) {
      const errorClass = classifyBatchApiAnswer(status, text, event.op);
      if (errorClass === ALREADY_DONE) return WriteResult.APPLIED;
      throw statusError(`${target} answered ${status}`, { errorClass, status, retryAfterMs: parseRetryAfter(answer.retryAfter, this.#now()) });
    }
    const result = resultFor(text, event.id);
    if (result?.status === BatchResultStatus.OK) return WriteResult.APPLIED;
    if (result?.status === BatchResultStatus.STALE) return WriteResult.SUPERSEDED;
    if (result?.status === BatchResultStatus.INVALID) {
      const why = typeof result.message === 'string' ? `: ${cut(result.message, MAX_API_MESSAGE_CHARS)}` : '';
      throw new DestinationError(`${target} refused as invalid${why}`, { errorClass: DestinationErrorClass.CLIENT, status });
    }
    // A 200 we cannot read: the batch may well have been applied, so its outcome is in doubt.
    throw new DestinationError(`${target} answered ${status} without a readable result for this object`, {
      errorClass: DestinationErrorClass.UNKNOWN,
      status,
      outcomeUnknown: true,
    });
  }
}

/**
 * The `options.baseUrl` of the destination's config: an https URL (http only to this machine)
 * without query, fragment or credentials. The value is never quoted: it may hold what it must not.
 */
const baseUrlOf = (context: DestinationModuleContext): string => {
  const fail = (why: string): never => {
    throw new Error(`destination ${context.destination}: options.baseUrl: ${why}`);
  };
  const value = context.options['baseUrl'];
  if (typeof value !== 'string') return fail(`expected the API's https URL, such as "https://api.objects.example", got ${value === undefined ? 'nothing' : typeof value}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail('expected an absolute http(s) URL, such as "https://api.objects.example"');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return fail('expected an http(s) URL');
  if (url.username !== '' || url.password !== '') return fail('expected a URL without user or password (credentials belong in auth)');
  if (url.search !== '' || url.hash !== '') return fail('expected a URL without query or fragment');
  if (!isSecureOrLoopback(value)) return fail('expected https (http only to localhost, 127.0.0.1 or [::1])');
  return value;
};

/**
 * The module's default export: the destination for one `kind: "module"` config entry.
 *
 * @example
 * const api = createBatchUpsertDestination({ destination: 'objects', options: { baseUrl: 'https://api.objects.example' }, requestTimeoutMs: 5000 });
 */
const createBatchUpsertDestination: DestinationModuleFactory = (context) =>
  new BatchUpsertDestination({
    baseUrl: baseUrlOf(context),
    requestTimeoutMs: context.requestTimeoutMs,
    ...(context.auth === undefined ? {} : { auth: context.auth }),
  });

export default createBatchUpsertDestination;
