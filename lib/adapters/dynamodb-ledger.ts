import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { LEDGER_KEY_ATTRIBUTE } from '../config/resources.ts';
import type { ChangeOp } from '../contract/change-event.ts';
import {
  decideLease,
  ledgerKey,
  type Lease,
  type LeaseDecision,
  type LedgerEntry,
  type LedgerRecordKey,
  type LedgerStore,
  type LeaseEnd,
} from '../core/ledger.ts';

export interface DynamoDbLedgerStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

const key = (record: LedgerRecordKey): Record<string, AttributeValue> => ({
  [LEDGER_KEY_ATTRIBUTE]: { S: ledgerKey(record) },
});

const toEntry = (item: Record<string, AttributeValue> | undefined): LedgerEntry | undefined => {
  if (item === undefined) return undefined;
  const number = (name: string): number | undefined => (item[name]?.N === undefined ? undefined : Number(item[name]!.N));
  const appliedVersion = number('appliedVersion');
  const claimedVersion = number('claimedVersion');
  const fencedUntil = number('fencedUntil');
  const seenVersion = number('seenVersion');
  const leaseToken = item.leaseToken?.S;
  const leaseVersion = number('leaseVersion');
  const leaseExpiresAt = number('leaseExpiresAt');
  const appliedAt = number('appliedAt');
  const appliedOp = item.appliedOp?.S as ChangeOp | undefined;
  return {
    ...(appliedVersion === undefined ? {} : { appliedVersion }),
    ...(appliedOp === undefined ? {} : { appliedOp }),
    ...(appliedAt === undefined ? {} : { appliedAt }),
    ...(claimedVersion === undefined ? {} : { claimedVersion }),
    ...(fencedUntil === undefined ? {} : { fencedUntil }),
    ...(seenVersion === undefined ? {} : { seenVersion }),
    ...(leaseToken === undefined || leaseVersion === undefined || leaseExpiresAt === undefined
      ? {}
      : { lease: { token: leaseToken, key: item.leaseKey?.S ?? '', version: leaseVersion, expiresAt: leaseExpiresAt } }),
  };
};

/** Keys per BatchGetItem request. */
const BATCH_GET_LIMIT = 100;

/** Attributes of a lease; commit and release remove them all. */
const LEASE_ATTRIBUTES = 'leaseToken, leaseKey, leaseVersion, leaseExpiresAt';

/** `SET fencedUntil = :fencedUntil` when the attempt ends in doubt, else `REMOVE fencedUntil` (the record is free). */
const endOfLease = (end: LeaseEnd): { set: string[]; remove: string[]; values: Record<string, AttributeValue> } =>
  end.fencedUntil === undefined
    ? { set: [], remove: ['fencedUntil'], values: {} }
    : { set: ['fencedUntil = :fencedUntil'], remove: [], values: { ':fencedUntil': { N: String(end.fencedUntil) } } };

const updateExpression = (set: readonly string[], remove: readonly string[]): string =>
  [set.length > 0 ? `SET ${set.join(', ')}` : '', remove.length > 0 ? `REMOVE ${remove.join(', ')}` : ''].filter(Boolean).join(' ');

/**
 * The version ledger in DynamoDB: one item per (destination, resourceType, id).
 *
 * Write cost, the reason for this shape: taking the lease is one conditional UpdateItem that also
 * performs the version check, committing is one more; a stale or duplicate change costs the single
 * failed conditional write. Nothing here reads the external API. Every condition is on the lease's
 * token, never on the idempotency key: a lease belongs to one attempt.
 *
 * @example
 * const ledger = new DynamoDbLedgerStore({ client: new DynamoDBClient({}), tableName: 'sync-pipeline-ledger' });
 */
export class DynamoDbLedgerStore implements LedgerStore {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;

  public constructor(options: DynamoDbLedgerStoreOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  public async acquireLease(record: LedgerRecordKey, lease: Lease, now: number, settleMs: number): Promise<LeaseDecision> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key(record),
          UpdateExpression:
            'SET leaseToken = :token, leaseKey = :key, leaseVersion = :version, leaseExpiresAt = :expiresAt, ' +
            'fencedUntil = :fencedUntil, claimedVersion = :version',
          // The same rule as decideLease(): newer than applied, not older than any version sent, no
          // live lease whoever holds it, and no settle window running. claimedVersion can only grow:
          // the condition keeps it <= :version.
          ConditionExpression:
            '(attribute_not_exists(appliedVersion) OR appliedVersion < :version) AND ' +
            '(attribute_not_exists(claimedVersion) OR claimedVersion <= :version) AND ' +
            '(attribute_not_exists(seenVersion) OR seenVersion <= :version) AND ' +
            '(attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt <= :now) AND ' +
            '(attribute_not_exists(fencedUntil) OR fencedUntil <= :now)',
          ExpressionAttributeValues: {
            ':token': { S: lease.token },
            ':key': { S: lease.key },
            ':version': { N: String(lease.version) },
            ':expiresAt': { N: String(lease.expiresAt) },
            ':fencedUntil': { N: String(lease.expiresAt + settleMs) },
            ':now': { N: String(now) },
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { status: 'acquired' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // DynamoDB returns the item that failed the condition; emulators that ignore
      // ReturnValuesOnConditionCheckFailure need one consistent read to tell stale from busy.
      const entry = error.Item === undefined ? await this.read(record) : toEntry(error.Item);
      const decision = decideLease(entry, lease, now);
      // The item changed between the write and the read: someone is working on it, so retry later.
      return decision.status === 'acquired' ? { status: 'busy', retryAt: now } : decision;
    }
  }

  public async commit(
    record: LedgerRecordKey,
    lease: Pick<Lease, 'token' | 'version'>,
    applied: { op: ChangeOp; at: number } & LeaseEnd,
  ): Promise<boolean> {
    const end = endOfLease(applied);
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key(record),
          UpdateExpression: updateExpression(['appliedVersion = :version', 'appliedOp = :op', 'appliedAt = :at', ...end.set], [LEASE_ATTRIBUTES, ...end.remove]),
          ConditionExpression: 'leaseToken = :token',
          ExpressionAttributeValues: {
            ':token': { S: lease.token },
            ':version': { N: String(lease.version) },
            ':op': { S: applied.op },
            ':at': { N: String(applied.at) },
            ...end.values,
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  public async release(record: LedgerRecordKey, token: string, end: LeaseEnd = {}): Promise<void> {
    const ending = endOfLease(end);
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key(record),
          UpdateExpression: updateExpression(ending.set, [LEASE_ATTRIBUTES, ...ending.remove]),
          ConditionExpression: 'leaseToken = :token',
          ExpressionAttributeValues: { ':token': { S: token }, ...ending.values },
        }),
      );
    } catch (error) {
      // Already released or taken over after expiry: nothing of ours to free.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  public async read(record: LedgerRecordKey): Promise<LedgerEntry | undefined> {
    const result = await this.#client.send(
      new GetItemCommand({ TableName: this.#tableName, Key: key(record), ConsistentRead: true }),
    );
    return toEntry(result.Item);
  }

  /**
   * BatchGetItem, strongly consistent, up to 100 keys a request (DynamoDB's limit). Keys DynamoDB
   * leaves unprocessed (throttling) are not retried: they are simply not in the result, so their
   * records take the conditional write as they would without the read.
   */
  public async readMany(records: readonly LedgerRecordKey[]): Promise<ReadonlyMap<string, LedgerEntry>> {
    const entries = new Map<string, LedgerEntry>();
    const keys = [...new Set(records.map(ledgerKey))];
    for (let at = 0; at < keys.length; at += BATCH_GET_LIMIT) {
      const chunk = keys.slice(at, at + BATCH_GET_LIMIT).map((ledgerKeyValue) => ({ [LEDGER_KEY_ATTRIBUTE]: { S: ledgerKeyValue } }));
      const result = await this.#client.send(new BatchGetItemCommand({ RequestItems: { [this.#tableName]: { Keys: chunk, ConsistentRead: true } } }));
      for (const item of result.Responses?.[this.#tableName] ?? []) {
        const entry = toEntry(item);
        const itemKey = item[LEDGER_KEY_ATTRIBUTE]?.S;
        if (entry !== undefined && itemKey !== undefined) entries.set(itemKey, entry);
      }
    }
    return entries;
  }

  public async markSeen(record: LedgerRecordKey, version: number): Promise<void> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key(record),
          UpdateExpression: 'SET seenVersion = :version',
          ConditionExpression: 'attribute_not_exists(seenVersion) OR seenVersion < :version',
          ExpressionAttributeValues: { ':version': { N: String(version) } },
        }),
      );
    } catch (error) {
      // A newer version was seen already: nothing to raise.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /**
   * Lets `version`, already applied, be sent once more (an operator's resync of a destination that
   * drifted): the applied and claimed versions step back to just below it, only while both are
   * exactly `version` and the record is neither leased nor fenced. Older versions stay refused (the
   * one just below reads as a duplicate, anything lower as stale), and a newer version that arrives
   * first wins as usual. False when the condition failed (read the entry to say why).
   *
   * @example
   * await ledger.reopenForResync({ destination: 'crm', resourceType: 'contact', id: 'c-1' }, 7, Date.now());
   */
  public async reopenForResync(record: LedgerRecordKey, version: number, now: number): Promise<boolean> {
    const below = version - 1;
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key(record),
          UpdateExpression: below < 0 ? 'REMOVE appliedVersion, claimedVersion, appliedOp, appliedAt' : 'SET appliedVersion = :below, claimedVersion = :below',
          ConditionExpression:
            'appliedVersion = :version AND claimedVersion = :version AND ' +
            '(attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt <= :now) AND ' +
            '(attribute_not_exists(fencedUntil) OR fencedUntil <= :now)',
          ExpressionAttributeValues: {
            ':version': { N: String(version) },
            ':now': { N: String(now) },
            ...(below < 0 ? {} : { ':below': { N: String(below) } }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
