import { toHeaderValue } from '../../adapters/http-destination.ts';
import type { Destination } from '../../core/destination.ts';
import { createRandom } from '../../core/random.ts';
import type { WriteLogEntry } from './fake-api.ts';

export interface CallFaultOptions {
  /** Seeds the crash draws. */
  readonly seed: number;
  /** Share of successful calls after which the invocation "dies" before it commits. @default 0 */
  readonly crashRate?: number;
  /** Wraps each adapter first (experiments and tests). */
  readonly decorate?: (destination: Destination) => Destination;
}

/** What the instrumented calls saw, keyed by the idempotency key as the fake API logs it. */
export interface CallFaults {
  /** Wraps a destination adapter: times each call and crashes some invocations after the answer. */
  readonly instrument: (destination: Destination) => Destination;
  /** Per key, the answered calls a crash swallowed (their repeat is excused, I4). */
  readonly lostAnswers: ReadonlyMap<string, number>;
  /** Per key, the successful answers the client received (crashed ones included). */
  readonly receivedAnswers: ReadonlyMap<string, number>;
  /**
   * Writes whose answer never reached a waiting client that landed more than one lease after their
   * call started: the lease was over before they landed (it is taken before the call).
   */
  lateWritesAfterLease(writeLog: readonly WriteLogEntry[], leaseMsOf: (destination: string) => number | undefined): number;
  /** Ends crash injection from the next call on (a healed runtime, for a redrive). */
  stopCrashing(): void;
}

/**
 * Crash injection and call timing for the destination adapters of a local run. A crash lets the
 * answer arrive and then never returns: nothing commits it, as when a Lambda invocation dies.
 *
 * @example
 * const faults = createCallFaults({ seed: 2, crashRate: 0.01 });
 * wireConsumerHandler({ ..., decorateDestination: faults.instrument });
 */
export const createCallFaults = (options: CallFaultOptions): CallFaults => {
  const crashRandom = createRandom(options.seed);
  const hangForever = new Promise<never>(() => undefined);
  let crashRate = options.crashRate ?? 0;
  // Keyed by the HTTP adapter's header value, which percent-encodes what is not visible ASCII
  // (ids such as `müller-客户`), as the fake API logs it.
  const lostAnswers = new Map<string, number>();
  const receivedAnswers = new Map<string, number>();
  const callStarts = new Map<string, number[]>();
  return {
    lostAnswers,
    receivedAnswers,
    stopCrashing: () => {
      crashRate = 0;
    },
    instrument: (destination) => {
      // Answers are counted on the adapter itself, beneath any decoration: a decoration that calls
      // twice receives two answers, and its second effect stays a duplicate (I4).
      const counted: Destination = {
        apply: async (write) => {
          const result = await destination.apply(write);
          const key = toHeaderValue(write.idempotencyKey);
          receivedAnswers.set(key, (receivedAnswers.get(key) ?? 0) + 1);
          return result;
        },
      };
      const inner = options.decorate?.(counted) ?? counted;
      return {
        apply: async (write) => {
          const wireKey = toHeaderValue(write.idempotencyKey);
          callStarts.set(wireKey, [...(callStarts.get(wireKey) ?? []), Date.now()]);
          const result = await inner.apply(write);
          if (crashRate > 0 && crashRandom.next() < crashRate) {
            // The answer arrived and dies with the invocation: nothing commits it.
            lostAnswers.set(wireKey, (lostAnswers.get(wireKey) ?? 0) + 1);
            await hangForever;
          }
          return result;
        },
      };
    },
    lateWritesAfterLease: (writeLog, leaseMsOf) =>
      writeLog.filter((entry) => {
        if (entry.answered) return false;
        const started = (callStarts.get(entry.idempotencyKey) ?? []).filter((at) => at <= entry.at).at(-1);
        return started !== undefined && entry.at - started > (leaseMsOf(entry.destination) ?? Number.POSITIVE_INFINITY);
      }).length,
  };
};
