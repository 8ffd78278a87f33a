import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCH_SCRATCH_DIR, coldInitOnce, formatBundleSizeReport, measureBundles, probeInit, type BundleSizeReport } from '../../lib/local/bench/bundle-size.ts';

let scratchDir: string;
let report: BundleSizeReport;

beforeAll(async () => {
  // Under the repository, as the bench's own: the external SDK resolves from its node_modules.
  mkdirSync(BENCH_SCRATCH_DIR, { recursive: true });
  scratchDir = mkdtempSync(join(BENCH_SCRATCH_DIR, 'test-'));
  report = await measureBundles({ sdk: 'external', coldStarts: 2, scratchDir });
});

afterAll(() => {
  rmSync(scratchDir, { recursive: true, force: true });
});

describe('Function: measureBundles', () => {
  it('bundles ours and the baseline with the SDK external, both sizes measured', () => {
    for (const bundle of [report.ours, report.baseline]) {
      expect(bundle.rawBytes).toBeGreaterThan(bundle.gzipBytes);
      expect(bundle.gzipBytes).toBeGreaterThan(0);
      expect(bundle.sourceMapBytes).toBeGreaterThan(0);
      // Left to the runtime: imported, not bundled.
      const imported = [...bundle.externalImports, ...bundle.lazyExternalImports];
      expect(imported).toContain('@aws-sdk/client-sqs');
      expect(imported.every((name) => name.startsWith('@aws-sdk/'))).toBe(true);
      expect(bundle.packages.some((entry) => entry.name.startsWith('@aws-sdk/'))).toBe(false);
      const packageBytes = bundle.packages.reduce((sum, entry) => sum + entry.bytes, 0);
      expect(packageBytes).toBeLessThanOrEqual(bundle.rawBytes);
      expect(packageBytes).toBeGreaterThan(bundle.rawBytes * 0.9);
    }
    // At init ours loads the DynamoDB client only (the ledger serves every record); SQS at the first
    // retry, deferral or dead letter, Lambda when the breaker switches the event source, Secrets
    // Manager when a destination with auth reads its secret.
    expect(report.ours.externalImports).toEqual(['@aws-sdk/client-dynamodb']);
    expect(report.ours.lazyExternalImports).toEqual(['@aws-sdk/client-lambda', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-sqs']);
    expect(report.baseline.lazyExternalImports).toEqual([]);
    expect(report.ours.entry).toBe('lambdas/consumer/handler.ts');
    expect(report.baseline.entry).toBe('lib/local/bench/seed-baseline-entry.ts');
    expect(report.baseline.packages.map((entry) => entry.name)).toContain('@aws-lambda-powertools/idempotency');
  });

  it('starts both bundles in a fresh Node with the functions\' environment, calling nothing at init', async () => {
    // Act
    const again = await coldInitOnce(report.baseline);

    // Assess
    expect(again).toBeGreaterThan(0);
    for (const bundle of [report.ours, report.baseline]) {
      expect(bundle.coldInit.samplesMs).toHaveLength(2);
      expect(bundle.coldInit.samplesMs.every((ms) => Number.isFinite(ms) && ms > 0)).toBe(true);
      expect(bundle.coldInit.medianMs).toBeGreaterThanOrEqual(bundle.coldInit.minMs);
      expect(bundle.coldInit.medianMs).toBeLessThanOrEqual(bundle.coldInit.maxMs);
      expect(bundle.probe).toEqual({ connections: [], activeResources: expect.any(Array), output: '' });
    }
    expect(formatBundleSizeReport(report)).toContain('ours: largest packages');
  });

  it('sees a request a module starts at load, and sends it nowhere', async () => {
    // Prepare: a handler module that calls SQS at load without awaiting it
    const dir = join(scratchDir, 'calls-at-init');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'index.mjs'),
      "import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';\n" +
        'new SQSClient({}).send(new ListQueuesCommand({})).catch(() => {});\n' +
        'export const handler = async () => ({});\n',
    );

    // Act
    const probe = await probeInit({ ...report.ours, file: join(dir, 'index.mjs') });

    // Assess: the probe points the SDK at a closed local port (the SDK retries there)
    expect(probe.connections.length).toBeGreaterThan(0);
    expect(new Set(probe.connections)).toEqual(new Set(['127.0.0.1:9']));
  });
});
