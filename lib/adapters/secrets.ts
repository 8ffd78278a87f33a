import { BaseProvider } from '@aws-lambda-powertools/parameters/base';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { classifyTransportError, DestinationError, DestinationErrorClass, findInCauseChain } from '../core/errors.ts';
import { atFirstUse, clientFrom, importSdk, type ClientSource } from './at-first-use.ts';
import { isServiceAnswer, isTransientServiceAnswer } from './aws-errors.ts';

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
    if (isTransientServiceAnswer(sdk)) {
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

type SecretsManagerSdk = typeof import('@aws-sdk/client-secrets-manager');

/**
 * What Powertools Parameters' `SecretsProvider` is (its `BaseProvider`, the documented base of a
 * provider: the cache, `maxAge`, `forceFetch`, its user agent on the client, errors wrapped as
 * `GetParameterError`; `_get` sends `GetSecretValue` and answers the `SecretString`, else the
 * `SecretBinary`), on an SDK module given to it. `SecretsProvider`'s own module imports the SDK's
 * Secrets Manager client statically, which a bundle would load at init.
 */
class SecretsManagerProvider extends BaseProvider {
  readonly #sdk: SecretsManagerSdk;
  readonly #client: SecretsManagerClient;

  public constructor(sdk: SecretsManagerSdk, client: SecretsManagerClient) {
    super({ awsSdkV3Client: client });
    this.#sdk = sdk;
    this.#client = client;
  }

  public override get(name: string, options: { readonly maxAge: number; readonly forceFetch: boolean }): Promise<string | Uint8Array | undefined> {
    return super.get(name, options) as Promise<string | Uint8Array | undefined>;
  }

  protected async _get(name: string): Promise<string | Uint8Array | undefined> {
    const result = await this.#client.send(new this.#sdk.GetSecretValueCommand({ SecretId: name }));
    return result.SecretString || result.SecretBinary;
  }

  protected _getMultiple(): Promise<Record<string, unknown> | undefined> {
    throw new Error('a secret is read by its name, one at a time');
  }
}

/**
 * {@link SecretReader} over Powertools Parameters' provider cache (it keeps each value `maxAge`
 * seconds; `forceFetch` skips it), on the given client, so an endpoint (an emulator) can be set.
 * Concurrent reads of one secret share one `GetSecretValue`; a forced read never joins a cached
 * one. One reader per process lets every destination share the cache.
 *
 * The SDK's Secrets Manager client is loaded, and the client made, at the first read, once (a
 * failed load is tried again at the next read): a function starts without it, and only a
 * destination with `auth` ever reads.
 *
 * @example
 * const secrets = new SecretsManagerReader(); // new SecretsManagerClient({}) at the first read
 * const token = await secrets.read('crm/api-token', { maxAgeSeconds: 300 });
 * const rotated = await secrets.read('crm/api-token', { maxAgeSeconds: 300, forceFetch: true });
 * const local = new SecretsManagerReader(new SecretsManagerClient({ endpoint: 'http://127.0.0.1:4566' }));
 */
export class SecretsManagerReader implements SecretReader {
  readonly #client: ClientSource<SecretsManagerClient> | undefined;
  readonly #provider = atFirstUse(async () => {
    const sdk = await importSdk('@aws-sdk/client-secrets-manager', 'read secrets', () => import('@aws-sdk/client-secrets-manager'));
    return new SecretsManagerProvider(sdk, this.#client === undefined ? new sdk.SecretsManagerClient({}) : await clientFrom(this.#client));
  });
  readonly #pending = new Map<string, PendingRead>();

  /** @param client @default `new SecretsManagerClient({})`, made at the first read */
  public constructor(client?: ClientSource<SecretsManagerClient>) {
    this.#client = client;
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
      const provider = await this.#provider();
      value = await provider.get(secret, { maxAge: maxAgeSeconds, forceFetch });
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
