import {
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
} from '../sync/ledger.ts';

export interface DynamoDbLedgerStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

const key = (record: LedgerRecordKey): Record<string, AttributeValue> => ({
  [LEDGER_KEY_ATTRIBUTE]: { S: ledgerKey(record) },
});

const toEntry = (item: Record<string, AttributeValue> | undefined): LedgerEntry | undefined => {
  if (item === undefined) return undefined;
  const appliedVersion = item.appliedVersion?.N;
  const claimedVersion = item.claimedVersion?.N;
  const leaseKey = item.leaseKey?.S;
  const leaseVersion = item.leaseVersion?.N;
  const leaseExpiresAt = item.leaseExpiresAt?.N;
  return {
    ...(appliedVersion === undefined ? {} : { appliedVersion: Number(appliedVersion) }),
    ...(claimedVersion === undefined ? {} : { claimedVersion: Number(claimedVersion) }),
    ...(leaseKey === undefined || leaseVersion === undefined || leaseExpiresAt === undefined
      ? {}
      : { lease: { key: leaseKey, version: Number(leaseVersion), expiresAt: Number(leaseExpiresAt) } }),
  };
};

/**
 * The version ledger in DynamoDB: one item per (destination, resourceType, id).
 *
 * Write cost, the reason for this shape: taking the lease is one conditional UpdateItem that also
 * performs the version check, committing is one more; a stale or duplicate change costs the single
 * failed conditional write. Nothing here reads the external API.
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

  public async acquireLease(record: LedgerRecordKey, lease: Lease, now: number): Promise<LeaseDecision> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key(record),
          UpdateExpression: 'SET leaseKey = :key, leaseVersion = :version, leaseExpiresAt = :expiresAt, claimedVersion = :version',
          // The same rule as decideLease(): newer than applied, not older than any version sent, and
          // no live lease but this change's own. claimedVersion can only grow: the condition keeps
          // it <= :version.
          ConditionExpression:
            '(attribute_not_exists(appliedVersion) OR appliedVersion < :version) AND ' +
            '(attribute_not_exists(claimedVersion) OR claimedVersion <= :version) AND ' +
            '(attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt <= :now OR leaseKey = :key)',
          ExpressionAttributeValues: {
            ':key': { S: lease.key },
            ':version': { N: String(lease.version) },
            ':expiresAt': { N: String(lease.expiresAt) },
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
      return decision.status === 'acquired' ? { status: 'busy', leaseExpiresAt: now } : decision;
    }
  }

  public async commit(
    record: LedgerRecordKey,
    lease: Pick<Lease, 'key' | 'version'>,
    applied: { op: ChangeOp; at: number },
  ): Promise<boolean> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key(record),
          UpdateExpression:
            'SET appliedVersion = :version, appliedOp = :op, appliedAt = :at REMOVE leaseKey, leaseVersion, leaseExpiresAt',
          ConditionExpression: 'leaseKey = :key',
          ExpressionAttributeValues: {
            ':key': { S: lease.key },
            ':version': { N: String(lease.version) },
            ':op': { S: applied.op },
            ':at': { N: String(applied.at) },
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  public async release(record: LedgerRecordKey, leaseKey: string): Promise<void> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key(record),
          UpdateExpression: 'REMOVE leaseKey, leaseVersion, leaseExpiresAt',
          ConditionExpression: 'leaseKey = :key',
          ExpressionAttributeValues: { ':key': { S: leaseKey } },
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
}
