import type { ParsedChangeEvent } from '../contract/change-event.ts';
import { recordKey } from './record-key.ts';

/** When a record of a batch may start, and how it tells the next one it has finished. */
export interface RecordTurn {
  readonly ready: Promise<void>;
  readonly done: () => void;
}

/**
 * Orders the records of one batch that touch the same record id: highest version first, one after
 * the other. The newest version is then applied once and the older ones find it in the ledger and
 * are skipped as stale, with no destination call and no lease contention inside the batch. Records
 * of different ids still run in parallel; unreadable ones get no turn (they run at once).
 *
 * Keyed by the item (the SQS record object), not its message id: SQS may deliver one message twice
 * in a batch.
 *
 * @example
 * const turns = planRecordTurns(new Map(records.map((r) => [r, parseChangeEvent(r.body)])));
 * await turns.get(record)?.ready; // … process … then turns.get(record)?.done();
 */
export const planRecordTurns = <R>(parsed: ReadonlyMap<R, ParsedChangeEvent>): Map<R, RecordTurn> => {
  const groups = new Map<string, Array<{ item: R; version: number }>>();
  for (const [item, result] of parsed) {
    if (!result.ok) continue;
    const key = recordKey(result.event.resourceType, result.event.id);
    const group = groups.get(key) ?? [];
    group.push({ item, version: result.event.version });
    groups.set(key, group);
  }
  const turns = new Map<R, RecordTurn>();
  for (const group of groups.values()) {
    let previous: Promise<void> = Promise.resolve();
    for (const { item } of group.sort((a, b) => b.version - a.version)) {
      let done!: () => void;
      const finished = new Promise<void>((resolve) => {
        done = resolve;
      });
      turns.set(item, { ready: previous, done });
      previous = finished;
    }
  }
  return turns;
};
