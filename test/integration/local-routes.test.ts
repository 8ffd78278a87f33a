import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { publishRouteFor } from '../../lib/local/lab/run-settings.ts';
import { localCommand } from '../../lib/local/local-command.ts';
import { runLocalPipeline } from '../../lib/local/run-pipeline.ts';
import { ExitCode, runCli, type CliIo } from '../../lib/ops/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'local-routes-'));

/** Two destinations sharing one type, so the bus's fan-out shows. */
const config = parsePipelineConfig({
  name: 'routes',
  destinations: [
    { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact', 'company'] },
    { name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['order', 'contact'] },
  ],
});

const run = (via: 'eventbridge' | 'sqs' | undefined) =>
  runLocalPipeline({ config, changes: 120, rate: 0, malformed: 3, ...(via === undefined ? {} : { via }), logFile: join(dir, `${via ?? 'default'}.log`) });

describe('Function: runLocalPipeline, by route', () => {
  it('publishes the changes through the EventBridge bus by default, its rules fanning them out, and the malformed ones straight to the queue', async () => {
    // Act
    const report = await run(undefined);

    // Assess
    expect(report.settings.via).toBe('eventbridge');
    expect(Object.values(report.invariants).every((check) => check.ok)).toBe(true);
    // Every change in one PutEvents entry; batches of 10.
    expect(report.bus).toMatchObject({ entries: 120, failedEntries: 0, putEventsCalls: 12 });
    const delivered = report.bus!.deliveredByDestination;
    const published = Object.fromEntries(report.destinations.map((d) => [d.destination, d.published]));
    // The malformed ones (3, to the first destination) did not go through the bus.
    expect(published).toEqual({ crm: delivered.crm! + 3, erp: delivered.erp });
    expect(delivered.crm! + delivered.erp!).toBeGreaterThan(120);
    expect(report.destinations[0]!.deadLetteredByReason).toEqual({ 'invalid-json': 1, 'invalid-schema': 2 });
  });

  it('publishes straight to the queues with via sqs, and the same stream ends the same way', async () => {
    // Act
    const report = await run('sqs');

    // Assess
    expect(report.settings.via).toBe('sqs');
    expect(report.bus).toBeUndefined();
    expect(Object.values(report.invariants).every((check) => check.ok)).toBe(true);
    expect(report.destinations.map((d) => d.planned)).toEqual(report.destinations.map((d) => d.published));
  });
});

describe('Function: publishRouteFor', () => {
  it.each([
    [{}, 'eventbridge'],
    [{ via: 'sqs' as const }, 'sqs'],
    [{ endpoint: 'http://localhost:4566' }, 'sqs'],
    [{ endpoint: 'http://localhost:4566', via: 'sqs' as const }, 'sqs'],
  ])('resolves %j to %s', (options, route) => {
    expect(publishRouteFor(options)).toBe(route);
  });

  it('refuses eventbridge with an endpoint, saying why', () => {
    expect(() => publishRouteFor({ endpoint: 'http://localhost:4566', via: 'eventbridge' })).toThrow("which the endpoint's EventBridge does not give the publisher");
  });
});

describe('Command: sync-pipeline local, its route and resource flags', () => {
  const cli = async (args: readonly string[]) => {
    let stderr = '';
    const io: CliIo = {
      stdout: { write: () => true } as unknown as CliIo['stdout'],
      stderr: { write: (chunk: string) => ((stderr += chunk), true) } as unknown as CliIo['stderr'],
      env: { AWS_REGION: 'us-east-1' },
    };
    const code = await runCli(args, io, [localCommand]);
    return { code, stderr };
  };

  it.each([
    [['local', '--use-deployed'], '--use-deployed needs --endpoint URL'],
    [['--endpoint', 'http://127.0.0.1:9', 'local', '--via', 'eventbridge'], '--via eventbridge is not offered with --endpoint'],
    [['local', '--via', 'kinesis'], "argument 'kinesis' is invalid. Allowed choices are eventbridge, sqs"],
  ])('refuses %j with a usage error', async (args, message) => {
    // Act
    const { code, stderr } = await cli(args);

    // Assess
    expect(code).toBe(ExitCode.USAGE);
    expect(stderr).toContain(message);
  });
});
