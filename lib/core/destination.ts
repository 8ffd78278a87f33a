import type { ChangeEvent } from '../contract/change-event.ts';

/** One change to deliver, with the key the destination can deduplicate on. */
export interface DestinationWrite {
  readonly event: ChangeEvent;
  /** `${destination}:${resourceType}:${id}:${version}`; identical on every retry of this change. */
  readonly idempotencyKey: string;
}

/**
 * How a write that did not fail ended: `applied` (also what a plain `undefined` means), or
 * `superseded` when the destination's own version check refused it because it already holds this
 * version or a newer one (see `versionPrecondition`); the change is then skipped as stale.
 */
export const WriteResult = { APPLIED: 'applied', SUPERSEDED: 'superseded' } as const;
export type WriteResult = (typeof WriteResult)[keyof typeof WriteResult];

/**
 * The whole contract a destination kind implements. `apply` resolves when the destination holds the
 * change (upsert) or no longer holds the record (delete), or refused it as superseded, and rejects
 * with a `DestinationError` otherwise.
 *
 * @example
 * const destination: Destination = new HttpDestination({ baseUrl: 'https://crm.example.com/api', requestTimeoutMs: 5000 });
 * await destination.apply({ event, idempotencyKey: 'crm:contact:c-1:3' }); // 'applied'
 */
export interface Destination {
  apply(write: DestinationWrite): Promise<WriteResult | void>;
}
