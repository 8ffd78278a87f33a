import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { SyncPipelineStack } from '../../lib/infra/index.ts';
import { formatHtmlReport, formatReport } from '../../lib/local/report/format-report.ts';
import { runLocalPipeline } from '../../lib/local/run-pipeline.ts';
import { newApp } from '../helpers/infra.ts';

const logDir = mkdtempSync(join(tmpdir(), 'sync-real-api-'));

/** One destination behind a bearer token read from the local Secrets Manager, with a transform adding a header. */
const config = parsePipelineConfig({
  destinations: [
    {
      name: 'crm',
      kind: 'http',
      baseUrl: 'https://crm.example.com',
      resourceTypes: ['contact'],
      maxConcurrency: 3,
      auth: { type: 'bearer', secret: 'sync/crm-token', maxAgeSeconds: 600 },
      transform: './examples/transforms/tenant-header.ts',
    },
  ],
});

const run = async (name: string, secretRotationsAtMs: readonly number[] = []) => {
  let values: () => readonly string[] = () => [];
  const logFile = join(logDir, `${name}.log`);
  const report = await runLocalPipeline({
    config,
    changes: 300,
    rate: 150,
    ids: 40,
    malformed: 3,
    seed: 5,
    pollers: 3,
    fakeApi: { latencyMs: 5 },
    logFile,
    stallTimeoutMs: 30_000,
    secretRotationsAtMs,
    onSecrets: (read) => {
      values = read;
    },
  });
  return { report, logFile, values: values() };
};

describe('A destination whose API requires a bearer token from Secrets Manager (local run)', () => {
  it('passes every invariant, the fake API requiring the token the consumers read from the local secret store', async () => {
    // Act
    const { report, values } = await run('bearer');

    // Assess
    const crm = report.destinations[0]!;
    expect(Object.entries(report.invariants).filter(([, check]) => !check.ok).map(([name]) => name)).toEqual([]);
    expect(report.drained).toBe(true);
    expect(values).toHaveLength(1);
    expect(report.fakeApiStats.byDestination['crm']).toMatchObject({ unauthorized: 0 });
    expect(crm.applied).toBeGreaterThan(0);
    // The malformed messages are the only dead letters.
    expect(crm.deadLettered).toBe(3);
  });

  it('picks up a secret rotated midway without a restart: every 401 reads the secret again, and nothing is dead-lettered for it', async () => {
    // Act: the token changes at 0.7 s and again at 1.4 s, while changes flow
    const { report, values } = await run('rotated', [700, 1_400]);

    // Assess
    const crm = report.destinations[0]!;
    expect(Object.entries(report.invariants).filter(([, check]) => !check.ok).map(([name]) => name)).toEqual([]);
    expect(values).toHaveLength(3);
    // The rotations were felt (old tokens refused) and recovered from.
    expect(report.fakeApiStats.byDestination['crm']?.unauthorized).toBeGreaterThan(0);
    expect(report.deadLetters.filter((letter) => letter.reason === 'auth')).toEqual([]);
    expect(crm.deadLettered).toBe(3);
  });

  it('never puts a secret value in the template, the consumer log, a dead letter, or the JSON and HTML reports', async () => {
    // Prepare: a run with a rotation, so three values were in use
    const { report, logFile, values } = await run('leak-check', [700]);
    const template = JSON.stringify(Template.fromStack(new SyncPipelineStack(newApp(), 'LeakCheck', { config }).pipeline.destinations.get('crm')!.stack).toJSON());
    const outputs = {
      template,
      log: readFileSync(logFile, 'utf8'),
      deadLetters: JSON.stringify(report.deadLetters),
      json: JSON.stringify(report),
      text: formatReport(report),
      html: formatHtmlReport(report),
    };

    // Act
    const leaks = Object.entries(outputs).flatMap(([where, text]) => values.filter((value) => text.includes(value)).map(() => where));

    // Assess: the secret's name travels (the consumer needs it), its values never
    expect(values).toHaveLength(2);
    expect(leaks).toEqual([]);
    expect(outputs.template).toContain('sync/crm-token');
    expect(outputs.log.length).toBeGreaterThan(0);
  });
});
