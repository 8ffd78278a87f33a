import type { PipelineConfig } from '../../config/pipeline-config.ts';
import { retrySchedule } from '../../core/backoff.ts';
import { renderHtmlReport } from './html-report.ts';
import { formatRedriveLines } from './html-sections.ts';
import type { RunSettings } from '../lab/run-settings.ts';
import { INTERRUPTED_MARKER, type LocalRunReport } from './run-report.ts';

const pad = (value: string | number, width: number): string => String(value).padStart(width);
const ms = (value: number | null): string => (value === null ? '-' : `${value} ms`);

const interruptedNote = (report: LocalRunReport): string => {
  const published = report.destinations.reduce((sum, d) => sum + d.published, 0);
  const planned = report.destinations.reduce((sum, d) => sum + d.planned, 0);
  return `${INTERRUPTED_MARKER}: stopped before it drained, after publishing ${published} of ${planned} planned messages; counts and checks cover what happened until then`;
};

const RESOURCE_LABELS: Readonly<Record<RunSettings['resources'], string>> = {
  embedded: 'the embedded emulators, under the stack\'s names',
  own: 'its own on the endpoint (local-<name>-…, tagged sync-pipeline:owner=local)',
  deployed: 'the deployed stack\'s, used as they are (never reconfigured or purged)',
};

/**
 * The settings in brief: the workload on one line, then one line per destination as its consumers ran.
 *
 * @example
 * formatSettings(report.settings); // ['settings: 500 changes over 100 records at 250/s, seed 1, …', '  crm: 4 pollers, batch 10, …']
 */
export const formatSettings = (settings: RunSettings): string[] => {
  const faults = Object.entries(settings.fakeApi.failures).filter(([kind, rate]) => rate !== undefined && rate > 0 && !kind.endsWith('Seconds') && !kind.endsWith('Ms'));
  const chaos = [
    ...faults.map(([kind, rate]) => `${kind} ${rate}`),
    ...(settings.crashRate > 0 ? [`crash ${settings.crashRate}`] : []),
    ...(settings.concurrentCopyRate > 0 ? [`copies ${settings.concurrentCopyRate}`] : []),
    ...(settings.twinRate > 0 ? [`twins ${settings.twinRate}`] : []),
  ];
  return [
    `settings: ${settings.changes} changes over ${settings.ids} records at ${settings.rate === 0 ? 'full speed' : `${settings.rate}/s`}, seed ${settings.seed}, ` +
      `${settings.malformed} malformed, visibility timeout ${settings.visibilityTimeoutSeconds} s; injected: ${chaos.join(', ') || 'nothing'}`,
    `route: ${settings.via === 'eventbridge' ? 'PutEvents to the EventBridge bus, its rules to the queues (malformed messages straight to the queue: PutEvents refuses them)' : 'straight to the queues (SendMessageBatch)'}; ` +
      `resources: ${RESOURCE_LABELS[settings.resources]}`,
    ...settings.destinations.map(
      (d) =>
        `  ${d.destination}: ${d.pollers} pollers, batch ${d.batchSize}, request timeout ${d.requestTimeoutMs} ms, function timeout ${d.functionTimeoutSeconds} s, ` +
        `lease ${d.leaseMs} ms, settle ${d.settleSeconds} s, retry ${d.retry.maxReceiveCount} receives (backoff ${d.retry.baseDelaySeconds}-${d.retry.maxDelaySeconds} s)`,
    ),
  ];
};

/**
 * The end-of-run report: per destination counts and lag, then each invariant with its verdict.
 *
 * @example
 * console.log(formatReport(report));
 */
export const formatReport = (report: LocalRunReport): string => {
  const lines: string[] = [];
  lines.push(
    `sync-pipeline local run ${report.runId} on ${report.endpoint} in ${(report.durationMs / 1000).toFixed(1)} s`,
    ...(report.interrupted ? [interruptedNote(report)] : []),
    `stream${report.interrupted ? ' (the part published)' : ''}: ${report.stream.changes} changes over ${report.stream.records} records (${report.stream.duplicates} duplicates${report.stream.twins > 0 ? `, ${report.stream.twins} of them same-version twins with another payload` : ''}, ${report.stream.outOfOrder} out of order) + ${report.stream.malformed} malformed`,
    ...formatSettings(report.settings),
    ...(report.bus === undefined
      ? []
      : [`bus: ${report.bus.entries} changes in ${report.bus.putEventsCalls} PutEvents calls (${report.bus.failedEntries} entries failed), delivered ${Object.entries(report.bus.deliveredByDestination).map(([d, n]) => `${d} ${n}`).join(', ')}`]),
    '',
    `${'destination'.padEnd(12)}${pad('published', 10)}${pad('applied', 9)}${pad('skipped', 9)}${pad('dead-let.', 10)}${pad('retried', 9)}${pad('lag p50', 10)}${pad('lag p99', 10)}`,
  );
  for (const d of report.destinations) {
    lines.push(
      `${d.destination.padEnd(12)}${pad(d.published, 10)}${pad(d.applied, 9)}${pad(d.skipped, 9)}${pad(d.deadLettered, 10)}${pad(d.retried, 9)}${pad(ms(d.lagMs.p50), 10)}${pad(ms(d.lagMs.p99), 10)}`,
    );
    const breakdown = (counts: Readonly<Record<string, number>>): string =>
      Object.entries(counts)
        .filter(([, n]) => n > 0)
        .map(([reason, n]) => `${reason} ${n}`)
        .join(', ') || 'none';
    const lost =
      (d.deadLettersFromLostInvocations > 0 ? ` (${d.deadLettersFromLostInvocations} written by invocations that died; processed again since)` : '') +
      (d.deadLettersRepeated > 0 ? ` (${d.deadLettersRepeated} written again for a message already in the DLQ, by a concurrent copy)` : '');
    lines.push(`${''.padEnd(12)}skipped: ${breakdown(d.skippedByReason)}; retried: ${breakdown(d.retriedByReason)}; dead letters: ${breakdown(d.deadLetteredByReason)}${lost}`);
    const extra = d.extraTerminalOutcomes ?? 0;
    lines.push(
      `${''.padEnd(12)}replays at the destination: ${d.replays}; concurrent copies delivered: ${d.copiesDelivered}${extra > 0 ? ` (${extra} extra outcomes)` : ''}`,
    );
  }
  const { faults } = report;
  const injected = Object.entries(faults.injected).filter(([, n]) => n > 0);
  if (injected.length > 0 || faults.crashedInvocations > 0 || faults.copiesDelivered > 0 || report.stream.twins > 0) {
    lines.push(
      '',
      `faults: ${injected.map(([kind, n]) => `${kind} ${n}`).join(', ') || 'none injected'}; 409 for a key in flight ${faults.conflictsInFlight}; ` +
        `late writes landing after the lease ${faults.lateWritesAfterLease}; crashed invocations ${faults.crashedInvocations} ` +
        `(${faults.answersLostToCrashes} answered calls lost with them); concurrent copies ${faults.copiesDelivered}; same-version twins ${report.stream.twins}; ` +
        `requests repeating a key ${faults.replays}`,
    );
  }
  if (report.redrive !== undefined) lines.push('', ...formatRedriveLines(report.redrive));
  lines.push(
    '',
    report.drained
      ? 'every published message was accounted for'
      : report.interrupted
        ? 'interrupted before every published message was accounted for; the checks below judge that partial state'
        : 'WARNING: the run stalled before every message was accounted for',
    '',
  );
  for (const [name, check] of Object.entries(report.invariants)) {
    lines.push(`${check.ok ? 'PASS' : 'FAIL'}  ${name.padEnd(24)} ${check.detail}`);
  }
  return lines.join('\n');
};

const duration = (seconds: number): string => {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
};

/**
 * Each destination's retry schedule, as derived from its config: the wait after each failed
 * delivery (full jitter in [1 s, ceiling]) and when the last attempt happens on average and at most.
 *
 * @example
 * console.log(formatRetrySchedule(config)); // `npm run local -- --explain`
 */
export const formatRetrySchedule = (config: PipelineConfig): string => {
  const lines: string[] = [];
  for (const destination of config.destinations) {
    const { retry } = destination;
    const steps = retrySchedule(retry, retry.maxReceiveCount);
    const last = steps.at(-1);
    lines.push(
      `${destination.name}: retry horizon ${duration(retry.horizonMinutes * 60)} -> maxReceiveCount ${retry.maxReceiveCount} ` +
        `(backoff base ${retry.baseDelaySeconds} s, cap ${retry.maxDelaySeconds} s, full jitter; a 429 Retry-After wins when longer)`,
    );
    lines.push(`  ${'after attempt'.padEnd(14)}${'wait up to'.padStart(12)}${'next attempt at (avg)'.padStart(24)}${'(at most)'.padStart(12)}`);
    const shown = steps.length <= 12 ? steps : [...steps.slice(0, 8), undefined, ...steps.slice(-3)];
    for (const step of shown) {
      if (step === undefined) {
        lines.push(`  ${'...'.padEnd(14)}`);
        continue;
      }
      lines.push(
        `  ${String(step.attempt).padEnd(14)}${duration(step.ceilingSeconds).padStart(12)}${duration(step.cumulativeExpectedSeconds).padStart(24)}${duration(step.cumulativeMaxSeconds).padStart(12)}`,
      );
    }
    lines.push(
      last === undefined
        ? '  no retries: the first failure is final'
        : `  after attempt ${retry.maxReceiveCount} the change is dead-lettered (reason retries-exhausted), on average ${duration(last.cumulativeExpectedSeconds)} after the first`,
      '',
    );
  }
  return lines.join('\n');
};

/**
 * The run as a self-contained HTML page (no server, no network).
 *
 * @example
 * writeFileSync('reports/local-run.html', formatHtmlReport(report));
 */
export const formatHtmlReport = (report: LocalRunReport): string =>
  renderHtmlReport({
    title: `sync-pipeline local run ${report.runId}`,
    generatedAt: new Date().toISOString(),
    summary: report.destinations.map((d) => ({
      destination: d.destination,
      published: d.published,
      applied: d.applied,
      skipped: d.skipped,
      deadLettered: d.deadLettered,
      retried: d.retried,
      retriedByReason: d.retriedByReason,
      errorsByClass: d.errorsByClass,
      replays: d.replays,
      lagP50Ms: d.lagMs.p50,
      lagP99Ms: d.lagMs.p99,
    })),
    invariants: { ...report.invariants },
    timeline: report.timeline,
    runId: report.runId,
    logFile: report.logFile,
    interrupted: report.interrupted,
    settings: report.settings,
    faults: report.faults,
    deadLetters: report.deadLetters,
    ...(report.redrive === undefined ? {} : { redrive: report.redrive }),
  });
