import type { ChangeOp } from '../../lib/contract/change-event.ts';
import type { Lease, LeaseDecision, LeaseEnd, LedgerEntry, LedgerRecordKey, LedgerStore } from '../../lib/core/ledger.ts';
import { ledgerKey } from '../../lib/core/ledger.ts';

/**
 * The version check WITHOUT the lease, as in the seed post (read, compare, write): every attempt
 * that finds the applied version lower goes ahead, so two versions of a record can be in flight at
 * once. It takes no lease, claims no version and keeps no settle window (`now`, `settleMs` and the
 * fences passed to commit and release are ignored); the only write is the applied version after a
 * successful call, and it never lowers it (the kindest version of the idea). Tests use it to show
 * the concurrency test catches the race the lease exists for.
 *
 * @example
 * const report = await runLocalPipeline({ ...options, wrapLedger: () => withoutLease() });
 * report.invariants.noRegression.ok; // false
 */
export const withoutLease = (): LedgerStore => {
  const applied = new Map<string, number>();
  return {
    acquireLease: async (record: LedgerRecordKey, lease: Lease, _now: number, _settleMs: number): Promise<LeaseDecision> => {
      // Read and compare; nothing is written, so nobody else can see this attempt.
      const current = applied.get(ledgerKey(record));
      if (current !== undefined && current === lease.version) return { status: 'duplicate', appliedVersion: current };
      if (current !== undefined && current > lease.version) return { status: 'stale', appliedVersion: current };
      return { status: 'acquired' };
    },
    commit: async (record: LedgerRecordKey, lease: Pick<Lease, 'token' | 'version'>, _applied: { op: ChangeOp; at: number } & LeaseEnd): Promise<boolean> => {
      // Write after the call; no token to check, so a commit is never refused.
      applied.set(ledgerKey(record), Math.max(applied.get(ledgerKey(record)) ?? -1, lease.version));
      return true;
    },
    release: async (_record: LedgerRecordKey, _token: string, _end?: LeaseEnd): Promise<void> => undefined,
    read: async (record: LedgerRecordKey): Promise<LedgerEntry | undefined> => {
      const current = applied.get(ledgerKey(record));
      return current === undefined ? undefined : { appliedVersion: current };
    },
    // No coalescing either: the variant is about the lease alone.
    markSeen: async (): Promise<void> => undefined,
  };
};
