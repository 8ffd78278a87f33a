import type { DeadLetter } from './dead-letters.ts';
import type { DeadLetterInspection, RedriveResult } from './dlq.ts';
import type { ReplayResult, ResyncResult } from './records.ts';
import type { DestinationStatus } from './status.ts';

/**
 * A plain-text table: each column as wide as its widest cell, two spaces between columns.
 *
 * @example
 * table(['destination', 'depth'], [['crm', '12']]); // 'destination  depth\ncrm          12'
 */
export const table = (header: readonly string[], rows: ReadonlyArray<readonly string[]>): string => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
};

const orDash = (value: number | string | null | undefined): string => (value === null || value === undefined ? '-' : String(value));

/**
 * @example
 * formatStatus({ endpoint: 'AWS', healthy: true, destinations: [status] });
 */
export const formatStatus = (result: { endpoint: string; healthy: boolean; destinations: ReadonlyArray<DestinationStatus & { notes: readonly string[] }> }): string => {
  const rows = result.destinations.map((d) => [
    d.destination,
    d.healthy ? 'ok' : 'UNHEALTHY',
    String(d.queued),
    String(d.inFlight),
    String(d.delayed),
    String(d.deadLetters),
    d.oldestMessageAgeSeconds === null ? '-' : `${Math.round(d.oldestMessageAgeSeconds)} s`,
    orDash(d.lastAppliedAt),
    d.breaker,
    orDash(d.rateInForcePerSecond),
  ]);
  const problems = result.destinations.flatMap((d) => d.problems.map((p) => `  ${d.destination}: ${p}`));
  const notes = [...new Set(result.destinations.flatMap((d) => d.notes))];
  return [
    `status on ${result.endpoint}: ${result.healthy ? 'healthy' : 'UNHEALTHY'}`,
    table(['destination', 'health', 'queued', 'in flight', 'delayed', 'DLQ', 'oldest', 'last applied', 'breaker', 'rate/s'], rows),
    ...(problems.length > 0 ? ['', 'problems:', ...problems] : []),
    ...(notes.length > 0 ? ['', ...notes.map((n) => `note: ${n}; oldest and last applied need CloudWatch`)] : []),
  ].join('\n');
};

const describeLetter = (letter: DeadLetter): string => {
  const record = letter.change === undefined ? 'unreadable body' : `${letter.change.resourceType}/${letter.change.id} v${letter.change.version}`;
  const tries = letter.attempts === undefined ? '' : `, ${letter.attempts} attempt${letter.attempts === 1 ? '' : 's'}`;
  const when = letter.lastAttemptAt === undefined ? '' : `, last ${letter.lastAttemptAt}`;
  const status = letter.status === undefined ? '' : `, HTTP ${letter.status}`;
  return `${record}${tries}${status}${when}${letter.message === undefined ? '' : `: ${letter.message.slice(0, 200)}`}`;
};

/**
 * @example
 * formatInspection(await inspectDeadLetters(sqs, queues));
 */
export const formatInspection = (result: DeadLetterInspection): string =>
  [
    `${result.destination}: ${result.total} dead letters${result.matched === result.total ? '' : `, ${result.matched} match the filter`}` +
      `${result.truncated > 0 ? ` (${result.truncated} with a truncated original: cannot be sent again)` : ''}`,
    ...result.groups.flatMap((group) => [`  ${group.reason || '(no reason: written by nothing we know)'}: ${group.count}`, ...group.examples.map((e) => `    ${describeLetter(e)}`)]),
  ].join('\n');

/**
 * @example
 * formatRedrive(await redriveDeadLetters(sqs, queues));
 */
export const formatRedrive = (result: RedriveResult): string => {
  const kept = Object.entries(result.kept).map(([why, n]) => `${why} ${n}`);
  return [
    `${result.destination}: ${result.dryRun ? 'would move' : 'moved'} ${result.moved} dead letters to the source queue by ${result.method}` +
      `${result.interrupted ? ' (interrupted: what was sent was deleted first, nothing is lost)' : ''}`,
    ...(result.fallbackReason === undefined ? [] : [`  why not StartMessageMoveTask: ${result.fallbackReason}`]),
    ...(kept.length > 0 ? [`  left in the DLQ: ${kept.join(', ')}`] : []),
    ...(result.truncated > 0 ? [`  left in the DLQ: ${result.truncated} whose original was cut to fit (publish them anew)`] : []),
    ...(result.failed > 0 ? [`  ${result.failed} sends refused by SQS: left in the DLQ, try again`] : []),
  ].join('\n');
};

/**
 * @example
 * formatReplay(await replayChanges(sqs, queues, destination, { file }));
 */
export const formatReplay = (result: ReplayResult): string =>
  result.source === 'file'
    ? `${result.destination}: sent ${result.sent} changes to the queue (a change the destination holds already is skipped as a duplicate)`
    : result.moved === 0
      ? `${result.destination}: no dead letter matches that record; nothing sent`
      : formatRedrive(result);

/**
 * @example
 * formatResync(await resyncRecord(clients, queues, destination, { resourceType: 'contact', id: 'c-1' }));
 */
export const formatResync = (result: ResyncResult): string => {
  const { record, ledger } = result;
  const at = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString());
  const lines = [`${record.destination} ${record.resourceType}/${record.id}:`];
  if (ledger === null) lines.push('  the ledger holds nothing: no version was ever sent to this destination');
  else {
    lines.push(
      `  applied version: ${orDash(ledger.appliedVersion)}${ledger.appliedOp === undefined ? '' : ` (${ledger.appliedOp})`}, at ${at(ledger.appliedAt)}`,
      `  claimed version: ${orDash(ledger.claimedVersion)} (the highest ever sent)`,
      `  lease: ${ledger.lease === undefined ? 'none' : `v${ledger.lease.version}, key ${ledger.lease.key}, until ${at(ledger.lease.expiresAt)}${ledger.lease.expiresAt < Date.now() ? ' (expired)' : ''}`}`,
      `  fenced until: ${at(ledger.fencedUntil)}${ledger.fencedUntil !== undefined && ledger.fencedUntil > Date.now() ? ' (a call in doubt may still land)' : ''}`,
    );
  }
  if (result.pushed !== undefined) {
    lines.push(`  pushed v${result.pushed.version} to the queue${result.pushed.reopened ? ' (the ledger was reopened for it: the destination gets it once more)' : ''}`);
  }
  return lines.join('\n');
};
