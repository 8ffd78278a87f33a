import type { DestinationConfig, DestinationConfigOf } from '../config/pipeline-config.ts';
import type { DestinationKind } from '../config/destination-kinds.ts';
import type { Destination } from '../core/destination.ts';
import type { DestinationPlugins } from '../core/plugins.ts';
import { HttpDestination } from './http-destination.ts';

/**
 * The adapter of each destination kind, built from that kind's config. The mapped type makes the
 * compiler refuse a kind registered in `lib/config/destination-kinds.ts` without a factory here;
 * it lives in adapters (not config) because config sits below the adapters and loads no adapter code.
 */
const DESTINATION_FACTORIES: {
  readonly [K in DestinationKind]: (config: DestinationConfigOf<K>, plugins: DestinationPlugins) => Destination;
} = {
  http: (config) =>
    new HttpDestination({
      baseUrl: config.baseUrl,
      requestTimeoutMs: config.requestTimeoutMs,
      ...(config.versionPrecondition === undefined ? {} : { versionPrecondition: config.versionPrecondition }),
    }),
  module: (config, plugins) => {
    if (plugins.createDestination === undefined) throw new Error(`destination ${config.name}: its module ${config.module} was not loaded`);
    return plugins.createDestination({ destination: config.name, options: config.options, requestTimeoutMs: config.requestTimeoutMs });
  },
};

/**
 * The adapter for a destination's kind, with the user code its config names (`transform`,
 * `module`) already loaded into `plugins`.
 *
 * @example
 * const destination = createDestination(config.destinations[0]); // an HttpDestination for kind 'http'
 */
export const createDestination = <K extends DestinationKind>(config: DestinationConfigOf<K>, plugins: DestinationPlugins = {}): Destination =>
  (DESTINATION_FACTORIES[config.kind] as (config: DestinationConfig, plugins: DestinationPlugins) => Destination)(config, plugins);
