/**
 * How a failed destination call should be treated. `throttled`, `server`, `timeout`, `network`,
 * `conflict` and `unknown` are transient (retry with backoff; `unknown` only a few times); `client`,
 * `auth` and `transform` are permanent (dead-letter now). `transform` is the one that is not the
 * destination's answer: the destination's transform threw or returned what no request can be made
 * of, so nothing was sent (dead-lettered as `transform-failed`, not counted as a destination call).
 */
export const DestinationErrorClass = {
  THROTTLED: 'throttled',
  SERVER: 'server',
  TIMEOUT: 'timeout',
  NETWORK: 'network',
  CLIENT: 'client',
  AUTH: 'auth',
  CONFLICT: 'conflict',
  UNKNOWN: 'unknown',
  TRANSFORM: 'transform',
} as const;
export type DestinationErrorClass = (typeof DestinationErrorClass)[keyof typeof DestinationErrorClass];

const TRANSIENT_CLASSES: ReadonlySet<DestinationErrorClass> = new Set([
  DestinationErrorClass.THROTTLED,
  DestinationErrorClass.SERVER,
  DestinationErrorClass.TIMEOUT,
  DestinationErrorClass.NETWORK,
  DestinationErrorClass.CONFLICT,
  DestinationErrorClass.UNKNOWN,
]);

export interface DestinationErrorOptions extends ErrorOptions {
  readonly errorClass: DestinationErrorClass;
  readonly status?: number;
  /** From a 429/503 `Retry-After`, when the destination sent one. */
  readonly retryAfterMs?: number;
  /**
   * True when the call may still take effect (or already has): see {@link isOutcomeUnknown}.
   * @default isOutcomeUnknown(errorClass)
   */
  readonly outcomeUnknown?: boolean;
}

/**
 * A destination call that did not succeed, translated from HTTP/SDK terms into domain terms.
 *
 * @example
 * throw new DestinationError('PUT /contact/c-1 answered 503', { errorClass: 'server', status: 503 });
 */
export class DestinationError extends Error {
  public readonly errorClass: DestinationErrorClass;
  public readonly status: number | undefined;
  public readonly retryAfterMs: number | undefined;
  /** True when the same call may succeed later; false when only a human can fix it. */
  public readonly retryable: boolean;
  /**
   * True when the request may have landed or may still land (a timeout, a reset after sending, a
   * 500/502/504): the record is then fenced for the settle window before anything else is sent.
   */
  public readonly outcomeUnknown: boolean;

  public constructor(message: string, options: DestinationErrorOptions) {
    super(message, options);
    this.name = 'DestinationError';
    this.errorClass = options.errorClass;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.retryable = TRANSIENT_CLASSES.has(options.errorClass);
    this.outcomeUnknown = options.outcomeUnknown ?? isOutcomeUnknown(options.errorClass);
  }
}

/** Longest part of a transform's own error message a {@link transformError} keeps. */
export const MAX_TRANSFORM_MESSAGE_CHARS = 300;

/**
 * The error for a change its transform could not shape (it threw, or returned what no request can be
 * made of): permanent, and of known outcome, since nothing was sent. `detail` is the transform's own
 * message or ours; it is cut to {@link MAX_TRANSFORM_MESSAGE_CHARS} and must never quote the payload.
 *
 * @example
 * throw transformError('transform failed', new Error('no owner for this contact')); // 'transform failed: no owner for this contact'
 */
export const transformError = (detail: string, cause?: unknown): DestinationError => {
  const why = cause === undefined ? undefined : cause instanceof Error ? cause.message : String(cause);
  const cut = why !== undefined && why.length > MAX_TRANSFORM_MESSAGE_CHARS ? `${why.slice(0, MAX_TRANSFORM_MESSAGE_CHARS - 3)}...` : why;
  return new DestinationError(cut === undefined ? detail : `${detail}: ${cut}`, {
    errorClass: DestinationErrorClass.TRANSFORM,
    outcomeUnknown: false,
    ...(cause === undefined ? {} : { cause }),
  });
};

/** Says a failed call needs nothing more: the destination is already in the wanted state. */
export const ALREADY_DONE = 'done' as const;

/**
 * The one table of how a failed HTTP call is treated (adapters may refine it per destination):
 * 408, 429, 5xx are transient; 401/403 are permanent and an auth problem; 409 means the
 * destination's version moved, so the change is retried and re-checked against the ledger; 404 on a
 * delete means the record is already gone; other 4xx are permanent.
 *
 * @example
 * classifyHttpStatus(429, 'upsert'); // 'throttled'
 * classifyHttpStatus(404, 'delete'); // 'done'
 */
export const classifyHttpStatus = (status: number, op: 'upsert' | 'delete'): DestinationErrorClass | typeof ALREADY_DONE => {
  if (status === 404 && op === 'delete') return ALREADY_DONE;
  if (status === 429) return DestinationErrorClass.THROTTLED;
  // 504: a gateway gave up waiting; the API behind it may still apply the call.
  if (status === 408 || status === 504) return DestinationErrorClass.TIMEOUT;
  if (status === 401 || status === 403) return DestinationErrorClass.AUTH;
  if (status === 409) return DestinationErrorClass.CONFLICT;
  if (status >= 500) return DestinationErrorClass.SERVER;
  // Other 4xx, and 3xx: redirects are not followed, a destination must answer where it is configured.
  if (status >= 400 || (status >= 300 && status < 400)) return DestinationErrorClass.CLIENT;
  return DestinationErrorClass.UNKNOWN;
};

/**
 * Whether an HTTP answer leaves the request's effect in doubt. A 4xx, 501 or 503 says the request
 * was not served; a 500 may come after the work was committed (a failing hook, a lost reply from a
 * database), and 502/504 come from a gateway that lost track of an upstream that may still apply it.
 *
 * @example
 * isStatusOutcomeUnknown(503); // false
 * isStatusOutcomeUnknown(504); // true
 */
export const isStatusOutcomeUnknown = (status: number): boolean => status >= 500 && status !== 501 && status !== 503;

/** Socket and DNS error codes (Node and undici) that mean "the call did not get through". */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * The first value `pick` finds along an error's `cause` chain (SDKs and Powertools wrap errors).
 *
 * @example
 * findInCauseChain(error, (e) => (e instanceof DestinationError ? e : undefined));
 */
export const findInCauseChain = <T>(error: unknown, pick: (error: Error) => T | undefined): T | undefined => {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; depth += 1) {
    const found = pick(current);
    if (found !== undefined) return found;
    current = current.cause;
  }
  return undefined;
};

const errorCode = (error: unknown): string | undefined =>
  findInCauseChain(error, (current) => {
    const code = (current as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  });

/** Codes of failures before any byte of the request was sent: the outcome is known (nothing happened). */
const NOT_SENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether a transport failure left the request's effect in doubt: false only when the connection
 * was never made (refused, unreachable, DNS), true for timeouts, resets and anything unreadable.
 *
 * @example
 * isTransportOutcomeUnknown(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })); // false
 */
export const isTransportOutcomeUnknown = (error: unknown): boolean => {
  const code = errorCode(error);
  return !(code !== undefined && NOT_SENT_ERROR_CODES.has(code));
};

/**
 * Classifies an error thrown by the transport before any HTTP status arrived: an abort or timeout
 * signal is `timeout`; connection reset or refused and DNS failures are `network`; anything else is
 * `unknown` (retried, but only a few times: see `MAX_UNKNOWN_ERROR_ATTEMPTS`).
 *
 * @example
 * classifyTransportError(Object.assign(new Error('getaddrinfo ENOTFOUND api.test'), { code: 'ENOTFOUND' })); // 'network'
 */
export const classifyTransportError = (error: unknown): DestinationErrorClass => {
  const name = error instanceof Error ? error.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') return DestinationErrorClass.TIMEOUT;
  const code = errorCode(error);
  if (code !== undefined && NETWORK_ERROR_CODES.has(code)) return DestinationErrorClass.NETWORK;
  return DestinationErrorClass.UNKNOWN;
};

const OUTCOME_UNKNOWN_CLASSES: ReadonlySet<DestinationErrorClass> = new Set([
  DestinationErrorClass.TIMEOUT,
  DestinationErrorClass.NETWORK,
  DestinationErrorClass.UNKNOWN,
]);

/**
 * The default for an error class: true when a failed call may still take effect later (a timeout, a
 * dropped connection, an error we cannot read): the request may be on its way or queued in a proxy.
 * Until it can no longer land, no other version of the record may be sent, or the late one would
 * overwrite it (I1). Adapters refine it per error (`DestinationError.outcomeUnknown`): a refused
 * connection is `network` but nothing was sent.
 *
 * @example
 * isOutcomeUnknown('timeout'); // true
 * isOutcomeUnknown('throttled'); // false: a 429 was refused, nothing will land
 */
export const isOutcomeUnknown = (errorClass: DestinationErrorClass): boolean => OUTCOME_UNKNOWN_CLASSES.has(errorClass);

/** An unclassifiable failure is retried this many deliveries, then dead-lettered as `unknown-error`. */
export const MAX_UNKNOWN_ERROR_ATTEMPTS = 3;

/**
 * The error for an HTTP answer that is not a success: its class (from {@link classifyHttpStatus}, or
 * an adapter's refinement), status, Retry-After, and whether its outcome is in doubt, decided here
 * once for every adapter.
 *
 * @example
 * throw statusError('PUT contact/c-1 answered 502', { status: 502, errorClass: 'server' }); // outcomeUnknown: true
 */
export const statusError = (
  message: string,
  answer: { readonly status: number; readonly errorClass: DestinationErrorClass; readonly retryAfterMs?: number | undefined },
): DestinationError =>
  new DestinationError(message, {
    errorClass: answer.errorClass,
    status: answer.status,
    ...(answer.retryAfterMs === undefined ? {} : { retryAfterMs: answer.retryAfterMs }),
    outcomeUnknown: isStatusOutcomeUnknown(answer.status),
  });

/**
 * The error for a transport failure before any answer: classified by {@link classifyTransportError},
 * in doubt unless the connection was never made ({@link isTransportOutcomeUnknown}).
 *
 * @example
 * throw transportError('PUT contact/c-1 failed: ECONNRESET', error);
 */
export const transportError = (message: string, error: unknown): DestinationError =>
  new DestinationError(message, { errorClass: classifyTransportError(error), cause: error, outcomeUnknown: isTransportOutcomeUnknown(error) });

/**
 * Builds an error without capturing a stack trace, for errors that signal an expected outcome (a
 * duplicate, a stale version, a retry later) rather than a fault: capturing the stack is most of the
 * cost of an error, and nobody reads these stacks. The previous limit is restored even if `build` throws.
 *
 * @example
 * throw withoutStackTrace(() => new IdempotencyItemAlreadyExistsError(message, existing));
 */
export const withoutStackTrace = <E extends Error>(build: () => E): E => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return build();
  } finally {
    Error.stackTraceLimit = limit;
  }
};
