import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

// The runner's own SYNC_PIPELINE_CONFIG, if any, must not pick the config for these runs.
const { SYNC_PIPELINE_CONFIG: _ignored, ...inheritedEnv } = process.env;

/** Runs `node bin/app.ts` as the CDK CLI would, with bundling skipped and output in `outdir`. */
const runApp = (env: Record<string, string>, context: Record<string, unknown> = {}) =>
  spawnSync(process.execPath, ['bin/app.ts'], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: {
      ...inheritedEnv,
      CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [], ...context }),
      ...env,
    },
  });

type TemplateJson = { Description?: string; Outputs?: Record<string, unknown>; Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

/** The root template of stack `stackName` in `outdir` and every nested template beside it. */
const readTemplates = (outdir: string, stackName: string): { root: TemplateJson; nested: TemplateJson[] } => ({
  root: JSON.parse(readFileSync(join(outdir, `${stackName}.template.json`), 'utf8')) as TemplateJson,
  nested: readdirSync(outdir)
    .filter((file) => file.endsWith('.nested.template.json'))
    .map((file) => JSON.parse(readFileSync(join(outdir, file), 'utf8')) as TemplateJson),
});

/** The value of `property` on every resource of `type` in `templates`, sorted. */
const propertyOf = (templates: readonly TemplateJson[], type: string, property: string): unknown[] =>
  templates
    .flatMap((template) => Object.values(template.Resources))
    .filter((resource) => resource.Type === type)
    .map((resource) => resource.Properties?.[property])
    .sort();

const validConfig = {
  name: 'app-test',
  destinations: [{ name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'] }],
};

describe('App: bin/app.ts', () => {
  let workDir: string;

  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'sync-pipeline-app-'));
  });

  afterAll(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  it('exits 1 naming the bad field, without a stack trace, on an invalid config', () => {
    // Prepare
    const configPath = join(workDir, 'bad.json');
    writeFileSync(
      configPath,
      JSON.stringify({ destinations: [{ ...validConfig.destinations[0], maxConcurrency: 1 }] }),
    );

    // Act
    const result = runApp({ SYNC_PIPELINE_CONFIG: configPath, CDK_OUTDIR: join(workDir, 'bad.out') });

    // Assess
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`Invalid config file ${configPath}`);
    expect(result.stderr).toContain('destinations[0].maxConcurrency: expected an integer from 2 to 1000, got 1');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('exits 1 naming the destination and the path, without a stack trace, when a transform module does not exist', () => {
    // Prepare
    const configPath = join(workDir, 'no-transform.json');
    writeFileSync(configPath, JSON.stringify({ destinations: [{ ...validConfig.destinations[0], transform: './transforms/nowhere.ts' }] }));

    // Act
    const result = runApp({ SYNC_PIPELINE_CONFIG: configPath, CDK_OUTDIR: join(workDir, 'no-transform.out') });

    // Assess
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${configPath}: destinations[0].transform: ./transforms/nowhere.ts not found (paths are relative to the directory cdk runs in)`);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('exits 1 with the path on a missing config file', () => {
    // Prepare
    const configPath = join(workDir, 'missing.json');

    // Act
    const result = runApp({ SYNC_PIPELINE_CONFIG: configPath, CDK_OUTDIR: join(workDir, 'missing.out') });

    // Assess
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`Config file not found: ${configPath}`);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('creates the stack named by context `stackName`, prefixing every physical name with it, from the config named by context `config`', () => {
    // Prepare
    const configPath = join(workDir, 'good.json');
    writeFileSync(configPath, JSON.stringify(validConfig));
    const outdir = join(workDir, 'good.out');

    // Act: CDK's built-in CloudFormation rules are skipped here (the in-process tests run them).
    const result = runApp({ CDK_OUTDIR: outdir, CDK_VALIDATION: 'false' }, { config: configPath, stackName: 'custom-name' });

    // Assess
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const { root, nested } = readTemplates(outdir, 'custom-name');
    expect(root.Description).toBe('sync-pipeline custom-name: 1 destination, one nested stack each');
    // The queue URLs are outputs of the destination's nested stack, not of the root.
    expect(Object.keys(root.Outputs ?? {}).sort()).toEqual(['AlarmTopicArn', 'DashboardName', 'EventArchiveName', 'EventBusName', 'LedgerTableName']);
    // One destination nested stack and one dashboard page.
    expect(nested).toHaveLength(2);
    expect(nested.filter((template) => template.Outputs !== undefined && 'QueueUrl' in template.Outputs)).toHaveLength(1);
    expect(propertyOf(nested, 'AWS::SQS::Queue', 'QueueName')).toEqual(['custom-name-crm', 'custom-name-crm-dlq']);
    expect(propertyOf([root], 'AWS::DynamoDB::Table', 'TableName')).toEqual(['custom-name-ledger']);
    expect(propertyOf([root], 'AWS::Events::EventBus', 'Name')).toEqual(['custom-name-changes']);
    expect(propertyOf([root], 'AWS::Events::Archive', 'ArchiveName')).toEqual(['custom-name-changes-archive']);
    expect(propertyOf([root], 'AWS::SNS::Topic', 'TopicName')).toEqual(['custom-name-alarms']);
    expect(propertyOf(nested, 'AWS::Events::Rule', 'Name')).toEqual(['custom-name-crm-probe', undefined]);
    // The config's own name is replaced everywhere, not only in the stack's name.
    expect(JSON.stringify([root, ...nested])).not.toContain('app-test');
  });

  it('names the stack after the config when no `stackName` is given, describing it in a line whatever the names', () => {
    // Prepare: the longest names the config allows (30 + 27 characters), and two destinations
    const name = `long-${'n'.repeat(25)}`;
    const configPath = join(workDir, 'long.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        name,
        destinations: [
          { ...validConfig.destinations[0], name: `dest-${'d'.repeat(22)}`, resourceTypes: ['A', 'B', 'C', 'D'].map((letter) => letter.repeat(64)) },
          validConfig.destinations[0],
        ],
      }),
    );
    const outdir = join(workDir, 'long.out');

    // Act
    const result = runApp({ CDK_OUTDIR: outdir, CDK_VALIDATION: 'false' }, { config: configPath });

    // Assess
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const { root, nested } = readTemplates(outdir, name);
    expect(root.Description).toBe(`sync-pipeline ${name}: 2 destinations, one nested stack each`);
    expect(nested).toHaveLength(3);
    expect(propertyOf(nested, 'AWS::SQS::Queue', 'QueueName')).toEqual([
      `${name}-crm`,
      `${name}-crm-dlq`,
      `${name}-dest-${'d'.repeat(22)}`,
      `${name}-dest-${'d'.repeat(22)}-dlq`,
    ]);
  });

  it('exits 1 naming `name`, without a stack trace, on a `stackName` that is not a valid name', () => {
    // Prepare
    const configPath = join(workDir, 'bad-name.json');
    writeFileSync(configPath, JSON.stringify(validConfig));
    const outdir = join(workDir, 'bad-name.out');

    // Act
    const result = runApp({ CDK_OUTDIR: outdir, CDK_VALIDATION: 'false' }, { config: configPath, stackName: 'Bad_Name' });

    // Assess: one problem, on `name`, with the value given.
    expect(result.status).toBe(1);
    const problems = result.stderr.split('\n').filter((line) => line.startsWith('  - '));
    expect(problems).toEqual(['  - name: expected 1 to 30 lowercase letters, digits or dashes, starting with a letter, got "Bad_Name"']);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(outdir, 'Bad_Name.template.json'))).toBe(false);
  });
});
