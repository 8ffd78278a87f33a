import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('creates the stack named by context `stackName` from the config named by context `config`', () => {
    // Prepare
    const configPath = join(workDir, 'good.json');
    writeFileSync(configPath, JSON.stringify(validConfig));
    const outdir = join(workDir, 'good.out');

    // Act: CDK's built-in CloudFormation rules are skipped here (the in-process tests run them).
    const result = runApp({ CDK_OUTDIR: outdir, CDK_VALIDATION: 'false' }, { config: configPath, stackName: 'custom-name' });

    // Assess
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const template = JSON.parse(readFileSync(join(outdir, 'custom-name.template.json'), 'utf8'));
    expect(template.Outputs).toHaveProperty('CrmQueueUrl');
    expect(JSON.stringify(template.Resources)).toContain('"QueueName":"app-test-crm"');
  });
});
