import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SecretsManagerReader } from '../../lib/adapters/secrets.ts';
import { awsClientConfig } from '../../lib/local/sim/emulators.ts';
import { startSecretsManager, type SecretsManagerStandIn } from '../../lib/local/sim/secrets-manager.ts';
import { failureOf } from '../helpers/factories.ts';

/**
 * The real SDK and Powertools' SecretsProvider, through SecretsManagerReader, against the
 * in-process stand-in, and also against SYNC_TEST_SECRETS_ENDPOINT when it is set (moto:
 * `python3 -m moto.server -H 127.0.0.1 -p 4620`), so the stand-in is checked against another
 * implementation of the service. GetSecretValue calls are counted in the client (what leaves the
 * process), and by the stand-in itself where it runs.
 */
const endpointUnderTest = process.env.SYNC_TEST_SECRETS_ENDPOINT;
const targets: ReadonlyArray<{ readonly name: string; readonly endpoint: string | undefined }> = [
  { name: 'stand-in', endpoint: undefined },
  ...(endpointUnderTest === undefined || endpointUnderTest === '' ? [] : [{ name: `endpoint ${endpointUnderTest}`, endpoint: endpointUnderTest }]),
];

/** A client that counts the GetSecretValue commands it sends, per SecretId. */
const countingClient = (endpoint: string, extra: { maxAttempts?: number } = {}) => {
  const counts = new Map<string, number>();
  const client = new SecretsManagerClient({ ...awsClientConfig(endpoint), ...extra });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetSecretValueCommand') {
        const id = String((args.input as { SecretId?: unknown }).SecretId);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      return next(args);
    },
    { step: 'initialize', name: 'countGetSecretValue' },
  );
  return { client, sent: (secret: string) => counts.get(secret) ?? 0 };
};

/** A unique name: moto keeps its secrets between runs. */
const uniqueName = (label: string) => `sync-test/${label}-${randomUUID().slice(0, 8)}`;

describe.each(targets)('SecretsManagerReader against Secrets Manager ($name)', ({ endpoint: given }) => {
  let standIn: SecretsManagerStandIn | undefined;
  let endpoint: string;
  let admin: SecretsManagerClient;

  beforeAll(async () => {
    if (given === undefined) standIn = await startSecretsManager();
    endpoint = given ?? standIn!.endpoint;
    admin = new SecretsManagerClient(awsClientConfig(endpoint));
  });

  afterAll(async () => {
    admin.destroy();
    await standIn?.stop();
  });

  const createSecret = async (label: string, value: string): Promise<{ name: string; arn: string }> => {
    const name = uniqueName(label);
    const created = await admin.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    return { name, arn: created.ARN! };
  };

  it('reads the SecretString by name and by ARN', async () => {
    // Prepare
    const { name, arn } = await createSecret('read', 'token-1');
    const { client } = countingClient(endpoint);
    const reader = new SecretsManagerReader(client);

    // Act
    const byName = await reader.read(name, { maxAgeSeconds: 300 });
    const byArn = await reader.read(arn, { maxAgeSeconds: 300 });

    // Assess
    expect([byName, byArn]).toEqual(['token-1', 'token-1']);
    client.destroy();
  });

  it('asks Secrets Manager once within maxAge, and keeps answering the cached value after a rotation', async () => {
    // Prepare
    const { name } = await createSecret('cache', 'token-1');
    const { client, sent } = countingClient(endpoint);
    const reader = new SecretsManagerReader(client);

    // Act
    const first = await reader.read(name, { maxAgeSeconds: 300 });
    const second = await reader.read(name, { maxAgeSeconds: 300 });
    await admin.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'token-2' }));
    const cached = await reader.read(name, { maxAgeSeconds: 300 });

    // Assess
    expect([first, second, cached]).toEqual(['token-1', 'token-1', 'token-1']);
    expect(sent(name)).toBe(1);
    if (standIn !== undefined) expect(standIn.getCount(name)).toBe(1);
    client.destroy();
  });

  it('reads again once maxAge has passed', async () => {
    // Prepare
    const { name } = await createSecret('expiry', 'token-1');
    const { client, sent } = countingClient(endpoint);
    const reader = new SecretsManagerReader(client);
    await reader.read(name, { maxAgeSeconds: 1 });
    await admin.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'token-2' }));

    // Act
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const later = await reader.read(name, { maxAgeSeconds: 1 });

    // Assess
    expect(later).toBe('token-2');
    expect(sent(name)).toBe(2);
  });

  it('gets the new value with forceFetch after PutSecretValue, and caches that one', async () => {
    // Prepare
    const { name } = await createSecret('force', 'token-1');
    const { client, sent } = countingClient(endpoint);
    const reader = new SecretsManagerReader(client);
    await reader.read(name, { maxAgeSeconds: 300 });
    await admin.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'token-2' }));

    // Act
    const forced = await reader.read(name, { maxAgeSeconds: 300, forceFetch: true });
    const afterwards = await reader.read(name, { maxAgeSeconds: 300 });

    // Assess
    expect([forced, afterwards]).toEqual(['token-2', 'token-2']);
    expect(sent(name)).toBe(2);
    if (standIn !== undefined) expect(standIn.getCount(name)).toBe(2);
    client.destroy();
  });

  it('shares one GetSecretValue between concurrent reads of a secret', async () => {
    // Prepare
    const { name } = await createSecret('concurrent', 'token-1');
    const { client, sent } = countingClient(endpoint);
    const reader = new SecretsManagerReader(client);

    // Act
    const values = await Promise.all(Array.from({ length: 5 }, () => reader.read(name, { maxAgeSeconds: 300 })));

    // Assess
    expect(values).toEqual(Array(5).fill('token-1'));
    expect(sent(name)).toBe(1);
    client.destroy();
  });

  it('refuses a missing secret as a permanent auth error naming it', async () => {
    // Prepare
    const name = uniqueName('missing');
    const { client } = countingClient(endpoint);
    const reader = new SecretsManagerReader(client);

    // Act
    const error = await failureOf(reader.read(name, { maxAgeSeconds: 300 }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', retryable: false, outcomeUnknown: false });
    expect(error.message).toContain(`Secret "${name}" could not be read: ResourceNotFoundException`);
    client.destroy();
  });

  it('refuses a secret scheduled for deletion, and one created without a value, as auth errors', async () => {
    // Prepare
    const { name: deleted } = await createSecret('deleted', 'token-1');
    await admin.send(new DeleteSecretCommand({ SecretId: deleted, RecoveryWindowInDays: 7 }));
    const empty = uniqueName('empty');
    await admin.send(new CreateSecretCommand({ Name: empty }));
    const { client } = countingClient(endpoint);
    const reader = new SecretsManagerReader(client);

    // Act
    const deletedError = await failureOf(reader.read(deleted, { maxAgeSeconds: 300 }));
    const emptyError = await failureOf(reader.read(empty, { maxAgeSeconds: 300 }));

    // Assess
    expect(deletedError).toMatchObject({ errorClass: 'auth', retryable: false });
    expect(deletedError.message).toContain('InvalidRequestException');
    expect(emptyError).toMatchObject({ errorClass: 'auth', retryable: false });
    expect(emptyError.message).toContain('ResourceNotFoundException');
    expect(`${deletedError.message} ${emptyError.message}`).not.toContain('token-1');
    client.destroy();
  });

  it('refuses a binary secret: credentials are strings', async () => {
    // Prepare
    const name = uniqueName('binary');
    await admin.send(new CreateSecretCommand({ Name: name, SecretBinary: new Uint8Array([1, 2, 3]) }));
    const { client } = countingClient(endpoint);
    const reader = new SecretsManagerReader(client);

    // Act
    const error = await failureOf(reader.read(name, { maxAgeSeconds: 300 }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', retryable: false });
    expect(error.message).toBe(`Secret "${name}" holds a binary value (SecretBinary); expected a string (SecretString)`);
    client.destroy();
  });

  it('answers GetSecretValue as AWS does: ARN with a 6-character suffix, version, AWSCURRENT, creation date', async () => {
    // Prepare
    const { name, arn } = await createSecret('shape', 'token-1');

    // Act
    const answer = await admin.send(new GetSecretValueCommand({ SecretId: name }));

    // Assess
    expect(arn).toMatch(new RegExp(`^arn:aws:secretsmanager:[a-z0-9-]+:\\d{12}:secret:${name}-[A-Za-z0-9]{6}$`));
    expect(answer).toMatchObject({ ARN: arn, Name: name, SecretString: 'token-1', VersionStages: ['AWSCURRENT'] });
    expect(answer.VersionId).toMatch(/^[A-Za-z0-9-]{32,64}$/);
    expect(answer.CreatedDate).toBeInstanceOf(Date);
    expect(Math.abs(answer.CreatedDate!.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('rotates with PutSecretValue: the new version is AWSCURRENT, the old one AWSPREVIOUS and still readable', async () => {
    // Prepare
    const { name } = await createSecret('rotate', 'token-1');
    const before = await admin.send(new GetSecretValueCommand({ SecretId: name }));

    // Act
    const put = await admin.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'token-2' }));
    const current = await admin.send(new GetSecretValueCommand({ SecretId: name }));
    const previous = await admin.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
    const byVersion = await admin.send(new GetSecretValueCommand({ SecretId: name, VersionId: before.VersionId }));
    const described = await admin.send(new DescribeSecretCommand({ SecretId: name }));

    // Assess
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    expect(current).toMatchObject({ SecretString: 'token-2', VersionId: put.VersionId, VersionStages: ['AWSCURRENT'] });
    expect(previous).toMatchObject({ SecretString: 'token-1', VersionId: before.VersionId, VersionStages: ['AWSPREVIOUS'] });
    expect(byVersion.SecretString).toBe('token-1');
    expect(described.VersionIdsToStages).toEqual({ [before.VersionId!]: ['AWSPREVIOUS'], [put.VersionId!]: ['AWSCURRENT'] });
    expect(described).toMatchObject({ Name: name });
  });

  const errorName = (promise: Promise<unknown>) =>
    promise.then(
      () => 'resolved',
      (error: Error) => error.name,
    );

  it('refuses what AWS refuses: an existing name, an unknown secret; a forced delete frees the name', async () => {
    // Prepare
    const { name } = await createSecret('refusals', 'token-1');

    // Act
    const duplicate = await errorName(admin.send(new CreateSecretCommand({ Name: name, SecretString: 'other' })));
    const unknownDescribe = await errorName(admin.send(new DescribeSecretCommand({ SecretId: uniqueName('nothing') })));
    const unknownPut = await errorName(admin.send(new PutSecretValueCommand({ SecretId: uniqueName('nothing'), SecretString: 'x' })));
    const scheduled = await admin.send(new DeleteSecretCommand({ SecretId: name }));
    const described = await admin.send(new DescribeSecretCommand({ SecretId: name }));
    await admin.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    const gone = await errorName(admin.send(new DescribeSecretCommand({ SecretId: name })));
    const reused = await admin.send(new CreateSecretCommand({ Name: name, SecretString: 'again' }));

    // Assess
    expect([duplicate, unknownDescribe, unknownPut, gone]).toEqual([
      'ResourceExistsException',
      'ResourceNotFoundException',
      'ResourceNotFoundException',
      'ResourceNotFoundException',
    ]);
    expect(scheduled.DeletionDate!.getTime() - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(described.DeletedDate).toBeInstanceOf(Date);
    expect(reused.Name).toBe(name);
  });

  // AWS refuses both with InvalidRequestException; moto 5 accepts the put and answers the create
  // with ResourceExistsException, so this runs on the stand-in only.
  it.skipIf(given !== undefined)('refuses to change or re-create a secret scheduled for deletion, as AWS does', async () => {
    // Prepare
    const { name } = await createSecret('scheduled', 'token-1');
    await admin.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));

    // Act
    const put = await errorName(admin.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'x' })));
    const recreate = await errorName(admin.send(new CreateSecretCommand({ Name: name, SecretString: 'again' })));
    const again = await errorName(admin.send(new DeleteSecretCommand({ SecretId: name })));

    // Assess
    expect([put, recreate, again]).toEqual(['InvalidRequestException', 'InvalidRequestException', 'InvalidRequestException']);
  });
});

describe('SecretsManagerReader, its client made at the first read', () => {
  let standIn: SecretsManagerStandIn;
  let admin: SecretsManagerClient;

  beforeAll(async () => {
    standIn = await startSecretsManager();
    admin = new SecretsManagerClient(awsClientConfig(standIn.endpoint));
  });

  afterEach(() => {
    vi.unstubAllEnvs();
    vi.doUnmock('@aws-sdk/client-secrets-manager');
  });

  afterAll(async () => {
    admin.destroy();
    await standIn.stop();
  });

  const createSecret = async (label: string, value: string): Promise<string> => {
    const name = uniqueName(label);
    await admin.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    return name;
  };

  it('makes its client at the first read, not before, and once for concurrent reads of several secrets', async () => {
    // Prepare
    const [crm, erp] = [await createSecret('lazy-crm', 'token-crm'), await createSecret('lazy-erp', 'token-erp')];
    const { client, sent } = countingClient(standIn.endpoint);
    const makeClient = vi.fn(() => client);
    const reader = new SecretsManagerReader(makeClient);
    expect(makeClient).not.toHaveBeenCalled();

    // Act
    const values = await Promise.all([reader.read(crm, { maxAgeSeconds: 300 }), reader.read(erp, { maxAgeSeconds: 300 }), reader.read(crm, { maxAgeSeconds: 300 })]);
    const cached = await reader.read(crm, { maxAgeSeconds: 300 });

    // Assess
    expect(values).toEqual(['token-crm', 'token-erp', 'token-crm']);
    expect(cached).toBe('token-crm');
    expect(makeClient).toHaveBeenCalledTimes(1);
    expect([sent(crm), sent(erp)]).toEqual([1, 1]);
    client.destroy();
  });

  it("without a client, reads with the SDK's own, configured from the environment as on Lambda", async () => {
    // Prepare: what the function's environment gives the SDK (the endpoint: the stand-in's)
    const name = await createSecret('default-client', 'token-1');
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', standIn.endpoint);
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('AWS_SESSION_TOKEN', 'test');
    const reader = new SecretsManagerReader();

    // Act
    const value = await reader.read(name, { maxAgeSeconds: 300 });

    // Assess
    expect(value).toBe('token-1');
    expect(standIn.getCount(name)).toBe(1);
  });

  it('fails a read whose client cannot be made as an error naming the secret and the cause, and tries again at the next read', async () => {
    // Prepare
    const name = await createSecret('client-fails', 'token-1');
    const { client } = countingClient(standIn.endpoint);
    const makeClient = vi.fn<() => SecretsManagerClient>().mockImplementationOnce(() => {
      throw new Error('no client today');
    });
    makeClient.mockImplementation(() => client);
    const reader = new SecretsManagerReader(makeClient);

    // Act
    const error = await failureOf(reader.read(name, { maxAgeSeconds: 300 }));
    const value = await reader.read(name, { maxAgeSeconds: 300 });

    // Assess: retried as any failure before a request is (unknown, a few times), nothing sent
    expect(error).toMatchObject({ errorClass: 'unknown', outcomeUnknown: false });
    expect(error.message).toBe(`Secret "${name}" could not be read: Error: no client today`);
    expect(value).toBe('token-1');
    expect(makeClient).toHaveBeenCalledTimes(2);
    client.destroy();
  });
  it('says which package it could not load when the SDK is missing, and tries again at the next read', async () => {
    // Prepare: the runtime without @aws-sdk/client-secrets-manager
    const name = await createSecret('missing-sdk', 'token-1');
    const { client } = countingClient(standIn.endpoint);
    vi.doMock('@aws-sdk/client-secrets-manager', () => {
      throw new Error("Cannot find package '@aws-sdk/client-secrets-manager'");
    });
    const reader = new SecretsManagerReader(client);

    // Act
    const error = await failureOf(reader.read(name, { maxAgeSeconds: 300 }));
    vi.doUnmock('@aws-sdk/client-secrets-manager');
    const value = await reader.read(name, { maxAgeSeconds: 300 });

    // Assess
    expect(error).toMatchObject({ errorClass: 'unknown', outcomeUnknown: false });
    expect(error.message).toMatch(new RegExp(`^Secret "${name}" could not be read: Error: could not load @aws-sdk/client-secrets-manager to read secrets: `));
    expect(value).toBe('token-1');
    client.destroy();
  });
});

describe('SecretsManagerReader when Secrets Manager cannot answer', () => {
  let server: Server;
  let endpoint: string;
  /** What the fake service answers: a status and an AWS error type. */
  let answer: { status: number; type: string } = { status: 500, type: 'InternalServiceError' };

  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(answer.status, { 'Content-Type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify({ __type: answer.type, message: 'not now' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it.each([
    { status: 500, type: 'InternalServiceError' },
    { status: 400, type: 'ThrottlingException' },
    { status: 503, type: 'ServiceUnavailable' },
  ])('makes a $status $type a transient server error, nothing sent to the destination', async (given) => {
    // Prepare
    answer = given;
    const { client } = countingClient(endpoint, { maxAttempts: 1 });
    const reader = new SecretsManagerReader(client);

    // Act
    const error = await failureOf(reader.read('crm/token', { maxAgeSeconds: 300 }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'server', retryable: true, outcomeUnknown: false, status: given.status });
    expect(error.message).toContain(`Secret "crm/token" could not be read`);
    expect(error.message).toContain(given.type);
    client.destroy();
  });

  it('makes an AccessDeniedException a permanent auth error that says which permissions are needed', async () => {
    // Prepare
    answer = { status: 400, type: 'AccessDeniedException' };
    const { client } = countingClient(endpoint, { maxAttempts: 1 });
    const reader = new SecretsManagerReader(client);

    // Act
    const error = await failureOf(reader.read('crm/token', { maxAgeSeconds: 300 }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'auth', retryable: false });
    expect(error.message).toContain('secretsmanager:GetSecretValue');
    expect(error.message).toContain('kms:Decrypt');
    client.destroy();
  });

  it('makes a refused connection a transient network error', async () => {
    // Prepare: a port that was just freed, so nothing listens on it
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { client } = countingClient(`http://127.0.0.1:${port}`, { maxAttempts: 1 });
    const reader = new SecretsManagerReader(client);

    // Act
    const error = await failureOf(reader.read('crm/token', { maxAgeSeconds: 300 }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'network', retryable: true, outcomeUnknown: false });
    expect(error.message).toContain('Secret "crm/token" could not be read');
    client.destroy();
  });
});
