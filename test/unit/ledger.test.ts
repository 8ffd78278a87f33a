import { describe, expect, it } from 'vitest';
import { decideLease, InMemoryLedgerStore, type LedgerEntry } from '../../lib/sync/ledger.ts';

const NOW = 1_000_000;
const record = { destination: 'crm', resourceType: 'contact', id: 'c-1' };

describe('Function: decideLease', () => {
  it.each<[string, LedgerEntry | undefined, number, string]>([
    ['acquires a record never seen', undefined, 1, 'acquired'],
    ['acquires a newer version', { appliedVersion: 3 }, 4, 'acquired'],
    ['calls an equal version a duplicate', { appliedVersion: 3 }, 3, 'duplicate'],
    ['calls an older version stale', { appliedVersion: 3 }, 2, 'stale'],
    ['is busy while another lease is live', { appliedVersion: 1, lease: { key: 'k', version: 2, expiresAt: NOW + 1 } }, 3, 'busy'],
    ['acquires once the lease has expired', { appliedVersion: 1, lease: { key: 'k', version: 2, expiresAt: NOW } }, 3, 'acquired'],
    ['prefers stale over busy (no call would help)', { appliedVersion: 5, lease: { key: 'k', version: 6, expiresAt: NOW + 1 } }, 4, 'stale'],
    ['calls a version older than one already sent stale, though never applied', { appliedVersion: 2, claimedVersion: 5 }, 4, 'stale'],
    ['lets the version already sent be sent again', { appliedVersion: 2, claimedVersion: 5 }, 5, 'acquired'],
    ['lets a version newer than the one sent go once its lease has expired', { claimedVersion: 5, lease: { key: 'k5', version: 5, expiresAt: NOW } }, 6, 'acquired'],
    ['lets a change take its own live lease again (a retry after an unknown outcome)', { claimedVersion: 3, lease: { key: 'crm:contact:c-1:3', version: 3, expiresAt: NOW + 5000 } }, 3, 'acquired'],
  ])('%s', (_name, entry, version, expected) => {
    // Act
    const decision = decideLease(entry, { key: `crm:contact:c-1:${version}`, version }, NOW);

    // Assess
    expect(decision.status).toBe(expected);
  });
});

describe('Class: InMemoryLedgerStore', () => {
  it('lets exactly one of two concurrent versions take the lease', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();

    // Act
    const [first, second] = await Promise.all([
      ledger.acquireLease(record, { key: 'crm:contact:c-1:3', version: 3, expiresAt: NOW + 5000 }, NOW),
      ledger.acquireLease(record, { key: 'crm:contact:c-1:5', version: 5, expiresAt: NOW + 5000 }, NOW),
    ]);

    // Assess
    expect([first.status, second.status]).toEqual(['acquired', 'busy']);
  });

  it('commits only for the lease holder and then refuses older versions', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();
    await ledger.acquireLease(record, { key: 'crm:contact:c-1:5', version: 5, expiresAt: NOW + 5000 }, NOW);

    // Act
    const intruder = await ledger.commit(record, { key: 'crm:contact:c-1:4', version: 4 }, { op: 'upsert', at: NOW });
    const holder = await ledger.commit(record, { key: 'crm:contact:c-1:5', version: 5 }, { op: 'upsert', at: NOW });
    const older = await ledger.acquireLease(record, { key: 'crm:contact:c-1:4', version: 4, expiresAt: NOW + 5000 }, NOW);

    // Assess
    expect(intruder).toBe(false);
    expect(holder).toBe(true);
    expect(older).toEqual({ status: 'stale', appliedVersion: 5 });
    expect(await ledger.read(record)).toEqual({ appliedVersion: 5, claimedVersion: 5 });
  });

  it('frees the record on release without moving the applied version', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();
    await ledger.acquireLease(record, { key: 'crm:contact:c-1:2', version: 2, expiresAt: NOW + 5000 }, NOW);

    // Act
    await ledger.release(record, 'crm:contact:c-1:2');
    const retry = await ledger.acquireLease(record, { key: 'crm:contact:c-1:2', version: 2, expiresAt: NOW + 5000 }, NOW);

    // Assess
    expect(retry.status).toBe('acquired');
    expect((await ledger.read(record))?.appliedVersion).toBeUndefined();
  });
});
