import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { listenOnLoopback, LOOPBACK } from './loopback-server.ts';

/** The part of dynalite's options this module sets; dynalite ships no type declarations. */
interface DynaliteOptions {
  /** How long a table stays CREATING (ms). @default 500 */
  readonly createTableMs?: number;
  readonly deleteTableMs?: number;
  readonly updateTableMs?: number;
  /** A LevelDB directory; in memory when left out. */
  readonly path?: string;
}

// dynalite is CommonJS without types: load it through `require` and give it the one signature we use.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: DynaliteOptions) => Server;


/**
 * Embedded SQS and DynamoDB emulators running in this process.
 *
 * @example
 * const emulators: Emulators = await startEmulators();
 * console.log(emulators.sqsEndpoint); // 'http://127.0.0.1:43121'
 */
export interface Emulators {
  /** e.g. `http://127.0.0.1:43121`; pass to {@link awsClientConfig}. */
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  /** Closes both servers and their open connections, so the process can exit. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * The subset of AWS SDK v3 client config that selects an endpoint; fits `SQSClient` and `DynamoDBClient`.
 *
 * @example
 * const config: AwsClientConfig = awsClientConfig(process.env.AWS_ENDPOINT_URL);
 * const sqs = new SQSClient(config);
 */
export interface AwsClientConfig {
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

const startDynalite = async (): Promise<Server> => {
  // Tables become ACTIVE at once: the local runtime and tests should not wait on simulated provisioning.
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await listenOnLoopback(server);
  return server;
};

/**
 * fauxqs on loopback. Its `startFauxqs` always listens on 0.0.0.0 (its `host` option renames queue
 * URLs instead), so this builds the same app with its exported `buildApp` and listens here; queue
 * URLs then name the host the client called, 127.0.0.1. Closing the app cancels pending long polls
 * and force-closes connections (fastify `forceCloseConnections`).
 */
const startFauxqsOnLoopback = async (): Promise<{ readonly port: number; stop(): Promise<void> }> => {
  const app = buildApp({ logger: false });
  await app.listen({ port: 0, host: LOOPBACK });
  const { port } = app.server.address() as AddressInfo;
  return { port, stop: () => app.close() };
};

const closeDynalite = (server: Server): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    // dynalite's close() also closes its in-memory LevelDB once the HTTP server has stopped.
    server.close((error?: Error) => (error ? reject(error) : resolve()));
    // SDK clients keep sockets alive; without this, close() would wait for them to time out.
    server.closeAllConnections();
  });

/**
 * Starts fauxqs (SQS) and dynalite (DynamoDB, in memory) on free loopback ports in this process.
 * No Docker, no AWS account; ~0.1 s.
 *
 * @example
 * const emulators = await startEmulators();
 * const sqs = new SQSClient(awsClientConfig(emulators.sqsEndpoint));
 * const dynamodb = new DynamoDBClient(awsClientConfig(emulators.dynamodbEndpoint));
 * // ...
 * sqs.destroy();
 * dynamodb.destroy();
 * await emulators.stop();
 */
export const startEmulators = async (): Promise<Emulators> => {
  const fauxqs = await startFauxqsOnLoopback();
  let dynamodbServer: Server;
  try {
    dynamodbServer = await startDynalite();
  } catch (error) {
    await fauxqs.stop();
    throw error;
  }
  const { port: dynamodbPort } = dynamodbServer.address() as AddressInfo;

  let stopped: Promise<void> | undefined;
  return {
    sqsEndpoint: `http://${LOOPBACK}:${fauxqs.port}`,
    dynamodbEndpoint: `http://${LOOPBACK}:${dynamodbPort}`,
    stop: () => {
      stopped ??= Promise.all([fauxqs.stop(), closeDynalite(dynamodbServer)]).then(() => undefined);
      return stopped;
    },
  };
};

/**
 * SDK client config for an endpoint: the emulators (and LocalStack) accept any credentials, so fixed
 * test ones are used and the region comes from `AWS_REGION` (default `us-east-1`). Without an
 * endpoint it returns `{}`, leaving endpoint, region and credentials to the SDK's default chain (AWS).
 *
 * @example
 * new SQSClient(awsClientConfig('http://127.0.0.1:4566')); // LocalStack
 * new SQSClient(awsClientConfig()); // real AWS, default credential chain
 */
export const awsClientConfig = (endpoint?: string): AwsClientConfig => {
  if (endpoint === undefined || endpoint === '') return {};
  return {
    endpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
};

/** SDK clients for SQS and DynamoDB, and how to let go of them. */
export interface AwsClients {
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /** The endpoint the clients talk to, or 'embedded' for the emulators started here. */
  readonly endpoint: string;
  /** Where each client goes (the embedded emulators serve SQS and DynamoDB on ports of their own). */
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  /** Destroys the clients and stops the emulators, if they were started here. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * SQS and DynamoDB clients on `endpoint` (LocalStack or any emulator), or on embedded emulators
 * started for them when none is given: the one setup the local run and the tests share.
 *
 * @example
 * const aws = await connectAws();
 * await aws.sqs.send(new ListQueuesCommand({}));
 * await aws.stop();
 */
export const connectAws = async (options: { readonly endpoint?: string } = {}): Promise<AwsClients> => {
  const emulators = options.endpoint === undefined ? await startEmulators() : undefined;
  const sqs = new SQSClient(awsClientConfig(options.endpoint ?? emulators!.sqsEndpoint));
  const dynamodb = new DynamoDBClient(awsClientConfig(options.endpoint ?? emulators!.dynamodbEndpoint));
  let stopped: Promise<void> | undefined;
  return {
    sqs,
    dynamodb,
    endpoint: options.endpoint ?? 'embedded',
    sqsEndpoint: options.endpoint ?? emulators!.sqsEndpoint,
    dynamodbEndpoint: options.endpoint ?? emulators!.dynamodbEndpoint,
    stop: () => {
      stopped ??= (async () => {
        sqs.destroy();
        dynamodb.destroy();
        await emulators?.stop();
      })();
      return stopped;
    },
  };
};
