import type { DestinationConfig, DestinationConfigOf } from '../config/pipeline-config.ts';
import type { DestinationKind } from '../config/destination-kinds.ts';
import type { Destination } from '../core/destination.ts';
import { HttpDestination } from './http-destination.ts';

/**
 * The adapter of each destination kind, built from that kind's config. The mapped type makes the
 * compiler refuse a kind registered in `lib/config/destination-kinds.ts` without a factory here;
 * it lives in adapters (not config) because config sits below the adapters and loads no adapter code.
 */
const DESTINATION_FACTORIES: { readonly [K in DestinationKind]: (config: DestinationConfigOf<K>) => Destination } = {
  http: (config) =>
    new HttpDestination({
      baseUrl: config.baseUrl,
      requestTimeoutMs: config.requestTimeoutMs,
      ...(config.versionPrecondition === undefined ? {} : { versionPrecondition: config.versionPrecondition }),
    }),
};

/**
 * The adapter for a destination's kind.
 *
 * @example
 * const destination = createDestination(config.destinations[0]); // an HttpDestination for kind 'http'
 */
export const createDestination = <K extends DestinationKind>(config: DestinationConfigOf<K>): Destination =>
  (DESTINATION_FACTORIES[config.kind] as (config: DestinationConfig) => Destination)(config);
