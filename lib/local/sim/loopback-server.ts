import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The local stand-ins accept any credentials, so they listen on loopback only: nothing else on the
 * network may reach them.
 */
export const LOOPBACK = '127.0.0.1';

/**
 * Starts `server` on a free loopback port and resolves with its port once it listens (rejects if it
 * cannot). `host` binds elsewhere, only for a server a client off this machine's loopback must
 * reach (LocalStack's Lambda containers, for the e2e's fake API).
 *
 * @example
 * const port = await listenOnLoopback(createServer(handler));
 * const endpoint = `http://${LOOPBACK}:${port}`;
 */
export const listenOnLoopback = async (server: Server, host: string = LOOPBACK): Promise<number> => {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
};
