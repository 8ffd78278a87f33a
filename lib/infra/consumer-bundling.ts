import { OutputFormat, SourceMapMode, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';

/**
 * How the consumer's bundle treats the AWS SDK v3: `bundled` into the function's code, or left
 * `external`, imported at run time from the copy the Lambda nodejs24.x runtime provides.
 */
export type AwsSdkMode = 'bundled' | 'external';

/**
 * The consumer functions' setting: external, as CDK does by default for a runtime with SDK v3.
 * Without the SDK the bundle is about a third of the size (some 250 KiB raw against 770 KiB;
 * `lib/local/bench/bundle-size.ts` measures both), and the runtime's copy is on disk already. What
 * it costs: the handler runs on whatever SDK version the nodejs24.x runtime ships, older or newer
 * than the one in package-lock.json that the tests ran, and AWS updates it without a deploy of
 * ours, so a change in the SDK's behaviour reaches the functions untested. `bundled` pins the
 * tested version again, at the bigger bundle.
 */
export const CONSUMER_AWS_SDK: AwsSdkMode = 'external';

/**
 * What is left out of the bundle with `sdk: 'external'`: what CDK leaves out by default for a
 * runtime with SDK v3 (without the `sdkV3ExcludeSmithyPackages` feature flag, which cdk.json does not
 * set), named here so the bundle does not depend on a flag.
 */
export const AWS_SDK_EXTERNALS: readonly string[] = ['@aws-sdk/*'];

/**
 * The `bundling` props of every consumer NodejsFunction (the shared entry and the entries generated
 * for user modules). The benchmark bundles with the same object through {@link esbuildOptionsFor}.
 *
 * @example
 * new NodejsFunction(this, 'Consumer', { entry, bundling: consumerBundling(), environment: { ...env, ...CONSUMER_RUNTIME_ENVIRONMENT } });
 */
export const consumerBundling = (sdk: AwsSdkMode = CONSUMER_AWS_SDK): BundlingOptions => ({
  forceDockerBundling: false,
  format: OutputFormat.ESM,
  target: 'node24',
  minify: true,
  sourceMap: true,
  // Stack traces need the mappings, not the sources; leaving them out halves the asset.
  sourcesContent: false,
  mainFields: ['module', 'main'],
  ...(sdk === 'bundled' ? { bundleAwsSDK: true } : { bundleAwsSDK: false, externalModules: [...AWS_SDK_EXTERNALS] }),
  // CommonJS dependencies bundled into ESM still call `require` for Node built-ins.
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
});

/**
 * The environment the bundle needs besides the consumer's own settings: source maps turned on, so
 * stack traces in the logs name the TypeScript files and lines (the bundle is minified).
 */
export const CONSUMER_RUNTIME_ENVIRONMENT = { NODE_OPTIONS: '--enable-source-maps' } as const satisfies Record<string, string>;

/** Every consumer function's memory (and so its CPU share and its price per millisecond). */
export const CONSUMER_MEMORY_MB = 512;

/** The file NodejsFunction writes the bundle to: `index.mjs` for ESM, `index.js` for CommonJS. */
export const bundleFileName = (bundling: BundlingOptions): string => (bundling.format === OutputFormat.ESM ? 'index.mjs' : 'index.js');

/**
 * The props {@link esbuildOptionsFor} translates. `forceDockerBundling` says where esbuild runs,
 * not what it makes. Any other prop in the bundling object makes it throw, so a setting the
 * benchmark cannot reproduce is not silently left out of it.
 */
const TRANSLATED = new Set<string>([
  'forceDockerBundling',
  'format',
  'target',
  'minify',
  'sourceMap',
  'sourceMapMode',
  'sourcesContent',
  'mainFields',
  'bundleAwsSDK',
  'externalModules',
  'banner',
  'footer',
  'define',
  'loader',
  'keepNames',
]);

/** Where {@link esbuildOptionsFor} bundles what. */
export interface EsbuildTarget {
  /** The entry file, absolute. */
  readonly entry: string;
  /** The output file, absolute; {@link bundleFileName} as NodejsFunction names it. */
  readonly outfile: string;
  /** The directory the metafile's paths are relative to. @default process.cwd() */
  readonly absWorkingDir?: string;
}

/**
 * The esbuild `build()` options for the bundle NodejsFunction makes with `bundling` (aws-cdk-lib's
 * `Bundling.buildEsbuildArgs`, through the API instead of the command line): `--bundle
 * --platform=node`, the format and target, minify, the source map (`sourceMap: true` is esbuild's
 * linked map: a `.map` file and the `sourceMappingURL` comment `--enable-source-maps` follows),
 * the externals (`externalModules`, else none with `bundleAwsSDK`, else CDK's default
 * {@link AWS_SDK_EXTERNALS}), banner and main fields; plus a metafile for the benchmark, which
 * leaves the code as it is.
 *
 * @throws {Error} when `bundling` sets a prop this does not translate, or no `target`
 * @example
 * await build(esbuildOptionsFor(consumerBundling('external'), { entry, outfile: join(dir, 'index.mjs') }));
 */
export const esbuildOptionsFor = (bundling: BundlingOptions, target: EsbuildTarget): BuildOptions & { readonly metafile: true } => {
  const untranslated = Object.keys(bundling).filter((key) => !TRANSLATED.has(key) && (bundling as Record<string, unknown>)[key] !== undefined);
  if (untranslated.length > 0) throw new Error(`esbuildOptionsFor does not translate the bundling props ${untranslated.join(', ')}`);
  if (bundling.target === undefined) throw new Error('esbuildOptionsFor needs bundling.target (NodejsFunction derives it from the runtime)');
  const sourceMap = bundling.sourceMapMode ?? bundling.sourceMap;
  const mode = bundling.sourceMapMode ?? SourceMapMode.DEFAULT;
  return {
    entryPoints: [target.entry],
    outfile: target.outfile,
    ...(target.absWorkingDir === undefined ? {} : { absWorkingDir: target.absWorkingDir }),
    bundle: true,
    platform: 'node',
    target: bundling.target,
    ...(bundling.format === undefined ? {} : { format: bundling.format === OutputFormat.ESM ? 'esm' : 'cjs' }),
    minify: bundling.minify ?? false,
    sourcemap: sourceMap ? (mode === SourceMapMode.DEFAULT ? true : (mode as 'external' | 'inline' | 'both')) : false,
    sourcesContent: bundling.sourcesContent ?? true,
    external: [...(bundling.externalModules ?? (bundling.bundleAwsSDK ? [] : AWS_SDK_EXTERNALS))],
    ...(bundling.mainFields === undefined ? {} : { mainFields: [...bundling.mainFields] }),
    ...(bundling.banner === undefined ? {} : { banner: { js: bundling.banner } }),
    ...(bundling.footer === undefined ? {} : { footer: { js: bundling.footer } }),
    ...(bundling.define === undefined ? {} : { define: { ...bundling.define } }),
    ...(bundling.loader === undefined ? {} : { loader: { ...bundling.loader } as BuildOptions['loader'] }),
    ...(bundling.keepNames === undefined ? {} : { keepNames: bundling.keepNames }),
    metafile: true,
    logLevel: 'silent',
  };
};
