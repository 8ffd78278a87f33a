// `npx node scripts/pack-test.ts` (or `npm run pack-test`): the pack-and-install test. Builds the
// package, packs it, checks what the tarball holds, installs it into a scratch app from the npm cache
// alone, and there, on plain Node with type stripping off (no `.ts` can load): synthesizes a stack with
// the construct and the consumer bundled, requires it from CommonJS, type-checks a user's TypeScript
// against its declarations, publishes with the library to the embedded SQS, and runs the CLI. Prints
// each step's time; exits 1 at the first failure, naming the step. Not part of `npm test` (about a
// minute, most of it the install): CI runs it as a step of its own.
import { spawn, type SpawnOptions } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { build } from 'esbuild';
import { loadPipelineConfig } from '../lib/config/pipeline-config.ts';
import { consumerBundling, esbuildOptionsFor } from '../lib/infra/consumer-bundling.ts';
import { awsClientConfig, startEmulators, type Emulators } from '../lib/local/sim/emulators.ts';
import { createLocalResources } from '../lib/local/sim/local-resources.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = join(REPO, 'scripts', 'pack-app');
/** The tarball and the bundle of the sources to compare with; the app itself goes elsewhere (see `scratchApp`). */
const SCRATCH = join(REPO, '.sync-pipeline', 'scratch', 'pack-test');
/**
 * What the scratch app installs besides the package, as a user's CDK app would: the CDK, esbuild to
 * bundle without Docker, the SQS client its publisher passes, Node's types for its TypeScript.
 */
const APP_DEPENDENCIES = ['aws-cdk-lib', 'constructs', 'esbuild', '@aws-sdk/client-sqs', '@types/node'] as const;
/** How far the consumer bundled from the installed package may differ in size from the one bundled from the sources. */
const BUNDLE_SIZE_TOLERANCE = 0.05;

class PackTestFailure extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'PackTestFailure';
  }
}

const check = (ok: boolean, message: string): void => {
  if (!ok) throw new PackTestFailure(message);
};

interface Ran {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to its end. Not spawnSync: the embedded emulators serve from this process's event
 * loop, which must keep turning while the app's scripts call them.
 */
const run = (command: string, args: readonly string[], options: SpawnOptions = {}): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', (error) => reject(new PackTestFailure(`${command} ${args.join(' ')}: ${error.message}`)));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });

const tail = (text: string, lines = 15): string => text.trimEnd().split('\n').slice(-lines).join('\n');

/** Runs a command that must exit 0; fails with the end of its output otherwise. */
const runOk = async (command: string, args: readonly string[], options: SpawnOptions = {}): Promise<Ran> => {
  const result = await run(command, args, options);
  check(result.status === 0, `\`${command} ${args.join(' ')}\` exited ${result.status}:\n${tail(`${result.stdout}\n${result.stderr}`)}`);
  return result;
};

/** The last line of a scratch script's stdout, where it prints its one JSON result. */
const lastJsonLine = <T>(stdout: string, what: string): T => {
  const line = stdout.trimEnd().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new PackTestFailure(`${what}: expected a JSON line on stdout, got ${JSON.stringify(tail(stdout, 3))}`);
  }
};

const timings: Array<{ readonly step: string; readonly seconds: number }> = [];
let current = 'start';

const step = async <T>(name: string, body: () => T | Promise<T>): Promise<T> => {
  current = name;
  const started = performance.now();
  const result = await body();
  const seconds = (performance.now() - started) / 1000;
  timings.push({ step: name, seconds });
  process.stderr.write(`ok  ${name.padEnd(34)} ${seconds.toFixed(1).padStart(6)} s\n`);
  return result;
};

interface PackedFile {
  readonly path: string;
  readonly size: number;
}
interface Packed {
  readonly filename: string;
  readonly integrity: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly entryCount: number;
  readonly files: readonly PackedFile[];
}

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly license: string;
  readonly engines: Readonly<Record<string, string>>;
  readonly bin: Readonly<Record<string, string>>;
  readonly exports: Readonly<Record<string, string | Readonly<Record<string, string>>>>;
  readonly dependencies: Readonly<Record<string, string>>;
}

type LockEntry = Record<string, unknown> & { readonly version?: string; readonly dev?: boolean };

const packageJson = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as PackageJson;
const repoLock = (JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;

/** What a tarball may hold: the compiled code with its declarations and maps, the JSON schemas, and npm's own three. */
const ALLOWED_FILE = /^(?:dist\/(?:bin|lib|lambdas)\/.+\.(?:js|d\.ts|js\.map)|schemas\/[^/]+\.json|package\.json|README\.md|LICENSE)$/;
const FORBIDDEN_FILE: ReadonlyArray<readonly [RegExp, string]> = [
  [/(?:^|\/)test\/|\.test\.|\.spec\./, 'a test file'],
  [/(?:^|\/)reports\//, 'a report'],
  [/(?:^|\/)\.sync-pipeline\//, 'a generated file of .sync-pipeline/'],
  [/\/local\/bench\//, 'the benchmark'],
  [/\/local\/e2e\//, 'the deployed end-to-end test'],
  [/(?<!\.d)\.ts$/, 'a TypeScript source'],
];

/** Every file an `exports` target or the bin names, as tarball paths. */
const namedFiles = (): string[] => {
  const targets = Object.values(packageJson.exports).flatMap((target) => (typeof target === 'string' ? [target] : Object.values(target)));
  return [...targets.filter((target) => !target.includes('*')), ...Object.values(packageJson.bin)].map((target) => target.replace(/^\.\//, ''));
};

const checkTarball = (packed: Packed): void => {
  const paths = new Set(packed.files.map((file) => file.path));
  for (const path of paths) {
    const forbidden = FORBIDDEN_FILE.find(([pattern]) => pattern.test(path));
    check(forbidden === undefined, `the tarball holds ${forbidden?.[1]}: ${path}`);
    check(ALLOWED_FILE.test(path), `the tarball holds ${path}, which is none of dist/**/*.{js,d.ts,js.map}, schemas/*.json, package.json, README.md, LICENSE`);
  }
  const missing = [...namedFiles(), 'README.md', 'LICENSE', 'dist/lambdas/consumer/handler.js'].filter((path) => !paths.has(path));
  check(missing.length === 0, `the tarball lacks ${missing.join(', ')} (named by package.json's exports or bin, or needed at synth)`);
  const schemas = existsSync(join(REPO, 'schemas')) ? readdirSync(join(REPO, 'schemas')).filter((name) => name.endsWith('.json')) : [];
  const missingSchemas = schemas.filter((name) => !paths.has(`schemas/${name}`));
  check(missingSchemas.length === 0, `the tarball lacks schemas/${missingSchemas.join(', schemas/')}`);
  const bin = readFileSync(join(REPO, Object.values(packageJson.bin)[0] ?? ''), 'utf8');
  check(bin.startsWith('#!/usr/bin/env node\n'), 'the bin does not start with the #!/usr/bin/env node line');
};

/**
 * The scratch app's lock file: the package (its tarball) and the app's dependencies at the versions
 * the repository's lock resolved, with the registry URLs npm omits from it. The npm cache that
 * `npm ci` filled holds those tarballs but not the registry's metadata, so npm cannot resolve version
 * ranges offline; with the whole tree locked, `npm ci --offline` takes every tarball from the cache.
 * Only the package's production tree goes in (dev-only entries are left out), so a module the
 * package imports but does not depend on is missing here as it would be for a user.
 */
const scratchLockfile = (packed: Packed, tarballSpec: string): { packageJson: object; lock: object } => {
  const appDependencies = Object.fromEntries(APP_DEPENDENCIES.map((name) => [name, repoLock[`node_modules/${name}`]?.version ?? '']));
  const dependencies = { [packageJson.name]: tarballSpec, ...appDependencies };
  const packages: Record<string, unknown> = {
    '': { name: 'scratch-app', dependencies },
    [`node_modules/${packageJson.name}`]: {
      version: packageJson.version,
      resolved: tarballSpec,
      integrity: packed.integrity,
      license: packageJson.license,
      dependencies: packageJson.dependencies,
      bin: packageJson.bin,
      engines: packageJson.engines,
    },
  };
  // The package's production tree (the repository's, less what only dev dependencies need), then
  // the app's dependencies with all they need (esbuild's platform binary among its optional ones),
  // each found as Node finds it: from the entry's own node_modules upwards.
  const pending = [...Object.keys(repoLock).filter((path) => path.startsWith('node_modules/') && repoLock[path]?.dev !== true), ...APP_DEPENDENCIES.map((name) => `node_modules/${name}`)];
  const taken = new Set<string>();
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    const entry = repoLock[path];
    if (entry === undefined || taken.has(path)) continue;
    taken.add(path);
    const needs = { ...(entry.dependencies as Record<string, string> | undefined), ...(entry.optionalDependencies as Record<string, string> | undefined) };
    for (const name of Object.keys(needs)) {
      for (let from: string = path; ; from = from.slice(0, Math.max(0, from.lastIndexOf('/node_modules/')))) {
        const candidate = `${from === '' ? '' : `${from}/`}node_modules/${name}`;
        if (repoLock[candidate] !== undefined) {
          pending.push(candidate);
          break;
        }
        if (from === '') break;
      }
    }
  }
  for (const path of taken) {
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...rest } = repoLock[path]!;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[path] = { ...rest, resolved: rest.resolved ?? `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${rest.version}.tgz` };
  }
  return {
    packageJson: { name: 'scratch-app', private: true, type: 'module', dependencies },
    lock: { name: 'scratch-app', lockfileVersion: 3, requires: true, packages },
  };
};

/**
 * A fresh directory for the app, outside the repository: below it, Node would find the repository's
 * own node_modules by walking up from the app and hide a dependency the package forgot.
 */
const scratchApp = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'sync-pipeline-pack-app-'));
  for (let parent = dirname(dir); parent !== dirname(parent); parent = dirname(parent)) {
    check(!existsSync(join(parent, 'node_modules')), `${join(parent, 'node_modules')} exists above the scratch app and would hide missing dependencies`);
  }
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
};

/**
 * The environment of every command in the app: this Node (24) first on PATH, nothing of the
 * repository's node_modules on it, and type stripping off, so loading any `.ts` fails.
 */
const appEnvironment = (app: string): NodeJS.ProcessEnv => {
  const bin = join(app, '.node-bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const path = (process.env.PATH ?? '').split(delimiter).filter((entry) => !entry.split(sep).includes('node_modules'));
  return { ...process.env, PATH: [bin, ...path].join(delimiter), NODE_OPTIONS: '--no-experimental-strip-types', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
};

const appNode = (app: string, env: NodeJS.ProcessEnv, script: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Ran> =>
  runOk(process.execPath, ['--no-experimental-strip-types', script], { cwd: app, env: { ...env, ...extraEnv } });

interface Bundle {
  readonly dir: string;
  readonly bytes: number;
  readonly code: string;
  readonly sources: readonly string[];
}

const bundlesIn = (outdir: string): Bundle[] =>
  readdirSync(outdir)
    .filter((name) => name.startsWith('asset.') && existsSync(join(outdir, name, 'index.mjs')))
    .map((name) => {
      const dir = join(outdir, name);
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      const map = JSON.parse(readFileSync(join(dir, 'index.mjs.map'), 'utf8')) as { sources: string[] };
      return { dir, bytes: statSync(join(dir, 'index.mjs')).size, code, sources: map.sources };
    });

/** The size of the shared consumer bundled from the repository's sources with the stack's own bundling options. */
const sourceBundleBytes = async (): Promise<number> => {
  const outfile = join(SCRATCH, 'source-bundle', 'index.mjs');
  await build(esbuildOptionsFor(consumerBundling(), { entry: join(REPO, 'lambdas', 'consumer', 'handler.ts'), outfile, absWorkingDir: REPO }));
  return statSync(outfile).size;
};

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

const main = async (): Promise<void> => {
  rmSync(SCRATCH, { recursive: true, force: true });
  mkdirSync(SCRATCH, { recursive: true });

  await step('build (npm run build)', () => runOk('npm', ['run', 'build'], { cwd: REPO }));
  const packed = await step('pack (npm pack)', async () => {
    // The build just ran: --ignore-scripts skips prepack, which would build again.
    const { stdout } = await runOk('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', SCRATCH], { cwd: REPO });
    return (JSON.parse(stdout) as Packed[])[0]!;
  });
  await step('tarball contents', () => checkTarball(packed));

  const app = scratchApp();
  const env = appEnvironment(app);
  const tarball = join(SCRATCH, packed.filename);
  await step('install (npm ci --offline)', async () => {
    const spec = `file:${relative(app, tarball).split(sep).join('/')}`;
    const files = scratchLockfile(packed, spec);
    writeFileSync(join(app, 'package.json'), `${JSON.stringify(files.packageJson, null, 2)}\n`);
    writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify(files.lock, null, 2)}\n`);
    const install = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app, env });
    const uncached = /request to (\S+) failed: cache mode is 'only-if-cached'/.exec(install.stderr)?.[1];
    check(uncached === undefined, `the npm cache lacks ${uncached}: run \`npm ci\` in the repository first (it fills the cache this install reads)`);
    check(install.status === 0, `npm ci --offline in the scratch app exited ${install.status}:\n${tail(install.stderr)}`);
    const nested = join(app, 'node_modules', packageJson.name, 'node_modules');
    for (const shared of ['aws-cdk-lib', 'constructs']) {
      check(!existsSync(join(nested, shared)), `the package installed its own copy of ${shared}: the app's constructs would not be the package's`);
    }
  });

  const synth = await step('synth with bundling (ESM app)', async () => lastJsonLine<{ destinations: string[] }>((await appNode(app, env, 'synth.js')).stdout, 'synth.js'));
  await step('consumer bundles', async () => {
    check(synth.destinations.join(',') === 'crm,erp', `synth.js: expected the destinations crm,erp, got ${synth.destinations.join(',')}`);
    const bundles = bundlesIn(join(app, 'cdk.out'));
    check(bundles.length === 2, `expected 2 consumer bundles in cdk.out (crm's generated entry, erp's shared one), got ${bundles.length}`);
    const withTransform = bundles.filter((bundle) => bundle.code.includes('pack-test-transform'));
    check(withTransform.length === 1, `expected the transform in exactly one bundle (crm's), got ${withTransform.length}`);
    const entries = join(app, '.sync-pipeline', 'consumer-entries');
    check(existsSync(entries) && readdirSync(entries).some((name) => name.startsWith('crm-')), `expected crm's generated entry under the app's ${relative(app, entries)}`);
    check(!existsSync(join(app, 'node_modules', packageJson.name, '.sync-pipeline')), 'synth wrote generated entries into the installed package');
    for (const bundle of bundles) {
      // The compiled package's source maps reach the bundle's: stack traces name our TypeScript files.
      check(bundle.sources.some((source) => source.endsWith(`${packageJson.name}/lambdas/consumer/create-handler.ts`)), `${bundle.dir}: its source map names no TypeScript file of the package`);
    }
    const shared = bundles.find((bundle) => !withTransform.includes(bundle))!;
    const fromSources = await sourceBundleBytes();
    const drift = Math.abs(shared.bytes - fromSources) / fromSources;
    check(
      drift <= BUNDLE_SIZE_TOLERANCE,
      `the shared consumer bundled from the package is ${kib(shared.bytes)}, from the sources ${kib(fromSources)}: more than ${BUNDLE_SIZE_TOLERANCE * 100}% apart`,
    );
    process.stderr.write(`    bundles: ${bundles.map((bundle) => kib(bundle.bytes)).join(', ')}; from the sources ${kib(fromSources)}\n`);
  });

  await step('require from CommonJS', async () => {
    const kinds = lastJsonLine<string[]>((await appNode(app, env, 'require.cjs')).stdout, 'require.cjs');
    check(kinds.every((kind) => kind === 'function'), `require.cjs: expected four functions, got ${kinds.join(', ')}`);
  });
  await step('type-check against the declarations', () => runOk(join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: app, env }));

  let emulators: Emulators | undefined;
  try {
    emulators = await startEmulators();
    const { sqsEndpoint, dynamodbEndpoint } = emulators;
    const resources = await step('resources on the embedded emulators', async () => {
      const sqs = new SQSClient(awsClientConfig(sqsEndpoint));
      const dynamodb = new DynamoDBClient(awsClientConfig(dynamodbEndpoint));
      try {
        return await createLocalResources({ config: loadPipelineConfig(join(app, 'sync-pipeline.json')), sqs, dynamodb });
      } finally {
        sqs.destroy();
        dynamodb.destroy();
      }
    });

    await step('publish to the embedded SQS', async () => {
      const queueUrl = resources.destinations.crm?.queueUrl ?? '';
      const result = lastJsonLine<{ statuses: string[]; received: Array<{ id: string; occurredAt?: string }> }>(
        (await appNode(app, env, 'publish.js', { PACK_TEST_SQS_ENDPOINT: sqsEndpoint, PACK_TEST_QUEUE_URL: queueUrl })).stdout,
        'publish.js',
      );
      const expected = [...Array.from({ length: 12 }, () => 'sent'), 'invalid', 'too-large'];
      check(result.statuses.join(',') === expected.join(','), `publish.js: expected the statuses ${expected.join(',')}, got ${result.statuses.join(',')}`);
      const ids = new Set(result.received.map((message) => message.id));
      check(result.received.length === 12 && ids.size === 12, `publish.js: expected 12 distinct changes in the queue, got ${result.received.length} (${ids.size} distinct)`);
      check(result.received.every((message) => typeof message.occurredAt === 'string'), 'publish.js: a change arrived without occurredAt');
    });

    await step('CLI (npx sync-pipeline)', async () => {
      const help = await runOk('npx', ['--no', '--', 'sync-pipeline', '--help'], { cwd: app, env });
      for (const command of ['status', 'dlq', 'replay', 'resync', 'local']) check(help.stdout.includes(command), `sync-pipeline --help lists no \`${command}\``);
      const endpoints = ['--config', 'sync-pipeline.json', '--sqs-endpoint', sqsEndpoint, '--dynamodb-endpoint', dynamodbEndpoint];
      const status = await run('npx', ['--no', '--', 'sync-pipeline', 'status', ...endpoints, '--json'], { cwd: app, env });
      check(status.status === 0 || status.status === 1, `sync-pipeline status exited ${status.status}:\n${tail(status.stderr)}`);
      const destinations = lastJsonLine<{ destinations: unknown[] }>(status.stdout, 'sync-pipeline status').destinations;
      check(destinations.length === 2, `sync-pipeline status: expected 2 destinations, got ${destinations.length}`);
      // The local runtime's dev dependencies are not installed: one line naming what is missing, exit 2.
      const local = await run('npx', ['--no', '--', 'sync-pipeline', 'local'], { cwd: app, env });
      check(local.status === 2, `sync-pipeline local without its dev dependencies exited ${local.status}, expected 2:\n${tail(local.stderr)}`);
      check(/needs \S+, a dev dependency/.test(local.stderr) && !/\n\s+at /.test(local.stderr), `sync-pipeline local: expected one line naming the missing package, got:\n${tail(local.stderr)}`);
    });
  } finally {
    await emulators?.stop();
  }

  rmSync(app, { recursive: true, force: true });
  const total = timings.reduce((sum, timing) => sum + timing.seconds, 0);
  process.stderr.write(
    `\npack test passed in ${total.toFixed(1)} s: ${packed.filename} ${kib(packed.size)} packed, ${kib(packed.unpackedSize)} unpacked, ${packed.entryCount} files\n`,
  );
};

try {
  await main();
} catch (error) {
  const message = error instanceof PackTestFailure ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`\npack test failed in step "${current}": ${message}\n(the scratch app, if made, is kept under ${tmpdir()} for a look)\n`);
  process.exitCode = 1;
}
