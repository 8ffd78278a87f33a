import type { DestinationConfig, DestinationConfigOf } from '../config/pipeline-config.ts';
import type { DestinationKind } from '../config/destination-kinds.ts';
import type { Destination } from '../core/destination.ts';
import type { Authenticator, DestinationPlugins } from '../core/plugins.ts';
import { HttpDestination } from './http-destination.ts';

/**
 * What a destination is built with beside its config and its user code: the authenticator for its
 * `auth` (built by the wiring, which reads Secrets Manager), when it has one.
 */
export interface DestinationDeps {
  readonly auth?: Authenticator;
}

type DestinationFactory<K extends DestinationKind> = (config: DestinationConfigOf<K>, plugins: DestinationPlugins, deps: DestinationDeps) => Destination;

/**
 * The adapter of each destination kind, built from that kind's config. The mapped type makes the
 * compiler refuse a kind registered in `lib/config/destination-kinds.ts` without a factory here;
 * it lives in adapters (not config) because config sits below the adapters and loads no adapter code.
 */
const DESTINATION_FACTORIES: { readonly [K in DestinationKind]: DestinationFactory<K> } = {
  http: (config, plugins, deps) =>
    new HttpDestination({
      baseUrl: config.baseUrl,
      requestTimeoutMs: config.requestTimeoutMs,
      request: config.request,
      statusRules: config.statusRules,
      ...(config.versionPrecondition === undefined ? {} : { versionPrecondition: config.versionPrecondition }),
      ...(plugins.transform === undefined ? {} : { transform: plugins.transform }),
      ...(deps.auth === undefined ? {} : { auth: deps.auth }),
    }),
  module: (config, plugins, deps) => {
    if (plugins.createDestination === undefined) throw new Error(`destination ${config.name}: its module ${config.module} was not loaded`);
    return plugins.createDestination({
      destination: config.name,
      options: config.options,
      requestTimeoutMs: config.requestTimeoutMs,
      ...(deps.auth === undefined ? {} : { auth: deps.auth }),
    });
  },
};

/**
 * The adapter for a destination's kind, with the user code its config names (`transform`,
 * `module`) already loaded into `plugins`, and its authenticator in `deps` when it has `auth`.
 *
 * @example
 * const destination = createDestination(config.destinations[0]); // an HttpDestination for kind 'http'
 * const signed = createDestination(config.destinations[1], { transform }, { auth }); // with its transform and credentials
 */
export const createDestination = <K extends DestinationKind>(
  config: DestinationConfigOf<K>,
  plugins: DestinationPlugins = {},
  deps: DestinationDeps = {},
): Destination =>
  (DESTINATION_FACTORIES[config.kind] as (config: DestinationConfig, plugins: DestinationPlugins, deps: DestinationDeps) => Destination)(config, plugins, deps);
