import type { ControlState, DestinationControlStore } from '../core/destination-control.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The destination control state in process memory: the reference implementation of the port's
 * rules (the DynamoDB store must behave the same), for unit tests.
 *
 * @example
 * const control = new InMemoryDestinationControl();
 * await control.reserve('crm', { count: 10, intervalMs: 50, burstMs: 50, now: Date.now() });
 */
export class InMemoryDestinationControl implements DestinationControlStore {
  readonly #states = new Map<string, Mutable<ControlState>>();

  #state(destination: string): Mutable<ControlState> {
    let state = this.#states.get(destination);
    if (state === undefined) {
      state = {};
      this.#states.set(destination, state);
    }
    return state;
  }

  public async reserve(destination: string, request: { count: number; intervalMs: number; burstMs: number; now: number; calls?: number }) {
    const state = this.#state(destination);
    if ((request.calls ?? 0) > 0) state.windowCalls = (state.windowCalls ?? 0) + request.calls!;
    const { now } = request;
    const previous = state.tat !== undefined && state.tat >= now ? state.tat : undefined;
    state.tat = (previous ?? now) + request.count * request.intervalMs;
    const startAt = Math.max(now, previous === undefined ? now : previous - request.burstMs, state.pausedUntil ?? 0);
    return { startAt, state: { ...state } };
  }

  public async giveBack(destination: string, ms: number, now: number): Promise<void> {
    const state = this.#state(destination);
    if (state.tat !== undefined && state.tat - ms >= now) state.tat -= ms;
  }

  public async throttle(destination: string, change: { rate: number; pausedUntil: number; now: number; cooldownMs: number }): Promise<void> {
    const state = this.#state(destination);
    if (state.decreasedAt !== undefined && state.decreasedAt > change.now - change.cooldownMs) return;
    state.decreasedRate = change.rate;
    state.decreasedAt = change.now;
    state.pausedUntil = Math.max(state.pausedUntil ?? 0, change.pausedUntil);
  }

  public async recordCalls(destination: string, counts: { calls: number; failures: number; now: number; windowMs: number }): Promise<ControlState> {
    const state = this.#state(destination);
    if (state.windowStartedAt === undefined || state.windowStartedAt < counts.now - counts.windowMs) {
      state.windowStartedAt = counts.now;
      state.windowCalls = 0;
      state.windowFailures = 0;
    }
    state.windowCalls = (state.windowCalls ?? 0) + counts.calls;
    state.windowFailures = (state.windowFailures ?? 0) + counts.failures;
    return { ...state };
  }

  public async openBreaker(destination: string, now: number, reopen = false): Promise<boolean> {
    const state = this.#state(destination);
    if (state.breakerOpenedAt !== undefined && !reopen) return false;
    state.breakerOpenedAt = now;
    return true;
  }

  public async closeBreaker(destination: string, now: number): Promise<void> {
    const state = this.#state(destination);
    delete state.breakerOpenedAt;
    state.windowStartedAt = now;
    state.windowCalls = 0;
    state.windowFailures = 0;
  }

  public async read(destination: string): Promise<ControlState | undefined> {
    const state = this.#states.get(destination);
    return state === undefined ? undefined : { ...state };
  }
}
