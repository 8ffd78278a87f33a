import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpDestination } from '../../lib/adapters/http-destination.ts';
import { changeEvent, failureOf } from '../helpers/factories.ts';

// Real sockets: a hard timeout, a reset and a refused connection are what the transport does, so
// these run against a local server (the status mapping is unit-tested with an injected fetch).
describe('Class: HttpDestination against a misbehaving server', () => {
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url?.includes('hang')) return; // never answers
      if (request.url?.includes('reset')) {
        request.socket.destroy();
        return;
      }
      response.writeHead(200).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('gives up at the hard timeout with a retryable timeout error', async () => {
    // Prepare
    const destination = new HttpDestination({ baseUrl, requestTimeoutMs: 150 });
    const startedAt = Date.now();

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent({ resourceType: 'hang' }), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'timeout', retryable: true, outcomeUnknown: true });
    expect(Date.now() - startedAt).toBeLessThan(2000);
  });

  it('maps a reset connection to a retryable network error of unknown outcome (the request was sent)', async () => {
    // Prepare
    const destination = new HttpDestination({ baseUrl, requestTimeoutMs: 1000 });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent({ resourceType: 'reset' }), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'network', retryable: true, outcomeUnknown: true });
  });

  it('maps a refused connection to a retryable network error of known outcome (nothing was sent)', async () => {
    // Prepare: a port that was just free'd, so nothing listens on it
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const destination = new HttpDestination({ baseUrl: `http://127.0.0.1:${port}`, requestTimeoutMs: 1000 });

    // Act
    const error = await failureOf(destination.apply({ event: changeEvent(), idempotencyKey: 'k' }));

    // Assess
    expect(error).toMatchObject({ errorClass: 'network', retryable: true, outcomeUnknown: false });
  });
});

