import { IdempotencyItemAlreadyExistsError, IdempotencyRecordStatus } from '@aws-lambda-powertools/idempotency';
import { BasePersistenceLayer, IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import { randomUUID } from 'node:crypto';
import type { ChangeEvent } from '../contract/change-event.ts';
import { withoutStackTrace } from '../core/errors.ts';
import type { SkipReason } from '../core/outcome.ts';
import { decideLease, type LeaseDecision, type LedgerRecordKey, type LedgerStore } from '../core/ledger.ts';

/** Drawn once per process (a Lambda container, a local run): the part of every lease token no other process has. */
const TOKEN_PREFIX = randomUUID();
let tokensDrawn = 0;

/**
 * A lease token no other attempt anywhere has: this process's random prefix and a count. As unique
 * as a random UUID per attempt (the prefix is one), and it costs no entropy per record.
 *
 * @example
 * newLeaseToken(); // '0b5c…-9f1e.1a'
 */
export const newLeaseToken = (): string => {
  tokensDrawn += 1;
  return `${TOKEN_PREFIX}.${tokensDrawn.toString(36)}`;
};

/** What a change's idempotent application returns, and what a duplicate gets back. */
export type ApplyResult =
  | { readonly outcome: 'applied' }
  | { readonly outcome: 'skipped'; readonly reason: SkipReason; readonly appliedVersion: number };

/** Raised when the commit finds the lease gone (it expired and another attempt took it). */
export class LeaseLostError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LeaseLostError';
  }
}

export interface LedgerPersistenceLayerOptions {
  readonly ledger: LedgerStore;
  readonly record: LedgerRecordKey;
  readonly event: Pick<ChangeEvent, 'version' | 'op'>;
  /** The change's idempotency key (`destination:resourceType:id:version`). */
  readonly idempotencyKey: string;
  readonly leaseDurationMs: number;
  /** How long after an unknown outcome nothing else may be sent; see `LedgerStore.acquireLease`. */
  readonly settleMs: number;
  /**
   * Asked when the attempt ends (commit or release): the epoch ms until which the record must stay
   * fenced because a call of this attempt may still land, or undefined when every outcome is known.
   * @default never fenced
   */
  readonly fencedUntil?: () => number | undefined;
  /** A fresh lease token per acquisition. @default {@link newLeaseToken} */
  readonly newLeaseToken?: (() => string) | undefined;
  readonly now?: () => number;
}

/**
 * A Powertools idempotency persistence layer whose records live in the version ledger.
 *
 * Powertools keeps its usual contract (in progress, completed, deleted on error, in-progress expiry
 * bound to the Lambda's remaining time), but the "in progress" record IS the per-record lease and
 * "completed" IS the ledger commit. So the duplicate check, the version check and the lease are one
 * conditional write, and an applied change costs two writes instead of four. A completed duplicate
 * or a stale version surfaces as an existing COMPLETED record whose response says why it was skipped;
 * a live lease or a settle window surfaces as an IN_PROGRESS record, and {@link lastDecision} says
 * which. Each acquisition draws its own lease token, kept here for the commit or release that ends it.
 *
 * One instance serves one change (the key and version are fixed at construction).
 *
 * @example
 * const persistenceStore = new LedgerPersistenceLayer({ ledger, record, event, idempotencyKey, leaseDurationMs: 11_000, settleMs: 120_000 });
 * const apply = makeIdempotent(callDestination, { persistenceStore, config });
 */
export class LedgerPersistenceLayer extends BasePersistenceLayer {
  readonly #options: LedgerPersistenceLayerOptions;
  readonly #now: () => number;
  readonly #newLeaseToken: () => string;
  #token: string | undefined;
  #lastDecision: LeaseDecision | undefined;
  #leaseExpiresAt: number | undefined;

  public constructor(options: LedgerPersistenceLayerOptions) {
    super();
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#newLeaseToken = options.newLeaseToken ?? newLeaseToken;
  }

  /** The ledger's answer to the last acquisition. */
  public get lastDecision(): LeaseDecision | undefined {
    return this.#lastDecision;
  }

  /** When the lease held now ends (epoch ms), or undefined when none is held. */
  public get leaseExpiresAt(): number | undefined {
    return this.#token === undefined ? undefined : this.#leaseExpiresAt;
  }

  protected async _putRecord(record: IdempotencyRecord): Promise<void> {
    const now = this.#now();
    // The lease never outlives the invocation: Powertools sets inProgressExpiryTimestamp from the
    // Lambda's remaining time, so a timed-out invocation frees the record when it dies (after the
    // settle window, since its call may still land).
    const expiresAt = Math.min(now + this.#options.leaseDurationMs, record.inProgressExpiryTimestamp ?? Number.POSITIVE_INFINITY);
    const { ledger, record: recordKey, event, idempotencyKey, settleMs } = this.#options;
    const token = this.#newLeaseToken();
    const decision = await ledger.acquireLease(recordKey, { token, key: idempotencyKey, version: event.version, expiresAt }, now, settleMs);
    this.#lastDecision = decision;
    switch (decision.status) {
      case 'acquired':
        this.#token = token;
        this.#leaseExpiresAt = expiresAt;
        return;
      case 'duplicate':
      case 'stale':
      case 'superseded': {
        const responseData: ApplyResult = {
          outcome: 'skipped',
          reason: decision.status,
          appliedVersion: decision.appliedVersion,
        };
        throw withoutStackTrace(
          () =>
            new IdempotencyItemAlreadyExistsError(
              `${idempotencyKey} is ${decision.status}: the destination holds version ${decision.appliedVersion}`,
              new IdempotencyRecord({ idempotencyKey: record.idempotencyKey, status: IdempotencyRecordStatus.COMPLETED, responseData }),
            ),
        );
      }
      case 'busy':
      case 'fenced':
        throw withoutStackTrace(
          () =>
            new IdempotencyItemAlreadyExistsError(
              decision.status === 'busy'
                ? `${idempotencyKey}: another attempt holds the lease on this record`
                : `${idempotencyKey}: the record is fenced until a call in doubt can no longer land`,
              new IdempotencyRecord({
                idempotencyKey: record.idempotencyKey,
                status: IdempotencyRecordStatus.INPROGRESS,
                inProgressExpiryTimestamp: decision.retryAt,
              }),
            ),
        );
    }
  }

  /**
   * The record's key is the change's idempotency key, given at construction: no JMESPath over the
   * payload and no hash (Powertools would otherwise search and md5 the input on every call).
   */
  protected override getHashedIdempotencyKey(_data: unknown): string {
    return this.#options.idempotencyKey;
  }

  protected async _updateRecord(record: IdempotencyRecord): Promise<void> {
    const { ledger, record: recordKey, event, idempotencyKey } = this.#options;
    const token = this.#takeToken();
    const fencedUntil = this.#options.fencedUntil?.();
    const end = fencedUntil === undefined ? {} : { fencedUntil };
    const result = record.responseData as ApplyResult | undefined;
    if (result?.outcome === 'skipped') {
      // The destination refused the write as superseded: nothing of ours is there to commit.
      await ledger.release(recordKey, token, end);
      return;
    }
    const committed = await ledger.commit(recordKey, { token, version: event.version }, { op: event.op, at: this.#now(), ...end });
    if (!committed) {
      throw new LeaseLostError(`${idempotencyKey}: the lease expired and was taken before the commit; the change will be retried`);
    }
  }

  protected async _deleteRecord(_record: IdempotencyRecord): Promise<void> {
    const token = this.#takeToken();
    const fencedUntil = this.#options.fencedUntil?.();
    try {
      await this.#options.ledger.release(this.#options.record, token, fencedUntil === undefined ? {} : { fencedUntil });
    } catch {
      // The lease expires on its own, and the record stays fenced for the settle window after it.
      // Failing here would make Powertools replace the destination's error with this one, and a
      // permanent failure would be retried instead of dead-lettered.
    }
  }

  protected async _getRecord(idempotencyKey: string): Promise<IdempotencyRecord> {
    // Only reached when _putRecord did not attach the existing record, which it always does; answer
    // from the ledger with the same rule anyway, so the contract holds.
    const { ledger, record, event } = this.#options;
    const decision = decideLease(await ledger.read(record), { version: event.version }, this.#now());
    if (decision.status === 'duplicate' || decision.status === 'stale' || decision.status === 'superseded') {
      const responseData: ApplyResult = { outcome: 'skipped', reason: decision.status, appliedVersion: decision.appliedVersion };
      return new IdempotencyRecord({ idempotencyKey, status: IdempotencyRecordStatus.COMPLETED, responseData });
    }
    return new IdempotencyRecord({
      idempotencyKey,
      status: IdempotencyRecordStatus.INPROGRESS,
      inProgressExpiryTimestamp: decision.status === 'acquired' ? this.#now() : decision.retryAt,
    });
  }

  /** The token of the lease being ended; each acquisition's token ends exactly once. */
  #takeToken(): string {
    const token = this.#token;
    if (token === undefined) throw new Error(`${this.#options.idempotencyKey}: no lease is held (this is a bug)`);
    this.#token = undefined;
    return token;
  }
}
