/**
 * How a failed destination call should be treated. `throttled`, `server`, `timeout` and `network`
 * are transient (retry with backoff); `client` and `auth` are permanent (dead-letter now).
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

  public constructor(message: string, options: DestinationErrorOptions) {
    super(message, options);
    this.name = 'DestinationError';
    this.errorClass = options.errorClass;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.retryable = TRANSIENT_CLASSES.has(options.errorClass);
  }
}

/**
 * Maps an HTTP status of a failed call to its class.
 *
 * @example
 * classifyHttpStatus(429); // 'throttled'
 */
export const classifyHttpStatus = (status: number): DestinationErrorClass => {
  if (status === 429) return DestinationErrorClass.THROTTLED;
  if (status === 408) return DestinationErrorClass.TIMEOUT;
  if (status === 401 || status === 403) return DestinationErrorClass.AUTH;
  if (status === 409) return DestinationErrorClass.CONFLICT;
  if (status >= 500) return DestinationErrorClass.SERVER;
  if (status >= 400) return DestinationErrorClass.CLIENT;
  return DestinationErrorClass.UNKNOWN;
};
