import type { FailureRates } from '../lab/fake-api.ts';
import type { InvariantCheck, WriteSequence } from '../lab/invariants.ts';
import type { RunSettings } from '../lab/run-settings.ts';
import { attributes, escapeHtml, formatCount } from './html-markup.ts';
import type { DeadLetterDetail, LocalRunReport, RedrivePhaseReport } from './run-report.ts';

// The report's tables for whoever is on call: what failed and how (errors by class, the writes that
// broke an invariant, each dead letter), and what was run (settings, injected faults).

/** What went wrong on purpose during the run; see `LocalRunReport.faults`. */
export type HtmlReportFaults = LocalRunReport['faults'];

/** Dead letters listed one by one at most; the rest are counted. */
export const MAX_DEAD_LETTER_ROWS = 200;

const cell = (text: string, pairs: Readonly<Record<string, string | number | undefined>> = {}): string => `<td${attributes(pairs)}>${escapeHtml(text)}</td>`;
const headerRow = (labels: readonly string[]): string => `<thead><tr>${labels.map((label) => `<th scope="col">${escapeHtml(label)}</th>`).join('')}</tr></thead>`;
const section = (id: string, heading: string, body: string): string =>
  `<section id="${id}" aria-labelledby="${id}-heading"><h2 id="${id}-heading">${escapeHtml(heading)}</h2>${body}</section>`;
const dash = (value: string | number | undefined): string => (value === undefined ? '–' : typeof value === 'number' ? formatCount(value) : value);
/** `10:00:01.250`, the whole ISO time in its tooltip. */
const timeOfDay = (iso: string): string => (/T(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(iso)?.[1] ?? iso);
const timeCell = (iso: string | undefined): string =>
  iso === undefined ? '<td>–</td>' : `<td${attributes({ title: iso, 'data-time': iso })}><time${attributes({ datetime: iso })}>${escapeHtml(timeOfDay(iso))}</time></td>`;

/**
 * DestinationErrors by ErrorClass per destination; nothing when no row carries a breakdown.
 *
 * @example
 * renderErrorsByClass([{ destination: 'crm', errorsByClass: { throttled: 12 } }]);
 */
export const renderErrorsByClass = (summary: ReadonlyArray<{ readonly destination: string; readonly errorsByClass?: Readonly<Record<string, number>> }>): string => {
  if (summary.every((row) => row.errorsByClass === undefined)) return '';
  const rows = summary.flatMap((row) =>
    Object.entries(row.errorsByClass ?? {})
      .filter(([, count]) => count > 0)
      .sort(([a, m], [b, n]) => n - m || a.localeCompare(b))
      .map(([errorClass, count]) => ({ destination: row.destination, errorClass, count })),
  );
  const body =
    rows.length === 0
      ? '<p class="none">No failed destination calls in this run.</p>'
      : `<table data-table="errors-by-class">${headerRow(['destination', 'error class', 'failed calls'])}<tbody>${rows
          .map(
            (row) =>
              `<tr${attributes({ 'data-destination': row.destination, 'data-error-class': row.errorClass, 'data-value': row.count })}>${cell(row.destination)}${cell(row.errorClass)}` +
              `${cell(formatCount(row.count), { class: 'num' })}</tr>`,
          )
          .join('')}</tbody></table>`;
  return section('errors', 'Destination errors by class', body);
};

const renderWriteSequence = (invariant: string, sequence: WriteSequence): string => {
  const flagged = new Set(sequence.flaggedSeqs);
  const rows = sequence.writes
    .map((write) => {
      const iso = new Date(write.at).toISOString();
      return (
        `<tr${attributes({ 'data-seq': write.seq, 'data-flagged': String(flagged.has(write.seq)), class: flagged.has(write.seq) ? 'flagged' : undefined })}>` +
        `${cell(String(write.seq), { class: 'num' })}${cell(`v${write.version}`, { 'data-version': write.version })}${cell(write.op)}` +
        `${cell(write.previousVersion === null ? 'new' : `v${write.previousVersion}`)}${timeCell(iso)}` +
        `${cell(write.answered ? 'yes' : 'no', { 'data-answered': String(write.answered) })}${cell(write.replayed ? 'yes' : 'no', { 'data-replayed': String(write.replayed) })}` +
        `${cell(flagged.has(write.seq) ? 'broke it' : '')}</tr>`
      );
    })
    .join('');
  return (
    `<figure class="write-sequence"${attributes({ 'data-write-sequence': invariant, 'data-record': `${sequence.destination} ${sequence.resourceType}/${sequence.id}` })}>` +
    `<figcaption>${escapeHtml(`${sequence.destination} ${sequence.resourceType}/${sequence.id}`)}: ${sequence.writes.length} write${sequence.writes.length === 1 ? '' : 's'} in the order they landed</figcaption>` +
    `<table>${headerRow(['seq', 'version', 'op', 'held before', 'landed at', 'answered', 'replayed', ''])}<tbody>${rows}</tbody></table></figure>`
  );
};

/**
 * For every failed invariant that names its offending records, the writes each record received,
 * in the order they landed at the destination, the ones that broke it marked.
 *
 * @example
 * renderWriteSequences({ noRegression: { ok: false, detail: '…', offendingRecords: [sequence] } });
 */
export const renderWriteSequences = (invariants: Readonly<Record<string, InvariantCheck>>): string => {
  const failed = Object.entries(invariants).filter(([, check]) => !check.ok && (check.offendingRecords?.length ?? 0) > 0);
  if (failed.length === 0) return '';
  const body = failed
    .map(
      ([name, check]) =>
        `<h3><code>${escapeHtml(name)}</code></h3><p class="note">${escapeHtml(check.detail)}</p>` +
        check.offendingRecords!.map((sequence) => renderWriteSequence(name, sequence)).join(''),
    )
    .join('');
  return section(
    'write-sequences',
    'How the failed invariants broke',
    `<p class="note">Every request that reached the fake destination for each offending record (writes and replays), from its write log. "answered": the consumer got the response.</p>${body}`,
  );
};

const recordOf = (letter: DeadLetterDetail): string => (letter.record === undefined ? '–' : `${letter.record.resourceType}/${letter.record.id} v${letter.record.version}`);

/**
 * Each dead letter: destination, reason, what went wrong, the record, attempts and when; never its
 * body or payload (a {@link DeadLetterDetail} has none).
 *
 * @example
 * renderDeadLetterDetails([{ destination: 'crm', reason: 'invalid-json', messageId: 'm-1' }]);
 */
export const renderDeadLetterDetails = (letters: readonly DeadLetterDetail[]): string => {
  const shown = letters.slice(0, MAX_DEAD_LETTER_ROWS);
  const rows = shown
    .map(
      (letter) =>
        `<tr${attributes({ 'data-dead-letter': letter.messageId ?? '', 'data-destination': letter.destination, 'data-reason': letter.reason })}>` +
        `${cell(letter.destination)}${cell(letter.reason || '(none)')}${cell(letter.message ?? '–')}${cell(recordOf(letter))}` +
        `${cell(dash(letter.attempts), { class: 'num' })}${timeCell(letter.firstAttemptAt)}${timeCell(letter.lastAttemptAt)}` +
        `${cell(dash(letter.status), { class: 'num' })}${cell(letter.messageId ?? '–', { class: 'id' })}</tr>`,
    )
    .join('');
  const more = letters.length > shown.length ? `<p class="note">The first ${shown.length} of ${formatCount(letters.length)} dead letters are listed.</p>` : '';
  const body =
    letters.length === 0
      ? '<p class="none">The dead-letter queues are empty.</p>'
      : `<table data-table="dead-letter-details">${headerRow(['destination', 'reason', 'detail', 'record', 'attempts', 'first attempt', 'last attempt', 'status', 'message id'])}<tbody>${rows}</tbody></table>${more}`;
  return section('dead-letter-details', 'Dead letters', `<p class="note">Read from each destination's DLQ at the end of the run; bodies and payloads are not shown.</p>${body}`);
};

const definitions = (name: string, pairs: ReadonlyArray<readonly [string, string]>): string =>
  `<table data-table="${name}"><tbody>${pairs.map(([key, value]) => `<tr${attributes({ 'data-setting': key })}><th scope="row">${escapeHtml(key)}</th>${cell(value)}</tr>`).join('')}</tbody></table>`;

const rate = (value: number | undefined): string => (value === undefined || value === 0 ? '0' : `${(value * 100).toFixed(value < 0.01 ? 1 : 0)}%`);

/** The fake API's failure kinds and what each stands for. */
const FAILURE_KINDS: ReadonlyArray<readonly [key: keyof FailureRates, label: string]> = [
  ['throttle', '429 with Retry-After'],
  ['unavailable', '503'],
  ['conflict', '409'],
  ['timeout', 'hang until the client times out'],
  ['reset', 'connection reset'],
  ['badRequest', '400'],
  ['timeoutAfterWrite', 'write, then no answer'],
  ['lateWrite', 'write landing late, no answer'],
];

const renderFaults = (settings: RunSettings, faults: HtmlReportFaults | undefined): string => {
  const { failures } = settings.fakeApi;
  const rows: Array<readonly [string, string, string, number | undefined]> = [
    ...FAILURE_KINDS.map(([key, label]) => [key, label, rate(failures[key]), faults?.injected[key]] as const),
    ['crash', 'consumer dies after the call, before committing', rate(settings.crashRate), faults?.crashedInvocations],
    ['copy', 'SQS hands a message to a second consumer at once', rate(settings.concurrentCopyRate), faults?.copiesDelivered],
    ['twin', 'same version published again with another payload', rate(settings.twinRate), undefined],
    ['inFlightConflict', '409 while the same key is in flight', settings.fakeApi.conflictWhileInFlight ? 'on' : 'off', faults?.conflictsInFlight],
  ];
  const body = `<table data-table="faults">${headerRow(['fault', 'what', 'rate', 'injected'])}<tbody>${rows
    .map(
      ([key, label, share, injected]) =>
        `<tr${attributes({ 'data-fault': key, 'data-value': injected })}>${cell(key)}${cell(label)}${cell(share, { class: 'num' })}${cell(dash(injected), { class: 'num' })}</tr>`,
    )
    .join('')}</tbody></table>`;
  const effects =
    faults === undefined
      ? ''
      : `<p class="note">Requests repeating a key: ${escapeHtml(formatCount(faults.replays))}; late writes landing after the lease: ${escapeHtml(formatCount(faults.lateWritesAfterLease))}; ` +
        `answered calls lost with a crashed invocation: ${escapeHtml(formatCount(faults.answersLostToCrashes))}; execution environments created: ${escapeHtml(formatCount(faults.environments))}.</p>`;
  return `<h3>Injected faults</h3>${body}${effects}`;
};

/**
 * What was run: the workload and its pacing, the runtime's settings, per destination the consumer
 * settings as used (after any chaos scaling), and the faults injected, by rate and by count.
 *
 * @example
 * renderSettings(report.settings, report.faults);
 */
export const renderSettings = (settings: RunSettings, faults: HtmlReportFaults | undefined): string => {
  const run = definitions('settings', [
    ['changes', `${formatCount(settings.changes)} (${settings.source === 'demo-stream' ? 'generated demo stream' : 'given events'})`],
    ['records', formatCount(settings.ids)],
    ['rate', settings.rate === 0 ? 'as fast as SQS takes them' : `${formatCount(settings.rate)} changes/s`],
    ['seed', String(settings.seed)],
    ['malformed', formatCount(settings.malformed)],
    ['visibility timeout', `${settings.visibilityTimeoutSeconds} s`],
    ['stall timeout', `${settings.stallTimeoutMs / 1000} s`],
    ['published via', settings.via === 'eventbridge' ? 'EventBridge (PutEvents to the local bus; malformed messages straight to the queue)' : 'SQS (straight to the queues)'],
    ['resources', settings.resources],
    ['fake API latency', `${settings.fakeApi.latencyMs} ms`],
    ['fake API deduplicates by key', settings.fakeApi.deduplicate ? 'yes' : 'no'],
    ...(settings.wrapped.length === 0 ? [] : ([['replaced for the run', settings.wrapped.join(', ')]] as const)),
  ]);
  const destinations = `<table data-table="destination-settings">${headerRow([
    'destination',
    'resource types',
    'pollers',
    'batch',
    'max concurrency',
    'request timeout',
    'function timeout',
    'lease',
    'settle',
    'max receives',
    'backoff',
    'retry horizon',
  ])}<tbody>${settings.destinations
    .map(
      (d) =>
        `<tr${attributes({ 'data-destination': d.destination })}>${cell(d.destination)}${cell(d.resourceTypes.join(', '))}${cell(String(d.pollers), { class: 'num', 'data-field': 'pollers' })}` +
        `${cell(String(d.batchSize), { class: 'num' })}${cell(String(d.maxConcurrency), { class: 'num' })}${cell(`${formatCount(d.requestTimeoutMs)} ms`, { class: 'num', 'data-field': 'requestTimeoutMs' })}` +
        `${cell(`${d.functionTimeoutSeconds} s`, { class: 'num' })}${cell(`${formatCount(d.leaseMs)} ms`, { class: 'num' })}${cell(`${d.settleSeconds} s`, { class: 'num', 'data-field': 'settleSeconds' })}` +
        `${cell(String(d.retry.maxReceiveCount), { class: 'num', 'data-field': 'maxReceiveCount' })}${cell(`${d.retry.baseDelaySeconds}–${d.retry.maxDelaySeconds} s, full jitter`)}` +
        `${cell(`${d.retry.horizonMinutes} min`, { class: 'num' })}</tr>`,
    )
    .join('')}</tbody></table>`;
  return section('settings', 'Settings of the run', `${run}<h3>Destinations, as their consumers ran</h3>${destinations}${renderFaults(settings, faults)}`);
};

const countsText = (counts: Readonly<Record<string, number>>): string =>
  Object.entries(counts)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ') || 'none';

/**
 * The redrive phase of a run: per destination, the DLQ by reason before, what moved and how, what the
 * move left, and the DLQ once the moved messages had drained.
 *
 * @example
 * renderRedrive(report.redrive);
 */
export const renderRedrive = (redrive: RedrivePhaseReport): string => {
  const rows = redrive.destinations
    .map(
      (row) =>
        `<tr${attributes({ 'data-redrive': row.destination, 'data-after': String(row.after) })}><th scope="row">${escapeHtml(row.destination)}</th>` +
        `<td>${escapeHtml(countsText(row.before))}</td><td class="num">${formatCount(row.moved)}</td><td>${escapeHtml(row.method)}</td>` +
        `<td>${escapeHtml(countsText(row.kept))}</td><td class="num">${formatCount(row.after)}</td></tr>`,
    )
    .join('');
  return (
    `<section id="redrive" aria-labelledby="redrive-heading"><h2 id="redrive-heading">Redrive after the run</h2>` +
    `<p>The destination was healed, then every DLQ was moved back to its queue ${redrive.plain ? 'untouched, bad input too (a plain move, as StartMessageMoveTask does)' : 'as <code>sync-pipeline dlq redrive</code> does (bad input stays)'}, and the queues drained again; the invariants cover both phases.</p>` +
    `<table data-table="redrive"><thead><tr><th scope="col">destination</th><th scope="col">DLQ before</th><th scope="col">moved</th><th scope="col">by</th><th scope="col">left by the move</th><th scope="col">DLQ after</th></tr></thead><tbody>${rows}</tbody></table></section>`
  );
};

/**
 * The redrive phase as text lines, for the terminal report.
 *
 * @example
 * formatRedriveLines(report.redrive); // ['redrive after the run (as sync-pipeline dlq redrive):', '  crm: DLQ rejected 5 -> moved 5 by receive-send-delete; DLQ after 0']
 */
export const formatRedriveLines = (redrive: RedrivePhaseReport): string[] => [
  `redrive after the run (${redrive.plain ? 'a plain move of every dead letter' : 'as sync-pipeline dlq redrive'}), the destination healed:`,
  ...redrive.destinations.map(
    (row) =>
      `  ${row.destination}: DLQ ${countsText(row.before)} -> moved ${row.moved} by ${row.method}` +
      `${Object.keys(row.kept).length > 0 ? `, left ${countsText(row.kept)}` : ''}; DLQ after ${row.after}`,
  ),
];
