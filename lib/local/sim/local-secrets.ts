import { randomBytes } from 'node:crypto';
import { CreateSecretCommand, PutSecretValueCommand, ResourceExistsException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { basicAuthorization } from '../../adapters/http-auth.ts';
import type { AuthConfig } from '../../config/destination-kinds.ts';
import type { PipelineConfig } from '../../config/pipeline-config.ts';
import { awsClientConfig } from './emulators.ts';
import { startSecretsManager, type SecretsManagerStandIn } from './secrets-manager.ts';

/** The credential a fake API checks, set for each destination whose `Authorization` it can judge. */
export interface CredentialTarget {
  setCredential(destination: string, authorization: string | undefined): void;
}

/**
 * The secrets of a local run: one per destination with `auth`, made up for the run, stored in a
 * Secrets Manager (the in-process stand-in, or the endpoint's: moto, LocalStack), and required by
 * the fake API where it can check them (bearer and basic: the `Authorization` header).
 */
export interface LocalSecrets {
  /** Where the consumers read them: the endpoint the SDK's Secrets Manager client is given. */
  readonly endpoint: string;
  readonly client: SecretsManagerClient;
  /** Every value a secret had in this run, for tests and reports that must not show them. */
  values(): readonly string[];
  /** Puts a new value in the destination's secret and makes the fake API require it: a rotation. */
  rotate(destination: string): Promise<void>;
  stop(): Promise<void>;
}

/** A value of the shape the auth type reads, and the `Authorization` header it makes, if any. */
const madeUp = (auth: AuthConfig): { readonly value: string; readonly authorization?: string } => {
  const token = randomBytes(18).toString('base64url');
  switch (auth.type) {
    case 'bearer':
      return { value: token, authorization: `Bearer ${token}` };
    case 'basic':
      return { value: JSON.stringify({ username: 'sync-local', password: token }), authorization: basicAuthorization('sync-local', token) };
    case 'api-key':
      return { value: token };
    case 'standard-webhooks':
      return { value: `whsec_${randomBytes(24).toString('base64')}` };
    case 'oauth2-client-credentials':
      throw new Error(
        'a local run cannot stand in for an OAuth2 token endpoint: give the destination a bearer, basic, api-key or standard-webhooks auth for local runs',
      );
  }
};

/**
 * Provisions the run's secrets. With no destination using `auth`, nothing starts.
 *
 * @example
 * const secrets = await provisionLocalSecrets({ config, fakeApi });
 * await secrets?.rotate('crm');
 */
export const provisionLocalSecrets = async (options: {
  readonly config: PipelineConfig;
  readonly fakeApi: CredentialTarget;
  /** An AWS endpoint with Secrets Manager (moto, LocalStack); without it, the in-process stand-in. */
  readonly endpoint?: string;
}): Promise<LocalSecrets | undefined> => {
  const withAuth = options.config.destinations.flatMap((destination) => (destination.auth === undefined ? [] : [{ name: destination.name, auth: destination.auth }]));
  if (withAuth.length === 0) return undefined;
  const made = new Map(withAuth.map(({ name, auth }) => [name, { auth, ...madeUp(auth) }]));
  const standIn: SecretsManagerStandIn | undefined = options.endpoint === undefined ? await startSecretsManager() : undefined;
  const endpoint = options.endpoint ?? standIn!.endpoint;
  const client = new SecretsManagerClient(awsClientConfig(endpoint));
  const values: string[] = [];
  const store = async (secret: string, value: string): Promise<void> => {
    values.push(value);
    try {
      await client.send(new CreateSecretCommand({ Name: secret, SecretString: value }));
    } catch (error) {
      // A shared endpoint keeps secrets between runs: the run's value replaces the last one's.
      if (!(error instanceof ResourceExistsException)) throw error;
      await client.send(new PutSecretValueCommand({ SecretId: secret, SecretString: value }));
    }
  };
  for (const [name, secret] of made) {
    await store(secret.auth.secret, secret.value);
    options.fakeApi.setCredential(name, secret.authorization);
  }
  return {
    endpoint,
    client,
    values: () => [...values],
    rotate: async (destination) => {
      const secret = made.get(destination);
      if (secret === undefined) throw new Error(`destination ${destination} has no auth to rotate`);
      const next = madeUp(secret.auth);
      await client.send(new PutSecretValueCommand({ SecretId: secret.auth.secret, SecretString: next.value }));
      values.push(next.value);
      options.fakeApi.setCredential(destination, next.authorization);
    },
    stop: async () => {
      client.destroy();
      await standIn?.stop();
    },
  };
};
