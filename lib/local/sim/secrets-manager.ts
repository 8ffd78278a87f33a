import { randomInt, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, LOOPBACK } from './loopback-server.ts';

/** The account in every ARN (the one moto and LocalStack use). */
const ACCOUNT_ID = '123456789012';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'secretsmanager.';
const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
const MAX_BODY_BYTES = 1_048_576;
const DAY_MS = 86_400_000;
const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const ARN_SUFFIX_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** An AWS error answer: `{"__type": type, "message": message}` with its status. */
class ServiceError extends Error {
  public readonly type: string;
  public readonly status: number;

  public constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

const notFound = (): ServiceError => new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
const markedForDeletion = (): ServiceError =>
  new ServiceError('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.");

interface SecretVersion {
  readonly id: string;
  readonly secretString: string | undefined;
  /** Base64, as the protocol carries it. */
  readonly secretBinary: string | undefined;
  /** Epoch seconds. */
  readonly createdDate: number;
  readonly stages: Set<string>;
}

interface StoredSecret {
  readonly name: string;
  readonly arn: string;
  readonly description: string | undefined;
  readonly kmsKeyId: string | undefined;
  readonly tags: unknown;
  readonly createdDate: number;
  lastChangedDate: number;
  /** Epoch seconds, truncated to the day as AWS reports it. */
  lastAccessedDate: number | undefined;
  /** When deletion was scheduled; the secret can then be described but not read or changed. */
  deletedDate: number | undefined;
  readonly versions: Map<string, SecretVersion>;
}

type Input = Readonly<Record<string, unknown>>;

const epochSeconds = (ms: number): number => ms / 1000;

const validationError = (field: string, constraint: string): ServiceError =>
  new ServiceError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint: ${constraint}`);

const optionalString = (input: Input, key: string): string | undefined => {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ServiceError('SerializationException', `Expected a string for ${key}`);
  return value;
};

const requiredString = (input: Input, key: string): string => {
  const value = optionalString(input, key);
  if (value === undefined) throw validationError(key.charAt(0).toLowerCase() + key.slice(1), 'Member must not be null');
  return value;
};

/** A client request token becomes the version's id: 32 to 64 characters. */
const versionIdFrom = (input: Input): string => {
  const token = optionalString(input, 'ClientRequestToken');
  if (token === undefined) return randomUUID();
  if (token.length < 32 || token.length > 64) throw validationError('clientRequestToken', 'Member must have length between 32 and 64');
  return token;
};

/** The value of a create or put: a string or a binary, never both. */
const valueFrom = (input: Input): { readonly secretString: string | undefined; readonly secretBinary: string | undefined } => {
  const secretString = optionalString(input, 'SecretString');
  const secretBinary = optionalString(input, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined) {
    throw new ServiceError('InvalidParameterException', "You can't specify both a binary secret value and a string secret value in the same secret.");
  }
  if (secretString !== undefined && (secretString.length < 1 || secretString.length > 65_536)) {
    throw validationError('secretString', 'Member must have length between 1 and 65536');
  }
  if (secretBinary !== undefined && (secretBinary.length < 1 || !/^[A-Za-z0-9+/]*={0,2}$/.test(secretBinary))) {
    throw new ServiceError('SerializationException', 'Expected base64 for SecretBinary');
  }
  return { secretString, secretBinary };
};

/** `-` and six random letters or digits, as AWS appends to a secret's name in its ARN. */
const arnSuffix = (): string => `-${Array.from({ length: 6 }, () => ARN_SUFFIX_CHARS[randomInt(ARN_SUFFIX_CHARS.length)]).join('')}`;

/** The region the request was signed for (`Credential=<key>/<date>/<region>/secretsmanager/aws4_request`). */
const signedRegion = (authorization: string): string | undefined => /Credential=[^/,\s]+\/\d{8}\/([a-z0-9-]+)\/secretsmanager\//.exec(authorization)?.[1];

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ServiceError('SerializationException', 'Request body too large', 413));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });

/**
 * A Secrets Manager running in this process: what `startSecretsManager` returns.
 *
 * @example
 * const secretsManager: SecretsManagerStandIn = await startSecretsManager();
 * const client = new SecretsManagerClient(awsClientConfig(secretsManager.endpoint));
 */
export interface SecretsManagerStandIn {
  /** e.g. `http://127.0.0.1:43121`; pass to `awsClientConfig`. */
  readonly endpoint: string;
  /** How many `GetSecretValue` calls named this secret (by name or ARN), answered or refused. */
  getCount(secret: string): number;
  /** Closes the server and its open connections. Safe to call twice. */
  stop(): Promise<void>;
}

/** The secrets and the five operations, on the protocol's input and output shapes. */
class SecretStore {
  readonly #secrets = new Map<string, StoredSecret>();
  readonly #getCounts = new Map<string, number>();
  readonly #now: () => number;

  public constructor(now: () => number) {
    this.#now = now;
  }

  public getCount(secret: string): number {
    const found = this.#find(secret);
    return this.#getCounts.get(found?.name ?? secret) ?? 0;
  }

  public handle(operation: string, input: Input, region: string): unknown {
    switch (operation) {
      case 'CreateSecret':
        return this.#create(input, region);
      case 'GetSecretValue':
        return this.#getValue(input);
      case 'PutSecretValue':
        return this.#putValue(input);
      case 'DescribeSecret':
        return this.#describe(input);
      case 'DeleteSecret':
        return this.#delete(input);
      default:
        throw new ServiceError('UnknownOperationException', `Operation ${operation} is not supported by this stand-in`);
    }
  }

  /** By name, by full ARN, or by ARN without its random suffix, as AWS resolves a `SecretId`. */
  #find(secretId: string): StoredSecret | undefined {
    const byName = this.#secrets.get(secretId);
    if (byName !== undefined) return byName;
    for (const secret of this.#secrets.values()) {
      if (secret.arn === secretId || secret.arn.slice(0, -7) === secretId) return secret;
    }
    return undefined;
  }

  #resolve(input: Input): StoredSecret {
    const secret = this.#find(requiredString(input, 'SecretId'));
    if (secret === undefined) throw notFound();
    return secret;
  }

  #create(input: Input, region: string): unknown {
    const name = requiredString(input, 'Name');
    if (!NAME.test(name)) {
      throw new ServiceError(
        'InvalidParameterException',
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    }
    const value = valueFrom(input);
    const versionId = versionIdFrom(input);
    const existing = this.#secrets.get(name);
    if (existing !== undefined) {
      if (existing.deletedDate !== undefined) {
        throw new ServiceError('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
      }
      throw new ServiceError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    }
    const now = epochSeconds(this.#now());
    const secret: StoredSecret = {
      name,
      arn: `arn:aws:secretsmanager:${region}:${ACCOUNT_ID}:secret:${name}${arnSuffix()}`,
      description: optionalString(input, 'Description'),
      kmsKeyId: optionalString(input, 'KmsKeyId'),
      tags: input.Tags,
      createdDate: now,
      lastChangedDate: now,
      lastAccessedDate: undefined,
      deletedDate: undefined,
      versions: new Map(),
    };
    const hasValue = value.secretString !== undefined || value.secretBinary !== undefined;
    // A secret created without a value has no version: reading it fails until one is put.
    if (hasValue) secret.versions.set(versionId, { id: versionId, ...value, createdDate: now, stages: new Set([CURRENT]) });
    this.#secrets.set(name, secret);
    return { ARN: secret.arn, Name: name, ...(hasValue ? { VersionId: versionId } : {}) };
  }

  #getValue(input: Input): unknown {
    const secretId = requiredString(input, 'SecretId');
    const secret = this.#find(secretId);
    const counted = secret?.name ?? secretId;
    this.#getCounts.set(counted, (this.#getCounts.get(counted) ?? 0) + 1);
    if (secret === undefined) throw notFound();
    if (secret.deletedDate !== undefined) throw markedForDeletion();
    const versionId = optionalString(input, 'VersionId');
    const stage = optionalString(input, 'VersionStage');
    let version: SecretVersion | undefined;
    if (versionId !== undefined) {
      version = secret.versions.get(versionId);
      if (version === undefined) throw new ServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`);
      if (stage !== undefined && !version.stages.has(stage)) {
        throw new ServiceError('InvalidRequestException', 'You provided a VersionStage that is not associated to the provided VersionId.');
      }
    } else {
      const wanted = stage ?? CURRENT;
      version = [...secret.versions.values()].find((candidate) => candidate.stages.has(wanted));
      if (version === undefined) throw new ServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${wanted}`);
    }
    secret.lastAccessedDate = epochSeconds(Math.floor(this.#now() / DAY_MS) * DAY_MS);
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...(version.secretString === undefined ? {} : { SecretString: version.secretString }),
      ...(version.secretBinary === undefined ? {} : { SecretBinary: version.secretBinary }),
      VersionStages: [...version.stages],
      CreatedDate: version.createdDate,
    };
  }

  /** A new version; its labels (AWSCURRENT by default) move to it, and the old current becomes AWSPREVIOUS. */
  #putValue(input: Input): unknown {
    const secret = this.#resolve(input);
    if (secret.deletedDate !== undefined) throw markedForDeletion();
    const value = valueFrom(input);
    if (value.secretString === undefined && value.secretBinary === undefined) {
      throw new ServiceError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
    }
    const versionId = versionIdFrom(input);
    const stagesInput = input.VersionStages;
    if (stagesInput !== undefined && (!Array.isArray(stagesInput) || !stagesInput.every((stage) => typeof stage === 'string'))) {
      throw new ServiceError('SerializationException', 'Expected a list of strings for VersionStages');
    }
    const stages = (stagesInput as string[] | undefined) ?? [CURRENT];
    const existing = secret.versions.get(versionId);
    if (existing !== undefined) {
      // The same token again (an SDK retry) with the same value is the same request.
      if (existing.secretString === value.secretString && existing.secretBinary === value.secretBinary) {
        return { ARN: secret.arn, Name: secret.name, VersionId: versionId, VersionStages: [...existing.stages] };
      }
      throw new ServiceError('ResourceExistsException', "You can't modify an existing version, you can only create a new version.");
    }
    const now = epochSeconds(this.#now());
    if (stages.includes(CURRENT)) {
      for (const version of secret.versions.values()) version.stages.delete(PREVIOUS);
      for (const version of secret.versions.values()) {
        if (version.stages.delete(CURRENT)) version.stages.add(PREVIOUS);
      }
    }
    for (const version of secret.versions.values()) for (const stage of stages) version.stages.delete(stage);
    secret.versions.set(versionId, { id: versionId, ...value, createdDate: now, stages: new Set(stages) });
    secret.lastChangedDate = now;
    return { ARN: secret.arn, Name: secret.name, VersionId: versionId, VersionStages: stages };
  }

  #describe(input: Input): unknown {
    const secret = this.#resolve(input);
    const labelled = [...secret.versions.values()].filter((version) => version.stages.size > 0);
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description === undefined ? {} : { Description: secret.description }),
      ...(secret.kmsKeyId === undefined ? {} : { KmsKeyId: secret.kmsKeyId }),
      LastChangedDate: secret.lastChangedDate,
      ...(secret.lastAccessedDate === undefined ? {} : { LastAccessedDate: secret.lastAccessedDate }),
      ...(secret.deletedDate === undefined ? {} : { DeletedDate: secret.deletedDate }),
      ...(secret.tags === undefined ? {} : { Tags: secret.tags }),
      VersionIdsToStages: Object.fromEntries(labelled.map((version) => [version.id, [...version.stages]])),
      CreatedDate: secret.createdDate,
    };
  }

  /** Scheduled for deletion after a recovery window (7 to 30 days, 30 by default), or gone at once when forced. */
  #delete(input: Input): unknown {
    const window = input.RecoveryWindowInDays;
    const force = input.ForceDeleteWithoutRecovery === true;
    if (window !== undefined && window !== null && force) {
      throw new ServiceError('InvalidParameterException', "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    }
    if (window !== undefined && window !== null && (typeof window !== 'number' || !Number.isInteger(window) || window < 7 || window > 30)) {
      throw new ServiceError('InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    }
    const secret = this.#resolve(input);
    const nowMs = this.#now();
    if (force) {
      this.#secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(nowMs) };
    }
    if (secret.deletedDate !== undefined) throw markedForDeletion();
    secret.deletedDate = epochSeconds(nowMs);
    return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(nowMs + ((window as number | undefined) ?? 30) * DAY_MS) };
  }
}

const send = (response: ServerResponse, status: number, body: unknown): void => {
  response.writeHead(status, { 'Content-Type': CONTENT_TYPE, 'x-amzn-RequestId': randomUUID() });
  response.end(JSON.stringify(body));
};

/**
 * Starts a Secrets Manager stand-in on a free loopback port: the AWS JSON 1.1 protocol the SDK speaks
 * (`POST /`, `X-Amz-Target: secretsmanager.<Op>`), for `CreateSecret`, `GetSecretValue` (by name,
 * ARN or partial ARN; `VersionId`, `VersionStage`), `PutSecretValue` (the new version becomes
 * AWSCURRENT, the old one AWSPREVIOUS: a rotation), `DescribeSecret` and `DeleteSecret` (a recovery
 * window, or forced). It answers as AWS does, refusals included: an unknown secret, one without a
 * value, or one scheduled for deletion is an error, never an empty answer. Any signed request is
 * accepted (the signature is not checked); an unsigned one is refused.
 *
 * @example
 * const secretsManager = await startSecretsManager();
 * const client = new SecretsManagerClient(awsClientConfig(secretsManager.endpoint));
 * await client.send(new CreateSecretCommand({ Name: 'crm/token', SecretString: 'token-1' }));
 * secretsManager.getCount('crm/token'); // 0: nothing read yet
 * client.destroy();
 * await secretsManager.stop();
 */
export const startSecretsManager = async (options: { readonly now?: () => number } = {}): Promise<SecretsManagerStandIn> => {
  const store = new SecretStore(options.now ?? Date.now);
  const server = createServer((request, response) => {
    void (async () => {
      try {
        if (request.method !== 'POST' || (request.url ?? '/') !== '/') {
          throw new ServiceError('UnknownOperationException', `${request.method} ${request.url} is not an operation`, 404);
        }
        const authorization = request.headers.authorization ?? '';
        if (!authorization.startsWith('AWS4-HMAC-SHA256 ')) {
          throw new ServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token');
        }
        const target = request.headers['x-amz-target'];
        if (typeof target !== 'string' || !target.startsWith(TARGET_PREFIX)) {
          throw new ServiceError('UnknownOperationException', 'Missing or unknown X-Amz-Target');
        }
        if (!(request.headers['content-type'] ?? '').startsWith(CONTENT_TYPE)) {
          throw new ServiceError('SerializationException', `Expected Content-Type ${CONTENT_TYPE}`);
        }
        const text = await readBody(request);
        let input: unknown;
        try {
          input = text === '' ? {} : JSON.parse(text);
        } catch {
          throw new ServiceError('SerializationException', 'The request body is not JSON');
        }
        if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ServiceError('SerializationException', 'Expected a JSON object');
        const region = signedRegion(authorization) ?? 'us-east-1';
        send(response, 200, store.handle(target.slice(TARGET_PREFIX.length), input as Input, region));
      } catch (error) {
        if (error instanceof ServiceError) send(response, error.status, { __type: error.type, message: error.message });
        else send(response, 500, { __type: 'InternalServiceError', message: error instanceof Error ? error.message : String(error) });
      }
    })();
  });
  const port = await listenOnLoopback(server);
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    getCount: (secret) => store.getCount(secret),
    stop: () => {
      stopped ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // SDK clients keep sockets alive; without this, close() would wait for them to time out.
        server.closeAllConnections();
      });
      return stopped;
    },
  };
};
