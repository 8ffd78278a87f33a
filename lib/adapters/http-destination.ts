import { HTTP_TOKEN, PLACEHOLDER, StatusOutcome, type StatusRule } from '../config/destination-kinds.ts';
import { ChangeOp, type ChangeEvent } from '../contract/change-event.ts';
import { parseRetryAfter } from '../core/backoff.ts';
import {
  ALREADY_DONE,
  classifyHttpStatus,
  classifyTransportError,
  DestinationError,
  DestinationErrorClass,
  statusError,
  transformError,
  transportError,
} from '../core/errors.ts';
import { WriteResult, type Destination, type DestinationWrite } from '../core/destination.ts';
import type { Authenticator, OutgoingRequest, RequestShape, Transform } from '../core/plugins.ts';

/**
 * A destination's own version check (see `versionPrecondition` in the config).
 *
 * @example
 * const precondition: VersionPrecondition = { header: 'If-Match', format: 'etag', refusedStatus: 412 };
 */
export interface VersionPrecondition {
  readonly header: string;
  /** `etag`: `"5"`; `plain`: `5`. */
  readonly format: 'etag' | 'plain';
  /** The answer meaning "this version or a newer one is already here". */
  readonly refusedStatus: number;
}

/**
 * How changes become requests (the config's `request`, every field optional here with the config's
 * default): the upsert's method and path template, headers for every request, and the delete's own
 * method, path and body.
 *
 * @example
 * const request: HttpRequestOptions = { method: 'PATCH', path: '/v2/{resourceType}/{id}', delete: { method: 'POST', path: '/v2/{resourceType}/{id}/archive' } };
 */
export interface HttpRequestOptions {
  /** @default 'PUT' */
  readonly method?: 'PUT' | 'PATCH' | 'POST';
  /** `{resourceType}`, `{id}`, `{version}`, and the transform's `pathParams`. @default '/{resourceType}/{id}' */
  readonly path?: string;
  /** Sent on every request (an API version, a tenant). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly delete?: {
    /** @default 'DELETE' */
    readonly method?: 'DELETE' | 'PUT' | 'PATCH' | 'POST';
    /** @default the upsert's path */
    readonly path?: string | undefined;
    /** `transform`: the transform's body, when it returns one. @default 'none' */
    readonly body?: 'none' | 'transform';
  };
}

export interface HttpDestinationOptions {
  /** e.g. `https://crm.example.com/api`; each request's path (`request.path`) is appended to it. */
  readonly baseUrl: string;
  /**
   * Hard limit for the whole call, body included: transform, credentials, and a resend after a 401
   * all fit in it. Must be shorter than the ledger lease.
   */
  readonly requestTimeoutMs: number;
  /** Extra headers on every call, before `request.headers`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** @default PUT (upsert) and DELETE (delete) on `/{resourceType}/{id}`, no extra headers */
  readonly request?: HttpRequestOptions;
  /** Per-API answers, before `classifyStatus` and the default table: the first rule matching the status (and op) decides. */
  readonly statusRules?: readonly StatusRule[];
  /** Shapes each request (body, path parameters, headers); called for deletes too. @default the payload as the body */
  readonly transform?: Transform;
  /** Authorizes (or signs) each request, last; refreshed once on a 401. @default none */
  readonly auth?: Authenticator;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * Refines the status mapping for an API with its own conventions (say, 422 meaning "retry later");
   * return undefined to keep the default from `classifyHttpStatus`.
   */
  readonly classifyStatus?: (status: number, op: 'upsert' | 'delete') => DestinationErrorClass | typeof ALREADY_DONE | undefined;
  /** Send the version as a precondition; its refusal resolves as `superseded`. @default none */
  readonly versionPrecondition?: VersionPrecondition;
}

/**
 * HTTP header values must be visible ASCII; ids may hold any unicode. Percent-encodes (as UTF-8)
 * everything else and '%' itself, so ASCII keys stay readable and the mapping stays one-to-one.
 *
 * @example
 * toHeaderValue('crm:contact:müller:3'); // 'crm:contact:m%C3%BCller:3'
 */
export const toHeaderValue = (value: string): string =>
  value.replace(/[^\x21-\x24\x26-\x7e]/gu, (char) => encodeURIComponent(char));


type RequestMapping = {
  readonly method: 'PUT' | 'PATCH' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly deleteMethod: 'DELETE' | 'PUT' | 'PATCH' | 'POST';
  readonly deletePath: string;
  readonly deleteBody: 'none' | 'transform';
};

/** A request as it will be sent, before the authenticator's headers. */
interface PreparedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
}

/** The error class each status rule outcome that fails the call stands for. */
const RULE_ERROR_CLASSES = {
  [StatusOutcome.REJECTED]: DestinationErrorClass.CLIENT,
  [StatusOutcome.AUTH]: DestinationErrorClass.AUTH,
  [StatusOutcome.THROTTLED]: DestinationErrorClass.THROTTLED,
  // A status the API uses for "not now": nothing landed, so nothing is fenced.
  [StatusOutcome.RETRY]: DestinationErrorClass.SERVER,
} as const satisfies Record<Exclude<StatusOutcome, 'stale' | 'done'>, DestinationErrorClass>;

/** A plain object: not null, not an array. */
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What a value is, for a message that must not quote it. */
const kindOf = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  if (type === 'undefined') return 'undefined';
  return `${type === 'object' ? 'an' : 'a'} ${type}`;
};

/**
 * Sets each header of `source` on `target`, replacing one of the same name in another case, so the
 * later layer wins whatever case each wrote.
 */
const mergeHeaders = (target: Record<string, string>, source: Readonly<Record<string, string>>): void => {
  for (const [name, value] of Object.entries(source)) {
    const lower = name.toLowerCase();
    for (const existing of Object.keys(target)) if (existing.toLowerCase() === lower) delete target[existing];
    target[name] = value;
  }
};

/**
 * What is wrong with the first header HTTP does not allow, or undefined when all are fine; the name
 * is quoted only when it is a token, the value never (it may come from the payload).
 */
const invalidHeaderOf = (headers: Readonly<Record<string, string>>): string | undefined => {
  for (const [name, value] of Object.entries(headers)) {
    if (!HTTP_TOKEN.test(name)) return 'a header name that is not an HTTP token';
    try {
      new Headers([[name, value]]);
    } catch {
      return `header ${name} with a value HTTP does not allow`;
    }
  }
  return undefined;
};

/**
 * Checks what a transform returned, without quoting it: an object whose `pathParams` and `headers`
 * (when given) are objects of strings, the headers valid ones.
 */
const checkShape = (shape: unknown): RequestShape => {
  if (!isRecord(shape)) throw transformError(`transform returned ${kindOf(shape)}, expected an object { body?, pathParams?, headers? }`);
  for (const field of ['pathParams', 'headers'] as const) {
    const value = shape[field];
    if (value === undefined) continue;
    if (!isRecord(value)) throw transformError(`transform returned ${field} as ${kindOf(value)}, expected an object of strings`);
    const notString = Object.keys(value).find((name) => typeof value[name] !== 'string');
    if (notString !== undefined) {
      const which = HTTP_TOKEN.test(notString) && notString.length <= 64 ? `${field}.${notString}` : `a value of ${field}`;
      throw transformError(`transform returned ${which} as ${kindOf(value[notString])}, expected a string`);
    }
  }
  const invalid = shape.headers === undefined ? undefined : invalidHeaderOf(shape.headers as Record<string, string>);
  if (invalid !== undefined) throw transformError(`transform returned ${invalid}`);
  return shape as RequestShape;
};

/**
 * `work`, or a rejection with the deadline's reason once it passes first: user code (a transform, an
 * authenticator) must not hold the call past its timeout, and with it the lease.
 */
const withinDeadline = <T>(work: Promise<T>, deadline: AbortSignal): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(deadline.reason);
    if (deadline.aborted) onAbort();
    else deadline.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => deadline.removeEventListener('abort', onAbort));
  });

/** An error's message, cut to 300 characters. */
const messageOf = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 300 ? `${message.slice(0, 297)}...` : message;
};

/**
 * Delivers changes to a REST API, as the config's `request` says: by default upsert is
 * `PUT {baseUrl}/{resourceType}/{id}` with the payload as JSON, delete is `DELETE` on the same path.
 * The path template's placeholders are filled from the change (`{resourceType}`, `{id}`,
 * `{version}`) and the transform's `pathParams`, each as exactly one encoded path segment. Every
 * request carries `Idempotency-Key`, `X-Record-Version` and `X-Occurred-At` (header values
 * percent-encode what is not visible ASCII), and the version precondition when one is configured.
 *
 * Headers are layered, a later layer winning: `headers`, `request.headers`, the transform's, ours,
 * then the authenticator's, computed over the final body. A 401 with an authenticator refreshes it
 * and sends once more. The answer is read by the first matching `statusRules` entry, then the
 * precondition's refusal (`superseded`), then `classifyStatus` and `classifyHttpStatus` (a 404 on
 * delete means the record is already gone, which is the goal). Failures are thrown as
 * {@link DestinationError} with their class, status, Retry-After and whether their outcome is
 * unknown; a transform that throws, or shapes no request, is class `transform`. Messages name the
 * method, type and id, never the URL's query, the payload or credentials.
 *
 * @example
 * const crm = new HttpDestination({ baseUrl: 'https://crm.example.com/api', requestTimeoutMs: 5000 });
 * await crm.apply({ event, idempotencyKey: 'crm:contact:c-1:3' });
 *
 * @example
 * const hub = new HttpDestination({
 *   baseUrl: 'https://api.hub.example/crm/v3',
 *   requestTimeoutMs: 5000,
 *   request: { method: 'PATCH', path: '/objects/{objectType}/{id}' },
 *   transform: (event) => ({ body: { properties: event.payload }, pathParams: { objectType: 'contacts' } }),
 *   statusRules: [{ status: 423, outcome: 'retry' }],
 * });
 */
export class HttpDestination implements Destination {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #request: RequestMapping;
  readonly #statusRules: readonly StatusRule[];
  readonly #transform: Transform | undefined;
  readonly #auth: Authenticator | undefined;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #classifyStatus: (status: number, op: 'upsert' | 'delete') => DestinationErrorClass | typeof ALREADY_DONE;
  readonly #precondition: VersionPrecondition | undefined;

  public constructor(options: HttpDestinationOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#timeoutMs = options.requestTimeoutMs;
    this.#headers = options.headers ?? {};
    const request = options.request ?? {};
    const path = request.path ?? '/{resourceType}/{id}';
    this.#request = {
      method: request.method ?? 'PUT',
      path,
      headers: request.headers ?? {},
      deleteMethod: request.delete?.method ?? 'DELETE',
      deletePath: request.delete?.path ?? path,
      deleteBody: request.delete?.body ?? 'none',
    };
    this.#statusRules = options.statusRules ?? [];
    this.#transform = options.transform;
    this.#auth = options.auth;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
    const refine = options.classifyStatus;
    this.#classifyStatus = (status, op) => refine?.(status, op) ?? classifyHttpStatus(status, op);
    this.#precondition = options.versionPrecondition;
  }

  public async apply({ event, idempotencyKey }: DestinationWrite): Promise<WriteResult> {
    // One deadline for all of it: transform, credentials, the call and a resend after a 401.
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const upsert = event.op === ChangeOp.UPSERT;
    const method = upsert ? this.#request.method : this.#request.deleteMethod;
    const target = `${method} ${event.resourceType}/${event.id}`;
    const shape = await this.#shape(event, deadline);
    const request = this.#prepare(event, idempotencyKey, method, shape);
    const first = await this.#send(target, request, idempotencyKey, deadline);
    if (first.status !== 401 || this.#auth === undefined) return this.#outcome(target, event.op, first, '');
    // The credentials may have been rotated or the token revoked: read them again, once.
    const auth = this.#auth;
    await this.#withCredentials(target, () => auth.refresh(), 'refreshing its credentials failed', deadline);
    const second = await this.#send(target, request, idempotencyKey, deadline);
    return this.#outcome(target, event.op, second, ' after a 401 and refreshed credentials');
  }

  /** The transform's shape of this change (checked), or none without a transform. */
  async #shape(event: ChangeEvent, deadline: AbortSignal): Promise<RequestShape> {
    const transform = this.#transform;
    if (transform === undefined) return {};
    let shape: unknown;
    try {
      shape = await withinDeadline(Promise.resolve().then(() => transform(event)), deadline);
    } catch (error) {
      if (deadline.aborted) throw transformError(`transform did not finish within ${this.#timeoutMs} ms`);
      throw transformError('transform failed', error);
    }
    return checkShape(shape);
  }

  /**
   * The whole request but the authenticator's headers. What cannot be encoded (a lone surrogate, a
   * cyclic payload) never will be, so it is a permanent failure, not something to retry.
   */
  #prepare(event: ChangeEvent, idempotencyKey: string, method: string, shape: RequestShape): PreparedRequest {
    const upsert = event.op === ChangeOp.UPSERT;
    const path = this.#fillPath(upsert ? this.#request.path : this.#request.deletePath, event, shape.pathParams, method);
    let body: string | undefined;
    if (shape.body !== undefined && (upsert || this.#request.deleteBody === 'transform')) {
      body = this.#encodeTransformBody(shape.body);
    } else if (upsert) {
      body = this.#encode(event, method, () => JSON.stringify(event.payload));
    }
    const headers: Record<string, string> = {};
    mergeHeaders(headers, this.#headers);
    mergeHeaders(headers, this.#request.headers);
    mergeHeaders(headers, shape.headers ?? {});
    mergeHeaders(headers, {
      'Idempotency-Key': toHeaderValue(idempotencyKey),
      'X-Record-Version': String(event.version),
      'X-Occurred-At': event.occurredAt,
      ...this.#preconditionHeader(event.version),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    });
    const url = this.#encode(event, method, () => new URL(`${this.#baseUrl}${path}`).href);
    return { method, url, headers, body };
  }

  /** Fills each placeholder with exactly one encoded path segment: a `/` in a value stays inside it. */
  #fillPath(template: string, event: ChangeEvent, params: RequestShape['pathParams'], method: string): string {
    const target = `${method} ${event.resourceType}/${event.id}`;
    return template.replace(PLACEHOLDER, (_match, name: string) => {
      const builtIn = name === 'resourceType' ? event.resourceType : name === 'id' ? event.id : name === 'version' ? String(event.version) : undefined;
      if (builtIn !== undefined) return this.#encode(event, method, () => encodeURIComponent(builtIn));
      const value = params !== undefined && Object.hasOwn(params, name) ? params[name] : undefined;
      if (value === undefined) throw transformError(`${target}: nothing fills in {${name}} of the path (the transform's pathParams must)`);
      // A URL resolves "." and ".." (even percent-encoded) as dot segments: the request would go elsewhere.
      if (value === '' || value === '.' || value === '..') throw transformError(`${target}: the transform's pathParams give {${name}} an empty, "." or ".." value`);
      try {
        return encodeURIComponent(value);
      } catch (error) {
        throw transformError(`${target}: the transform's pathParams give {${name}} a value that cannot be encoded (${(error as Error).message})`);
      }
    });
  }

  #encode<T>(event: ChangeEvent, method: string, encode: () => T): T {
    try {
      return encode();
    } catch (error) {
      // The id itself may be what cannot be encoded: the message names the type only.
      throw new DestinationError(`${method} ${event.resourceType}: the request cannot be encoded (${(error as Error).message})`, {
        errorClass: DestinationErrorClass.CLIENT,
        cause: error,
      });
    }
  }

  #encodeTransformBody(body: unknown): string {
    let json: string | undefined;
    try {
      json = JSON.stringify(body);
    } catch (error) {
      // Not the message: it may name the payload's keys.
      throw transformError(`transform returned a body that cannot be sent as JSON (${error instanceof Error ? error.name : 'error'})`);
    }
    if (json === undefined) throw transformError(`transform returned a body that is ${kindOf(body)}, which JSON cannot hold`);
    return json;
  }

  /** One request, with the authenticator's headers over exactly what is sent; its body read under the deadline. */
  async #send(target: string, request: PreparedRequest, idempotencyKey: string, deadline: AbortSignal): Promise<Response> {
    const headers = { ...request.headers };
    const auth = this.#auth;
    if (auth !== undefined) {
      const { method, url, body } = request;
      // The key as sent in Idempotency-Key, so a signature's id (a webhook-id) matches it.
      const outgoing: OutgoingRequest = { method, url, body, idempotencyKey: toHeaderValue(idempotencyKey) };
      mergeHeaders(headers, await this.#withCredentials(target, () => auth.headers(outgoing), 'its credentials are unavailable', deadline));
    }
    try {
      const response = await this.#fetch(request.url, {
        method: request.method,
        // A redirect would turn a PUT into a GET (303) and count a write that never happened.
        redirect: 'manual',
        headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        signal: deadline,
      });
      // Read the body under the same deadline: it frees the connection and bounds slow bodies.
      await response.arrayBuffer();
      return response;
    } catch (error) {
      throw this.#translateFailure(target, error);
    }
  }

  /**
   * The authenticator's work under the deadline. Nothing was sent when it fails, so the outcome is
   * known; a `DestinationError` it throws keeps its class, anything else is `unknown` (retried a few times).
   */
  async #withCredentials<T>(target: string, work: () => Promise<T>, what: string, deadline: AbortSignal): Promise<T> {
    try {
      return await withinDeadline(Promise.resolve().then(work), deadline);
    } catch (error) {
      if (error instanceof DestinationError) throw error;
      if (deadline.aborted) {
        throw new DestinationError(`${target} timed out after ${this.#timeoutMs} ms waiting for credentials`, {
          errorClass: DestinationErrorClass.TIMEOUT,
          outcomeUnknown: false,
          cause: error,
        });
      }
      throw new DestinationError(`${target}: ${what} (${messageOf(error)})`, { errorClass: DestinationErrorClass.UNKNOWN, outcomeUnknown: false, cause: error });
    }
  }

  /** What an answer means: the first matching status rule, the precondition's refusal, then the status tables. */
  #outcome(target: string, op: ChangeOp, response: Response, after: string): WriteResult {
    if (response.ok) return WriteResult.APPLIED;
    const { status } = response;
    const answered = `${target} answered ${status}${after}`;
    const retryAfterMs = () => parseRetryAfter(response.headers.get('retry-after'), this.#now());
    const rule = this.#statusRules.find((candidate) => candidate.status === status && (candidate.op === undefined || candidate.op === op));
    if (rule !== undefined) {
      if (rule.outcome === StatusOutcome.STALE) return WriteResult.SUPERSEDED;
      if (rule.outcome === StatusOutcome.DONE) return WriteResult.APPLIED;
      const waitMs = rule.outcome === StatusOutcome.THROTTLED || rule.outcome === StatusOutcome.RETRY ? retryAfterMs() : undefined;
      // The rule says what the status means: a refusal, so nothing landed.
      throw new DestinationError(`${answered} (status rule: ${rule.outcome})`, {
        errorClass: RULE_ERROR_CLASSES[rule.outcome],
        status,
        ...(waitMs === undefined ? {} : { retryAfterMs: waitMs }),
        outcomeUnknown: false,
      });
    }
    if (this.#precondition !== undefined && status === this.#precondition.refusedStatus) return WriteResult.SUPERSEDED;
    const errorClass = this.#classifyStatus(status, op);
    if (errorClass === ALREADY_DONE) return WriteResult.APPLIED;
    throw statusError(answered, { errorClass, status, retryAfterMs: retryAfterMs() });
  }

  #preconditionHeader(version: number): Record<string, string> {
    if (this.#precondition === undefined) return {};
    const value = this.#precondition.format === 'etag' ? `"${version}"` : String(version);
    return { [this.#precondition.header]: value };
  }

  #translateFailure(target: string, error: unknown): DestinationError {
    const why =
      classifyTransportError(error) === 'timeout'
        ? `timed out after ${this.#timeoutMs} ms`
        : `failed: ${(error instanceof Error && (error.cause as { code?: string } | undefined)?.code) || (error instanceof Error ? error.message : String(error))}`;
    return transportError(`${target} ${why}`, error);
  }
}
