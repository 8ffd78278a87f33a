import type { LocalRunProgress, LocalRunReport } from './run-pipeline.ts';

const pad = (value: string | number, width: number): string => String(value).padStart(width);
const ms = (value: number | null): string => (value === null ? '-' : `${value} ms`);

/**
 * One line per destination: how much was published and how it was accounted so far.
 *
 * @example
 * formatProgress(progress); // ['[  2.1s] published 410/1003', '  crm  ▕██████░░░░▏ 61%  applied 180 …']
 */
export const formatProgress = (progress: LocalRunProgress): string[] => {
  const header = `[${pad((progress.elapsedMs / 1000).toFixed(1), 5)}s] published ${progress.publishedTotal}/${progress.plannedTotal}`;
  const width = Math.max(...progress.destinations.map((d) => d.destination.length));
  return [
    header,
    ...progress.destinations.map((d) => {
      const done = d.applied + d.skipped + d.deadLettered;
      const share = d.published === 0 ? 0 : Math.min(1, done / d.published);
      const bar = '#'.repeat(Math.round(share * 20)).padEnd(20, '.');
      return `  ${d.destination.padEnd(width)} [${bar}] ${pad(Math.round(share * 100), 3)}%  applied ${d.applied}  skipped ${d.skipped}  dead-lettered ${d.deadLettered}  retried ${d.retried}  of ${d.published}`;
    }),
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
    `stream: ${report.stream.changes} changes over ${report.stream.records} records (${report.stream.duplicates} duplicates, ${report.stream.outOfOrder} out of order) + ${report.stream.malformed} malformed`,
    '',
    `${'destination'.padEnd(12)}${pad('published', 10)}${pad('applied', 9)}${pad('skipped', 9)}${pad('dead-let.', 10)}${pad('retried', 9)}${pad('lag p50', 10)}${pad('lag p99', 10)}`,
  );
  for (const d of report.destinations) {
    lines.push(
      `${d.destination.padEnd(12)}${pad(d.published, 10)}${pad(d.applied, 9)}${pad(d.skipped, 9)}${pad(d.deadLettered, 10)}${pad(d.retried, 9)}${pad(ms(d.lagMs.p50), 10)}${pad(ms(d.lagMs.p99), 10)}`,
    );
    const skipped = Object.entries(d.skippedByReason).map(([reason, n]) => `${reason} ${n}`).join(', ');
    const dead = Object.entries(d.deadLetteredByReason).map(([reason, n]) => `${reason} ${n}`).join(', ');
    lines.push(`${''.padEnd(12)}skipped: ${skipped || 'none'}; dead letters: ${dead || 'none'}`);
  }
  lines.push('', report.drained ? 'every published message was accounted for' : 'WARNING: the run stalled before every message was accounted for', '');
  for (const [name, check] of Object.entries(report.invariants)) {
    lines.push(`${check.ok ? 'PASS' : 'FAIL'}  ${name.padEnd(24)} ${check.detail}`);
  }
  return lines.join('\n');
};
