import { MetricDimension, MetricName } from '../../core/metrics.ts';
import type { DeadLetter } from '../../ops/dead-letters.ts';
import type { FakeApiStats, WriteLogEntry } from '../lab/fake-api.ts';
import type { DestinationProgress } from '../lab/run-options.ts';
import { percentile, type EmfStore } from '../sim/emf.ts';
import type { DeadLetterDetail, DestinationReport } from './run-report.ts';

export interface DestinationReportInput {
  /** Each destination's accounting, as the run settled it. */
  readonly accounting: ReadonlyArray<DestinationProgress & { readonly extraTerminalOutcomes: number }>;
  readonly emf: EmfStore;
  readonly namespace: string;
  readonly deadLetters: readonly DeadLetter[];
  readonly writeLog: readonly WriteLogEntry[];
  readonly apiStats: FakeApiStats;
  /** Messages SQS handed to a second consumer at once, per destination. */
  readonly copiesDelivered: (destination: string) => number;
  /** Request ids of the invocations that died. */
  readonly lostRequests: ReadonlySet<string>;
}

const countBy = (values: readonly string[]): Record<string, number> =>
  Object.fromEntries(values.reduce((counts, value) => counts.set(value, (counts.get(value) ?? 0) + 1), new Map<string, number>()));

/**
 * One report row per destination: its accounting, the metrics by reason, lag percentiles, what
 * reached the fake destination, and the dead letters counted once per source message.
 *
 * @example
 * const rows = buildDestinationReports({ accounting, emf, namespace: 'SyncPipeline', deadLetters, writeLog, apiStats, copiesDelivered, lostRequests });
 */
export const buildDestinationReports = (input: DestinationReportInput): DestinationReport[] => {
  const { emf, namespace, lostRequests } = input;
  return input.accounting.map((row) => {
    const where = { [MetricDimension.DESTINATION]: row.destination };
    const lag = emf.values(namespace, MetricName.END_TO_END_LAG, where);
    const byReason = (name: string) => Object.fromEntries(emf.dimensionValues(namespace, name, MetricDimension.REASON, where));
    const letters = input.deadLetters.filter((l) => l.destination === row.destination);
    return {
      ...row,
      skippedByReason: byReason(MetricName.RECORDS_SKIPPED),
      retriedByReason: byReason(MetricName.RECORDS_RETRIED),
      errorsByClass: Object.fromEntries(emf.dimensionValues(namespace, MetricName.DESTINATION_ERRORS, MetricDimension.ERROR_CLASS, where)),
      deadLetteredByReason: countBy(letters.map((l) => l.reason)),
      lagMs: { p50: percentile(lag, 50) ?? null, p99: percentile(lag, 99) ?? null },
      destinationWrites: input.writeLog.filter((entry) => entry.destination === row.destination).length,
      replays: input.apiStats.byDestination[row.destination]?.replays ?? 0,
      copiesDelivered: input.copiesDelivered(row.destination),
      deadLettersFromLostInvocations: letters.filter((l) => (l.invocationIds ?? []).length > 0 && l.invocationIds!.every((id) => lostRequests.has(id))).length,
      deadLettersRepeated: letters.reduce((sum, l) => sum + Math.max(0, (l.invocationIds ?? []).filter((id) => !lostRequests.has(id)).length - 1), 0),
    };
  });
};

/**
 * What the report shows of each dead letter: why, what for, and when; the fields are picked one by
 * one, so a body or payload never reaches a report, whatever a dead letter carries.
 *
 * @example
 * describeDeadLetters(letters); // [{ destination: 'crm', reason: 'permanent-error', record: { resourceType: 'contact', id: 'c-1', version: 3 }, status: 400, … }]
 */
export const describeDeadLetters = (letters: readonly DeadLetter[]): DeadLetterDetail[] =>
  letters.map((letter) => ({
    destination: letter.destination,
    reason: letter.reason,
    ...(letter.message === undefined ? {} : { message: letter.message }),
    ...(letter.change === undefined ? {} : { record: { resourceType: letter.change.resourceType, id: letter.change.id, version: letter.change.version } }),
    ...(letter.attempts === undefined ? {} : { attempts: letter.attempts }),
    ...(letter.firstAttemptAt === undefined ? {} : { firstAttemptAt: letter.firstAttemptAt }),
    ...(letter.lastAttemptAt === undefined ? {} : { lastAttemptAt: letter.lastAttemptAt }),
    ...(letter.status === undefined ? {} : { status: letter.status }),
    ...(letter.messageId === undefined ? {} : { messageId: letter.messageId }),
    ...(letter.invocationIds === undefined ? {} : { invocations: letter.invocationIds.length }),
  }));
