import { findInCauseChain } from '../core/errors.ts';

/** What a failed AWS SDK call is, from the SDK's point of view. */
export interface SdkErrorShape {
  readonly name: string;
  readonly message: string;
  readonly $fault?: 'client' | 'server';
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/**
 * An answer from the service: it has a fault side or a status. (The SDK's retry middleware gives a
 * socket error a `$metadata` too, with attempts but no status, so `$metadata` alone proves nothing.)
 */
export const isServiceAnswer = (error: Error): SdkErrorShape | undefined => {
  const shape = error as Partial<SdkErrorShape>;
  return shape.$fault !== undefined || shape.$metadata?.httpStatusCode !== undefined ? (error as SdkErrorShape) : undefined;
};

/** Error codes AWS uses for "slow down": a 400 on JSON protocols, but transient. */
export const THROTTLING_CODES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
]);

/**
 * A service answer that the same call may not get next time: throttling (a 400 on JSON protocols,
 * a 429) or the service's own fault (5xx).
 *
 * @example
 * isTransientServiceAnswer({ name: 'InternalError', message: '', $fault: 'server', $metadata: { httpStatusCode: 500 } }); // true
 */
export const isTransientServiceAnswer = (sdk: SdkErrorShape): boolean => {
  const status = sdk.$metadata?.httpStatusCode;
  return THROTTLING_CODES.has(sdk.name) || status === 429 || sdk.$fault === 'server' || (status !== undefined && status >= 500);
};

/** A whole AWS call that failed: its code, its message, and whether the same call may succeed later. */
export interface AwsCallFailure {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

/**
 * Classifies a rejected SDK call: throttling, a 429 and the service's own faults (5xx) are worth
 * repeating, and so is a call that got no answer at all (refused connection, reset); anything the
 * service refused as the caller's fault (a missing queue, no permission) is not, and neither is an
 * aborted call.
 *
 * @example
 * describeAwsCallFailure(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 } }));
 * // { code: 'ThrottlingException', message: 'Rate exceeded', retryable: true }
 */
export const describeAwsCallFailure = (error: unknown): AwsCallFailure => {
  const sdk = findInCauseChain(error, isServiceAnswer);
  if (sdk !== undefined) return { code: sdk.name, message: sdk.message, retryable: isTransientServiceAnswer(sdk) };
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return { code: name, message, retryable: name !== 'AbortError' };
};
