import { AsyncLocalStorage } from 'node:async_hooks';

/** One invocation as the local event source runs it: whether Lambda would have stopped it by now. */
export interface InvocationScope {
  readonly requestId: string;
  /** Set when the invocation ran past its timeout: Lambda would have stopped the runtime. */
  stopped: boolean;
}

/**
 * The invocation the current async work belongs to. A handler's promise cannot be stopped in this
 * process, so code that stands for the outside world (the clients' I/O, the destination, the log
 * capture) asks here and, for a stopped invocation, does nothing more: as after Lambda's kill.
 *
 * @example
 * invocationScope.run({ requestId, stopped: false }, () => handler(event, context));
 */
export const invocationScope = new AsyncLocalStorage<InvocationScope>();

/**
 * Whether the current async work belongs to an invocation Lambda would have stopped.
 *
 * @example
 * if (isStoppedInvocation()) return; // a line written after the kill never reaches CloudWatch
 */
export const isStoppedInvocation = (): boolean => invocationScope.getStore()?.stopped === true;

/** A promise that never settles: what a stopped invocation's next I/O waits on. */
export const never: Promise<never> = new Promise<never>(() => undefined);

