import { Worker } from 'node:worker_threads';
import type { FakeApiCounters, RateLimit } from '../lab/fake-api.ts';

/** What the servers' thread is started with. */
export interface LimiterServersSetup {
  /** Per destination, the writes per second the fake API takes from all clients together. */
  readonly rateLimits: Readonly<Record<string, RateLimit>>;
}

/** What the main thread asks the servers' thread. */
export type LimiterServersRequest = { readonly kind: 'counters'; readonly destination: string } | { readonly kind: 'stop' };

/** What the servers' thread answers: once when it listens, then once per request. */
export type LimiterServersReply =
  | { readonly kind: 'ready'; readonly dynamodbEndpoint: string; readonly fakeApiUrl: string }
  | { readonly kind: 'counters'; readonly counters: FakeApiCounters | null }
  | { readonly kind: 'stopped' };

/**
 * The embedded DynamoDB emulator and the fake API, served from a thread of their own.
 *
 * @example
 * const servers = await startLimiterServers({ rateLimits: { bench: { perSecond: 500 } } });
 * const counters = await servers.counters('bench');
 * await servers.stop();
 */
export interface LimiterServers {
  /** e.g. `http://127.0.0.1:43121`. */
  readonly dynamodbEndpoint: string;
  /** The fake API's `url`: a destination's base URL is `${fakeApiUrl}/${name}`. */
  readonly fakeApiUrl: string;
  /** The fake API's counters of one destination; null before its first request. */
  counters(destination: string): Promise<FakeApiCounters | null>;
  /** Stops both servers and the thread. */
  stop(): Promise<void>;
}

const THREAD_ENTRY = new URL('./limiter-servers-thread.ts', import.meta.url);

/**
 * Starts the servers of a limiter load on a worker thread. They stand for remote systems (DynamoDB,
 * the destination's API): on the consumers' own event loop, serving hundreds of requests a second
 * would slow the very round trips the rate limiter's figures depend on.
 *
 * @example
 * const servers = await startLimiterServers({ rateLimits: { bench: { perSecond: 100, burst: 100 } } });
 */
export const startLimiterServers = async (setup: LimiterServersSetup): Promise<LimiterServers> => {
  const worker = new Worker(THREAD_ENTRY, { workerData: setup });
  /** The thread's next reply of `kind`; a thread that fails or exits first rejects it. */
  const nextReply = <K extends LimiterServersReply['kind']>(kind: K): Promise<Extract<LimiterServersReply, { kind: K }>> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number) => settle(() => reject(new Error(`the limiter servers' thread exited (code ${code}) before its ${kind} reply`)));
      const onError = (error: Error) => settle(() => reject(error));
      const onMessage = (message: LimiterServersReply) => {
        if (message.kind === kind) settle(() => resolve(message as Extract<LimiterServersReply, { kind: K }>));
      };
      const settle = (done: () => void) => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        done();
      };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
  const ask = <K extends LimiterServersReply['kind']>(request: LimiterServersRequest, kind: K) => {
    const reply = nextReply(kind);
    worker.postMessage(request);
    return reply;
  };
  let ready: Extract<LimiterServersReply, { kind: 'ready' }>;
  try {
    ready = await nextReply('ready');
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    dynamodbEndpoint: ready.dynamodbEndpoint,
    fakeApiUrl: ready.fakeApiUrl,
    counters: async (destination) => (await ask({ kind: 'counters', destination }, 'counters')).counters,
    stop: () => {
      // A thread that has already ended has nothing left to stop: terminate() is all that remains.
      stopped ??= ask({ kind: 'stop' }, 'stopped')
        .catch(() => undefined)
        .then(async () => {
          await worker.terminate();
        });
      return stopped;
    },
  };
};
