import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';
import { ConsumerEnv } from '../../config/consumer-env.ts';
import { destinationConfigDigest, parseDestinationConfig, serializeDestinationConfig } from '../../config/pipeline-config.ts';
import { table } from '../../ops/format.ts';
import { bundleFileName, consumerBundling, CONSUMER_AWS_SDK, CONSUMER_RUNTIME_ENVIRONMENT, esbuildOptionsFor, type AwsSdkMode } from '../../infra/consumer-bundling.ts';
import { SeedBaselineEnv } from './seed-baseline.ts';
import { median } from './throughput.ts';

/**
 * Bundle size and cold init of the consumer Lambda against the seed baseline, both bundled with the
 * consumer's own bundling settings (lib/infra/consumer-bundling.ts, the object the CDK construct
 * passes to NodejsFunction): raw and gzip bytes of the JS, the source map apart, the packages that
 * weigh most, and the time `await import(bundle)` takes in a fresh Node process with the
 * environment the function gets.
 */

const execFileAsync = promisify(execFile);

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The two Lambda entries compared. */
export const BenchEntry = {
  /** The shared consumer entry, the one every destination without user code deploys. */
  ours: fileURLToPath(new URL('../../../lambdas/consumer/handler.ts', import.meta.url)),
  baseline: fileURLToPath(new URL('./seed-baseline-entry.ts', import.meta.url)),
} as const;
export type BenchSubject = keyof typeof BenchEntry;

/**
 * Where bundles are written, under the repository (gitignored): an external `@aws-sdk/*` import
 * resolves from the repository's node_modules there, as it does from the runtime's on Lambda.
 */
export const BENCH_SCRATCH_DIR = join(REPO_ROOT, '.sync-pipeline', 'bench', 'bundles');

/** zlib's gzip level for the compressed sizes: the highest, as a zip tool's best compression comes close to. */
export const GZIP_LEVEL = 9;

/** The samples of cold init per entry when not told. */
export const DEFAULT_COLD_STARTS = 15;

/** One package's code in a bundle. */
export interface PackageContribution {
  /** The npm package (`@scope/name`), or `sync-pipeline` for this repository's own code. */
  readonly name: string;
  /** Bytes of the bundle's JS that came from the package's files (esbuild's `bytesInOutput`). */
  readonly bytes: number;
  /** `bytes` over the bundle's raw bytes. */
  readonly share: number;
}

/** A bundle as written, and what it is made of. */
export interface BuiltBundle {
  readonly subject: BenchSubject;
  readonly sdk: AwsSdkMode;
  /** The entry, relative to the repository. */
  readonly entry: string;
  /** The bundle's JS file, absolute. */
  readonly file: string;
  readonly rawBytes: number;
  /** zlib gzip at {@link GZIP_LEVEL}. */
  readonly gzipBytes: number;
  /** The `.map` file beside it (deployed with it, read only for a stack trace). */
  readonly sourceMapBytes: number;
  readonly sourceMapGzipBytes: number;
  /** The packages the bundle imports statically (the externals it loads at init), sorted. */
  readonly externalImports: readonly string[];
  /** The packages it imports only with `import()` (loaded at first use, not at init) and not statically, sorted. */
  readonly lazyExternalImports: readonly string[];
  /** Every package's contribution, largest first. */
  readonly packages: readonly PackageContribution[];
}

/** What one cold init did besides taking time, from a process that watches it. */
export interface InitProbe {
  /** `host:port` of every TCP connection begun during init and the 200 ms after it: empty when init calls nothing. */
  readonly connections: readonly string[];
  /**
   * What keeps the event loop alive after init (`process.getActiveResourcesInfo()`), e.g. `Timeout` or
   * `TCPSocketWrap`; the `PipeWrap`s are the process's stdio, the bench's own.
   */
  readonly activeResources: readonly string[];
  /** What init wrote to stdout and stderr. */
  readonly output: string;
}

/** Cold init times of one entry, in milliseconds. */
export interface ColdInitStats {
  /** In the order taken. */
  readonly samplesMs: readonly number[];
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

export interface BundleMeasurement extends BuiltBundle {
  readonly probe: InitProbe;
  readonly coldInit: ColdInitStats;
}

export interface BundleSizeReport {
  readonly sdk: AwsSdkMode;
  readonly coldStarts: number;
  readonly gzipLevel: number;
  /** `process.version` of the Node that ran every cold init (the bench's own). */
  readonly node: string;
  readonly ours: BundleMeasurement;
  readonly baseline: BundleMeasurement;
  readonly durationMs: number;
}

export interface MeasureBundlesOptions {
  /** Bundle the AWS SDK or leave `@aws-sdk/*` to the runtime. @default CONSUMER_AWS_SDK (what the construct deploys) */
  readonly sdk?: AwsSdkMode;
  /** Cold init samples per entry, ours and the baseline's taken in turn (ABAB...). @default DEFAULT_COLD_STARTS */
  readonly coldStarts?: number;
  /** Where the bundles go; must be inside the repository for an external SDK to resolve. @default BENCH_SCRATCH_DIR */
  readonly scratchDir?: string;
  /** Told what the bench is doing, a line at a time. */
  readonly onProgress?: (line: string) => void;
}

/** The repository's own code is one "package"; anything under node_modules is its package. */
const packageOf = (input: string): string => {
  const path = input.split(sep).join('/');
  const at = path.lastIndexOf('node_modules/');
  if (at === -1) return 'sync-pipeline';
  const [first = '', second = ''] = path.slice(at + 'node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
};

/**
 * Every package's bytes in the output `outfile` of `metafile`, largest first.
 *
 * @example
 * const [largest] = packageContributions(result.metafile, 'out/index.mjs', rawBytes);
 */
export const packageContributions = (metafile: Metafile, outfile: string, rawBytes: number): PackageContribution[] => {
  const output = metafile.outputs[outfile];
  if (output === undefined) throw new Error(`the metafile has no output ${outfile}`);
  const bytes = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) bytes.set(packageOf(input), (bytes.get(packageOf(input)) ?? 0) + bytesInOutput);
  return [...bytes]
    .map(([name, size]) => ({ name, bytes: size, share: size / rawBytes }))
    .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
};

const toPosix = (path: string): string => path.split(sep).join('/');

/**
 * The esbuild options the bench bundles `subject` with: {@link esbuildOptionsFor} of the
 * construct's {@link consumerBundling}, into `outdir`.
 *
 * @example
 * const options = benchEsbuildOptions('ours', 'external', '/repo/.sync-pipeline/bench/bundles/external/ours');
 */
export const benchEsbuildOptions = (subject: BenchSubject, sdk: AwsSdkMode, outdir: string) => {
  const bundling = consumerBundling(sdk);
  return esbuildOptionsFor(bundling, { entry: BenchEntry[subject], outfile: join(outdir, bundleFileName(bundling)), absWorkingDir: REPO_ROOT });
};

/**
 * Bundles `subject` into `outdir` (emptied first) and measures the result.
 *
 * @example
 * const bundle = await buildBenchBundle('baseline', 'external', join(BENCH_SCRATCH_DIR, 'external', 'baseline'));
 */
export const buildBenchBundle = async (subject: BenchSubject, sdk: AwsSdkMode, outdir: string): Promise<BuiltBundle> => {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const options = benchEsbuildOptions(subject, sdk, outdir);
  const result = await build(options);
  const file = options.outfile!;
  const js = readFileSync(file);
  const map = readFileSync(`${file}.map`);
  const output = result.metafile.outputs[toPosix(relative(REPO_ROOT, file))];
  const externals = (output?.imports ?? []).filter((item) => item.external && !item.path.startsWith('node:'));
  const externalImports = [...new Set(externals.filter((item) => item.kind !== 'dynamic-import').map((item) => item.path))].sort();
  const lazyExternalImports = [...new Set(externals.filter((item) => item.kind === 'dynamic-import' && !externalImports.includes(item.path)).map((item) => item.path))].sort();
  return {
    subject,
    sdk,
    entry: toPosix(relative(REPO_ROOT, BenchEntry[subject])),
    file,
    rawBytes: js.length,
    gzipBytes: gzipSync(js, { level: GZIP_LEVEL }).length,
    sourceMapBytes: map.length,
    sourceMapGzipBytes: gzipSync(map, { level: GZIP_LEVEL }).length,
    externalImports,
    lazyExternalImports,
    packages: packageContributions(result.metafile, toPosix(relative(REPO_ROOT, file)), js.length),
  };
};

/**
 * What Lambda itself sets in a function's environment (dummy credentials: nothing may reach AWS).
 * The deployed end-to-end test (lib/local/e2e) starts its execution environments with it too.
 *
 * @example
 * const env = { ...lambdaProvidedEnvironment('sync-pipeline-crm', dirname(bundleFile)), ...functionEnvironment };
 */
export const lambdaProvidedEnvironment = (functionName: string, taskRoot: string): Record<string, string> => ({
  AWS_REGION: 'eu-west-1',
  AWS_DEFAULT_REGION: 'eu-west-1',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
  AWS_LAMBDA_FUNCTION_NAME: functionName,
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
  AWS_ACCESS_KEY_ID: 'ASIABENCHDUMMYKEY',
  AWS_SECRET_ACCESS_KEY: 'bench-dummy-secret',
  AWS_SESSION_TOKEN: 'bench-dummy-token',
  LAMBDA_TASK_ROOT: taskRoot,
  TZ: ':UTC',
  PATH: process.env.PATH ?? '',
});

type ConsumerEnvName = (typeof ConsumerEnv)[keyof typeof ConsumerEnv];

/**
 * The consumer's environment as the construct sets it (every {@link ConsumerEnv} name, typed so a
 * new one must be added here too, and {@link CONSUMER_RUNTIME_ENVIRONMENT}), with dummy values for
 * an HTTP destination without auth.
 */
export const consumerFunctionEnvironment = (): Record<ConsumerEnvName | keyof typeof CONSUMER_RUNTIME_ENVIRONMENT, string> => {
  const destination = serializeDestinationConfig(parseDestinationConfig({ name: 'bench', kind: 'http', baseUrl: 'https://api.example.com', resourceTypes: ['contact'] }));
  const consumerEnvironment: Record<ConsumerEnvName, string> = {
    [ConsumerEnv.DESTINATION]: destination,
    [ConsumerEnv.DESTINATION_SHA256]: destinationConfigDigest(destination),
    [ConsumerEnv.LEDGER_TABLE_NAME]: 'bench-ledger',
    [ConsumerEnv.QUEUE_URL]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/bench',
    [ConsumerEnv.QUEUE_ARN]: 'arn:aws:sqs:eu-west-1:123456789012:bench',
    [ConsumerEnv.DEAD_LETTER_QUEUE_URL]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/bench-dlq',
    [ConsumerEnv.METRICS_NAMESPACE]: 'SyncPipelineBench',
    [ConsumerEnv.SERVICE_NAME]: 'sync-pipeline-bench',
    [ConsumerEnv.LOG_LEVEL]: 'INFO',
  };
  return { ...consumerEnvironment, ...CONSUMER_RUNTIME_ENVIRONMENT };
};

/** The baseline's environment, {@link SeedBaselineEnv} with dummy values, and the same runtime settings as ours. */
export const baselineFunctionEnvironment = (): Record<(typeof SeedBaselineEnv)[keyof typeof SeedBaselineEnv] | keyof typeof CONSUMER_RUNTIME_ENVIRONMENT, string> => ({
  [SeedBaselineEnv.IDEMPOTENCY_TABLE_NAME]: 'bench-idempotency',
  [SeedBaselineEnv.DEAD_LETTER_QUEUE_URL]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/bench-dlq',
  [SeedBaselineEnv.DESTINATION_BASE_URL]: 'https://api.example.com',
  [SeedBaselineEnv.METRICS_NAMESPACE]: 'SyncPipelineBench',
  [SeedBaselineEnv.SERVICE_NAME]: 'seed-baseline-bench',
  [SeedBaselineEnv.LOG_LEVEL]: 'INFO',
  ...CONSUMER_RUNTIME_ENVIRONMENT,
});

/** The whole environment of `bundle`'s process: the function's settings and what Lambda adds. */
const environmentFor = (bundle: BuiltBundle): Record<string, string> => ({
  ...lambdaProvidedEnvironment(`bench-${bundle.subject}`, dirname(bundle.file)),
  ...(bundle.subject === 'ours' ? consumerFunctionEnvironment() : baselineFunctionEnvironment()),
});

/** Runs `code` as an ES module in a fresh Node (this one's binary) in the bundle's directory; its stdout and stderr. */
const runChild = async (bundle: BuiltBundle, code: string, extraEnv: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> => {
  try {
    return await execFileAsync(process.execPath, ['--input-type=module', '-e', code], {
      cwd: dirname(bundle.file),
      env: { ...environmentFor(bundle), ...extraEnv },
      encoding: 'utf8',
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const { stderr = '' } = error as { stderr?: string };
    throw new Error(`cold init of ${bundle.entry} (${bundle.sdk} SDK) failed: ${(error as Error).message.split('\n')[0]}\n${stderr}`.trim());
  }
};

const lastLine = (text: string): { last: string; rest: string } => {
  const lines = text.trimEnd().split('\n');
  return { last: lines.at(-1) ?? '', rest: lines.slice(0, -1).join('\n') };
};

/** Where the probe points every SDK client: a closed port on this machine, so a request made at init goes nowhere. */
const NOWHERE = 'http://127.0.0.1:9';

/**
 * One cold init: a fresh Node process with the function's environment imports the bundle and prints
 * how long `await import()` took (`performance.now()` around it), which this returns. Lambda's own
 * runtime client, started before the handler module, is not in it.
 *
 * With `contained`, the SDK's endpoint points {@link NOWHERE}, as in {@link probeInit}: for a module
 * the probe saw call out at init.
 *
 * @throws {Error} when the process fails, or the module exports no `handler` function
 * @example
 * const ms = await coldInitOnce(bundle);
 */
export const coldInitOnce = async (bundle: BuiltBundle, options: { readonly contained?: boolean } = {}): Promise<number> => {
  const url = pathToFileURL(bundle.file).href;
  const { stdout } = await runChild(
    bundle,
    [
      'const start = performance.now();',
      `const loaded = await import(${JSON.stringify(url)});`,
      'const ms = performance.now() - start;',
      "if (typeof loaded.handler !== 'function') throw new Error('the bundle exports no handler function');",
      "process.stdout.write('\\n' + ms + '\\n');",
    ].join('\n'),
    options.contained ? { AWS_ENDPOINT_URL: NOWHERE } : {},
  );
  const ms = Number(lastLine(stdout).last);
  if (!Number.isFinite(ms)) throw new Error(`cold init of ${bundle.entry} printed no time: ${stdout}`);
  return ms;
};

/**
 * One cold init under watch: TCP connections begun while the module loads and in the 200 ms after
 * (a request started at load but not awaited), what keeps the process alive then, and what init
 * printed. The SDK's endpoint points {@link NOWHERE}, so a request made at init reaches no AWS
 * service (the credentials are dummies besides).
 *
 * @example
 * const { connections } = await probeInit(bundle);
 */
export const probeInit = async (bundle: BuiltBundle): Promise<InitProbe> => {
  const url = pathToFileURL(bundle.file).href;
  const { stdout, stderr } = await runChild(
    bundle,
    [
      "import net from 'node:net';",
      'const connections = [];',
      'const connect = net.Socket.prototype.connect;',
      'net.Socket.prototype.connect = function (...args) {',
      "  const [first] = args; const target = Array.isArray(first) ? first[0] : first;",
      "  connections.push(typeof target === 'object' && target !== null ? `${target.host ?? target.path ?? 'localhost'}:${target.port ?? ''}` : String(target));",
      '  return connect.apply(this, args);',
      '};',
      `await import(${JSON.stringify(url)});`,
      'await new Promise((resolve) => setTimeout(resolve, 200));',
      "process.stdout.write('\\n' + JSON.stringify({ connections, activeResources: process.getActiveResourcesInfo() }) + '\\n');",
      'process.exit(0);',
    ].join('\n'),
    { AWS_ENDPOINT_URL: NOWHERE },
  );
  const { last, rest } = lastLine(stdout);
  const seen = JSON.parse(last) as { connections: string[]; activeResources: string[] };
  return { connections: seen.connections, activeResources: seen.activeResources, output: [rest.trim(), stderr.trim()].filter((text) => text !== '').join('\n') };
};

const stats = (samplesMs: readonly number[]): ColdInitStats => {
  return { samplesMs, medianMs: median(samplesMs), minMs: Math.min(...samplesMs), maxMs: Math.max(...samplesMs) };
};

/**
 * Bundles our consumer entry and the seed baseline's with the construct's bundling settings for
 * `sdk`, measures both, probes one cold init of each (nothing may call AWS at init: the report
 * lists any connection; the probe is also the warm-up, not counted) and times `coldStarts` cold
 * inits of each, ours and the baseline's in turn.
 *
 * @example
 * const report = await measureBundles({ sdk: 'external', coldStarts: 15 });
 * console.log(report.ours.rawBytes, report.ours.coldInit.medianMs);
 */
export const measureBundles = async (options: MeasureBundlesOptions = {}): Promise<BundleSizeReport> => {
  const startedAt = performance.now();
  const sdk = options.sdk ?? CONSUMER_AWS_SDK;
  const coldStarts = options.coldStarts ?? DEFAULT_COLD_STARTS;
  if (!Number.isInteger(coldStarts) || coldStarts < 1) throw new Error(`coldStarts must be a whole number of at least 1, got ${coldStarts}`);
  const scratchDir = options.scratchDir ?? BENCH_SCRATCH_DIR;
  const tell = options.onProgress ?? (() => {});

  tell(`bundling ours and the baseline (${sdk} AWS SDK)`);
  const [ours, baseline] = await Promise.all([
    buildBenchBundle('ours', sdk, join(scratchDir, sdk, 'ours')),
    buildBenchBundle('baseline', sdk, join(scratchDir, sdk, 'baseline')),
  ]);
  const bundles = [ours, baseline] as const;

  const probes: InitProbe[] = [];
  for (const bundle of bundles) {
    tell(`probing the cold init of ${bundle.subject}`);
    probes.push(await probeInit(bundle));
  }

  const samples: [number[], number[]] = [[], []];
  for (let round = 0; round < coldStarts; round += 1) {
    tell(`cold init ${round + 1}/${coldStarts}`);
    // A module that called out at init (the probe says so, and the report shows it) is timed with
    // its requests sent nowhere, as the probe ran it.
    for (const [index, bundle] of bundles.entries()) samples[index]!.push(await coldInitOnce(bundle, { contained: probes[index]!.connections.length > 0 }));
  }

  const measured = (index: 0 | 1): BundleMeasurement => ({ ...bundles[index], probe: probes[index]!, coldInit: stats(samples[index]) });
  return { sdk, coldStarts, gzipLevel: GZIP_LEVEL, node: process.version, ours: measured(0), baseline: measured(1), durationMs: performance.now() - startedAt };
};

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/**
 * The report as text: a line per entry, then each entry's largest packages.
 *
 * @example
 * process.stdout.write(`${formatBundleSizeReport(report)}\n`);
 */
export const formatBundleSizeReport = (report: BundleSizeReport, topPackages = 10): string => {
  const measurements = [report.ours, report.baseline];
  const lines = [
    `bundle size and cold init, ${report.sdk} AWS SDK; gzip: zlib level ${report.gzipLevel}; cold init: median of ${report.coldStarts} fresh Node ${report.node} processes each, \`await import()\` of the bundle`,
    table(
      ['entry', 'raw', 'gzip', 'source map', 'cold init median', 'min', 'max', 'calls at init', 'external imports', 'imported at first use'],
      measurements.map((m) => [
        `${m.subject} (${m.entry})`,
        kb(m.rawBytes),
        kb(m.gzipBytes),
        kb(m.sourceMapBytes),
        `${m.coldInit.medianMs.toFixed(1)} ms`,
        `${m.coldInit.minMs.toFixed(1)} ms`,
        `${m.coldInit.maxMs.toFixed(1)} ms`,
        m.probe.connections.length === 0 ? 'none' : m.probe.connections.join(', '),
        m.externalImports.length === 0 ? '-' : m.externalImports.join(', '),
        m.lazyExternalImports.length === 0 ? '-' : m.lazyExternalImports.join(', '),
      ]),
    ),
  ];
  for (const m of measurements) {
    lines.push('', `${m.subject}: largest packages`);
    lines.push(table(['package', 'bytes', 'share'], m.packages.slice(0, topPackages).map((p) => [p.name, kb(p.bytes), `${(p.share * 100).toFixed(1)} %`])));
  }
  return lines.join('\n');
};
