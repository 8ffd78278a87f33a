import type { ChangeOp } from '../../lib/contract/change-event.ts';
import { ledgerKey, type Lease, type LeaseDecision, type LeaseEnd, type LedgerEntry, type LedgerStore } from '../../lib/core/ledger.ts';

/**
 * The lease as it was before it belonged to one attempt: identified by the change's idempotency key,
 * so any attempt with that key (a concurrent copy, a same-version twin, a redelivery) may take a
 * live lease again, and commit or release it. Everything else (fences, claimed versions) as the real
 * rule. A negative control: the interleaving test must fail with it.
 */
export const keyedLeaseLedger = (): LedgerStore => {
  const entries = new Map<string, LedgerEntry>();
  /** Each attempt's idempotency key, by the token it was handed: the key is what the lease checks. */
  const keys = new Map<string, string>();
  return {
    acquireLease: async (record, lease: Lease, now, settleMs): Promise<LeaseDecision> => {
      const entry = entries.get(ledgerKey(record));
      const applied = entry?.appliedVersion;
      if (applied !== undefined && applied === lease.version) return { status: 'duplicate', appliedVersion: applied };
      if (applied !== undefined && applied > lease.version) return { status: 'stale', appliedVersion: applied };
      if (entry?.claimedVersion !== undefined && entry.claimedVersion > lease.version) return { status: 'stale', appliedVersion: entry.claimedVersion };
      const held = entry?.lease;
      if (held !== undefined && held.expiresAt > now && held.key !== lease.key) return { status: 'busy', retryAt: held.expiresAt };
      if (held?.key !== lease.key && entry?.fencedUntil !== undefined && entry.fencedUntil > now) return { status: 'fenced', retryAt: entry.fencedUntil };
      keys.set(lease.token, lease.key);
      entries.set(ledgerKey(record), { ...entry, claimedVersion: Math.max(entry?.claimedVersion ?? lease.version, lease.version), lease, fencedUntil: lease.expiresAt + settleMs });
      return { status: 'acquired' };
    },
    commit: async (record, lease, applied: { op: ChangeOp; at: number } & LeaseEnd) => {
      const entry = entries.get(ledgerKey(record));
      if (entry?.lease === undefined || entry.lease.key !== keys.get(lease.token)) return false;
      entries.set(ledgerKey(record), {
        appliedVersion: lease.version,
        claimedVersion: entry.claimedVersion ?? lease.version,
        ...(applied.fencedUntil === undefined ? {} : { fencedUntil: applied.fencedUntil }),
      });
      return true;
    },
    release: async (record, token, end: LeaseEnd = {}) => {
      const entry = entries.get(ledgerKey(record));
      // The key is all it checks: whichever attempt with this key releases, the record is free.
      if (entry?.lease === undefined || entry.lease.key !== keys.get(token)) return;
      const { lease: _lease, fencedUntil: _fence, ...rest } = entry;
      entries.set(ledgerKey(record), { ...rest, ...(end.fencedUntil === undefined ? {} : { fencedUntil: end.fencedUntil }) });
    },
    read: async (record) => entries.get(ledgerKey(record)),
    // The simulation never coalesces; a mark would be kept like the real stores keep it.
    markSeen: async (record, version) => {
      const entry = entries.get(ledgerKey(record));
      if ((entry?.seenVersion ?? -1) < version) entries.set(ledgerKey(record), { ...entry, seenVersion: version });
    },
  };
};
