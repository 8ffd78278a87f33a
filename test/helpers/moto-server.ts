import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** A moto server this process started, on loopback. */
export interface MotoServer {
  /** e.g. `http://127.0.0.1:43125`; pass to `awsClientConfig`. */
  readonly endpoint: string;
  /** Stops the server (SIGTERM to the process started here) and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>;
}

const freePort = async (): Promise<number> => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
};

/**
 * Starts moto (`python3 -m moto.server`) on a free loopback port and waits until it answers. The
 * machine image and CI have Python 3 with moto 5; where they are missing this rejects with what
 * went wrong, so a test that needs moto fails loudly instead of being skipped.
 *
 * @example
 * const moto = await startMoto();
 * const eventBridge = new EventBridgeClient(awsClientConfig(moto.endpoint));
 * await moto.stop();
 */
export const startMoto = async (options: { readonly timeoutMs?: number } = {}): Promise<MotoServer> => {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-2000);
  });
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`could not run python3: ${error.message}`));
    child.once('exit', (code, signal) => resolve(`exited with ${code ?? signal}: ${stderr.trim() || '(no output)'}`));
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : (child.kill('SIGTERM'), exited.then(() => undefined));
    return stopped;
  };
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const answer = await Promise.race([
      fetch(`${endpoint}/moto-api/`).then(
        () => 'up' as const,
        () => 'not yet' as const,
      ),
      exited.then((reason) => ({ reason })),
    ]);
    if (answer === 'up') return { endpoint, stop };
    if (typeof answer === 'object') throw new Error(`Expected moto to start (python3 -m moto.server -H 127.0.0.1 -p ${port}); it ${answer.reason}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Expected moto to answer on ${endpoint} within ${options.timeoutMs ?? 20_000} ms; it did not. ${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};
