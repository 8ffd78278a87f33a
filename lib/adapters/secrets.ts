import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { classifyTransportError, DestinationError, DestinationErrorClass, findInCauseChain } from '../core/errors.ts';

/** How one read may use what is cached. */
export interface SecretReadOptions {
  /** A value read less than this long ago is used as it is, without asking Secrets Manager. */
  readonly maxAgeSeconds: number;
  /** Ask Secrets Manager even when a fresh value is cached (after a 401: the secret may have been rotated). */
  readonly forceFetch?: boolean;
}

/**
 * Reads a destination's credentials: the current `SecretString` of a Secrets Manager secret. What
 * goes wrong is a {@link DestinationError} naming the secret and the cause, never the value.
 *
 * @example
 * const token = await secrets.read('crm/api-token', { maxAgeSeconds: 300 });
 */
export interface SecretReader {
  read(secret: string, options: SecretReadOptions): Promise<string>;
}

/** What a failing read is, from the SDK's point of view. */
interface SdkErrorShape {
  readonly name: string;
  readonly message: string;
  readonly $fault?: 'client' | 'server';
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/**
 * An answer from the service: it has a fault side or a status. (The SDK's retry middleware gives a
 * socket error a `$metadata` too, with attempts but no status, so `$metadata` alone proves nothing.)
 */
const isServiceAnswer = (error: Error): SdkErrorShape | undefined => {
  const shape = error as Partial<SdkErrorShape>;
  return shape.$fault !== undefined || shape.$metadata?.httpStatusCode !== undefined ? (error as SdkErrorShape) : undefined;
};

/** Error codes AWS uses for "slow down": a 400 on JSON protocols, but transient. */
const THROTTLING_CODES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
]);

/** Codes that mean the consumer may not read or decrypt the secret: what `auth.kmsKeyArn` and the role's policy grant. */
const PERMISSION_CODES: ReadonlySet<string> = new Set(['AccessDeniedException', 'DecryptionFailure', 'KMSAccessDeniedException']);

/**
 * Translates a failed read into domain terms. Nothing was sent to the destination, so no failure
 * here leaves a request's outcome in doubt. A missing, unreadable or undecryptable secret needs a
 * human (`auth`, dead-lettered); throttling and Secrets Manager's own faults are `server` and an
 * unreachable endpoint is `network` (both retried); anything else is `unknown`.
 *
 * @example
 * secretReadError('crm/token', Object.assign(new Error("Secrets Manager can't find the specified secret."), { name: 'ResourceNotFoundException', $fault: 'client', $metadata: { httpStatusCode: 400 } }));
 * // DestinationError 'Secret "crm/token" could not be read: ResourceNotFoundException: ...' (auth)
 */
export const secretReadError = (secret: string, error: unknown): DestinationError => {
  const prefix = `Secret "${secret}" could not be read`;
  const sdk = findInCauseChain(error, isServiceAnswer);
  if (sdk !== undefined) {
    const status = sdk.$metadata?.httpStatusCode;
    const cause = `${sdk.name}: ${sdk.message}`;
    if (THROTTLING_CODES.has(sdk.name) || status === 429 || sdk.$fault === 'server' || (status !== undefined && status >= 500)) {
      return new DestinationError(`${prefix} (Secrets Manager is busy or failing, retried): ${cause}`, {
        errorClass: DestinationErrorClass.SERVER,
        ...(status === undefined ? {} : { status }),
        outcomeUnknown: false,
        cause: error,
      });
    }
    const hint = PERMISSION_CODES.has(sdk.name)
      ? ' (the consumer needs secretsmanager:GetSecretValue on it, and kms:Decrypt on its key when it has one: auth.kmsKeyArn)'
      : '';
    return new DestinationError(`${prefix}: ${cause}${hint}`, {
      errorClass: DestinationErrorClass.AUTH,
      ...(status === undefined ? {} : { status }),
      outcomeUnknown: false,
      cause: error,
    });
  }
  const transport = classifyTransportError(error);
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new DestinationError(`${prefix}: ${reason}`, {
    errorClass: transport === DestinationErrorClass.UNKNOWN ? DestinationErrorClass.UNKNOWN : DestinationErrorClass.NETWORK,
    outcomeUnknown: false,
    cause: error,
  });
};

/** A read under way, and whether it bypassed the cache (then any caller may join it). */
interface PendingRead {
  readonly forced: boolean;
  readonly value: Promise<string>;
}

/**
 * {@link SecretReader} over Powertools Parameters' `SecretsProvider` (its cache keeps each value
 * `maxAge` seconds; `forceFetch` skips it), on the given client, so an endpoint (an emulator) can be
 * set. Concurrent reads of one secret share one `GetSecretValue`; a forced read never joins a
 * cached one. One reader per process lets every destination share the cache.
 *
 * @example
 * const secrets = new SecretsManagerReader(new SecretsManagerClient({}));
 * const token = await secrets.read('crm/api-token', { maxAgeSeconds: 300 });
 * const rotated = await secrets.read('crm/api-token', { maxAgeSeconds: 300, forceFetch: true });
 */
export class SecretsManagerReader implements SecretReader {
  readonly #provider: SecretsProvider;
  readonly #pending = new Map<string, PendingRead>();

  public constructor(client: SecretsManagerClient) {
    this.#provider = new SecretsProvider({ awsSdkV3Client: client });
  }

  public read(secret: string, options: SecretReadOptions): Promise<string> {
    const forced = options.forceFetch === true;
    const pending = this.#pending.get(secret);
    if (pending !== undefined && (pending.forced || !forced)) return pending.value;
    const value = this.#fetch(secret, options.maxAgeSeconds, forced);
    const entry: PendingRead = { forced, value };
    this.#pending.set(secret, entry);
    const settle = () => {
      if (this.#pending.get(secret) === entry) this.#pending.delete(secret);
    };
    value.then(settle, settle);
    return value;
  }

  async #fetch(secret: string, maxAgeSeconds: number, forceFetch: boolean): Promise<string> {
    let value: string | Uint8Array | undefined;
    try {
      value = await this.#provider.get(secret, { maxAge: maxAgeSeconds, forceFetch });
    } catch (error) {
      throw secretReadError(secret, error);
    }
    if (typeof value === 'string') return value;
    const what = value === undefined ? 'has no value' : 'holds a binary value (SecretBinary)';
    throw new DestinationError(`Secret "${secret}" ${what}; expected a string (SecretString)`, {
      errorClass: DestinationErrorClass.AUTH,
      outcomeUnknown: false,
    });
  }
}
