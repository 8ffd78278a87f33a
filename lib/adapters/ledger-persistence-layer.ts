import { IdempotencyItemAlreadyExistsError, IdempotencyRecordStatus } from '@aws-lambda-powertools/idempotency';
import { BasePersistenceLayer, IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import type { ChangeEvent } from '../contract/change-event.ts';
import { decideLease, type LedgerRecordKey, type LedgerStore } from '../sync/ledger.ts';

/** What a change's idempotent application returns, and what a duplicate gets back. */
export type ApplyResult =
  | { readonly outcome: 'applied' }
  | { readonly outcome: 'skipped'; readonly reason: 'duplicate' | 'stale'; readonly appliedVersion: number };

/** Raised when the commit finds the lease gone (it expired and another consumer took it). */
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
  /**
   * Asked when the call failed: true keeps the lease until it expires instead of releasing it, for
   * failures whose request may still land (see `isOutcomeUnknown`).
   * @default never hold
   */
  readonly holdLeaseOnFailure?: () => boolean;
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
 * a live lease held by another consumer surfaces as an IN_PROGRESS record.
 *
 * One instance serves one change (the key and version are fixed at construction).
 *
 * @example
 * const persistenceStore = new LedgerPersistenceLayer({ ledger, record, event, idempotencyKey, leaseDurationMs: 11_000 });
 * const apply = makeIdempotent(callDestination, { persistenceStore, config });
 */
export class LedgerPersistenceLayer extends BasePersistenceLayer {
  readonly #options: LedgerPersistenceLayerOptions;
  readonly #now: () => number;

  public constructor(options: LedgerPersistenceLayerOptions) {
    super();
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  protected async _putRecord(record: IdempotencyRecord): Promise<void> {
    const now = this.#now();
    // The lease never outlives the invocation: Powertools sets inProgressExpiryTimestamp from the
    // Lambda's remaining time, so a timed-out invocation frees the record when it dies.
    const expiresAt = Math.min(now + this.#options.leaseDurationMs, record.inProgressExpiryTimestamp ?? Number.POSITIVE_INFINITY);
    const { ledger, record: recordKey, event, idempotencyKey } = this.#options;
    const decision = await ledger.acquireLease(recordKey, { key: idempotencyKey, version: event.version, expiresAt }, now);
    switch (decision.status) {
      case 'acquired':
        return;
      case 'duplicate':
      case 'stale': {
        const responseData: ApplyResult = {
          outcome: 'skipped',
          reason: decision.status,
          appliedVersion: decision.appliedVersion,
        };
        throw new IdempotencyItemAlreadyExistsError(
          `${idempotencyKey} is ${decision.status}: the destination holds version ${decision.appliedVersion}`,
          new IdempotencyRecord({ idempotencyKey: record.idempotencyKey, status: IdempotencyRecordStatus.COMPLETED, responseData }),
        );
      }
      case 'busy':
        throw new IdempotencyItemAlreadyExistsError(
          `${idempotencyKey}: another consumer holds the lease on this record`,
          new IdempotencyRecord({
            idempotencyKey: record.idempotencyKey,
            status: IdempotencyRecordStatus.INPROGRESS,
            inProgressExpiryTimestamp: decision.leaseExpiresAt,
          }),
        );
    }
  }

  protected async _updateRecord(_record: IdempotencyRecord): Promise<void> {
    const { ledger, record, event, idempotencyKey } = this.#options;
    const committed = await ledger.commit(record, { key: idempotencyKey, version: event.version }, { op: event.op, at: this.#now() });
    if (!committed) {
      throw new LeaseLostError(`${idempotencyKey}: the lease expired before the commit; the change will be retried`);
    }
  }

  protected async _deleteRecord(_record: IdempotencyRecord): Promise<void> {
    if (this.#options.holdLeaseOnFailure?.() === true) return;
    try {
      await this.#options.ledger.release(this.#options.record, this.#options.idempotencyKey);
    } catch {
      // The lease expires on its own. Failing here would make Powertools replace the destination's
      // error with this one, and a permanent failure would be retried instead of dead-lettered.
    }
  }

  protected async _getRecord(idempotencyKey: string): Promise<IdempotencyRecord> {
    // Only reached when _putRecord did not attach the existing record, which it always does; answer
    // from the ledger with the same rule anyway, so the contract holds.
    const { ledger, record, event } = this.#options;
    const decision = decideLease(await ledger.read(record), { key: this.#options.idempotencyKey, version: event.version }, this.#now());
    if (decision.status === 'duplicate' || decision.status === 'stale') {
      const responseData: ApplyResult = { outcome: 'skipped', reason: decision.status, appliedVersion: decision.appliedVersion };
      return new IdempotencyRecord({ idempotencyKey, status: IdempotencyRecordStatus.COMPLETED, responseData });
    }
    return new IdempotencyRecord({
      idempotencyKey,
      status: IdempotencyRecordStatus.INPROGRESS,
      inProgressExpiryTimestamp: decision.status === 'busy' ? decision.leaseExpiresAt : this.#now(),
    });
  }

}
