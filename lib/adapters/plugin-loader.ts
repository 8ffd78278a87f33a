import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DestinationConfig } from '../config/pipeline-config.ts';
import type { DestinationModuleFactory, DestinationPlugins, Transform } from '../core/plugins.ts';

/**
 * What the loader reads of a destination: its name, its kind and the module path its kind may name
 * (`transform` of an `http` destination, `module` of a `module` one). Every `DestinationConfig` is
 * one; the consumer entry the stack generates passes just these fields.
 */
export type PluginSource = Pick<DestinationConfig, 'name' | 'kind'> & { readonly transform?: string; readonly module?: string };

/** A user module a destination names: the config field naming it, and its path as written. */
export interface UserModuleRef {
  readonly field: 'transform' | 'module';
  readonly path: string;
}

/** Raised when a destination's user module cannot be found or does not export what its field needs. */
export class PluginLoadError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PluginLoadError';
  }
}

/**
 * The user module a destination names, if any: a `module` destination's `module`, an `http`
 * destination's `transform`. A destination names at most one.
 *
 * @example
 * userModuleOf({ name: 'crm', kind: 'http', transform: './transforms/crm.ts' }); // { field: 'transform', path: './transforms/crm.ts' }
 */
export const userModuleOf = (destination: PluginSource): UserModuleRef | undefined => {
  if (destination.kind === 'module' && destination.module !== undefined) return { field: 'module', path: destination.module };
  if (destination.transform !== undefined) return { field: 'transform', path: destination.transform };
  return undefined;
};

/** The export names a field's function may have, in the order they are tried. */
const EXPORTS_OF: { readonly [F in UserModuleRef['field']]: readonly [string, string] } = {
  transform: ['default', 'transform'],
  module: ['default', 'createDestination'],
};

const describeExport = (name: string): string => (name === 'default' ? 'its default export' : `its export ${name}`);

/** The first of `names` that is a function; a clear error when none is. */
const pickFunction = (destination: PluginSource, ref: UserModuleRef, namespace: Readonly<Record<string, unknown>>): unknown => {
  const names = EXPORTS_OF[ref.field];
  const found = names.find((name) => typeof namespace[name] === 'function');
  if (found !== undefined) return namespace[found];
  const where = `destination ${destination.name}: ${ref.field} ${ref.path}`;
  const present = names.find((name) => namespace[name] !== undefined);
  if (present === undefined) {
    throw new PluginLoadError(`${where} has no default export and no export named ${names[1]} (export the ${ref.field === 'transform' ? 'transform' : 'factory'} function as either)`);
  }
  const value = namespace[present];
  const kind = value === null ? 'null' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  throw new PluginLoadError(`${where}: ${describeExport(present)} is ${kind}, not a function`);
};

/**
 * The plugins of a destination from its user module's namespace, already imported: the transform
 * (default export, else the export `transform`) or the module destination's factory (default
 * export, else `createDestination`). A CommonJS module's namespace, whose default is
 * `module.exports`, finds its named function this way too. Without a user module: no plugins.
 *
 * @throws {PluginLoadError} when the module has neither export, or the export is not a function
 * @example
 * import * as userModule from './transforms/crm.ts';
 * const plugins = pluginsFromModule(destination, userModule); // { transform }
 */
export const pluginsFromModule = (destination: PluginSource, moduleNamespace: Readonly<Record<string, unknown>>): DestinationPlugins => {
  const ref = userModuleOf(destination);
  if (ref === undefined) return {};
  const picked = pickFunction(destination, ref, moduleNamespace);
  return ref.field === 'transform' ? { transform: picked as Transform } : { createDestination: picked as DestinationModuleFactory };
};

/** Options of {@link loadDestinationPlugins}. */
export interface LoadPluginsOptions {
  /** The directory module paths are relative to: the one the app runs in (where cdk.json is). */
  readonly baseDir: string;
}

/**
 * Imports the user module a destination names (`transform`, `module`), resolved from `baseDir`,
 * and picks its function with {@link pluginsFromModule}. The local runtime loads modules this way;
 * on AWS the stack bundles the same module into that destination's consumer and the entry calls
 * {@link pluginsFromModule} on it, so both pick the same export.
 *
 * @throws {PluginLoadError} when the file does not exist, or lacks the export
 * @example
 * const plugins = await loadDestinationPlugins(destination, { baseDir: process.cwd() });
 */
export const loadDestinationPlugins = async (destination: PluginSource, options: LoadPluginsOptions): Promise<DestinationPlugins> => {
  const ref = userModuleOf(destination);
  if (ref === undefined) return {};
  const baseDir = resolve(options.baseDir);
  const absolute = resolve(baseDir, ref.path);
  if (!isFile(absolute)) {
    throw new PluginLoadError(`destination ${destination.name}: ${ref.field} ${ref.path} not found: no file ${absolute} (paths are relative to ${baseDir}, the directory the app runs in)`);
  }
  let namespace: Readonly<Record<string, unknown>>;
  try {
    namespace = (await import(pathToFileURL(absolute).href)) as Readonly<Record<string, unknown>>;
  } catch (error) {
    throw new PluginLoadError(`destination ${destination.name}: ${ref.field} ${ref.path} failed to load: ${(error as Error).message}`, { cause: error });
  }
  return pluginsFromModule(destination, namespace);
};

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};
