import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { checkInvariants } from '../../lib/local/lab/invariants.ts';
import { escapeHtml, renderHtmlReport, type HtmlReportInput } from '../../lib/local/report/html-report.ts';
import { INTERRUPTED_MARKER } from '../../lib/local/report/run-report.ts';
import { buildTimeline, type Timeline } from '../../lib/local/report/timeline.ts';
import { EmfStore } from '../../lib/local/sim/emf.ts';
import { MetricDimension, MetricName } from '../../lib/core/metrics.ts';
import { invariantInputOf, localRunReport, runSettings, writeLogEntry } from '../helpers/run-report.ts';

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
/** A payload value of the change a dead letter carried: it must never reach the page. */
const PAYLOAD_VALUE = 'ada.secret@example.com';

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
  // The sampler's view: crm's queue fills then drains; erp's backs up during its burst of 503s.
  const queues = {
    depth: [0, 1, 2, 3].flatMap((second) => [
      { destination: 'crm', at: STARTED_AT + second * 1000 + 100, visible: [120, 80, 30, 0][second]!, inFlight: [20, 30, 20, 5][second]! },
      { destination: 'erp', at: STARTED_AT + second * 1000 + 100, visible: [60, 90, 160, 40][second]!, inFlight: [10, 30, 40, 10][second]! },
    ]),
    receivedAges: [0, 1, 2, 3].flatMap((second) => [
      { destination: 'crm', at: STARTED_AT + second * 1000 + 500, oldestAgeMs: [300, 900, 1_400, 600][second]! },
      { destination: 'erp', at: STARTED_AT + second * 1000 + 500, oldestAgeMs: [200, 1_100, 2_900, 3_400][second]! },
    ]),
  };
  const timeline = buildTimeline(store, { namespace: NAMESPACE, destinations: ['crm', 'erp'], startedAt: STARTED_AT, queues });
  const { faults } = localRunReport();
  return {
    title: 'sync-pipeline local run 3f9c2a1e',
    generatedAt: '2026-11-27T10:00:05.000Z',
    runId: '3f9c2a1e',
    logFile: 'reports/local-run.log',
    summary: [
      { destination: 'crm', published: 311, applied: 171, skipped: 137, deadLettered: 3, retried: 0, errorsByClass: {}, lagP50Ms: 1_296, lagP99Ms: 2_462 },
      // Two messages used up their receives and were redriven by SQS: no consumer metric has them.
      { destination: 'erp', published: 401, applied: 225, skipped: 174, deadLettered: 2, retried: 5, errorsByClass: { server: 5 }, lagP50Ms: 1_423, lagP99Ms: 2_622 },
    ],
    settings: runSettings({ fakeApi: { failures: { unavailable: 0.05 }, latencyMs: 0, deduplicate: false, conflictWhileInFlight: false } }),
    faults: { ...faults, injected: { unavailable: 5 } },
    deadLetters: [
      { destination: 'crm', reason: 'invalid-json', message: 'body: expected JSON, got end of input at 31', messageId: 'm-1' },
      {
        destination: 'erp',
        reason: 'retries-exhausted',
        message: 'HTTP 503 from the destination',
        record: { resourceType: 'order', id: 'o-9', version: 2 },
        attempts: 10,
        firstAttemptAt: '2026-11-27T10:00:02.100Z',
        lastAttemptAt: '2026-11-27T10:00:03.900Z',
        status: 503,
        messageId: 'm-2',
      },
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
  readonly interrupted: OpenedReport;
}

/** An interrupted run in which crm contact/c-1 went from v3 back to v2. */
const interruptedInput = (): HtmlReportInput => {
  const writeLog = [
    writeLogEntry({ seq: 1, version: 1, at: STARTED_AT + 400 }),
    writeLogEntry({ seq: 2, version: 3, previousVersion: 1, at: STARTED_AT + 900 }),
    writeLogEntry({ seq: 3, version: 2, previousVersion: 3, answered: false, at: STARTED_AT + 1_700 }),
  ];
  const invariants = checkInvariants(invariantInputOf(writeLog));
  return { ...realisticInput(), interrupted: true, invariants: { ...invariants } };
};

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
    const interrupted = await open(browser, directory, 'interrupted.html', renderHtmlReport(interruptedInput()));
    return { input, report, hostile, interrupted };
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
    expect(charts.map((chart) => chart.chart)).toEqual(
      ['crm', 'erp'].flatMap((d) => [`lag-${d}`, `throughput-${d}`, `errors-${d}`, `queue-depth-${d}`, `oldest-age-${d}`]),
    );
    expect(charts.map((chart) => chart.title)).toEqual(
      ['crm', 'erp'].flatMap((d) => [
        `End-to-end lag: ${d}`,
        `Throughput: ${d}`,
        `Destination error rate: ${d}`,
        `Source queue depth: ${d}`,
        `Age of the oldest message received (derived): ${d}`,
      ]),
    );
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
    const pages = Object.values(await opened()).filter((value): value is OpenedReport => 'page' in value);

    // Assess
    expect(pages).toHaveLength(3);
    for (const { requests, fileUrl, consoleErrors } of pages) {
      expect(requests).toEqual([fileUrl]);
      expect(consoleErrors).toEqual([]);
    }
  });

  it('shows per destination the queue depth over time and the age of the oldest message received, labelled as derived', async () => {
    // Prepare
    const { page } = (await opened()).report;
    const cells = (chart: string, series: string) =>
      page.locator(`table[data-chart-data="${chart}"] tbody td[data-series="${series}"]`).evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-value'))));

    // Act
    const erpVisible = await cells('queue-depth-erp', 'visible');
    const erpInFlight = await cells('queue-depth-erp', 'inFlight');
    const erpOldest = await cells('oldest-age-erp', 'oldestAge');
    const description = await page.locator('svg[data-chart="oldest-age-erp"] desc').textContent();

    // Assess
    expect(erpVisible).toEqual([60, 90, 160, 40]);
    expect(erpInFlight).toEqual([10, 30, 40, 10]);
    expect(erpOldest).toEqual([0.2, 1.1, 2.9, 3.4]);
    expect(description).toMatch(/SQS has no age-of-oldest attribute, so this is derived from what the pollers received/);
    expect(await page.locator('svg[data-chart="queue-depth-erp"] [data-series="visible"] circle').count()).toBe(4);
  });

  it('lists the errors by class and every dead letter with its reason, detail, record, attempts and times, never a payload', async () => {
    // Act
    const { page } = (await opened()).report;
    const errors = await page.locator('[data-table="errors-by-class"] tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-error-class'), tr.getAttribute('data-value')]));
    const letters = await page.locator('[data-table="dead-letter-details"] tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));

    // Assess
    expect(errors).toEqual([['server', '5']]);
    expect(letters).toEqual([
      ['crm', 'invalid-json', 'body: expected JSON, got end of input at 31', '–', '–', '–', '–', '–', 'm-1'],
      ['erp', 'retries-exhausted', 'HTTP 503 from the destination', 'order/o-9 v2', '10', '10:00:02.100', '10:00:03.900', '503', 'm-2'],
    ]);
    expect(await page.locator('body').textContent()).not.toContain(PAYLOAD_VALUE);
  });

  it('shows the run id, its log file, the settings as used per destination and the faults injected', async () => {
    // Act
    const { page } = (await opened()).report;

    // Assess
    expect(await page.locator('body').getAttribute('data-run-id')).toBe('3f9c2a1e');
    expect(await page.locator('header .meta').textContent()).toMatch(/run 3f9c2a1e · consumer log reports\/local-run\.log$/);
    expect(await page.locator('[data-setting="rate"] td').textContent()).toBe('250 changes/s');
    expect(await page.locator('[data-table="destination-settings"] [data-destination="crm"] [data-field="pollers"]').textContent()).toBe('4');
    expect(await page.locator('[data-fault="unavailable"] td').allTextContents()).toEqual(['unavailable', '503', '5%', '5']);
    expect(await page.locator('#settings').isVisible()).toBe(true);
  });

  it('says INTERRUPTED — partial in a visible banner, and shows the writes that broke a failed invariant, the offending one marked', async () => {
    // Act
    const { page } = (await opened()).interrupted;
    const writes = await page.locator('[data-write-sequence="noRegression"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.getAttribute('data-seq'), tr.getAttribute('data-flagged'), tr.ownerDocument.defaultView!.getComputedStyle(tr.querySelector('td')!).backgroundColor]),
    );

    // Assess
    expect(await page.locator('[data-interrupted="true"] strong').textContent()).toBe(INTERRUPTED_MARKER);
    expect(await page.locator('p.interrupted').isVisible()).toBe(true);
    expect(await page.locator('h1').textContent()).toBe(`${INTERRUPTED_MARKER} sync-pipeline local run 3f9c2a1e`);
    expect(await page.locator('[data-overall]').textContent()).toMatch(/invariants? failed on the partial state\.$/);
    expect(await page.locator('[data-write-sequence="noRegression"]').getAttribute('data-record')).toBe('crm contact/c-1');
    expect(writes.map(([seq, flagged]) => [seq, flagged])).toEqual([
      ['1', 'false'],
      ['2', 'false'],
      ['3', 'true'],
    ]);
    expect(writes[2]![2]).not.toBe(writes[0]![2]);
    expect(await page.locator('[data-write-sequence="noRegression"] tbody tr').last().locator('td').allTextContents()).toEqual(['3', 'v2', 'upsert', 'v3', '10:00:01.700', 'no', 'no', 'broke it']);
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
