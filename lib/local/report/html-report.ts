import type { InvariantCheck } from '../lab/invariants.ts';
import type { RunSettings } from '../lab/run-settings.ts';
import { attributes, escapeHtml, formatCount } from './html-markup.ts';
import { renderDeadLetterDetails, renderErrorsByClass, renderRedrive, renderSettings, renderWriteSequences, type HtmlReportFaults } from './html-sections.ts';
import { INTERRUPTED_MARKER, type DeadLetterDetail, type RedrivePhaseReport } from './run-report.ts';
import type { DestinationBucket, Timeline } from './timeline.ts';

export { escapeHtml } from './html-markup.ts';

/** One destination's row of the summary table. */
export interface HtmlReportDestinationSummary {
  readonly destination: string;
  readonly published: number;
  readonly applied: number;
  readonly skipped: number;
  readonly deadLettered: number;
  readonly retried: number;
  /** RecordsRetried by its `Reason` dimension. @default none shown */
  readonly retriedByReason?: Readonly<Record<string, number>>;
  /** Requests that reached the destination with an idempotency key it had seen. @default not shown */
  readonly replays?: number;
  /** DestinationErrors by its `ErrorClass` dimension. @default none shown */
  readonly errorsByClass?: Readonly<Record<string, number>>;
  readonly lagP50Ms: number | null;
  readonly lagP99Ms: number | null;
}

export interface HtmlReportInput {
  /** The page title and heading. */
  readonly title: string;
  /** When the run ended, as the reader should see it (ISO 8601, say). */
  readonly generatedAt: string;
  readonly summary: readonly HtmlReportDestinationSummary[];
  /** Invariant name to verdict, in display order; a failed one may carry its offending write sequences. */
  readonly invariants: Readonly<Record<string, InvariantCheck>>;
  readonly timeline: Timeline;
  /** Shown in the header and as the body's `data-run-id`; the consumer log's first line names it too. @default not shown */
  readonly runId?: string;
  /** The consumer log file of the same run. @default not shown */
  readonly logFile?: string;
  /** The run was stopped before it drained: a banner says the page is partial. @default false */
  readonly interrupted?: boolean;
  /** What was run; with it, a settings section (and the injected faults). @default not shown */
  readonly settings?: RunSettings;
  /** Counts of the faults injected, shown beside their rates in the settings. @default not shown */
  readonly faults?: HtmlReportFaults;
  /** Every dead letter, one row each (never a body or payload). @default not shown */
  readonly deadLetters?: readonly DeadLetterDetail[];
  /** The run's redrive phase, when it had one. */
  readonly redrive?: RedrivePhaseReport;
}

const integerFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimalFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const tickFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
/** Above 9,999 ticks read 10K, 15K, …: short enough for the margin beside the y axis. */
const compactTickFormat = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const formatMs = (value: number | null): string => (value === null ? '–' : `${integerFormat.format(value)} ms`);

// Okabe-Ito colours: told apart with the common colour-vision deficiencies; dashes help further.
const COLOR = { blue: '#0072B2', sky: '#56B4E9', green: '#009E73', orange: '#E69F00', vermillion: '#D55E00', purple: '#CC79A7' } as const;

/** One drawn line of a chart; `values[i]` belongs to bucket i, null is a gap. */
interface ChartSeries {
  readonly key: string;
  readonly label: string;
  readonly color: string;
  readonly dash?: string;
  readonly values: ReadonlyArray<number | null>;
}

/** A column of the chart's data table that is not drawn (the counts behind a rate, say). */
interface DataColumn {
  readonly key: string;
  readonly label: string;
  readonly values: readonly number[];
}

interface LineChartSpec {
  /** The `data-chart` attribute: `lag-crm`, `throughput-crm`, … */
  readonly chart: string;
  /** A unique, attribute-safe id prefix for the title and description elements. */
  readonly domId: string;
  readonly destination: string;
  readonly heading: string;
  /** Read by screen readers and shown as the chart's tooltip. */
  readonly description: string;
  readonly yLabel: string;
  readonly yUnit: string;
  readonly series: readonly ChartSeries[];
  readonly extraColumns?: readonly DataColumn[];
  /** The footer row of the data table (run totals), by series or column key. */
  readonly totals?: Readonly<Record<string, number>>;
  readonly totalsLabel?: string;
  /** The y axis reaches at least this far, so a flat line at zero still reads as low. */
  readonly yMinSpan: number;
  readonly yCap?: number;
  readonly formatValue: (value: number) => string;
  readonly emptyMessage: string;
}

const WIDTH = 460;
const HEIGHT = 250;
const MARGIN = { top: 30, right: 14, bottom: 44, left: 62 } as const;
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom;
/** Above this many buckets, points are drawn as lines only. */
const MAX_MARKED_POINTS = 60;

/** A step of 1, 2 or 5 times a power of ten that cuts `span` into about `count` parts. */
const niceStep = (span: number, count: number): number => {
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normalized = raw / magnitude;
  return (normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10) * magnitude;
};

const ticksUpTo = (max: number, step: number): number[] =>
  Array.from({ length: Math.floor(max / step + 1e-9) + 1 }, (_, index) => Number((index * step).toPrecision(12)));

const round1 = (value: number): string => value.toFixed(1).replace(/\.0$/, '');

/**
 * One line chart as inline SVG, with its numbers in a data table underneath (collapsed). Each
 * bucket column carries a hover tooltip (an SVG `<title>`) with every series' value.
 */
const renderLineChart = (spec: LineChartSpec, timeline: Timeline): string => {
  const bucketSeconds = timeline.bucketMs / 1000;
  const count = timeline.buckets.length;
  const xMax = Math.max(count * bucketSeconds, bucketSeconds);
  const xStep = niceStep(xMax, 6);
  const xOf = (seconds: number): number => MARGIN.left + (seconds / xMax) * PLOT_WIDTH;
  const drawn = spec.series.flatMap((series) => series.values.filter((value): value is number => value !== null));
  const top = Math.min(drawn.reduce((max, value) => Math.max(max, value), spec.yMinSpan), spec.yCap ?? Number.POSITIVE_INFINITY);
  const yStep = niceStep(top, 5);
  const yMax = Math.ceil(top / yStep - 1e-9) * yStep;
  const yOf = (value: number): number => MARGIN.top + PLOT_HEIGHT - (Math.min(value, yMax) / yMax) * PLOT_HEIGHT;
  const midpoint = (index: number): number => (index + 0.5) * bucketSeconds;
  const point = (index: number, value: number): string => `${xOf(midpoint(index)).toFixed(1)},${yOf(value).toFixed(1)}`;
  const span = (index: number): string => `${round1(index * bucketSeconds)}–${round1((index + 1) * bucketSeconds)} s`;

  const grid = ticksUpTo(yMax, yStep)
    .map((tick) => {
      const y = yOf(tick).toFixed(1);
      const label = (yMax >= 10_000 ? compactTickFormat : tickFormat).format(tick);
      return `<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y}" y2="${y}"/><text class="tick" x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeHtml(label)}</text>`;
    })
    .join('');
  const xTicks = ticksUpTo(xMax, xStep)
    .map((tick) => {
      const x = xOf(tick).toFixed(1);
      const bottom = MARGIN.top + PLOT_HEIGHT;
      return `<line class="axis" x1="${x}" x2="${x}" y1="${bottom}" y2="${bottom + 4}"/><text class="tick" x="${x}" y="${bottom + 16}" text-anchor="middle">${escapeHtml(tickFormat.format(tick))}</text>`;
    })
    .join('');
  const axes =
    `<line class="axis" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${MARGIN.top + PLOT_HEIGHT}" y2="${MARGIN.top + PLOT_HEIGHT}"/>` +
    `<text class="axis-label" x="${MARGIN.left + PLOT_WIDTH / 2}" y="${HEIGHT - 5}" text-anchor="middle">time since start (s)</text>` +
    `<text class="axis-label" transform="translate(14 ${MARGIN.top + PLOT_HEIGHT / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(`${spec.yLabel} (${spec.yUnit})`)}</text>`;

  let legendX = MARGIN.left;
  const legend = spec.series
    .map((series) => {
      const item =
        `<g class="legend-item"><line x1="${legendX}" x2="${legendX + 18}" y1="12" y2="12" stroke="${series.color}" stroke-width="2.5"${attributes({ 'stroke-dasharray': series.dash })}/>` +
        `<text class="legend" x="${legendX + 23}" y="12" dominant-baseline="middle">${escapeHtml(series.label)}</text></g>`;
      legendX += 34 + series.label.length * 7.2;
      return item;
    })
    .join('');

  const lines = spec.series
    .map((series) => {
      // Consecutive non-null values form one run; a gap (null) breaks the line.
      const runs: Array<Array<[number, number]>> = [[]];
      series.values.forEach((value, index) => {
        if (value === null) runs.push([]);
        else runs.at(-1)!.push([index, value]);
      });
      const paths = runs
        .filter((run) => run.length > 1)
        .map((run) => `M${run.map(([index, value]) => point(index, value)).join('L')}`)
        .join('');
      const marks = runs
        .filter((run) => run.length === 1 || count <= MAX_MARKED_POINTS)
        .flat()
        .map(([index, value]) => `<circle cx="${xOf(midpoint(index)).toFixed(1)}" cy="${yOf(value).toFixed(1)}" r="2.6"/>`)
        .join('');
      const path = paths === '' ? '' : `<path d="${paths}" fill="none" stroke-width="2" stroke-linejoin="round"${attributes({ 'stroke-dasharray': series.dash })}/>`;
      return `<g class="series"${attributes({ 'data-series': series.key, stroke: series.color, fill: series.color })}>${path}${marks}</g>`;
    })
    .join('');

  const hoverTargets = timeline.buckets
    .map((_, index) => {
      const values = spec.series.map((series) => `${series.label} ${series.values[index] == null ? '–' : spec.formatValue(series.values[index]!)}`).join(', ');
      const x = xOf(index * bucketSeconds).toFixed(1);
      const width = ((bucketSeconds / xMax) * PLOT_WIDTH).toFixed(1);
      return `<rect class="hover" x="${x}" y="${MARGIN.top}" width="${width}" height="${PLOT_HEIGHT}"><title>${escapeHtml(`${span(index)}: ${values}`)}</title></rect>`;
    })
    .join('');
  const empty =
    drawn.length === 0
      ? `<text class="empty" x="${MARGIN.left + PLOT_WIDTH / 2}" y="${MARGIN.top + PLOT_HEIGHT / 2}" text-anchor="middle" dominant-baseline="middle">${escapeHtml(spec.emptyMessage)}</text>`
      : '';

  const svg =
    `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img"${attributes({ 'aria-labelledby': `${spec.domId}-title ${spec.domId}-desc`, 'data-chart': spec.chart, 'data-destination': spec.destination })}>` +
    `<title id="${spec.domId}-title">${escapeHtml(`${spec.heading}: ${spec.destination}`)}</title>` +
    `<desc id="${spec.domId}-desc">${escapeHtml(spec.description)}</desc>` +
    `${legend}${grid}${axes}${xTicks}${lines}${hoverTargets}${empty}</svg>`;

  const columns: Array<{ key: string; label: string; cell: (index: number) => number | null }> = [
    ...spec.series.map((series) => ({ key: series.key, label: `${series.label} (${spec.yUnit})`, cell: (index: number) => series.values[index] ?? null })),
    ...(spec.extraColumns ?? []).map((column) => ({ key: column.key, label: column.label, cell: (index: number) => column.values[index] ?? null })),
  ];
  const cell = (key: string, value: number | null, format: (value: number) => string): string =>
    `<td${attributes({ 'data-series': key, 'data-value': value === null ? '' : value })}>${value === null ? '–' : escapeHtml(format(value))}</td>`;
  const rows = timeline.buckets
    .map(
      (bucket, index) =>
        `<tr${attributes({ 'data-t': bucket.t })}><th scope="row">${escapeHtml(span(index))}</th>${columns.map((column) => cell(column.key, column.cell(index), spec.formatValue)).join('')}</tr>`,
    )
    .join('');
  const totals = spec.totals;
  const footer =
    totals === undefined
      ? ''
      : `<tfoot><tr><th scope="row">${escapeHtml(spec.totalsLabel ?? 'total')}</th>${columns
          .map((column) => (column.key in totals ? `<td${attributes({ 'data-series': column.key, 'data-total': totals[column.key] })}>${escapeHtml(formatCount(totals[column.key]!))}</td>` : '<td></td>'))
          .join('')}</tr></tfoot>`;
  const table =
    `<details class="chart-data"><summary>Data</summary><table${attributes({ 'data-chart-data': spec.chart })}>` +
    `<thead><tr><th scope="col">time</th>${columns.map((column) => `<th scope="col">${escapeHtml(column.label)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows}</tbody>${footer}</table></details>`;

  return `<figure class="chart-figure"><figcaption>${escapeHtml(spec.heading)}</figcaption>${svg}${table}</figure>`;
};

const fieldOf = <K extends keyof DestinationBucket>(timeline: Timeline, destination: string, field: K): Array<DestinationBucket[K] | null> =>
  timeline.buckets.map((bucket) => bucket.destinations[destination]?.[field] ?? null);

/** Queue depth and the oldest age received, when the run sampled its queues. */
const renderQueueCharts = (destination: string, index: number, timeline: Timeline): string => {
  const visible = fieldOf(timeline, destination, 'queueVisible');
  const inFlight = fieldOf(timeline, destination, 'queueInFlight');
  const age = fieldOf(timeline, destination, 'oldestReceivedAgeMs');
  if ([...visible, ...age].every((value) => value === null)) return '';
  const bucketLabel = `${round1(timeline.bucketMs / 1000)} s`;
  const depth = renderLineChart(
    {
      chart: `queue-depth-${destination}`,
      domId: `d${index}-queue-depth`,
      destination,
      heading: 'Source queue depth',
      description: `Messages in the source queue from GetQueueAttributes about once a second: visible (ApproximateNumberOfMessages, waiting) and in flight (ApproximateNumberOfMessagesNotVisible, received and not yet deleted), the last sample of each ${bucketLabel}.`,
      yLabel: 'depth',
      yUnit: 'messages',
      series: [
        { key: 'visible', label: 'visible', color: COLOR.blue, values: visible },
        { key: 'inFlight', label: 'in flight', color: COLOR.orange, dash: '6 3', values: inFlight },
      ],
      yMinSpan: 10,
      formatValue: (value) => integerFormat.format(value),
      emptyMessage: 'no sample of the queue',
    },
    timeline,
  );
  const oldest = renderLineChart(
    {
      chart: `oldest-age-${destination}`,
      domId: `d${index}-oldest-age`,
      destination,
      heading: 'Age of the oldest message received (derived)',
      description: `SQS has no age-of-oldest attribute, so this is derived from what the pollers received: per ${bucketLabel}, the largest receive time minus SentTimestamp. Gaps mean nothing was received.`,
      yLabel: 'age',
      yUnit: 's',
      series: [{ key: 'oldestAge', label: 'oldest received', color: COLOR.purple, values: age.map((value) => (value === null ? null : value / 1000)) }],
      yMinSpan: 1,
      formatValue: (value) => decimalFormat.format(value),
      emptyMessage: 'nothing received',
    },
    timeline,
  );
  return `${depth}${oldest}`;
};

const renderDestinationCharts = (destination: string, index: number, timeline: Timeline): string => {
  const perSecond = 1000 / timeline.bucketMs;
  const counts = (field: 'applied' | 'skipped' | 'retried' | 'deadLettered'): number[] => fieldOf(timeline, destination, field).map((value) => value ?? 0);
  const rate = (field: 'applied' | 'skipped' | 'retried' | 'deadLettered'): number[] => counts(field).map((value) => value * perSecond);
  const total = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0);
  const errors = fieldOf(timeline, destination, 'destinationErrors').map((value) => value ?? 0);
  const bucketLabel = `${round1(timeline.bucketMs / 1000)} s`;

  const lag = renderLineChart(
    {
      chart: `lag-${destination}`,
      domId: `d${index}-lag`,
      destination,
      heading: 'End-to-end lag',
      description: `Percentiles of the time from a change to its write at the destination, per ${bucketLabel} of the run.`,
      yLabel: 'lag',
      yUnit: 'ms',
      series: [
        { key: 'p50', label: 'p50', color: COLOR.sky, values: fieldOf(timeline, destination, 'lagP50') },
        { key: 'p90', label: 'p90', color: COLOR.blue, dash: '6 3', values: fieldOf(timeline, destination, 'lagP90') },
        { key: 'p99', label: 'p99', color: COLOR.vermillion, values: fieldOf(timeline, destination, 'lagP99') },
      ],
      yMinSpan: 10,
      formatValue: (value) => integerFormat.format(value),
      emptyMessage: 'no record was applied',
    },
    timeline,
  );
  const throughput = renderLineChart(
    {
      chart: `throughput-${destination}`,
      domId: `d${index}-throughput`,
      destination,
      heading: 'Throughput',
      description: `Records applied, skipped, retried and dead-lettered per second, per ${bucketLabel} of the run.`,
      yLabel: 'throughput',
      yUnit: 'records/s',
      series: [
        { key: 'applied', label: 'applied', color: COLOR.green, values: rate('applied') },
        { key: 'skipped', label: 'skipped', color: COLOR.sky, dash: '6 3', values: rate('skipped') },
        { key: 'retried', label: 'retried', color: COLOR.orange, dash: '2 3', values: rate('retried') },
        { key: 'deadLettered', label: 'dead-lettered', color: COLOR.vermillion, values: rate('deadLettered') },
      ],
      totals: { applied: total(counts('applied')), skipped: total(counts('skipped')), retried: total(counts('retried')), deadLettered: total(counts('deadLettered')) },
      totalsLabel: 'run total (records)',
      yMinSpan: 5,
      formatValue: (value) => decimalFormat.format(value),
      emptyMessage: 'no records',
    },
    timeline,
  );
  const errorRate = renderLineChart(
    {
      chart: `errors-${destination}`,
      domId: `d${index}-errors`,
      destination,
      heading: 'Destination error rate',
      description: `Failed destination calls as a share of all calls (applied plus failed), per ${bucketLabel}; gaps mean no call was made.`,
      yLabel: 'error rate',
      yUnit: '%',
      series: [{ key: 'errorRate', label: 'error rate', color: COLOR.vermillion, values: fieldOf(timeline, destination, 'errorRate').map((value) => (value === null ? null : value * 100)) }],
      extraColumns: [
        { key: 'destinationErrors', label: 'failed calls', values: errors },
        { key: 'calls', label: 'calls', values: counts('applied').map((applied, i) => applied + errors[i]!) },
      ],
      totals: { destinationErrors: total(errors), calls: total(counts('applied')) + total(errors) },
      totalsLabel: 'run total (calls)',
      yMinSpan: 10,
      yCap: 100,
      formatValue: (value) => decimalFormat.format(value),
      emptyMessage: 'no destination calls',
    },
    timeline,
  );
  return (
    `<section class="destination" id="destination-${index}"${attributes({ 'data-destination': destination })}>` +
    `<h2>${escapeHtml(destination)}</h2><div class="charts">${lag}${throughput}${errorRate}${renderQueueCharts(destination, index, timeline)}</div></section>`
  );
};

const renderSummary = (summary: readonly HtmlReportDestinationSummary[]): string => {
  const withReplays = summary.some((row) => row.replays !== undefined);
  const header = ['destination', 'published', 'applied', 'skipped', 'dead-lettered', 'retried', 'lag p50', 'lag p99', ...(withReplays ? ['replays'] : [])];
  const rows = summary
    .map((row) => {
      const numbers: Array<[string, number | null, string]> = [
        ['published', row.published, formatCount(row.published)],
        ['applied', row.applied, formatCount(row.applied)],
        ['skipped', row.skipped, formatCount(row.skipped)],
        ['deadLettered', row.deadLettered, formatCount(row.deadLettered)],
        ['retried', row.retried, formatCount(row.retried)],
        ['lagP50Ms', row.lagP50Ms, formatMs(row.lagP50Ms)],
        ['lagP99Ms', row.lagP99Ms, formatMs(row.lagP99Ms)],
        ...(withReplays ? [['replays', row.replays ?? null, row.replays === undefined ? '–' : formatCount(row.replays)] as [string, number | null, string]] : []),
      ];
      return `<tr${attributes({ 'data-destination': row.destination })}><th scope="row">${escapeHtml(row.destination)}</th>${numbers
        .map(([field, value, text]) => `<td${attributes({ 'data-field': field, 'data-value': value ?? '' })}>${escapeHtml(text)}</td>`)
        .join('')}</tr>`;
    })
    .join('');
  return (
    `<section id="summary"><h2>Summary</h2><table class="numbers" data-table="summary">` +
    `<thead><tr>${header.map((label) => `<th scope="col">${label}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table></section>`
  );
};

/** RecordsRetried by reason per destination; nothing when no row carries a breakdown. */
const renderRetries = (summary: readonly HtmlReportDestinationSummary[]): string => {
  if (summary.every((row) => row.retriedByReason === undefined)) return '';
  const rows = summary.flatMap((row) =>
    Object.entries(row.retriedByReason ?? {})
      .filter(([, count]) => count > 0)
      .map(([reason, count]) => ({ destination: row.destination, reason, count })),
  );
  const body =
    rows.length === 0
      ? '<p class="none">No retries in this run.</p>'
      : `<table data-table="retries"><thead><tr><th scope="col">destination</th><th scope="col">reason</th><th scope="col" class="num">retried</th></tr></thead><tbody>${rows
          .map(
            (row) =>
              `<tr${attributes({ 'data-retried-destination': row.destination, 'data-reason': row.reason, 'data-value': row.count })}><td>${escapeHtml(row.destination)}</td>` +
              `<td>${escapeHtml(row.reason)}</td><td class="num">${escapeHtml(formatCount(row.count))}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  return `<section id="retries" aria-labelledby="retries-heading"><h2 id="retries-heading">Retries by reason</h2>${body}</section>`;
};

const renderInvariants = (invariants: HtmlReportInput['invariants']): string => {
  const rows = Object.entries(invariants)
    .map(
      ([name, check]) =>
        `<tr${attributes({ 'data-invariant': name, 'data-ok': String(check.ok) })}><td><span class="verdict ${check.ok ? 'pass' : 'fail'}">${check.ok ? 'PASS' : 'FAIL'}</span></td>` +
        `<th scope="row"><code>${escapeHtml(name)}</code></th><td>${escapeHtml(check.detail)}</td></tr>`,
    )
    .join('');
  return (
    `<section id="invariants"><h2>Invariants</h2><table data-table="invariants">` +
    `<thead><tr><th scope="col">verdict</th><th scope="col">invariant</th><th scope="col">detail</th></tr></thead><tbody>${rows}</tbody></table></section>`
  );
};

const renderDeadLetters = (destinations: readonly string[], input: HtmlReportInput): string => {
  const rows: Array<{ destination: string; reason: string; count: number; note?: string }> = [];
  for (const destination of destinations) {
    const reasons = Object.entries(input.timeline.deadLetterReasons[destination] ?? {});
    for (const [reason, count] of reasons) rows.push({ destination, reason, count });
    // Messages SQS redrives after maxReceiveCount are dead-lettered without a consumer metric.
    const reported = reasons.reduce((sum, [, count]) => sum + count, 0);
    const summarized = input.summary.find((row) => row.destination === destination)?.deadLettered ?? reported;
    if (summarized > reported) rows.push({ destination, reason: 'no reason metric', count: summarized - reported, note: 'moved to the DLQ by SQS (retries exhausted) or not reported by the consumer' });
  }
  const max = Math.max(1, ...rows.map((row) => row.count));
  const body =
    rows.length === 0
      ? '<p class="none">No dead letters in this run.</p>'
      : `<table data-table="dead-letters"><thead><tr><th scope="col">destination</th><th scope="col">reason</th><th scope="col" class="num">dead letters</th><th scope="col" class="bar-cell"><span class="visually-hidden">share</span></th></tr></thead><tbody>${rows
          .map(
            (row) =>
              `<tr${attributes({ 'data-destination': row.destination, 'data-reason': row.reason, 'data-value': row.count })}><td>${escapeHtml(row.destination)}</td>` +
              `<td>${escapeHtml(row.reason)}${row.note === undefined ? '' : `<div class="note">${escapeHtml(row.note)}</div>`}</td><td class="num">${escapeHtml(formatCount(row.count))}</td>` +
              `<td class="bar-cell"><svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect width="${((row.count / max) * 100).toFixed(1)}" height="10"/></svg></td></tr>`,
          )
          .join('')}</tbody></table>`;
  return `<section id="dead-letters" data-chart="dead-letters" aria-labelledby="dead-letters-heading"><h2 id="dead-letters-heading">Dead letters by reason</h2>${body}</section>`;
};

const STYLE = `
:root { color-scheme: light; --text: #1f2328; --muted: #59636e; --line: #d1d9e0; --grid: #eaeef2; --pass: #1a7f37; --fail: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--text); background: #f6f8fa; }
header, main, footer { max-width: 1320px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 12px; }
.meta, footer, .note, .none { color: var(--muted); }
.meta { margin: 0 0 12px; }
nav a { margin-right: 14px; color: #0969da; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; text-align: left; border-bottom: 1px solid var(--grid); vertical-align: top; }
thead th { color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); }
table.numbers td, td.num, th.num { text-align: right; }
.verdict { display: inline-block; min-width: 44px; padding: 1px 8px; border-radius: 10px; font-weight: 700; font-size: 12px; text-align: center; color: #fff; }
.verdict.pass { background: var(--pass); }
.verdict.fail { background: var(--fail); }
.overall { font-weight: 600; }
.overall.pass { color: var(--pass); }
.overall.fail { color: var(--fail); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 16px; }
figure { margin: 0; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { display: block; width: 100%; max-width: 620px; height: auto; font-size: 13px; }
svg.chart .grid { stroke: var(--grid); }
svg.chart .axis { stroke: #8c959f; }
svg.chart .tick, svg.chart .legend { fill: var(--muted); }
svg.chart .axis-label { fill: var(--text); }
svg.chart .empty { fill: var(--muted); font-style: italic; }
svg.chart .hover { fill: transparent; }
svg.chart .hover:hover { fill: rgba(9, 105, 218, 0.08); }
svg.chart .series { pointer-events: none; }
details.chart-data { margin-top: 4px; font-size: 12px; }
details.chart-data summary { color: var(--muted); cursor: pointer; }
details.chart-data table td { text-align: right; }
td.bar-cell, th.bar-cell { width: 40%; }
svg.bar { display: block; width: 100%; height: 12px; margin-top: 3px; fill: ${COLOR.vermillion}; }
.note { font-size: 12px; }
h3 { font-size: 15px; margin: 16px 0 8px; }
.interrupted { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; }
.interrupted-tag { color: var(--fail); }
figure.write-sequence { margin: 8px 0 16px; }
tr.flagged td { background: #ffebe9; font-weight: 600; }
td.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
footer { font-size: 12px; padding-bottom: 24px; }
`;

/**
 * Renders a local run as ONE self-contained HTML document: inline CSS, charts drawn here as inline
 * SVG, no script and no external URL of any kind (a Content-Security-Policy of `default-src 'none'`
 * keeps it so). It holds the per-destination summary (with the retries by reason and the errors by
 * class when given), the invariant verdicts and, for a failed one that names its offending records,
 * the writes that broke it; per destination the lag percentiles, throughput, error rate, and (when
 * the queues were sampled) the source queue's depth and the age of the oldest message received over
 * time; the dead letters by reason and one by one (never a body or payload); and the run's settings
 * with the faults injected. An interrupted run says so first ("INTERRUPTED — partial"). Every chart
 * carries `data-chart="lag-<destination>"` (or `throughput-`, `errors-`, `queue-depth-`,
 * `oldest-age-`), a `<title>` and a collapsed data table with the numbers it draws. Every piece of
 * input text is escaped.
 *
 * @example
 * writeFileSync('reports/local-run.html', renderHtmlReport({ title: 'sync-pipeline local run', generatedAt: new Date().toISOString(), summary, invariants, timeline }));
 */
export const renderHtmlReport = (input: HtmlReportInput): string => {
  const destinations = [
    ...new Set([
      ...input.summary.map((row) => row.destination),
      ...input.timeline.buckets.flatMap((bucket) => Object.keys(bucket.destinations)),
      ...Object.keys(input.timeline.deadLetterReasons),
    ]),
  ];
  const checks = Object.values(input.invariants);
  const failed = checks.filter((check) => !check.ok).length;
  const onPartialState = input.interrupted === true ? ' on the partial state' : '';
  const overall =
    failed === 0
      ? `<p class="overall pass" data-overall="pass">All ${checks.length} invariants hold${onPartialState}.</p>`
      : `<p class="overall fail" data-overall="fail">${failed} of ${checks.length} invariants failed${onPartialState}.</p>`;
  const banner =
    input.interrupted === true
      ? `<p class="interrupted" data-interrupted="true"><strong>${escapeHtml(INTERRUPTED_MARKER)}</strong>: the run was stopped before it drained. ` +
        'The counts, charts and dead letters are what happened until then; the invariants were checked on that partial state, so messages still in flight count as not ended.</p>'
      : '';
  const runMeta = [
    ...(input.runId === undefined ? [] : [`run <code>${escapeHtml(input.runId)}</code>`]),
    ...(input.logFile === undefined ? [] : [`consumer log <code>${escapeHtml(input.logFile)}</code>`]),
  ].join(' · ');
  const seconds = (input.timeline.buckets.length * input.timeline.bucketMs) / 1000;
  const nav = [
    '<a href="#summary">Summary</a>',
    ...(input.summary.some((row) => row.retriedByReason !== undefined) ? ['<a href="#retries">Retries</a>'] : []),
    ...(input.summary.some((row) => row.errorsByClass !== undefined) ? ['<a href="#errors">Errors</a>'] : []),
    '<a href="#invariants">Invariants</a>',
    ...destinations.map((destination, index) => `<a href="#destination-${index}">${escapeHtml(destination)}</a>`),
    '<a href="#dead-letters">Dead letters</a>',
    ...(input.redrive === undefined ? [] : ['<a href="#redrive">Redrive</a>']),
    ...(input.settings === undefined ? [] : ['<a href="#settings">Settings</a>']),
  ].join('');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title>
<style>${STYLE}</style>
</head>
<body${attributes({ 'data-run-id': input.runId, 'data-interrupted': input.interrupted === true ? 'true' : undefined })}>
<header>
<h1>${input.interrupted === true ? `<span class="interrupted-tag">${escapeHtml(INTERRUPTED_MARKER)}</span> ` : ''}${escapeHtml(input.title)}</h1>
<p class="meta">Generated ${escapeHtml(input.generatedAt)} · ${destinations.length} destination${destinations.length === 1 ? '' : 's'} · metrics over ${escapeHtml(round1(seconds))} s in ${escapeHtml(round1(input.timeline.bucketMs / 1000))} s buckets${runMeta === '' ? '' : ` · ${runMeta}`}</p>
${banner}
${overall}
<nav>${nav}</nav>
</header>
<main>
${renderSummary(input.summary)}
${renderRetries(input.summary)}
${renderErrorsByClass(input.summary)}
${renderInvariants(input.invariants)}
${renderWriteSequences(input.invariants)}
${destinations.map((destination, index) => renderDestinationCharts(destination, index, input.timeline)).join('\n')}
${renderDeadLetters(destinations, input)}
${input.deadLetters === undefined ? '' : renderDeadLetterDetails(input.deadLetters)}
${input.redrive === undefined ? '' : renderRedrive(input.redrive)}
${input.settings === undefined ? '' : renderSettings(input.settings, input.faults)}
</main>
<footer>Charts are drawn from the consumers' EMF metrics, bucketed by their timestamps; hover a chart for a bucket's values, or open its data table. This file is self-contained: no scripts, no network.</footer>
</body>
</html>
`;
};
