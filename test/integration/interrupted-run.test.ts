import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { formatHtmlReport, formatReport } from '../../lib/local/report/format-report.ts';
import { INTERRUPTED_MARKER } from '../../lib/local/report/run-report.ts';
import { runLocalPipeline, type LocalRunProgress } from '../../lib/local/run-pipeline.ts';
import { listeningSockets } from '../helpers/listening-sockets.ts';

const config = parsePipelineConfig({
  destinations: [
    { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'] },
    { name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['order', 'contact'] },
  ],
});

describe('Function: runLocalPipeline, aborted', () => {
  it('stops publishing and polling when its signal is aborted, and reports the partial run as interrupted', async () => {
    // Prepare: 2,000 changes at 100/s would take 20 s; the run is aborted once it has published some
    const logFile = join(mkdtempSync(join(tmpdir(), 'sync-interrupted-')), 'run.log');
    const interrupt = new AbortController();
    const snapshots: LocalRunProgress[] = [];

    // Act
    const report = await runLocalPipeline({
      config,
      changes: 2_000,
      rate: 100,
      logFile,
      signal: interrupt.signal,
      onProgress: (progress) => {
        snapshots.push(progress);
        if (progress.publishedTotal > 0) interrupt.abort();
      },
    });

    // Assess: marked, and built from what was published before the abort
    expect(report.interrupted).toBe(true);
    const published = report.destinations.reduce((sum, d) => sum + d.published, 0);
    const planned = report.destinations.reduce((sum, d) => sum + d.planned, 0);
    expect(published).toBeGreaterThan(0);
    expect(published).toBeLessThan(planned);
    expect(planned).toBe(snapshots[0]?.plannedTotal);
    expect(report.stream.changes).toBeLessThan(2_000);
    expect(report.settings.changes).toBe(2_000);
    expect(Object.keys(report.invariants)).toHaveLength(6);
    // Everything the run started is stopped: no server of it listens, no socket of it is open
    // (destroyed sockets release their handles in the close phase of the loop's current turn).
    expect(listeningSockets()).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(process.getActiveResourcesInfo().filter((kind) => kind.startsWith('TCP') || kind === 'Timeout')).toEqual([]);
  });

  it('writes the same run id first in the consumer log and in the HTML report, which says INTERRUPTED — partial', async () => {
    // Prepare
    const logFile = join(mkdtempSync(join(tmpdir(), 'sync-interrupted-')), 'run.log');
    const interrupt = new AbortController();

    // Act
    const report = await runLocalPipeline({
      config,
      changes: 1_000,
      rate: 100,
      logFile,
      signal: interrupt.signal,
      onProgress: (progress) => {
        if (progress.publishedTotal > 0) interrupt.abort();
      },
    });
    const html = formatHtmlReport(report);
    const text = formatReport(report);

    // Assess
    const [first = '{}'] = readFileSync(logFile, 'utf8').split('\n');
    expect(JSON.parse(first)).toMatchObject({ message: 'local run started', runId: report.runId });
    expect(html).toContain(`data-run-id="${report.runId}"`);
    expect(html).toContain('data-interrupted="true"');
    expect(html).toContain(INTERRUPTED_MARKER);
    expect(html).toContain(logFile);
    expect(text.split('\n')[1]).toMatch(new RegExp(`^${INTERRUPTED_MARKER}: stopped before it drained, after publishing \\d+ of \\d+ planned messages`));
  });
});
