import { recordKey } from '../../core/record-key.ts';
import type { WriteLogEntry } from './fake-api.ts';

// Oracles over the fake destination's write log: they judge what reached the destination (I1, I4),
// whatever the pipeline believes it did.

/**
 * A write (or replay) to one (destination, resourceType, id) that moved it to a lower version.
 *
 * @example
 * const regression: Regression = { destination: 'crm', resourceType: 'contact', id: 'c-1', from: 5, to: 3, seq: 2 };
 */
export interface Regression {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
  readonly from: number;
  readonly to: number;
  /** The write log entry that regressed. */
  readonly seq: number;
}

/**
 * One version of one record at one destination that reached the store again although the client
 * had already received the answer of an earlier request (see {@link findDuplicateEffects}).
 *
 * @example
 * const duplicate: DuplicateEffect = { destination: 'crm', resourceType: 'contact', id: 'c-1', version: 2, seqs: [3, 7], idempotencyKeys: ['k', 'k'], repeatedAfterAnswer: [3] };
 */
export interface DuplicateEffect {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
  readonly version: number;
  /** Every write log entry of this version, writes and replays, in `seq` order. */
  readonly seqs: readonly number[];
  /** The idempotency key of each entry in `seqs`, in the same order. */
  readonly idempotencyKeys: readonly string[];
  /** The answered entries, not the last, that were repeated and not excused by `lostAnswers`. */
  readonly repeatedAfterAnswer: readonly number[];
}

/**
 * @example
 * const options: DuplicateEffectOptions = { lostAnswers: new Map([['crm:contact:c-1:2', 1]]) };
 */
export interface DuplicateEffectOptions {
  /**
   * Per idempotency key, how many of its answered calls the client lost anyway (the consumer
   * crashed after the call returned, before it could record the outcome). That many
   * answered-then-repeated entries with that key are excused. @default none
   */
  readonly lostAnswers?: ReadonlyMap<string, number>;
}

/**
 * Every write that moved a record at a destination to a lower version than the one it held
 * (invariant I1). A delete counts as writing its version, and a tombstone keeps it: a delete of v5
 * followed by an upsert of v3 is a regression. Replays (`replayed: true`) count as writes, since a
 * non-deduplicating API would have applied them: a replay of v5 after v6 was written is a
 * regression, although the store still holds v6. Works on any log, in `seq` order.
 *
 * @example
 * findRegressions(fakeApi.writeLog()); // [{ destination: 'crm', resourceType: 'contact', id: 'c-1', from: 5, to: 3, seq: 2 }]
 */
export const findRegressions = (log: readonly WriteLogEntry[]): Regression[] => {
  const held = new Map<string, number>();
  const regressions: Regression[] = [];
  for (const entry of [...log].sort((a, b) => a.seq - b.seq)) {
    const key = recordKey(entry.destination, entry.resourceType, entry.id);
    const previous = held.get(key);
    if (previous !== undefined && entry.version < previous) {
      regressions.push({
        destination: entry.destination,
        resourceType: entry.resourceType,
        id: entry.id,
        from: previous,
        to: entry.version,
        seq: entry.seq,
      });
    }
    held.set(key, entry.version);
  }
  return regressions;
};

/**
 * Every version of a record that reached a destination again although the client already had an
 * answer (invariant I4: effect once). The rule, exactly: group the entries, writes and replays
 * alike, by (destination, resourceType, id, version) in `seq` order. Within a group, every entry
 * but the last with `answered: true` is an answered-then-repeated entry; `options.lostAnswers`
 * excuses up to its count of them per idempotency key (in `seq` order). A group with at least one
 * answered-then-repeated entry left unexcused is a duplicate effect. Repeats after an answer that
 * never arrived (`answered: false`) are allowed: they are the retry after an unknown outcome. Note
 * that an entry's place is when it landed, so a late write landing after an answered retry of the
 * same version is flagged too: its effect came after the answer.
 *
 * @example
 * findDuplicateEffects(fakeApi.writeLog()); // [{ destination: 'crm', resourceType: 'contact', id: 'c-1', version: 2, seqs: [3, 7], repeatedAfterAnswer: [3], … }]
 * findDuplicateEffects(fakeApi.writeLog(), { lostAnswers: new Map([['crm:contact:c-1:2', 1]]) }); // []
 */
export const findDuplicateEffects = (log: readonly WriteLogEntry[], options: DuplicateEffectOptions = {}): DuplicateEffect[] => {
  const groups = new Map<string, WriteLogEntry[]>();
  for (const entry of [...log].sort((a, b) => a.seq - b.seq)) {
    const key = recordKey(entry.destination, entry.resourceType, entry.id, entry.version);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [entry]);
    else group.push(entry);
  }
  const excusesLeft = new Map(options.lostAnswers ?? []);
  const duplicates: DuplicateEffect[] = [];
  for (const group of groups.values()) {
    const repeatedAfterAnswer: number[] = [];
    for (const entry of group.slice(0, -1)) {
      if (!entry.answered) continue;
      const excuses = excusesLeft.get(entry.idempotencyKey) ?? 0;
      if (excuses > 0) excusesLeft.set(entry.idempotencyKey, excuses - 1);
      else repeatedAfterAnswer.push(entry.seq);
    }
    if (repeatedAfterAnswer.length === 0) continue;
    const [first] = group as [WriteLogEntry, ...WriteLogEntry[]];
    duplicates.push({
      destination: first.destination,
      resourceType: first.resourceType,
      id: first.id,
      version: first.version,
      seqs: group.map((entry) => entry.seq),
      idempotencyKeys: group.map((entry) => entry.idempotencyKey),
      repeatedAfterAnswer,
    });
  }
  return duplicates;
};
