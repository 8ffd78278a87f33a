import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { LambdaEventSourceSwitch } from '../../lib/adapters/lambda-event-source-switch.ts';
import { awsClientConfig } from '../../lib/local/sim/emulators.ts';

/**
 * The switch with the real SDK against a stand-in for Lambda's two event source mapping operations
 * (REST JSON): `ListEventSourceMappings` answers the mappings of the queue and function asked for,
 * `UpdateEventSourceMapping` records what it was told.
 */
const FUNCTION_NAME = 'sync-crm-consumer';
const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:sync-crm';
const UUID = '6d9bce8e-836b-461a-b1dd-000000000001';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly body: unknown;
}

let server: Server;
let endpoint: string;
let seen: Seen[];
/** The mappings the stand-in lists. */
let mappings: Array<{ UUID: string }>;

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const text = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: request.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), body: text === '' ? undefined : JSON.parse(text) });
      const listing = request.method === 'GET' && url.pathname.replace(/\/$/, '') === '/2015-03-31/event-source-mappings';
      response.writeHead(listing ? 200 : 202, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(listing ? { EventSourceMappings: mappings } : { UUID: url.pathname.split('/').at(-1), State: 'Updating' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  seen = [];
  mappings = [{ UUID }];
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.doUnmock('@aws-sdk/client-lambda');
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const updates = () => seen.filter((request) => request.method === 'PUT');
const listings = () => seen.filter((request) => request.method === 'GET');

describe('LambdaEventSourceSwitch', () => {
  it('makes its client at the first switch, not before, and once; looks the mapping up once', async () => {
    // Prepare
    const client = new LambdaClient(awsClientConfig(endpoint));
    const makeClient = vi.fn(() => client);
    const source = new LambdaEventSourceSwitch({ client: makeClient, functionName: FUNCTION_NAME, queueArn: QUEUE_ARN });
    expect(makeClient).not.toHaveBeenCalled();

    // Act
    await source.setEnabled(false);
    await source.setEnabled(true);

    // Assess
    expect(makeClient).toHaveBeenCalledTimes(1);
    expect(listings()).toEqual([expect.objectContaining({ query: { FunctionName: FUNCTION_NAME, EventSourceArn: QUEUE_ARN } })]);
    expect(updates().map(({ path, body }) => ({ path, body }))).toEqual([
      { path: `/2015-03-31/event-source-mappings/${UUID}`, body: { Enabled: false } },
      { path: `/2015-03-31/event-source-mappings/${UUID}`, body: { Enabled: true } },
    ]);
    client.destroy();
  });

  it('shares one client between switches begun together', async () => {
    // Prepare
    const client = new LambdaClient(awsClientConfig(endpoint));
    const makeClient = vi.fn(async () => client);
    const source = new LambdaEventSourceSwitch({ client: makeClient, functionName: FUNCTION_NAME, queueArn: QUEUE_ARN });

    // Act
    await Promise.all([source.setEnabled(false), source.setEnabled(false)]);

    // Assess
    expect(makeClient).toHaveBeenCalledTimes(1);
    expect(updates()).toHaveLength(2);
    client.destroy();
  });

  it("without a client, switches with the SDK's own, configured from the environment as on Lambda", async () => {
    // Prepare: what the function's environment gives the SDK (the endpoint: the stand-in's)
    vi.stubEnv('AWS_ENDPOINT_URL_LAMBDA', endpoint);
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('AWS_SESSION_TOKEN', 'test');
    const source = new LambdaEventSourceSwitch({ functionName: FUNCTION_NAME, queueArn: QUEUE_ARN });

    // Act
    await source.setEnabled(false);

    // Assess
    expect(updates().map(({ body }) => body)).toEqual([{ Enabled: false }]);
  });

  it('fails a switch whose client cannot be made, and tries again at the next', async () => {
    // Prepare
    const client = new LambdaClient(awsClientConfig(endpoint));
    const makeClient = vi.fn<() => LambdaClient>().mockImplementationOnce(() => {
      throw new Error('no client today');
    });
    makeClient.mockImplementation(() => client);
    const source = new LambdaEventSourceSwitch({ client: makeClient, functionName: FUNCTION_NAME, queueArn: QUEUE_ARN });

    // Act
    const first = source.setEnabled(false);

    // Assess
    await expect(first).rejects.toThrow('no client today');
    await source.setEnabled(false);
    expect(makeClient).toHaveBeenCalledTimes(2);
    expect(updates()).toHaveLength(1);
    client.destroy();
  });

  it('says which package it could not load when the SDK is missing', async () => {
    // Prepare: the runtime without @aws-sdk/client-lambda
    vi.doMock('@aws-sdk/client-lambda', () => {
      throw new Error("Cannot find package '@aws-sdk/client-lambda'");
    });
    const source = new LambdaEventSourceSwitch({ functionName: FUNCTION_NAME, queueArn: QUEUE_ARN });

    // Act
    const switched = source.setEnabled(false);

    // Assess
    await expect(switched).rejects.toThrow(/^could not load @aws-sdk\/client-lambda to switch the event source: /);
    expect(seen).toEqual([]);
  });

  it('names the queue and the function when no mapping joins them', async () => {
    // Prepare
    mappings = [];
    const client = new LambdaClient(awsClientConfig(endpoint));
    const source = new LambdaEventSourceSwitch({ client, functionName: FUNCTION_NAME, queueArn: QUEUE_ARN });

    // Act
    const switched = source.setEnabled(false);

    // Assess
    await expect(switched).rejects.toThrow(`no event source mapping from ${QUEUE_ARN} to ${FUNCTION_NAME}`);
    expect(updates()).toEqual([]);
    client.destroy();
  });
});
