import type { ChangeOp } from '../contract/change-event.ts';

/** Identifies one record at one destination; the ledger keeps one entry per key. */
export interface LedgerRecordKey {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
}

/**
 * One attempt's claim to call the destination for one version of a record. A lease belongs to the
 * attempt that took it, never to a change: `token` is drawn anew on every acquisition, and commit and
 * release act only with it. Another attempt with the same idempotency key (a concurrent duplicate
 * delivery, a same-version twin, the change's own redelivery) is busy like any other.
 */
export interface Lease {
  /** Unique to one acquisition. */
  readonly token: string;
  /** The change's idempotency key, kept for operators reading the ledger; it grants nothing. */
  readonly key: string;
  readonly version: number;
  /** Epoch ms; the holder starts no destination call that could outlive it. */
  readonly expiresAt: number;
}

/** What the ledger knows about a record at a destination. */
export interface LedgerEntry {
  /** Highest version the destination is known to hold (after a successful call). */
  readonly appliedVersion?: number;
  /** What that version did, and when it was committed (epoch ms); for operators. */
  readonly appliedOp?: ChangeOp;
  readonly appliedAt?: number;
  /**
   * Highest version ever sent to the destination (set with every lease). A call that timed out or
   * died may still land, so no older version may be sent after it: that would be a regression the
   * ledger cannot see.
   */
  readonly claimedVersion?: number;
  readonly lease?: Lease;
  /**
   * Epoch ms before which no attempt may take the record: a call whose outcome is unknown may still
   * land until then (the settle window). Set with every lease to `expiresAt + settle`, so an attempt
   * that dies mid-call fences the record too; a commit or release with a known outcome clears it.
   */
  readonly fencedUntil?: number;
  /**
   * Highest version seen waiting in the queue (backlog coalescing): marked when a change that waited
   * in a backlog is first received. An older version is then skipped as superseded, unsent.
   */
  readonly seenVersion?: number;
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
  /** A newer version is waiting in the queue (it was seen there): only the newest is sent. */
  | { readonly status: 'superseded'; readonly appliedVersion: number }
  /** Another attempt holds a live lease on this record; it usually finishes within one call. */
  | { readonly status: 'busy'; readonly retryAt: number }
  /** A call whose outcome is unknown may still land until `retryAt`; nothing may be sent before. */
  | { readonly status: 'fenced'; readonly retryAt: number };

/**
 * The one rule of the version check, shared by every ledger store so they cannot disagree:
 * a version may be sent only when it is newer than the applied one, not older than any version sent
 * before nor than one seen waiting in the queue, no live lease exists (whoever holds it), and no
 * settle window is running.
 *
 * @example
 * decideLease({ appliedVersion: 4 }, { version: 3 }, Date.now()); // { status: 'stale', appliedVersion: 4 }
 */
export const decideLease = (entry: LedgerEntry | undefined, lease: Pick<Lease, 'version'>, now: number): LeaseDecision => {
  const { version } = lease;
  const applied = entry?.appliedVersion;
  if (applied !== undefined && applied === version) return { status: 'duplicate', appliedVersion: applied };
  if (applied !== undefined && applied > version) return { status: 'stale', appliedVersion: applied };
  const claimed = entry?.claimedVersion;
  if (claimed !== undefined && claimed > version) return { status: 'stale', appliedVersion: claimed };
  const seen = entry?.seenVersion;
  if (seen !== undefined && seen > version) return { status: 'superseded', appliedVersion: seen };
  const held = entry?.lease;
  if (held !== undefined && held.expiresAt > now) return { status: 'busy', retryAt: held.expiresAt };
  const fencedUntil = entry?.fencedUntil;
  if (fencedUntil !== undefined && fencedUntil > now) return { status: 'fenced', retryAt: fencedUntil };
  return { status: 'acquired' };
};

/** How an attempt ends its lease. */
export interface LeaseEnd {
  /**
   * Epoch ms until which the record stays fenced because a call of this attempt may still land;
   * undefined when every call's outcome is known (the record is free at once).
   */
  readonly fencedUntil?: number;
}

/**
 * Port to the version ledger. Implementations must make each method atomic (a conditional write in
 * DynamoDB); `commit` and `release` act only while the caller's lease token is the one held.
 */
export interface LedgerStore {
  /**
   * Takes the lease when {@link decideLease} allows it, setting `claimedVersion` and
   * `fencedUntil = lease.expiresAt + settleMs`.
   */
  acquireLease(record: LedgerRecordKey, lease: Lease, now: number, settleMs: number): Promise<LeaseDecision>;
  /** Records `lease.version` as applied and ends the lease. False when the lease was lost. */
  commit(record: LedgerRecordKey, lease: Pick<Lease, 'token' | 'version'>, applied: { op: ChangeOp; at: number } & LeaseEnd): Promise<boolean>;
  /** Ends the lease without changing the applied version (the call failed or was refused). */
  release(record: LedgerRecordKey, token: string, end?: LeaseEnd): Promise<void>;
  read(record: LedgerRecordKey): Promise<LedgerEntry | undefined>;
  /**
   * Reads many records' entries at once, each as strongly consistent as {@link read}, keyed by
   * {@link ledgerKey}. A record missing from the result is one the store has no entry for, or did not
   * get to (a batch read may leave keys unprocessed): either way nothing is known of it. A store that
   * cannot read in batches leaves this out, and every record then goes to {@link acquireLease}.
   */
  readMany?(records: readonly LedgerRecordKey[]): Promise<ReadonlyMap<string, LedgerEntry>>;
  /** Raises `seenVersion` to `version` if it is lower (or absent); one write, no lease needed. */
  markSeen(record: LedgerRecordKey, version: number): Promise<void>;
}

/** The ledger's partition key for a record; unambiguous, as destination and type cannot hold '#' and the id comes last. */
export const ledgerKey = (record: LedgerRecordKey): string =>
  `${record.destination}#${record.resourceType}#${record.id}`;

/** Whether a decision skips the change: the destination holds it or a newer version, or a newer one waits. */
export const isSkipDecision = (decision: LeaseDecision): decision is Extract<LeaseDecision, { status: 'duplicate' | 'stale' | 'superseded' }> =>
  decision.status === 'duplicate' || decision.status === 'stale' || decision.status === 'superseded';

/**
 * Reading a record costs a fifth of writing it (on-demand, a read unit is $0.125 and a write unit
 * $0.625 per million in us-east-1; provisioned capacity has the same ratio), and a failed conditional
 * write costs a whole write unit. Reading a batch's entries first therefore pays when more than this
 * share of its records turn out skipped.
 */
export const PRE_READ_BREAK_EVEN_SKIP_SHARE = 0.2;

/** How fast the estimate follows the stream: the weight of the latest batch. */
const SKIP_SHARE_WEIGHT = 0.2;

/**
 * The share of records a consumer has lately found skipped (duplicates, stale and superseded
 * versions), as an exponentially weighted average over its batches, and whether reading the next
 * batch's ledger entries before taking leases pays (see {@link PRE_READ_BREAK_EVEN_SKIP_SHARE}). It
 * starts at 0: a stream is taken as clean until it shows otherwise.
 *
 * Skipping on an earlier read is safe because every field a skip depends on only grows
 * (`appliedVersion`, `claimedVersion`, `seenVersion`; an operator's resync steps them back before it
 * re-sends, and the read is strongly consistent): what an earlier read says is skipped, the ledger
 * says is skipped now.
 *
 * @example
 * const estimate = new SkipShareEstimate();
 * estimate.observe({ skipped: 6, records: 10 });
 * estimate.preReadPays; // false: one batch moves the estimate to 0.12
 */
export class SkipShareEstimate {
  #share = 0;

  /** The estimated share of skipped records. */
  public get share(): number {
    return this.#share;
  }

  public get preReadPays(): boolean {
    return this.#share > PRE_READ_BREAK_EVEN_SKIP_SHARE;
  }

  /** Takes in one batch's outcomes: of `records` valid changes, `skipped` were skipped. */
  public observe(batch: { readonly skipped: number; readonly records: number }): void {
    if (batch.records <= 0) return;
    this.#share += SKIP_SHARE_WEIGHT * (batch.skipped / batch.records - this.#share);
  }
}

const atLeast = (current: number | undefined, version: number): number => (current === undefined ? version : Math.max(current, version));

/**
 * What an attempt learnt of a record's entry, merged into what was known of it: its own commit of
 * `applied`, or the ledger's refusal (a duplicate says that version is applied, a stale one that a
 * newer one is applied or sent, a superseded one that a newer one waits). Only the fields a skip
 * rests on are raised, and only up: what the entry says is then still true of the ledger (see
 * {@link SkipShareEstimate}), so a later record of the same batch can be skipped on it.
 *
 * @example
 * learnOutcome(undefined, { applied: 5 }); // { appliedVersion: 5, claimedVersion: 5 }
 * learnOutcome({ appliedVersion: 5 }, { decision: { status: 'stale', appliedVersion: 7 } }); // { appliedVersion: 5, claimedVersion: 7 }
 */
export const learnOutcome = (entry: LedgerEntry | undefined, learnt: { readonly applied: number } | { readonly decision: LeaseDecision }): LedgerEntry => {
  const known = entry ?? {};
  if ('applied' in learnt) return { ...known, appliedVersion: atLeast(known.appliedVersion, learnt.applied), claimedVersion: atLeast(known.claimedVersion, learnt.applied) };
  const { decision } = learnt;
  switch (decision.status) {
    case 'duplicate':
      return { ...known, appliedVersion: atLeast(known.appliedVersion, decision.appliedVersion) };
    case 'stale':
      return { ...known, claimedVersion: atLeast(known.claimedVersion, decision.appliedVersion) };
    case 'superseded':
      return { ...known, seenVersion: atLeast(known.seenVersion, decision.appliedVersion) };
    default:
      return known;
  }
};
