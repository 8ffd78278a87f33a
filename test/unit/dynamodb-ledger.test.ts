import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbLedgerStore } from '../../lib/adapters/dynamodb-ledger.ts';

const NOW = 1_000_000;
const record = { destination: 'crm', resourceType: 'contact', id: 'c-1' };
const lease = { token: 'attempt-1', key: 'crm:contact:c-1:4', version: 4, expiresAt: NOW + 5_000 };

/** A client whose every request fails the condition, returning `item` as DynamoDB does with ALL_OLD. */
const conditionFailingWith = (item: Record<string, unknown>) => {
  const sent: string[] = [];
  const client = {
    send: async (command: { constructor: { name: string } }) => {
      sent.push(command.constructor.name);
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, Item: item as never });
    },
  } as unknown as DynamoDBClient;
  return { client, sent };
};

describe('Class: DynamoDbLedgerStore', () => {
  it.each<[string, Record<string, unknown>, object]>([
    ['duplicate', { appliedVersion: { N: '4' } }, { status: 'duplicate', appliedVersion: 4 }],
    ['stale (applied)', { appliedVersion: { N: '6' } }, { status: 'stale', appliedVersion: 6 }],
    ['stale (a newer version was sent)', { appliedVersion: { N: '2' }, claimedVersion: { N: '7' } }, { status: 'stale', appliedVersion: 7 }],
    [
      'busy',
      {
        appliedVersion: { N: '2' },
        claimedVersion: { N: '3' },
        leaseToken: { S: 'attempt-0' },
        leaseKey: { S: 'crm:contact:c-1:3' },
        leaseVersion: { N: '3' },
        leaseExpiresAt: { N: String(NOW + 900) },
        fencedUntil: { N: String(NOW + 60_900) },
      },
      { status: 'busy', retryAt: NOW + 900 },
    ],
    [
      'busy (same idempotency key, another attempt)',
      { claimedVersion: { N: '4' }, leaseToken: { S: 'attempt-0' }, leaseKey: { S: 'crm:contact:c-1:4' }, leaseVersion: { N: '4' }, leaseExpiresAt: { N: String(NOW + 900) } },
      { status: 'busy', retryAt: NOW + 900 },
    ],
    ['fenced (a call in doubt)', { claimedVersion: { N: '3' }, fencedUntil: { N: String(NOW + 30_000) } }, { status: 'fenced', retryAt: NOW + 30_000 }],
  ])('tells %s from the item DynamoDB returns on a failed condition, with no extra read', async (_name, item, expected) => {
    // Prepare
    const { client, sent } = conditionFailingWith(item);
    const ledger = new DynamoDbLedgerStore({ client, tableName: 'ledger' });

    // Act
    const decision = await ledger.acquireLease(record, lease, NOW, 60_000);

    // Assess
    expect(decision).toEqual(expected);
    expect(sent).toEqual(['UpdateItemCommand']);
  });

  it('reports busy, not acquired, when the returned item would have allowed the lease (it changed in between)', async () => {
    // Prepare
    const { client } = conditionFailingWith({ appliedVersion: { N: '1' } });
    const ledger = new DynamoDbLedgerStore({ client, tableName: 'ledger' });

    // Act
    const decision = await ledger.acquireLease(record, lease, NOW, 60_000);

    // Assess
    expect(decision).toEqual({ status: 'busy', retryAt: NOW });
  });
});
