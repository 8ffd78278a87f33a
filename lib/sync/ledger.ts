import type { ChangeOp } from '../contract/change-event.ts';

/** Identifies one record at one destination; the ledger keeps one entry per key. */
export interface LedgerRecordKey {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
}

/** A consumer's claim to call the destination for one version of a record. */
export interface Lease {
  /** The change's idempotency key; only the holder of this key may commit or release. */
  readonly key: string;
  readonly version: number;
  /** Epoch ms after which the lease is void and another consumer may take it. */
  readonly expiresAt: number;
}

/** What the ledger knows about a record at a destination. */
export interface LedgerEntry {
  /** Highest version the destination is known to hold (after a successful call). */
  readonly appliedVersion?: number;
  /**
   * Highest version ever sent to the destination (set with every lease). A call that timed out or
   * died may still land, so no older version may be sent after it: that would be a regression the
   * ledger cannot see.
   */
  readonly claimedVersion?: number;
  readonly lease?: Lease;
}

/** Result of trying to take the lease for a version. */
export type LeaseDecision =
  | { readonly status: 'acquired' }
  /** The destination already holds exactly this version. */
  | { readonly status: 'duplicate'; readonly appliedVersion: number }
  /**
   * A newer version was applied, or sent with an outcome not known yet: applying this one could move
   * the record backwards (I1). `appliedVersion` is that newer version.
   */
  | { readonly status: 'stale'; readonly appliedVersion: number }
  /** Another consumer is calling the destination for this record right now. */
  | { readonly status: 'busy'; readonly leaseExpiresAt: number };

/**
 * The one rule of the version check, shared by every ledger store so they cannot disagree:
 * a version may be sent only when it is newer than the applied one, not older than any version sent
 * before, and no live lease exists.
 *
 * @example
 * decideLease({ appliedVersion: 4 }, { key: 'crm:contact:c-1:3', version: 3 }, Date.now()); // { status: 'stale', appliedVersion: 4 }
 */
export const decideLease = (entry: LedgerEntry | undefined, lease: Pick<Lease, 'key' | 'version'>, now: number): LeaseDecision => {
  const { version } = lease;
  const applied = entry?.appliedVersion;
  if (applied !== undefined && applied === version) return { status: 'duplicate', appliedVersion: applied };
  if (applied !== undefined && applied > version) return { status: 'stale', appliedVersion: applied };
  const claimed = entry?.claimedVersion;
  if (claimed !== undefined && claimed > version) return { status: 'stale', appliedVersion: claimed };
  // The same change may take its own live lease again: a retry after an unknown outcome keeps the
  // lease (see holdLeaseOnFailure), and the same idempotency key cannot regress anything.
  const held = entry?.lease;
  if (held !== undefined && held.expiresAt > now && held.key !== lease.key) return { status: 'busy', leaseExpiresAt: held.expiresAt };
  return { status: 'acquired' };
};

/**
 * Port to the version ledger. Implementations must make `acquireLease` atomic (a conditional write
 * in DynamoDB); `commit` and `release` act only while the caller's lease key is the one held.
 */
export interface LedgerStore {
  acquireLease(record: LedgerRecordKey, lease: Lease, now: number): Promise<LeaseDecision>;
  /** Records `lease.version` as applied and frees the record. False when the lease was lost. */
  commit(record: LedgerRecordKey, lease: Pick<Lease, 'key' | 'version'>, applied: { op: ChangeOp; at: number }): Promise<boolean>;
  /** Frees the record without changing the applied version (the call failed). */
  release(record: LedgerRecordKey, leaseKey: string): Promise<void>;
  read(record: LedgerRecordKey): Promise<LedgerEntry | undefined>;
}

/** The ledger's partition key for a record; unambiguous, as destination and type cannot hold '#' and the id comes last. */
export const ledgerKey = (record: LedgerRecordKey): string =>
  `${record.destination}#${record.resourceType}#${record.id}`;

/**
 * A ledger in memory, for unit tests and for reasoning: JavaScript's single thread makes each method
 * atomic, which is what the DynamoDB conditions buy in production.
 *
 * @example
 * const ledger = new InMemoryLedgerStore();
 * await ledger.acquireLease(key, { key: 'crm:contact:c-1:2', version: 2, expiresAt: Date.now() + 5000 }, Date.now());
 */
export class InMemoryLedgerStore implements LedgerStore {
  readonly #entries = new Map<string, LedgerEntry>();

  public async acquireLease(record: LedgerRecordKey, lease: Lease, now: number): Promise<LeaseDecision> {
    const entry = this.#entries.get(ledgerKey(record));
    const decision = decideLease(entry, lease, now);
    if (decision.status === 'acquired') {
      this.#entries.set(ledgerKey(record), { ...entry, claimedVersion: Math.max(entry?.claimedVersion ?? lease.version, lease.version), lease });
    }
    return decision;
  }

  public async commit(
    record: LedgerRecordKey,
    lease: Pick<Lease, 'key' | 'version'>,
    _applied: { op: ChangeOp; at: number },
  ): Promise<boolean> {
    const entry = this.#entries.get(ledgerKey(record));
    if (entry?.lease?.key !== lease.key) return false;
    this.#entries.set(ledgerKey(record), { appliedVersion: lease.version, claimedVersion: entry.claimedVersion ?? lease.version });
    return true;
  }

  public async release(record: LedgerRecordKey, leaseKey: string): Promise<void> {
    const entry = this.#entries.get(ledgerKey(record));
    if (entry?.lease?.key !== leaseKey) return;
    const { lease: _released, ...rest } = entry;
    this.#entries.set(ledgerKey(record), rest);
  }

  public async read(record: LedgerRecordKey): Promise<LedgerEntry | undefined> {
    return this.#entries.get(ledgerKey(record));
  }
}
