import type { ChangeOp } from '../contract/change-event.ts';
import { decideLease, ledgerKey, type Lease, type LeaseDecision, type LeaseEnd, type LedgerEntry, type LedgerRecordKey, type LedgerStore } from '../core/ledger.ts';

/**
 * A ledger in memory, for unit tests and for reasoning: JavaScript's single thread makes each method
 * atomic, which is what the DynamoDB conditions buy in production.
 *
 * @example
 * const ledger = new InMemoryLedgerStore();
 * await ledger.acquireLease(key, { token: randomUUID(), key: 'crm:contact:c-1:2', version: 2, expiresAt: Date.now() + 5000 }, Date.now(), 120_000);
 */
export class InMemoryLedgerStore implements LedgerStore {
  readonly #entries = new Map<string, LedgerEntry>();

  public async acquireLease(record: LedgerRecordKey, lease: Lease, now: number, settleMs: number): Promise<LeaseDecision> {
    const entry = this.#entries.get(ledgerKey(record));
    const decision = decideLease(entry, lease, now);
    if (decision.status === 'acquired') {
      this.#entries.set(ledgerKey(record), {
        ...entry,
        claimedVersion: Math.max(entry?.claimedVersion ?? lease.version, lease.version),
        lease,
        fencedUntil: lease.expiresAt + settleMs,
      });
    }
    return decision;
  }

  public async commit(
    record: LedgerRecordKey,
    lease: Pick<Lease, 'token' | 'version'>,
    applied: { op: ChangeOp; at: number } & LeaseEnd,
  ): Promise<boolean> {
    const entry = this.#entries.get(ledgerKey(record));
    if (entry?.lease?.token !== lease.token) return false;
    this.#entries.set(ledgerKey(record), {
      appliedVersion: lease.version,
      claimedVersion: entry.claimedVersion ?? lease.version,
      ...(entry.seenVersion === undefined ? {} : { seenVersion: entry.seenVersion }),
      ...(applied.fencedUntil === undefined ? {} : { fencedUntil: applied.fencedUntil }),
    });
    return true;
  }

  public async release(record: LedgerRecordKey, token: string, end: LeaseEnd = {}): Promise<void> {
    const entry = this.#entries.get(ledgerKey(record));
    if (entry?.lease?.token !== token) return;
    const { lease: _released, fencedUntil: _fence, ...rest } = entry;
    this.#entries.set(ledgerKey(record), { ...rest, ...(end.fencedUntil === undefined ? {} : { fencedUntil: end.fencedUntil }) });
  }

  public async read(record: LedgerRecordKey): Promise<LedgerEntry | undefined> {
    return this.#entries.get(ledgerKey(record));
  }

  public async readMany(records: readonly LedgerRecordKey[]): Promise<ReadonlyMap<string, LedgerEntry>> {
    const entries = new Map<string, LedgerEntry>();
    for (const record of records) {
      const entry = this.#entries.get(ledgerKey(record));
      if (entry !== undefined) entries.set(ledgerKey(record), entry);
    }
    return entries;
  }

  public async markSeen(record: LedgerRecordKey, version: number): Promise<void> {
    const entry = this.#entries.get(ledgerKey(record));
    if (entry?.seenVersion !== undefined && entry.seenVersion >= version) return;
    this.#entries.set(ledgerKey(record), { ...entry, seenVersion: version });
  }
}
