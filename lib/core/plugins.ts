import type { ChangeEvent } from '../contract/change-event.ts';
import type { Destination } from './destination.ts';

/**
 * What a transform makes of a change for an `http` destination: the request body (sent as JSON;
 * left out, the change's payload is sent as it is), values for the path template's own
 * placeholders, and headers for this request only.
 */
export interface RequestShape {
  readonly body?: unknown;
  readonly pathParams?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A user module's transform (`transform` in a destination's config): the module's default export,
 * or its export named `transform`. A transform that throws dead-letters the change with reason
 * `transform-failed` and the error's message (never the payload).
 *
 * @example
 * const transform: Transform = (event) => ({ body: { properties: event.payload }, pathParams: { objectType: 'contacts' } });
 */
export type Transform = (event: ChangeEvent) => RequestShape | Promise<RequestShape>;

/** What an authenticator signs or authorizes: the request as it will be sent. */
export interface OutgoingRequest {
  readonly method: string;
  readonly url: string;
  /** The body as sent, or undefined for none. */
  readonly body: string | undefined;
  /** The change's idempotency key: the same on every retry (a signed webhook's `webhook-id`). */
  readonly idempotencyKey: string;
}

/**
 * A destination's credentials (`auth` in its config), read from Secrets Manager: the headers one
 * request needs. `refresh` drops what is cached (the secret, an OAuth token), so the next `headers`
 * reads it again: the adapter calls it once on a 401, then retries.
 */
export interface Authenticator {
  headers(request: OutgoingRequest): Promise<Readonly<Record<string, string>>>;
  refresh(): Promise<void>;
}

/** What a `module` destination's factory is given. */
export interface DestinationModuleContext {
  /** The destination's name. */
  readonly destination: string;
  /** The config's `options` for the module, as written. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Hard limit of one call; the lease is sized on it. */
  readonly requestTimeoutMs: number;
  /** The destination's `auth`, when it has one. */
  readonly auth?: Authenticator;
}

/**
 * A user module implementing a destination (`kind: "module"`): its default export, or its export
 * named `createDestination`. The destination's `apply` rejects with a `DestinationError` (its class
 * decides retry or dead letter), or with anything else, which counts as an unknown outcome.
 */
export type DestinationModuleFactory = (context: DestinationModuleContext) => Destination;

/** The user code one destination's consumer runs, loaded from its modules (bundled on AWS, imported locally). */
export interface DestinationPlugins {
  readonly transform?: Transform;
  readonly createDestination?: DestinationModuleFactory;
}
