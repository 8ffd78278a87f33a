import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginLoadError } from '../../lib/adapters/plugin-loader.ts';
import { ConsumerEnv } from '../../lib/config/consumer-env.ts';
import { type DestinationConfig, destinationConfigDigest, parsePipelineConfig, type PipelineConfig, serializeDestinationConfig } from '../../lib/config/pipeline-config.ts';
import { consumerBundling, CONSUMER_AWS_SDK, CONSUMER_RUNTIME_ENVIRONMENT, esbuildOptionsFor } from '../../lib/infra/consumer-bundling.ts';
import { consumerEntryFor, GENERATED_ENTRY_DIR } from '../../lib/infra/consumer-entry.ts';
import { SyncPipelineStack } from '../../lib/infra/index.ts';
import { BENCH_SCRATCH_DIR, benchEsbuildOptions, BenchEntry, buildBenchBundle, consumerFunctionEnvironment } from '../../lib/local/bench/bundle-size.ts';
import { cdkContext, newApp } from '../helpers/infra.ts';

const SHARED_ENTRY = join(import.meta.dirname, '..', '..', 'lambdas', 'consumer', 'handler.ts');

// Unique per run, so a match can only come from this run's modules.
const TRANSFORM_MARKER = `transform-marker-${randomUUID()}`;
const MODULE_MARKER = `module-marker-${randomUUID()}`;

let modulesDir: string;
let outdir: string;
let config: PipelineConfig;

/** A module path as a config names it: relative to the directory cdk runs in (here, vitest's). */
const fromCwd = (file: string): string => relative(process.cwd(), join(modulesDir, file)).split('\\').join('/');

beforeAll(() => {
  modulesDir = mkdtempSync(join(tmpdir(), 'bundling-modules-'));
  // Under the repository: the consumers leave `@aws-sdk/*` to the runtime, and their cold start
  // resolves it from the repository's node_modules, as it does from the runtime's on Lambda.
  mkdirSync(BENCH_SCRATCH_DIR, { recursive: true });
  outdir = mkdtempSync(join(BENCH_SCRATCH_DIR, 'bundling-out-'));
  writeFileSync(
    join(modulesDir, 'crm-transform.ts'),
    `export const transform = (event: { readonly payload: unknown }) => ({ body: { marker: '${TRANSFORM_MARKER}', properties: event.payload } });\n`,
  );
  writeFileSync(
    join(modulesDir, 'ledger-module.mjs'),
    `export default (context) => ({ apply: async () => { throw new Error('${MODULE_MARKER} ' + context.destination); } });\n`,
  );
  config = parsePipelineConfig({
    name: 'bundling-test',
    destinations: [
      { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'], transform: fromCwd('crm-transform.ts') },
      { name: 'ledger', kind: 'module', module: fromCwd('ledger-module.mjs'), resourceTypes: ['invoice'] },
      { name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['order'] },
    ],
  });
});

afterAll(() => {
  // The entries generated for this run's modules name its temporary directory; nothing else does.
  const entries = join(process.cwd(), GENERATED_ENTRY_DIR);
  const name = modulesDir.split(/[\\/]/).at(-1)!;
  for (const file of existsSync(entries) ? readdirSync(entries) : []) {
    if (readFileSync(join(entries, file), 'utf8').includes(name)) rmSync(join(entries, file));
  }
  rmSync(modulesDir, { recursive: true, force: true });
  rmSync(outdir, { recursive: true, force: true });
});

/** Imports a bundled consumer in a Node process of its own, with the environment the construct sets (and `changes`); what `handler` is. */
const coldStart = (bundle: string, destination: DestinationConfig, changes: Record<string, string> = {}) => {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(pathToFileURL(bundle).href)}); process.stdout.write(typeof m.handler);`], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      AWS_REGION: 'eu-west-1',
      AWS_LAMBDA_FUNCTION_NAME: `bundling-test-${destination.name}`,
      [ConsumerEnv.DESTINATION]: serializeDestinationConfig(destination),
      [ConsumerEnv.DESTINATION_SHA256]: destinationConfigDigest(serializeDestinationConfig(destination)),
      [ConsumerEnv.LEDGER_TABLE_NAME]: 'bundling-test-ledger',
      [ConsumerEnv.QUEUE_URL]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q',
      [ConsumerEnv.QUEUE_ARN]: 'arn:aws:sqs:eu-west-1:123456789012:q',
      [ConsumerEnv.DEAD_LETTER_QUEUE_URL]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq',
      [ConsumerEnv.METRICS_NAMESPACE]: 'BundlingTest',
      [ConsumerEnv.SERVICE_NAME]: `bundling-test-${destination.name}`,
      ...changes,
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
};

describe('Bundling of user modules into the consumers', () => {
  it("bundles each destination's user module into its own consumer only, the shared entry as the bench does (one synth with esbuild)", async () => {
    // Prepare: cdk.json's context without the bundling override, so every consumer is bundled.
    const app = new App({ outdir, context: { ...cdkContext } });
    const stack = new SyncPipelineStack(app, 'BundlingTest', { config });

    // Act
    app.synth();
    const assetDir = (destination: string): string => {
      const functions = Object.values(Template.fromStack(stack.pipeline.destinations.get(destination)!.stack).findResources('AWS::Lambda::Function'));
      expect(functions).toHaveLength(1);
      const key = functions[0]!.Properties.Code.S3Key as string;
      return join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
    };
    const assetCode = (destination: string): string => {
      const dir = assetDir(destination);
      return readdirSync(dir)
        .map((file) => readFileSync(join(dir, file), 'utf8'))
        .join('\n');
    };
    const crm = assetCode('crm');
    const ledger = assetCode('ledger');
    const erp = assetCode('erp');

    // Assess: each marker sits in its destination's bundle and in no other.
    expect(crm).toContain(TRANSFORM_MARKER);
    expect(crm).not.toContain(MODULE_MARKER);
    expect(ledger).toContain(MODULE_MARKER);
    expect(ledger).not.toContain(TRANSFORM_MARKER);
    expect(erp.length).toBeGreaterThan(0);
    expect(erp).not.toContain(TRANSFORM_MARKER);
    expect(erp).not.toContain(MODULE_MARKER);
    // And the bundles start as Lambda starts them: the entry picks the module's export at cold start.
    for (const destination of config.destinations) {
      expect(coldStart(join(assetDir(destination.name), 'index.mjs'), destination)).toEqual({ status: 0, stdout: 'function', stderr: '' });
    }
    // A config changed after synth is validated at cold start: accepted when valid, refused naming the field.
    const [, , erpConfig] = config.destinations;
    const changed = (changes: Record<string, unknown>) => JSON.stringify({ ...JSON.parse(serializeDestinationConfig(erpConfig!)), ...changes });
    expect(coldStart(join(assetDir('erp'), 'index.mjs'), erpConfig!, { [ConsumerEnv.DESTINATION]: changed({ maxConcurrency: 8 }) })).toEqual({ status: 0, stdout: 'function', stderr: '' });
    const refused = coldStart(join(assetDir('erp'), 'index.mjs'), erpConfig!, { [ConsumerEnv.DESTINATION]: changed({ maxConcurrency: 1 }) });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('Invalid destination config:\n  - maxConcurrency: expected an integer from 2 to 1000, got 1');
    // The bench bundles the shared entry (erp's) with the construct's settings: the same code, byte for byte.
    const bench = await buildBenchBundle('ours', CONSUMER_AWS_SDK, join(outdir, 'bench-ours'));
    expect(readFileSync(bench.file, 'utf8') === readFileSync(join(assetDir('erp'), 'index.mjs'), 'utf8')).toBe(true);
  });

  it('generates one entry per user module, at the same path for the same config, under the directory cdk runs in', () => {
    // Act
    const first = consumerEntryFor(config, config.destinations[0]!, { sharedEntry: SHARED_ENTRY });
    const again = consumerEntryFor(config, config.destinations[0]!, { sharedEntry: SHARED_ENTRY });
    const module = consumerEntryFor(config, config.destinations[1]!, { sharedEntry: SHARED_ENTRY });
    const plain = consumerEntryFor(config, config.destinations[2]!, { sharedEntry: SHARED_ENTRY });

    // Assess
    expect(again).toBe(first);
    expect(relative(process.cwd(), first).startsWith(GENERATED_ENTRY_DIR)).toBe(true);
    expect(module).not.toBe(first);
    expect(plain).toBe(SHARED_ENTRY);
    const source = readFileSync(first, 'utf8');
    expect(source).toContain('import * as userModule from "');
    expect(source).toContain('export const handler = createLambdaHandler(pluginsFromModule({"name":"crm","kind":"http","transform":');
  });

  it('keeps the shared entry, or the one the app gives, for destinations without user code', () => {
    // Prepare
    const plainOnly = parsePipelineConfig({
      name: 'plain-only',
      destinations: [{ name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['order'] }],
    });

    // Act
    const stack = new SyncPipelineStack(newApp(), 'EntryTest', { config: plainOnly, consumerEntry: SHARED_ENTRY });

    // Assess: bundling is skipped; the function's asset stages from the project, as before.
    expect(Template.fromStack(stack.pipeline.destinations.get('erp')!.stack).findResources('AWS::Lambda::Function')).not.toEqual({});
    expect(consumerEntryFor(plainOnly, plainOnly.destinations[0]!, { sharedEntry: '/elsewhere/handler.ts' })).toBe('/elsewhere/handler.ts');
  });

  it('fails synth naming the field when the module file does not exist', () => {
    // Prepare
    const missing = parsePipelineConfig({
      name: 'missing-module',
      destinations: [
        { name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['order'] },
        { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'], transform: './transforms/missing-crm.ts' },
      ],
    });

    // Act
    const synth = () => new SyncPipelineStack(newApp(), 'MissingModule', { config: missing });

    // Assess
    expect(synth).toThrow(PluginLoadError);
    expect(synth).toThrow(/^destinations\[1\]\.transform: \.\/transforms\/missing-crm\.ts not found \(paths are relative to the directory cdk runs in\)$/);
  });
});

describe('The consumer bundling settings, one definition for the construct and the bench', () => {
  it("gives the function the runtime environment and the variables the bench's cold init sets", () => {
    // Prepare
    const plainOnly = parsePipelineConfig({
      name: 'env-test',
      destinations: [{ name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['order'] }],
    });

    // Act
    const stack = new SyncPipelineStack(newApp(), 'EnvTest', { config: plainOnly });
    const [fn] = Object.values(Template.fromStack(stack.pipeline.destinations.get('erp')!.stack).findResources('AWS::Lambda::Function'));
    const variables = fn!.Properties.Environment.Variables as Record<string, unknown>;

    // Assess
    expect(variables.NODE_OPTIONS).toBe(CONSUMER_RUNTIME_ENVIRONMENT.NODE_OPTIONS);
    expect(Object.keys(variables).sort()).toEqual(Object.keys(consumerFunctionEnvironment()).sort());
  });

  it("derives the bench's esbuild options from the construct's bundling object, the SDK bundled or external", () => {
    // Act
    const bundled = benchEsbuildOptions('ours', 'bundled', '/out');
    const external = benchEsbuildOptions('ours', 'external', '/out');

    // Assess
    expect(bundled).toEqual(esbuildOptionsFor(consumerBundling('bundled'), { entry: BenchEntry.ours, outfile: join('/out', 'index.mjs'), absWorkingDir: bundled.absWorkingDir! }));
    expect(bundled).toMatchObject({ bundle: true, platform: 'node', format: 'esm', target: 'node24', minify: true, sourcemap: true, sourcesContent: false, mainFields: ['module', 'main'], external: [] });
    expect(bundled.banner?.js).toBe(consumerBundling().banner);
    expect(external.external).toEqual(['@aws-sdk/*']);
    expect(consumerBundling('external')).toMatchObject({ bundleAwsSDK: false, externalModules: ['@aws-sdk/*'] });
    // The functions leave the SDK to the runtime, as CDK does by default.
    expect(CONSUMER_AWS_SDK).toBe('external');
    expect(consumerBundling()).toEqual(consumerBundling('external'));
  });

  it('refuses a bundling prop the bench does not translate', () => {
    // Act
    const options = () => esbuildOptionsFor({ ...consumerBundling(), nodeModules: ['sharp'] }, { entry: '/in.ts', outfile: '/out/index.mjs' });

    // Assess
    expect(options).toThrow('esbuildOptionsFor does not translate the bundling props nodeModules');
  });
});
