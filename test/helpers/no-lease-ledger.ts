import type { LeaseDecision, LedgerEntry, LedgerRecordKey, LedgerStore } from '../../lib/sync/ledger.ts';
import { ledgerKey } from '../../lib/sync/ledger.ts';

/**
 * The version check WITHOUT the lease, as in the seed post (read, compare, write): every consumer
 * that finds the applied version lower goes ahead, so two versions of a record can be in flight at
 * once. Tests use it to show the concurrency test catches the race the lease exists for.
 */
export const withoutLease = (): LedgerStore => {
  const applied = new Map<string, number>();
  return {
    acquireLease: async (record: LedgerRecordKey, lease): Promise<LeaseDecision> => {
      const current = applied.get(ledgerKey(record));
      if (current !== undefined && current === lease.version) return { status: 'duplicate', appliedVersion: current };
      if (current !== undefined && current > lease.version) return { status: 'stale', appliedVersion: current };
      return { status: 'acquired' };
    },
    commit: async (record, lease) => {
      applied.set(ledgerKey(record), Math.max(applied.get(ledgerKey(record)) ?? -1, lease.version));
      return true;
    },
    release: async () => undefined,
    read: async (record): Promise<LedgerEntry | undefined> => {
      const current = applied.get(ledgerKey(record));
      return current === undefined ? undefined : { appliedVersion: current };
    },
  };
};
