import type { ChangeEvent } from '../contract/change-event.ts';

/** One change to deliver, with the key the destination can deduplicate on. */
export interface DestinationWrite {
  readonly event: ChangeEvent;
  /** `${destination}:${resourceType}:${id}:${version}`; identical on every retry of this change. */
  readonly idempotencyKey: string;
}

/**
 * The whole contract a destination kind implements. `apply` resolves when the destination holds the
 * change (upsert) or no longer holds the record (delete), and rejects with a `DestinationError`
 * otherwise. Adding a kind means one class with this method, nothing else.
 *
 * @example
 * const destination: Destination = new HttpDestination({ baseUrl: 'https://crm.example.com/api', requestTimeoutMs: 5000 });
 * await destination.apply({ event, idempotencyKey: 'crm:contact:c-1:3' });
 */
export interface Destination {
  apply(write: DestinationWrite): Promise<void>;
}
