import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { escapeHtml, renderHtmlReport, type HtmlReportInput } from '../../lib/local/report/html-report.ts';
import { buildTimeline, type Timeline } from '../../lib/local/report/timeline.ts';
import { EmfStore } from '../../lib/local/sim/emf.ts';
import { MetricDimension, MetricName } from '../../lib/core/metrics.ts';

/** Debian's Chromium; CI installs it with `apt-get install -y chromium`. */
const CHROMIUM = '/usr/bin/chromium';
/** The flags that keep Chromium off the (closed) network and quiet on this machine. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const NAMESPACE = 'SyncPipeline';
const STARTED_AT = Date.UTC(2026, 10, 27, 10, 0, 0);
const HOSTILE = '<script>alert("x")</script>';

/** One EMF blob as Powertools prints it. */
const emfLine = (at: number, destination: string, metrics: Record<string, number | number[]>, extra: Record<string, string> = {}): string =>
  JSON.stringify({
    _aws: {
      Timestamp: STARTED_AT + at,
      CloudWatchMetrics: [
        {
          Namespace: NAMESPACE,
          Dimensions: [['service', MetricDimension.DESTINATION, ...Object.keys(extra)]],
          Metrics: Object.keys(metrics).map((name) => ({ Name: name, Unit: name === MetricName.END_TO_END_LAG ? 'Milliseconds' : 'Count' })),
        },
      ],
    },
    service: `sync-pipeline-${destination}`,
    [MetricDimension.DESTINATION]: destination,
    ...extra,
    ...metrics,
  });

interface SecondOfRun {
  readonly applied: number;
  readonly skipped: number;
  readonly retried?: number;
  readonly destinationErrors?: number;
  /** The slowest record of the second: its p99 (nearest rank of at most 100 records). */
  readonly slowestLagMs: number;
}

/**
 * The EMF a consumer prints over a few seconds: one blob per second with the counts and a lag per
 * applied record (ramping up to `slowestLagMs`), plus the ErrorClass breakdown of failed calls.
 */
const consumerOutput = (destination: string, seconds: readonly SecondOfRun[]): string[] =>
  seconds.flatMap((second, index) => {
    const lag = Array.from({ length: second.applied }, (_, i) => Math.round(((i + 1) / second.applied) * second.slowestLagMs));
    const at = index * 1000 + 400;
    return [
      emfLine(at, destination, {
        [MetricName.RECORDS_APPLIED]: second.applied,
        [MetricName.RECORDS_SKIPPED]: second.skipped,
        [MetricName.RECORDS_RETRIED]: second.retried ?? 0,
        [MetricName.RECORDS_DEAD_LETTERED]: 0,
        [MetricName.END_TO_END_LAG]: lag,
      }),
      ...(second.destinationErrors === undefined
        ? []
        : [emfLine(at, destination, { [MetricName.DESTINATION_ERRORS]: second.destinationErrors }, { [MetricDimension.ERROR_CLASS]: 'server' })]),
    ];
  });

/** A small run: crm gets three malformed messages, erp a burst of 503s in its third second. */
const realisticInput = (): HtmlReportInput & { timeline: Timeline } => {
  const store = new EmfStore();
  const lines = [
    ...consumerOutput('crm', [
      { applied: 40, skipped: 20, slowestLagMs: 1_180 },
      { applied: 60, skipped: 45, slowestLagMs: 1_710 },
      { applied: 50, skipped: 50, slowestLagMs: 2_462 },
      { applied: 21, skipped: 22, slowestLagMs: 1_390 },
    ]),
    emfLine(700, 'crm', { [MetricName.RECORDS_DEAD_LETTERED]: 1 }, { [MetricDimension.REASON]: 'invalid-json' }),
    emfLine(1_700, 'crm', { [MetricName.RECORDS_DEAD_LETTERED]: 2 }, { [MetricDimension.REASON]: 'invalid-schema' }),
    emfLine(1_700, 'crm', { [MetricName.RECORDS_DEAD_LETTERED]: 3 }),
    ...consumerOutput('erp', [
      { applied: 30, skipped: 25, slowestLagMs: 1_020 },
      { applied: 80, skipped: 60, slowestLagMs: 1_650 },
      { applied: 90, skipped: 60, retried: 5, destinationErrors: 5, slowestLagMs: 2_622 },
      { applied: 25, skipped: 29, slowestLagMs: 1_480 },
    ]),
  ];
  for (const line of lines) store.ingestLine(line);
  const timeline = buildTimeline(store, { namespace: NAMESPACE, destinations: ['crm', 'erp'], startedAt: STARTED_AT });
  return {
    title: 'sync-pipeline local run 3f9c2a1e',
    generatedAt: '2026-11-27T10:00:05.000Z',
    summary: [
      { destination: 'crm', published: 311, applied: 171, skipped: 137, deadLettered: 3, retried: 0, lagP50Ms: 1_296, lagP99Ms: 2_462 },
      // Two messages used up their receives and were redriven by SQS: no consumer metric has them.
      { destination: 'erp', published: 401, applied: 225, skipped: 174, deadLettered: 2, retried: 5, lagP50Ms: 1_423, lagP99Ms: 2_622 },
    ],
    invariants: {
      noRegression: { ok: true, detail: '396 writes, none went backwards' },
      accounting: { ok: true, detail: 'published = applied + skipped + dead-lettered for every destination' },
      deadLettersHaveReasons: { ok: true, detail: '3 dead letters, 0 without a reason' },
    },
    timeline,
  };
};

interface OpenedReport {
  readonly page: Page;
  readonly fileUrl: string;
  /** Every URL the page requested, the file itself included. */
  readonly requests: string[];
  readonly consoleErrors: string[];
}

interface OpenedReports {
  readonly input: ReturnType<typeof realisticInput>;
  readonly report: OpenedReport;
  readonly hostile: OpenedReport;
}

describe('Function: renderHtmlReport', () => {
  let workDir: string | undefined;
  let context: BrowserContext | undefined;
  let opening: Promise<OpenedReports> | undefined;

  /** Writes the document to a file and opens it, recording requests and console errors. */
  const open = async (browser: BrowserContext, directory: string, name: string, html: string): Promise<OpenedReport> => {
    const file = join(directory, name);
    writeFileSync(file, html);
    const page = await browser.newPage();
    const requests: string[] = [];
    const consoleErrors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    page.on('dialog', (dialog) => {
      consoleErrors.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    const fileUrl = pathToFileURL(file).href;
    await page.goto(fileUrl, { waitUntil: 'load' });
    return { page, fileUrl, requests, consoleErrors };
  };

  const launchAndOpen = async (): Promise<OpenedReports> => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Headless Chromium is needed at ${CHROMIUM} to test the HTML report: install it with \`apt-get install -y chromium\``);
    }
    const directory = mkdtempSync(join(tmpdir(), 'html-report-'));
    workDir = directory;
    const browser = await chromium.launchPersistentContext(join(directory, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      offline: true,
      serviceWorkers: 'block',
      viewport: { width: 1280, height: 900 },
    });
    context = browser;
    const input = realisticInput();
    const report = await open(browser, directory, 'report.html', renderHtmlReport(input));
    const hostile = await open(
      browser,
      directory,
      'hostile.html',
      renderHtmlReport({
        ...realisticInput(),
        title: HOSTILE,
        summary: [{ destination: HOSTILE, published: 1, applied: 1, skipped: 0, deadLettered: 0, retried: 0, lagP50Ms: 5, lagP99Ms: 5 }],
        invariants: { [HOSTILE]: { ok: false, detail: `<img src=x onerror="alert(1)">` } },
      }),
    );
    return { input, report, hostile };
  };

  /**
   * Launches Chromium and opens both reports once, on the first test that needs them. Without
   * Chromium every such test fails with the install command (a failing beforeAll would only
   * report them skipped).
   */
  const opened = (): Promise<OpenedReports> => (opening ??= launchAndOpen());

  afterAll(async () => {
    await context?.close();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  it('renders in Chromium with its title, the summary and every invariant verdict', async () => {
    // Act
    const { page } = (await opened()).report;

    // Assess
    expect(await page.title()).toBe('sync-pipeline local run 3f9c2a1e');
    expect(await page.locator('h1').textContent()).toBe('sync-pipeline local run 3f9c2a1e');
    expect(await page.locator('[data-table="summary"] tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-destination')))).toEqual(['crm', 'erp']);
    expect(await page.locator('[data-destination="crm"] [data-field="applied"]').getAttribute('data-value')).toBe('171');
    expect(await page.locator('[data-invariant]').evaluateAll((rows) => rows.map((row) => [row.getAttribute('data-invariant'), row.querySelector('.verdict')?.textContent]))).toEqual([
      ['noRegression', 'PASS'],
      ['accounting', 'PASS'],
      ['deadLettersHaveReasons', 'PASS'],
    ]);
    expect(await page.locator('[data-overall]').getAttribute('data-overall')).toBe('pass');
  });

  it('draws one lag, throughput and error-rate chart per destination, each with a title and a visible size', async () => {
    // Act
    const { report } = await opened();
    const charts = await report.page.locator('svg[data-chart]').evaluateAll((svgs) =>
      svgs.map((svg) => ({
        chart: svg.getAttribute('data-chart'),
        title: svg.querySelector('title')?.textContent,
        labelledBy: svg.getAttribute('aria-labelledby'),
        width: svg.getBoundingClientRect().width,
        height: svg.getBoundingClientRect().height,
      })),
    );

    // Assess
    expect(charts.map((chart) => chart.chart)).toEqual(['lag-crm', 'throughput-crm', 'errors-crm', 'lag-erp', 'throughput-erp', 'errors-erp']);
    expect(charts.map((chart) => chart.title)).toEqual([
      'End-to-end lag: crm',
      'Throughput: crm',
      'Destination error rate: crm',
      'End-to-end lag: erp',
      'Throughput: erp',
      'Destination error rate: erp',
    ]);
    for (const chart of charts) {
      expect(chart.labelledBy).toMatch(/-title .*-desc$/);
      expect(chart.width).toBeGreaterThan(300);
      expect(chart.height).toBeGreaterThan(150);
    }
  });

  it('carries the run numbers in the charts: the p99 lag per second and the applied total', async () => {
    // Prepare
    const { input, report } = await opened();
    const { page } = report;
    const cells = (chart: string, series: string) =>
      page.locator(`table[data-chart-data="${chart}"] tbody td[data-series="${series}"]`).evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-value'))));

    // Act
    const crmP99 = await cells('lag-crm', 'p99');
    const erpApplied = await cells('throughput-erp', 'applied');
    const crmAppliedTotal = await page.locator('table[data-chart-data="throughput-crm"] tfoot td[data-series="applied"]').getAttribute('data-total');
    const erpErrorRate = await cells('errors-erp', 'errorRate');
    const p99Marks = await page.locator('svg[data-chart="lag-crm"] [data-series="p99"] circle').count();

    // Assess
    expect(crmP99).toEqual([1_180, 1_710, 2_462, 1_390]);
    expect(crmP99).toEqual(input.timeline.buckets.map((bucket) => bucket.destinations.crm?.lagP99));
    expect(Math.max(...crmP99)).toBe(input.summary[0]?.lagP99Ms);
    expect(erpApplied).toEqual([30, 80, 90, 25]);
    expect(Number(crmAppliedTotal)).toBe(171);
    expect(Number(crmAppliedTotal)).toBe(input.summary[0]?.applied);
    expect(erpErrorRate.map((rate) => Number(rate.toFixed(2)))).toEqual([0, 0, 5.26, 0]);
    expect(p99Marks).toBe(4);
  });

  it('lists the dead letters by reason, with the count no consumer metric explains', async () => {
    // Act
    const { report } = await opened();
    const rows = await report.page.locator('[data-chart="dead-letters"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.getAttribute('data-destination'), tr.getAttribute('data-reason'), Number(tr.getAttribute('data-value'))]),
    );

    // Assess
    expect(rows).toEqual([
      ['crm', 'invalid-schema', 2],
      ['crm', 'invalid-json', 1],
      ['erp', 'no reason metric', 2],
    ]);
  });

  it('loads nothing but the file itself and logs no console error', async () => {
    // Act
    const { report, hostile } = await opened();

    // Assess
    expect(report.requests).toEqual([report.fileUrl]);
    expect(report.consoleErrors).toEqual([]);
    expect(hostile.requests).toEqual([hostile.fileUrl]);
    expect(hostile.consoleErrors).toEqual([]);
  });

  it('shows hostile names and details as text, never as markup', async () => {
    // Act
    const { page } = (await opened()).hostile;

    // Assess
    expect(await page.title()).toBe(HOSTILE);
    expect(await page.locator('script, img').count()).toBe(0);
    expect(await page.locator('[data-table="summary"] tbody th').textContent()).toBe(HOSTILE);
    expect(await page.locator('[data-invariant] td').last().textContent()).toBe('<img src=x onerror="alert(1)">');
    expect(await page.locator('[data-overall]').getAttribute('data-overall')).toBe('fail');
  });

  it('writes a document with no external URL of any kind', () => {
    // Act
    const html = renderHtmlReport(realisticInput());

    // Assess
    expect(html).not.toMatch(/(?:https?:|\/\/|url\(|@import|<script|<link|<img|src=)/i);
  });
});

describe('Function: escapeHtml', () => {
  it.each([
    ['<script>', '&lt;script&gt;'],
    ['a & b', 'a &amp; b'],
    [`"quoted" 'single'`, '&quot;quoted&quot; &#39;single&#39;'],
    ['crm-eu-1', 'crm-eu-1'],
  ])('escapes %j as %j', (text, escaped) => {
    // Act
    const result = escapeHtml(text);

    // Assess
    expect(result).toBe(escaped);
  });
});
