import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginLoadError, type PluginSource, userModuleOf } from '../adapters/plugin-loader.ts';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';

/**
 * The extension of this package's modules as they run: `.ts` from the sources (the repository's
 * scripts and tests, on Node's type stripping), `.js` from the compiled package (`dist/`, which
 * `tsconfig.build.json` lays out as the source tree is, so every relative path holds in both).
 */
const RUNNING_EXTENSION = extname(fileURLToPath(import.meta.url));

/**
 * The absolute path of one of this package's modules, given its path from the package root without
 * an extension: the source beside the sources, the compiled JavaScript beside the compiled code.
 * An installed package holds only the JavaScript (esbuild bundles it as it would the source, and
 * follows its source maps to the TypeScript names for stack traces), so a user's synth never needs
 * a `.ts` file of ours.
 *
 * @example
 * shippedModule('lambdas/consumer/handler'); // '/app/node_modules/sync-pipeline/dist/lambdas/consumer/handler.js'
 */
export const shippedModule = (pathFromPackageRoot: string): string =>
  fileURLToPath(new URL(`../../${pathFromPackageRoot}${RUNNING_EXTENSION}`, import.meta.url));

/**
 * The consumer handler shipped with this package: the entry of every destination that names no
 * user module.
 *
 * @example
 * new NodejsFunction(scope, 'Consumer', { entry: defaultConsumerEntry(), bundling: consumerBundling() });
 */
export const defaultConsumerEntry = (): string => shippedModule('lambdas/consumer/handler');

/** What a generated entry imports of this package: the handler factory, and the export picking the local loader uses too. */
const CREATE_HANDLER = shippedModule('lambdas/consumer/create-handler');
const PLUGIN_LOADER = shippedModule('lib/adapters/plugin-loader');

/**
 * Where the entries of destinations with user code are generated, under the directory cdk runs in
 * (gitignored). Not the cloud assembly directory: NodejsFunction requires its entry to be under the
 * project root (the directory of the lock file found upwards from the working directory), which the
 * working directory always is and a temporary `outdir` is not; and an entry inside the project also
 * bundles in Docker, should esbuild be missing. File names end in a hash of the content, so the
 * same config always makes the same file and two synths at once never write each other's.
 */
export const GENERATED_ENTRY_DIR = join('.sync-pipeline', 'consumer-entries');

/** Options of {@link consumerEntryFor}. */
export interface ConsumerEntryOptions {
  /** The entry of destinations without user code (`lambdas/consumer/handler.ts`, or the app's own). */
  readonly sharedEntry: string;
  /** The directory module paths are relative to, and the generated entries go under. @default process.cwd() */
  readonly cwd?: string;
}

/** An import specifier for `target` from a file in `fromDir`: relative, with forward slashes. */
const specifier = (fromDir: string, target: string): string => {
  const path = relative(fromDir, target);
  // Another drive on Windows: no relative path exists.
  if (isAbsolute(path)) return path.split(sep).join('/');
  const posix = path.split(sep).join('/');
  return posix.startsWith('.') ? posix : `./${posix}`;
};

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/**
 * The consumer entry of `destination`. Without user code, `sharedEntry`. With a `transform` or a
 * `module`, a generated entry that statically imports the user module and passes what
 * `pluginsFromModule` picks from it to `createLambdaHandler`, so esbuild bundles that module into
 * this destination's function only. Module paths are resolved from `cwd`, as the local runtime
 * resolves them from the directory it runs in.
 *
 * @throws {PluginLoadError} (one line) when the module file does not exist, e.g.
 *   `destinations[0].transform: ./transforms/crm.ts not found (paths are relative to the directory cdk runs in)`
 * @example
 * const entry = consumerEntryFor(config, config.destinations[0], { sharedEntry: '/abs/path/lambdas/consumer/handler.ts' });
 */
export const consumerEntryFor = (config: PipelineConfig, destination: DestinationConfig, options: ConsumerEntryOptions): string => {
  const ref = userModuleOf(destination);
  if (ref === undefined) return options.sharedEntry;
  const cwd = resolve(options.cwd ?? process.cwd());
  const modulePath = resolve(cwd, ref.path);
  if (!isFile(modulePath)) {
    const index = config.destinations.indexOf(destination);
    const field = index === -1 ? `destination ${destination.name}: ${ref.field}` : `destinations[${index}].${ref.field}`;
    throw new PluginLoadError(`${field}: ${ref.path} not found (paths are relative to the directory cdk runs in)`);
  }

  const dir = join(cwd, GENERATED_ENTRY_DIR);
  const source: PluginSource =
    ref.field === 'transform' ? { name: destination.name, kind: destination.kind, transform: ref.path } : { name: destination.name, kind: destination.kind, module: ref.path };
  const content = [
    `// Consumer entry of destination ${destination.name}, generated at synth by sync-pipeline (lib/infra/consumer-entry.ts).`,
    '// Regenerated on every synth: edit the config or the module, not this file.',
    `import { createLambdaHandler } from ${JSON.stringify(specifier(dir, CREATE_HANDLER))};`,
    `import { pluginsFromModule } from ${JSON.stringify(specifier(dir, PLUGIN_LOADER))};`,
    `import * as userModule from ${JSON.stringify(specifier(dir, modulePath))};`,
    '',
    `export const handler = createLambdaHandler(pluginsFromModule(${JSON.stringify(source)}, userModule));`,
    '',
  ].join('\n');
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
  const entry = join(dir, `${destination.name}-${hash}.ts`);
  if (!existsSync(entry)) {
    mkdirSync(dirname(entry), { recursive: true });
    // Written aside and renamed: a synth running at the same time sees the whole file or none.
    const partial = `${entry}.${process.pid}.${Date.now()}.partial`;
    writeFileSync(partial, content);
    renameSync(partial, entry);
  }
  return entry;
};
