import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';

/** A moto server this process started. */
export interface MotoServer {
  /** `http://127.0.0.1:<port>`: for the SDK clients. */
  readonly endpoint: string;
  /** `http://localhost:<port>`: for the CDK CLI (its S3 asset upload needs a host name, not an IP). */
  readonly cdkEndpoint: string;
  readonly port: number;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s); safe to call twice. */
  stop(): Promise<void>;
}

/** A free TCP port on loopback, as the OS hands one out. */
export const freePort = async (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

/**
 * Starts moto (`python3 -m moto.server`, the machine image's Python) on a free loopback port and
 * waits until it answers; its output goes to `logFile`, or is dropped without one (its last lines
 * still reach the error when it does not start). The e2e and the tests that check our code against
 * a third-party emulator use it; where Python or moto is missing it rejects with what went wrong, so
 * such a test fails loudly instead of being skipped.
 *
 * @throws {Error} when Python or moto is missing, or it does not answer within `timeoutMs`
 * @example
 * const moto = await startMotoServer({ logFile: 'reports/e2e-moto.log' });
 * try { … } finally { await moto.stop(); }
 */
export const startMotoServer = async (options: { readonly logFile?: string; readonly python?: string; readonly timeoutMs?: number } = {}): Promise<MotoServer> => {
  const port = await freePort();
  let tail = '';
  const keepTail = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-2_000);
  };
  if (options.logFile !== undefined) mkdirSync(dirname(options.logFile), { recursive: true });
  const log = options.logFile === undefined ? undefined : createWriteStream(options.logFile);
  const python = options.python ?? 'python3';
  const child = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (log !== undefined) {
    child.stdout.pipe(log);
    child.stderr.pipe(log);
  } else {
    child.stdout.resume();
    child.stderr.on('data', keepTail);
  }
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited(child);
        clearTimeout(killer);
      }
      log?.end();
    })();
    return stopped;
  };
  const seeOutput = (): string => (options.logFile === undefined ? `its output: ${tail.trim() || '(none)'}` : `see ${options.logFile}`);
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    if (spawnError !== undefined || child.exitCode !== null) {
      await stop();
      throw new Error(`moto did not start (\`${python} -m moto.server\`): ${spawnError?.message ?? `exited with ${child.exitCode}`}; ${seeOutput()}`);
    }
    const answered = await fetch(`${endpoint}/moto-api/`).then(
      () => true,
      () => false,
    );
    if (answered) return { endpoint, cdkEndpoint: `http://localhost:${port}`, port, stop };
    await pause(100);
  }
  await stop();
  throw new Error(`moto did not answer on ${endpoint} within ${options.timeoutMs ?? 20_000} ms; ${seeOutput()}`);
};
