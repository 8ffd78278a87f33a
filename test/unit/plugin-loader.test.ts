import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDestinationPlugins, PluginLoadError, type PluginSource, pluginsFromModule } from '../../lib/adapters/plugin-loader.ts';
import { parsePipelineConfig, type DestinationConfig } from '../../lib/config/pipeline-config.ts';
import type { ChangeEvent } from '../../lib/contract/change-event.ts';
import type { Destination } from '../../lib/core/destination.ts';

/** User modules as a project would keep them, each in a file of its own. */
const FILES: Readonly<Record<string, string>> = {
  'default-transform.mjs': "export default (event) => ({ body: { from: 'default', id: event.id } });\n",
  // TypeScript, as `./transforms/crm.ts` in a config: loaded as it is.
  'named-transform.ts': "export const transform = (event: { id: string }) => ({ body: { from: 'named', id: event.id } });\nexport const other = 1;\n",
  'default-factory.mjs': "export default (context) => ({ kind: 'test', name: context.destination, apply: async () => ({ status: 200 }) });\n",
  'named-factory.mjs': "export function createDestination(context) { return { kind: 'named', name: context.destination, options: context.options }; }\n",
  'no-export.mjs': 'export const helper = () => 1;\n',
  'not-a-function.mjs': "export default { body: 'not callable' };\n",
  'named-not-a-function.mjs': "export const createDestination = 'nope';\n",
};

let baseDir: string;

beforeAll(() => {
  baseDir = mkdtempSync(join(tmpdir(), 'plugin-loader-'));
  for (const [name, source] of Object.entries(FILES)) writeFileSync(join(baseDir, name), source);
});

afterAll(() => {
  rmSync(baseDir, { recursive: true, force: true });
});

/** A destination as the config validates it: http with a transform, or a module destination. */
const destinationWith = (field: 'transform' | 'module', path: string): DestinationConfig =>
  parsePipelineConfig({
    destinations: [
      field === 'transform'
        ? { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'], transform: path }
        : { name: 'ledger', kind: 'module', module: path, options: { region: 'eu' }, resourceTypes: ['contact'] },
    ],
  }).destinations[0]!;

const event = { id: 'c-1' } as ChangeEvent;

describe('Function: loadDestinationPlugins', () => {
  it("loads a transform from a module's default export", async () => {
    // Prepare
    const destination = destinationWith('transform', './default-transform.mjs');

    // Act
    const plugins = await loadDestinationPlugins(destination, { baseDir });

    // Assess
    expect(Object.keys(plugins)).toEqual(['transform']);
    expect(await plugins.transform!(event)).toEqual({ body: { from: 'default', id: 'c-1' } });
  });

  it('loads a transform from the export named transform of a TypeScript module', async () => {
    // Prepare
    const destination = destinationWith('transform', './named-transform.ts');

    // Act
    const plugins = await loadDestinationPlugins(destination, { baseDir });

    // Assess
    expect(await plugins.transform!(event)).toEqual({ body: { from: 'named', id: 'c-1' } });
  });

  it("loads a module destination's factory from its default export or from createDestination", async () => {
    // Act
    const fromDefault = await loadDestinationPlugins(destinationWith('module', './default-factory.mjs'), { baseDir });
    const fromNamed = await loadDestinationPlugins(destinationWith('module', './named-factory.mjs'), { baseDir });

    // Assess
    expect(Object.keys(fromDefault)).toEqual(['createDestination']);
    expect(fromDefault.createDestination!({ destination: 'ledger', options: {}, requestTimeoutMs: 1000 })).toMatchObject({ kind: 'test', name: 'ledger' });
    expect(fromNamed.createDestination!({ destination: 'ledger', options: { region: 'eu' }, requestTimeoutMs: 1000 })).toEqual({
      kind: 'named',
      name: 'ledger',
      options: { region: 'eu' },
    });
  });

  it('resolves the path from baseDir, not from the working directory', async () => {
    // Prepare: the same relative path from the directory above the modules.
    const destination = destinationWith('transform', `./${baseDir.split(/[\\/]/).at(-1)}/default-transform.mjs`);

    // Act
    const plugins = await loadDestinationPlugins(destination, { baseDir: join(baseDir, '..') });

    // Assess
    expect(typeof plugins.transform).toBe('function');
  });

  it('loads nothing for a destination that names no module', async () => {
    // Prepare
    const destination = parsePipelineConfig({ destinations: [{ name: 'plain', kind: 'http', baseUrl: 'https://plain.example.com', resourceTypes: ['contact'] }] }).destinations[0]!;

    // Act
    const plugins = await loadDestinationPlugins(destination, { baseDir });

    // Assess
    expect(plugins).toEqual({});
  });

  it('names the path, the file it looked for and the directory paths are relative to when the file does not exist', async () => {
    // Prepare
    const destination = destinationWith('transform', './transforms/missing.ts');

    // Act
    const loading = loadDestinationPlugins(destination, { baseDir });

    // Assess
    await expect(loading).rejects.toThrow(PluginLoadError);
    await expect(loading).rejects.toThrow(
      `destination crm: transform ./transforms/missing.ts not found: no file ${join(baseDir, 'transforms', 'missing.ts')} (paths are relative to ${baseDir}, the directory the app runs in)`,
    );
  });

  it('says which exports it looked for when the module has neither', async () => {
    // Act & Assess, one load at a time (see below)
    await expect(loadDestinationPlugins(destinationWith('transform', './no-export.mjs'), { baseDir })).rejects.toThrow(
      'destination crm: transform ./no-export.mjs has no default export and no export named transform (export the transform function as either)',
    );
    await expect(loadDestinationPlugins(destinationWith('module', './no-export.mjs'), { baseDir })).rejects.toThrow(
      'destination ledger: module ./no-export.mjs has no default export and no export named createDestination (export the factory function as either)',
    );
  });

  it('says what the export is when it is not a function', async () => {
    // Act & Assess, one load at a time: a second rejection must not wait unobserved while the first is awaited
    await expect(loadDestinationPlugins(destinationWith('transform', './not-a-function.mjs'), { baseDir })).rejects.toThrow(
      'destination crm: transform ./not-a-function.mjs: its default export is an object, not a function',
    );
    await expect(loadDestinationPlugins(destinationWith('module', './named-not-a-function.mjs'), { baseDir })).rejects.toThrow(
      'destination ledger: module ./named-not-a-function.mjs: its export createDestination is a string, not a function',
    );
  });
});

describe('Function: pluginsFromModule', () => {
  const source: PluginSource = { name: 'crm', kind: 'http', transform: './transforms/crm.ts' };

  it('picks the default export before the named one', () => {
    // Prepare
    const first = () => ({ body: 1 });
    const second = () => ({ body: 2 });

    // Act
    const plugins = pluginsFromModule(source, { default: first, transform: second });

    // Assess
    expect(plugins.transform).toBe(first);
  });

  it('picks the named function of a CommonJS namespace, whose default is module.exports', () => {
    // Prepare
    const transform = () => ({ body: 'cjs' });

    // Act
    const plugins = pluginsFromModule(source, { default: { transform }, transform });

    // Assess
    expect(plugins.transform).toBe(transform);
  });

  it('picks the factory of a module destination, and returns it as it is', () => {
    // Prepare
    const adapter = {} as Destination;
    const createDestination = () => adapter;

    // Act
    const plugins = pluginsFromModule({ name: 'ledger', kind: 'module', module: './ledger.mjs' }, { createDestination });

    // Assess
    expect(plugins).toEqual({ createDestination });
  });
});
