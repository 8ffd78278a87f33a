/**
 * What the adapters load when first needed rather than when the function starts: an SDK client
 * package (the runtime provides `@aws-sdk/*`; the bundle leaves it out) and the client made from it.
 */

/**
 * `make()` at the first call, its promise shared by every call after. A rejected promise is not
 * kept: the next call tries again.
 *
 * @example
 * const connect = atFirstUse(async () => new (await import('@aws-sdk/client-sqs')).SQSClient({}));
 * const client = await connect(); // made here, once
 */
export const atFirstUse = <T>(make: () => Promise<T>): (() => Promise<T>) => {
  let pending: Promise<T> | undefined;
  return () => {
    if (pending !== undefined) return pending;
    const attempt = make();
    pending = attempt;
    attempt.catch(() => {
      if (pending === attempt) pending = undefined;
    });
    return attempt;
  };
};

/**
 * `load()`, the `import()` of SDK package `specifier` (a literal in the caller, so the bundler
 * sees it), with a failure that names the package and what it was needed for.
 *
 * @throws {Error} `could not load <specifier> to <purpose>: <cause>`
 * @example
 * const sdk = await importSdk('@aws-sdk/client-sqs', 'reach the queues', () => import('@aws-sdk/client-sqs'));
 */
export const importSdk = async <T>(specifier: string, purpose: string, load: () => Promise<T>): Promise<T> => {
  try {
    return await load();
  } catch (error) {
    throw new Error(`could not load ${specifier} to ${purpose}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
};

/** A client given to an adapter: one already made, or a function that makes it, called at first use. */
export type ClientSource<C> = C | (() => C | Promise<C>);

/** The client `source` gives: itself, or what its function makes. */
export const clientFrom = async <C extends object>(source: ClientSource<C>): Promise<C> => (typeof source === 'function' ? await source() : source);
