import type { DeadLetter } from '../../ops/dead-letters.ts';
import type { ChangeEvent } from '../../contract/change-event.ts';
import { recordKey, splitRecordKey } from '../../core/record-key.ts';
import { expectedFinalVersions } from './demo-stream.ts';
import type { DeleteMiss, StoredRecord, WriteLogEntry } from './fake-api.ts';
import { findDuplicateEffects, findRegressions } from './oracles.ts';

/** A record version a consumer reported applied at a destination. */
export interface AppliedRecord {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
  readonly version: number;
}

/** Per destination, what was sent and how the consumer accounted for it. */
export interface DestinationAccounting {
  readonly destination: string;
  readonly published: number;
  readonly applied: number;
  readonly skipped: number;
  readonly deadLettered: number;
  /** Sent back to the queue as new messages (throttled, breaker open); each new message is among `published`. @default 0 */
  readonly deferred?: number;
  /** Applied in invocations that died before publishing metrics (counted from their log lines). */
  readonly appliedUnreported?: number;
  /**
   * Terminal outcomes beyond one per published message, as the pollers saw them: a delivery is
   * terminal when its invocation resolved and did not list the message as failed. A concurrent copy
   * that ends skipped beside the original's applied is one; so is a redelivery after a lost delete.
   * Without it, the check expects exactly one outcome per published message. @default 0
   */
  readonly extraTerminalOutcomes?: number;
  /**
   * Published message ids for which no delivery ended (no terminal outcome, not moved by redrive).
   * Left out when the runtime did not track deliveries. @default none
   */
  readonly unterminated?: readonly string[];
}

export interface InvariantInput {
  readonly accounting: readonly DestinationAccounting[];
  /** The valid changes routed to each destination, in publish order. */
  readonly routed: ReadonlyMap<string, readonly ChangeEvent[]>;
  readonly writeLog: readonly WriteLogEntry[];
  readonly finalRecord: (destination: string, resourceType: string, id: string) => StoredRecord | undefined;
  readonly deadLetters: readonly DeadLetter[];
  /** Requests the external API received that only read (the ledger is meant to make them zero). */
  readonly destinationReads: number;
  /** Deletes the destination answered 404 (already absent): applied, with nothing to write. */
  readonly deleteMisses: readonly DeleteMiss[];
  /** Every record version the consumer reported applied, from its log lines (lost invocations too). */
  readonly appliedRecords: readonly AppliedRecord[];
  /**
   * Per idempotency key, how many answered destination calls the consumer lost by dying right after
   * them (before it could commit): the repeat that follows each is the designed recovery, not a
   * duplicate effect. @default none
   */
  readonly lostAnswers?: ReadonlyMap<string, number>;
  /**
   * Per idempotency key, how many successful answers the consumer's client actually received. The
   * fake API marks a write answered when it sent the answer; under load the client's timeout can fire
   * first, and then the consumer never knew (an unknown outcome, rightly repeated). Given, each
   * answer sent but not received excuses one repeat, like a lost one. @default every answer sent was received
   */
  readonly receivedAnswers?: ReadonlyMap<string, number>;
}

/**
 * The repeats each key may have: answers lost with a dying consumer, plus answers the destination sent
 * that the client never received (see {@link InvariantInput.receivedAnswers}).
 */
const excusedRepeats = (input: InvariantInput): { excuses: Map<string, number>; unreceived: number } => {
  const excuses = new Map(input.lostAnswers ?? []);
  let unreceived = 0;
  if (input.receivedAnswers !== undefined) {
    const sent = new Map<string, number>();
    for (const entry of input.writeLog) if (entry.answered) sent.set(entry.idempotencyKey, (sent.get(entry.idempotencyKey) ?? 0) + 1);
    for (const [key, count] of sent) {
      const missed = Math.max(0, count - (input.receivedAnswers.get(key) ?? 0));
      if (missed > 0) excuses.set(key, (excuses.get(key) ?? 0) + missed);
      unreceived += missed;
    }
  }
  return { excuses, unreceived };
};

/** One write log entry of a record, as a write sequence shows it. */
export type SequencedWrite = Pick<WriteLogEntry, 'seq' | 'version' | 'op' | 'at' | 'previousVersion' | 'answered' | 'replayed' | 'idempotencyKey'>;

/**
 * Every write (and replay) that reached one record at one destination, in `seq` order: what an
 * operator reads to see how an invariant broke.
 *
 * @example
 * const sequence: WriteSequence = { destination: 'crm', resourceType: 'contact', id: 'c-1', flaggedSeqs: [7], writes: [...] };
 */
export interface WriteSequence {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
  /** The entries that broke the invariant: the write that went backwards, or the repeats after an answer. */
  readonly flaggedSeqs: readonly number[];
  readonly writes: readonly SequencedWrite[];
}

/** One named check with its verdict and, when it fails, the first few counterexamples. */
export interface InvariantCheck {
  readonly ok: boolean;
  readonly detail: string;
  /**
   * For a failed noRegression or effectOnce: the write sequences of the first offending records
   * (at most {@link MAX_OFFENDING_RECORDS}). @default none
   */
  readonly offendingRecords?: readonly WriteSequence[];
}

/** How many offending records a failed check carries. */
export const MAX_OFFENDING_RECORDS = 10;

export interface InvariantReport {
  /** I1: no destination write moved a record to a lower version. */
  readonly noRegression: InvariantCheck;
  /** I2: every record holds its highest published version, or that version is in the DLQ. */
  readonly convergence: InvariantCheck;
  /**
   * I3: every published message ended at least once, applied + skipped + dead-lettered = published
   * + the extra terminal outcomes of copies, and applied = the destination's own effects.
   */
  readonly accounting: InvariantCheck;
  /**
   * I4: no request for a (record, version) reached the destination again after one whose answer the
   * consumer received (unless it died before using it); writes and replays alike.
   */
  readonly effectOnce: InvariantCheck;
  /** I6: every dead letter says why it is there. */
  readonly deadLettersHaveReasons: InvariantCheck;
  /** The ledger replaces reads of the external API: zero GETs. */
  readonly noDestinationReads: InvariantCheck;
}

/**
 * The write sequences of the first offending records, each record once, its flagged seqs merged.
 *
 * @example
 * writeSequencesOf(log, findRegressions(log).map((r) => ({ ...r, flaggedSeqs: [r.seq] })));
 */
export const writeSequencesOf = (
  log: readonly WriteLogEntry[],
  offenders: ReadonlyArray<{ readonly destination: string; readonly resourceType: string; readonly id: string; readonly flaggedSeqs: readonly number[] }>,
): WriteSequence[] => {
  const flagged = new Map<string, { destination: string; resourceType: string; id: string; seqs: Set<number> }>();
  for (const offender of offenders) {
    const key = recordKey(offender.destination, offender.resourceType, offender.id);
    if (!flagged.has(key) && flagged.size >= MAX_OFFENDING_RECORDS) continue;
    const entry = flagged.get(key) ?? { destination: offender.destination, resourceType: offender.resourceType, id: offender.id, seqs: new Set<number>() };
    for (const seq of offender.flaggedSeqs) entry.seqs.add(seq);
    flagged.set(key, entry);
  }
  const sorted = [...log].sort((a, b) => a.seq - b.seq);
  return [...flagged.values()].map(({ destination, resourceType, id, seqs }) => ({
    destination,
    resourceType,
    id,
    flaggedSeqs: [...seqs].sort((a, b) => a - b),
    writes: sorted
      .filter((entry) => entry.destination === destination && entry.resourceType === resourceType && entry.id === id)
      .map(({ seq, version, op, at, previousVersion, answered, replayed, idempotencyKey }) => ({ seq, version, op, at, previousVersion, answered, replayed, idempotencyKey })),
  }));
};

const sample = (items: readonly string[]): string => items.slice(0, 3).join('; ') + (items.length > 3 ? ` (+${items.length - 3} more)` : '');

/**
 * Checks invariants I1–I4 and I6 against the destination's own state and write log, not against
 * anything the consumer reported about itself (except the accounting, which must agree with both).
 *
 * @example
 * const report = checkInvariants({ accounting, routed, writeLog: api.writeLog(), finalRecord: api.record, deadLetters, destinationReads: 0 });
 * report.noRegression.ok; // true
 */
export const checkInvariants = (input: InvariantInput): InvariantReport => {
  const regressions = findRegressions(input.writeLog);
  const { excuses, unreceived } = excusedRepeats(input);
  const duplicates = findDuplicateEffects(input.writeLog, { lostAnswers: excuses });

  const notConverged: string[] = [];
  for (const [destination, events] of input.routed) {
    const highest = expectedFinalVersions(events);
    const deadLettered = new Set(
      input.deadLetters
        .filter((letter) => letter.destination === destination && letter.change !== undefined)
        .map((letter) => recordKey(letter.change!.resourceType, letter.change!.id, letter.change!.version)),
    );
    for (const [key, final] of highest) {
      if (deadLettered.has(recordKey(key, final.version))) continue;
      const [resourceType = '', id = ''] = splitRecordKey(key);
      const record = input.finalRecord(destination, resourceType, id);
      const holds =
        final.op === 'delete'
          ? record === undefined || (record.deleted && record.version <= final.version)
          : record !== undefined && !record.deleted && record.version === final.version;
      if (!holds) {
        const held = record === undefined ? 'nothing' : `${record.deleted ? 'deleted ' : ''}v${record.version}`;
        notConverged.push(`${destination} ${resourceType}/${id}: expected ${final.op} v${final.version}, holds ${held}`);
      }
    }
  }

  // I3 against the destination's own state. Every change the consumer reports applied (in metrics,
  // and for invocations that died before publishing them, in logs) must be exactly one effect at
  // the destination. An effect nobody reported is a write whose response never came back (a timeout
  // after the write, a crash): allowed only when a newer version superseded it, or when the change
  // ended in the DLQ (a retry was refused) and so is in front of an operator.
  const unbalanced: string[] = [];
  const notes: string[] = [];
  const versionKey = (r: { resourceType: string; id: string; version: number }) => recordKey(r.resourceType, r.id, r.version);
  for (const row of input.accounting) {
    const accounted = row.applied + row.skipped + row.deadLettered + (row.deferred ?? 0);
    const extra = row.extraTerminalOutcomes ?? 0;
    if (accounted !== row.published + extra) {
      unbalanced.push(
        `${row.destination}: published ${row.published}${extra === 0 ? '' : ` + ${extra} extra outcomes of copies`} but applied+skipped+dead-lettered${(row.deferred ?? 0) > 0 ? '+deferred' : ''} = ${accounted}`,
      );
    }
    const unterminated = row.unterminated ?? [];
    if (unterminated.length > 0) {
      unbalanced.push(`${row.destination}: ${unterminated.length} published messages never ended (no terminal outcome), e.g. ${sample(unterminated)}`);
    }
    const reported = input.appliedRecords.filter((r) => r.destination === row.destination);
    const applied = row.applied + (row.appliedUnreported ?? 0);
    if (applied !== reported.length) {
      unbalanced.push(`${row.destination}: metrics say ${applied} applied, the consumer logs ${reported.length}`);
    }
    const effects = [
      ...input.writeLog.filter((entry) => entry.destination === row.destination),
      ...input.deleteMisses.filter((miss) => miss.destination === row.destination),
    ];
    const effectKeys = new Set(effects.map(versionKey));
    const reportedKeys = new Set(reported.map(versionKey));
    const missing = reported.filter((r) => !effectKeys.has(versionKey(r)));
    if (missing.length > 0) {
      unbalanced.push(`${row.destination}: ${missing.length} reported applied with no effect at the destination, e.g. ${missing[0]!.resourceType}/${missing[0]!.id} v${missing[0]!.version}`);
    }
    // A newer version that was applied or dead-lettered supersedes an unacknowledged write: the
    // ledger's claimedVersion fenced the older one off once the newer one had been sent.
    const deadLetteredChanges = input.deadLetters.flatMap((letter) =>
      letter.destination === row.destination && letter.change !== undefined ? [letter.change] : [],
    );
    const highestResolved = new Map<string, number>();
    for (const r of [...reported, ...deadLetteredChanges]) {
      const key = recordKey(r.resourceType, r.id);
      highestResolved.set(key, Math.max(highestResolved.get(key) ?? -1, r.version));
    }
    const deadLettered = new Set(deadLetteredChanges.map(versionKey));
    const unacknowledged = effects.filter((e) => !reportedKeys.has(versionKey(e)));
    const unexplained = unacknowledged.filter(
      (e) => (highestResolved.get(recordKey(e.resourceType, e.id)) ?? -1) <= e.version && !deadLettered.has(versionKey(e)),
    );
    if (unexplained.length > 0) {
      unbalanced.push(`${row.destination}: ${unexplained.length} effects nobody reported and nothing superseded, e.g. ${unexplained[0]!.resourceType}/${unexplained[0]!.id} v${unexplained[0]!.version}`);
    }
    notes.push(
      `${row.destination}: ${row.published} published${extra === 0 ? '' : ` + ${extra} extra outcomes of copies`} = ${accounted} outcomes, ` +
        `${applied} applied = ${reported.length - missing.length} effects${unacknowledged.length > 0 ? ` (+${unacknowledged.length} writes whose response was lost, each superseded or dead-lettered)` : ''}`,
    );
  }

  // I4, in numbers: how many requests repeated a version, and why each was allowed.
  const answeredBefore = new Map<string, number>();
  let repeats = 0;
  let repeatsAfterAnswer = 0;
  for (const entry of [...input.writeLog].sort((a, b) => a.seq - b.seq)) {
    const key = recordKey(entry.destination, entry.resourceType, entry.id, entry.version);
    const answered = answeredBefore.get(key);
    if (answered !== undefined) {
      repeats += 1;
      if (answered > 0) repeatsAfterAnswer += 1;
    }
    answeredBefore.set(key, (answered ?? 0) + (entry.answered ? 1 : 0));
  }
  const lostToCrashes = [...(input.lostAnswers?.values() ?? [])].reduce((sum, n) => sum + n, 0);

  // A dead letter without a reason is one whose envelope is missing or unreadable.
  const reasonless = input.deadLetters.filter((letter) => letter.reason.trim() === '');

  return {
    noRegression: {
      ok: regressions.length === 0,
      detail:
        regressions.length === 0
          ? `${input.writeLog.length} writes, none went backwards`
          : sample(regressions.map((r) => `${r.destination} ${r.resourceType}/${r.id}: v${r.from} -> v${r.to}`)),
      ...(regressions.length === 0 ? {} : { offendingRecords: writeSequencesOf(input.writeLog, regressions.map((r) => ({ ...r, flaggedSeqs: [r.seq] }))) }),
    },
    convergence: {
      ok: notConverged.length === 0,
      detail: notConverged.length === 0 ? 'every record holds its highest version (or it is in the DLQ)' : sample(notConverged),
    },
    accounting: {
      ok: unbalanced.length === 0,
      detail:
        unbalanced.length === 0
          ? `every published message ended; applied + skipped + dead-lettered = published + extra outcomes of copies for every destination; ${notes.join('; ')}`
          : sample(unbalanced),
    },
    effectOnce: {
      ok: duplicates.length === 0,
      detail:
        duplicates.length === 0
          ? `${input.writeLog.length} requests reached the destination, ${repeats} repeated a version (${repeats - repeatsAfterAnswer} after a call whose answer never arrived, ` +
            `${repeatsAfterAnswer} after an answer the consumer lost by dying or never received, ${lostToCrashes} lost by dying, ${unreceived} sent after the client had given up); none after an answer that was used`
          : sample(
              duplicates.map(
                (d) =>
                  `${d.destination} ${d.resourceType}/${d.id} v${d.version} reached the destination ${d.seqs.length} times (seq ${d.seqs.join(', ')}), repeated after the answered seq ${d.repeatedAfterAnswer.join(', ')}`,
              ),
            ),
      ...(duplicates.length === 0
        ? {}
        : {
            offendingRecords: writeSequencesOf(
              input.writeLog,
              // The repeats: every entry of the version after the first answer that was used.
              duplicates.map((d) => ({ ...d, flaggedSeqs: d.seqs.filter((seq) => seq > d.repeatedAfterAnswer[0]!) })),
            ),
          }),
    },
    deadLettersHaveReasons: {
      ok: reasonless.length === 0,
      detail: `${input.deadLetters.length} dead letters, ${reasonless.length} without a reason`,
    },
    noDestinationReads: {
      ok: input.destinationReads === 0,
      detail: `${input.destinationReads} reads of the external API`,
    },
  };
};
