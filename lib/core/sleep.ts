/**
 * Resolves after `ms` milliseconds: the one real pause of the project. Code that waits takes a
 * `sleep` of this shape as a dependency, so tests pass a virtual one.
 *
 * @example
 * await sleep(100);
 */
export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The shape of an injected pause. */
export type Sleep = (ms: number) => Promise<void>;
