import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryLedgerStore } from '../../lib/adapters/in-memory-ledger.ts';
import { decideLease, isSkipDecision, learnOutcome, PRE_READ_BREAK_EVEN_SKIP_SHARE, SkipShareEstimate, type LedgerEntry } from '../../lib/core/ledger.ts';

const NOW = 1_000_000;
const SETTLE_MS = 60_000;
const record = { destination: 'crm', resourceType: 'contact', id: 'c-1' };
const leaseOf = (version: number, token = `t-${version}`, expiresAt = NOW + 5_000) => ({ token, key: `crm:contact:c-1:${version}`, version, expiresAt });

describe('Function: decideLease', () => {
  it.each<[string, LedgerEntry | undefined, number, string]>([
    ['acquires a record never seen', undefined, 1, 'acquired'],
    ['acquires a newer version', { appliedVersion: 3 }, 4, 'acquired'],
    ['calls an equal version a duplicate', { appliedVersion: 3 }, 3, 'duplicate'],
    ['calls an older version stale', { appliedVersion: 3 }, 2, 'stale'],
    ['is busy while another lease is live', { appliedVersion: 1, lease: leaseOf(2, 'k', NOW + 1) }, 3, 'busy'],
    ['is busy while a lease of the same version (same idempotency key) is live', { claimedVersion: 3, lease: leaseOf(3, 'other-attempt', NOW + 5000) }, 3, 'busy'],
    ['is fenced after the lease expired while its settle window runs', { claimedVersion: 2, lease: leaseOf(2, 'k', NOW), fencedUntil: NOW + 1 }, 3, 'fenced'],
    ['is fenced by a call in doubt with no lease left', { claimedVersion: 2, fencedUntil: NOW + 30_000 }, 2, 'fenced'],
    ['acquires once lease and settle window are over', { appliedVersion: 1, lease: leaseOf(2, 'k', NOW), fencedUntil: NOW }, 3, 'acquired'],
    ['prefers stale over busy (no call would help)', { appliedVersion: 5, lease: leaseOf(6, 'k', NOW + 1) }, 4, 'stale'],
    ['prefers stale over fenced', { appliedVersion: 5, fencedUntil: NOW + 1 }, 4, 'stale'],
    ['calls a version older than one already sent stale, though never applied', { appliedVersion: 2, claimedVersion: 5 }, 4, 'stale'],
    ['lets the version already sent be sent again once free', { appliedVersion: 2, claimedVersion: 5 }, 5, 'acquired'],
  ])('%s', (_name, entry, version, expected) => {
    // Act
    const decision = decideLease(entry, { version }, NOW);

    // Assess
    expect(decision.status).toBe(expected);
  });

  it('says when a busy or fenced record may be tried again', () => {
    // Act
    const busy = decideLease({ lease: leaseOf(2, 'k', NOW + 700), fencedUntil: NOW + 60_700 }, { version: 3 }, NOW);
    const fenced = decideLease({ fencedUntil: NOW + 9_000 }, { version: 3 }, NOW);

    // Assess
    expect(busy).toEqual({ status: 'busy', retryAt: NOW + 700 });
    expect(fenced).toEqual({ status: 'fenced', retryAt: NOW + 9_000 });
  });
});

describe('Class: InMemoryLedgerStore', () => {
  it('lets exactly one of two concurrent versions take the lease', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();

    // Act
    const [first, second] = await Promise.all([
      ledger.acquireLease(record, leaseOf(3), NOW, SETTLE_MS),
      ledger.acquireLease(record, leaseOf(5), NOW, SETTLE_MS),
    ]);

    // Assess
    expect([first.status, second.status]).toEqual(['acquired', 'busy']);
  });

  it('lets exactly one of two attempts with the same idempotency key take the lease', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();

    // Act
    const first = await ledger.acquireLease(record, leaseOf(3, 'attempt-a'), NOW, SETTLE_MS);
    const second = await ledger.acquireLease(record, leaseOf(3, 'attempt-b'), NOW + 1, SETTLE_MS);

    // Assess
    expect([first.status, second.status]).toEqual(['acquired', 'busy']);
  });

  it('commits only for the holder of the lease token and then refuses older versions', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();
    await ledger.acquireLease(record, leaseOf(5, 'holder'), NOW, SETTLE_MS);

    // Act: an attempt with the same version but another token cannot commit or release
    const intruder = await ledger.commit(record, { token: 'intruder', version: 5 }, { op: 'upsert', at: NOW });
    await ledger.release(record, 'intruder');
    const held = await ledger.read(record);
    const holder = await ledger.commit(record, { token: 'holder', version: 5 }, { op: 'upsert', at: NOW });
    const older = await ledger.acquireLease(record, leaseOf(4), NOW, SETTLE_MS);

    // Assess
    expect(intruder).toBe(false);
    expect(held?.lease?.token).toBe('holder');
    expect(holder).toBe(true);
    expect(older).toEqual({ status: 'stale', appliedVersion: 5 });
    expect(await ledger.read(record)).toEqual({ appliedVersion: 5, claimedVersion: 5 });
  });

  it('frees the record at once on a release with a known outcome', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();
    await ledger.acquireLease(record, leaseOf(2, 'a'), NOW, SETTLE_MS);

    // Act
    await ledger.release(record, 'a');
    const retry = await ledger.acquireLease(record, leaseOf(2, 'b'), NOW, SETTLE_MS);

    // Assess
    expect(retry.status).toBe('acquired');
    expect((await ledger.read(record))?.appliedVersion).toBeUndefined();
  });

  it('keeps the record fenced after a release in doubt, then frees it', async () => {
    // Prepare
    const ledger = new InMemoryLedgerStore();
    await ledger.acquireLease(record, leaseOf(2, 'a'), NOW, SETTLE_MS);

    // Act
    await ledger.release(record, 'a', { fencedUntil: NOW + 30_000 });
    const during = await ledger.acquireLease(record, leaseOf(3, 'b'), NOW + 29_999, SETTLE_MS);
    const after = await ledger.acquireLease(record, leaseOf(3, 'c'), NOW + 30_000, SETTLE_MS);

    // Assess
    expect(during).toEqual({ status: 'fenced', retryAt: NOW + 30_000 });
    expect(after.status).toBe('acquired');
  });

  it('fences a record whose holder died mid-call until the settle window after its lease', async () => {
    // Prepare: the lease is taken and never ended
    const ledger = new InMemoryLedgerStore();
    await ledger.acquireLease(record, leaseOf(2, 'dead', NOW + 5_000), NOW, SETTLE_MS);

    // Act
    const afterLease = await ledger.acquireLease(record, leaseOf(3), NOW + 5_000, SETTLE_MS);
    const afterWindow = await ledger.acquireLease(record, leaseOf(3), NOW + 5_000 + SETTLE_MS, SETTLE_MS);

    // Assess
    expect(afterLease).toEqual({ status: 'fenced', retryAt: NOW + 5_000 + SETTLE_MS });
    expect(afterWindow.status).toBe('acquired');
  });
});

describe('Class: SkipShareEstimate', () => {
  it('starts with a clean stream and turns the batch read on only past a fifth of records skipped', () => {
    // Prepare
    const estimate = new SkipShareEstimate();
    const before = estimate.preReadPays;

    // Act: one clean batch, then batches that are all skipped
    estimate.observe({ skipped: 0, records: 10 });
    const afterClean = estimate.preReadPays;
    estimate.observe({ skipped: 10, records: 10 });
    const atBreakEven = { share: estimate.share, pays: estimate.preReadPays };
    estimate.observe({ skipped: 10, records: 10 });

    // Assess
    expect(before).toBe(false);
    expect(afterClean).toBe(false);
    expect(atBreakEven).toEqual({ share: PRE_READ_BREAK_EVEN_SKIP_SHARE, pays: false });
    expect(estimate.share).toBeCloseTo(0.36);
    expect(estimate.preReadPays).toBe(true);
  });

  it('turns the read off again once the stream runs clean, and ignores batches with no valid change', () => {
    // Prepare
    const estimate = new SkipShareEstimate();
    for (let i = 0; i < 10; i += 1) estimate.observe({ skipped: 8, records: 10 });
    const skipping = estimate.preReadPays;

    // Act
    estimate.observe({ skipped: 0, records: 0 });
    const afterEmpty = estimate.share;
    for (let i = 0; i < 10; i += 1) estimate.observe({ skipped: 0, records: 10 });

    // Assess
    expect(skipping).toBe(true);
    expect(afterEmpty).toBeGreaterThan(PRE_READ_BREAK_EVEN_SKIP_SHARE);
    expect(estimate.preReadPays).toBe(false);
  });
});

describe('Function: decideLease (what an earlier read may skip)', () => {
  type LedgerOp =
    | { readonly kind: 'acquire'; readonly version: number; readonly at: number }
    | { readonly kind: 'commit' | 'release'; readonly inDoubt: boolean }
    | { readonly kind: 'mark-seen'; readonly version: number };
  const opArbitrary: fc.Arbitrary<LedgerOp> = fc.oneof(
    fc.record({ kind: fc.constant('acquire' as const), version: fc.integer({ min: 0, max: 8 }), at: fc.integer({ min: 0, max: 20_000 }) }),
    fc.record({ kind: fc.constantFrom('commit' as const, 'release' as const), inDoubt: fc.boolean() }),
    fc.record({ kind: fc.constant('mark-seen' as const), version: fc.integer({ min: 0, max: 8 }) }),
  );

  /** Runs the ops on the reference store, one record, and returns the entry after each. */
  const entriesAlong = async (ops: readonly LedgerOp[]): Promise<Array<LedgerEntry | undefined>> => {
    const ledger = new InMemoryLedgerStore();
    const entries: Array<LedgerEntry | undefined> = [undefined];
    let held: { token: string; version: number } | undefined;
    for (const [index, op] of ops.entries()) {
      if (op.kind === 'acquire') {
        const token = `t-${index}`;
        const decision = await ledger.acquireLease(record, { token, key: `crm:contact:c-1:${op.version}`, version: op.version, expiresAt: NOW + op.at }, NOW, SETTLE_MS);
        if (decision.status === 'acquired') held = { token, version: op.version };
      } else if (op.kind === 'mark-seen') await ledger.markSeen(record, op.version);
      else if (held !== undefined) {
        const end = op.inDoubt ? { fencedUntil: NOW + SETTLE_MS } : {};
        if (op.kind === 'commit') await ledger.commit(record, held, { op: 'upsert', at: NOW, ...end });
        else await ledger.release(record, held.token, end);
        held = undefined;
      }
      entries.push(await ledger.read(record));
    }
    return entries;
  };

  it('never skips on an earlier read a version the ledger would take now, whatever the store did since', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArbitrary, { maxLength: 30 }), fc.integer({ min: 0, max: 9 }), async (ops, version) => {
        // Act
        const entries = await entriesAlong(ops);
        const latest = entries[entries.length - 1];

        // Assess: every skip an earlier snapshot decides, the latest state decides too, at any time
        for (const earlier of entries) {
          if (!isSkipDecision(decideLease(earlier, { version }, NOW))) continue;
          for (const at of [NOW, NOW + 10 * SETTLE_MS]) expect(isSkipDecision(decideLease(latest, { version }, at))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('would skip wrongly if the applied version stepped back, which is why a resync reopens before it re-sends (negative control)', () => {
    // Prepare: a read that saw version 5 applied; an operator's resync then stepped it back to 4
    const read: LedgerEntry = { appliedVersion: 5, claimedVersion: 5 };
    const reopened: LedgerEntry = { appliedVersion: 4, claimedVersion: 4 };

    // Act
    const onTheOldRead = decideLease(read, { version: 5 }, NOW);
    const now = decideLease(reopened, { version: 5 }, NOW);

    // Assess
    expect(isSkipDecision(onTheOldRead)).toBe(true);
    expect(now.status).toBe('acquired');
  });
});

describe('Function: learnOutcome', () => {
  it.each<[string, LedgerEntry | undefined, Parameters<typeof learnOutcome>[1], LedgerEntry]>([
    ['takes a commit as applied and sent', undefined, { applied: 5 }, { appliedVersion: 5, claimedVersion: 5 }],
    ['never lowers what was known', { appliedVersion: 8, claimedVersion: 9 }, { applied: 5 }, { appliedVersion: 8, claimedVersion: 9 }],
    ['takes a duplicate as that version applied', { claimedVersion: 2 }, { decision: { status: 'duplicate', appliedVersion: 4 } }, { claimedVersion: 2, appliedVersion: 4 }],
    ['takes a stale refusal as a newer version sent', { appliedVersion: 3 }, { decision: { status: 'stale', appliedVersion: 6 } }, { appliedVersion: 3, claimedVersion: 6 }],
    ['takes a superseded refusal as a newer version waiting', undefined, { decision: { status: 'superseded', appliedVersion: 9 } }, { seenVersion: 9 }],
    ['learns nothing from a busy record', { appliedVersion: 3 }, { decision: { status: 'busy', retryAt: NOW } }, { appliedVersion: 3 }],
  ])('%s', (_name, entry, learnt, expected) => {
    // Act
    const known = learnOutcome(entry, learnt);

    // Assess
    expect(known).toEqual(expected);
  });

  it('skips afterwards exactly what the ledger skips after the same outcome', async () => {
    // Prepare: the reference store commits version 5
    const ledger = new InMemoryLedgerStore();
    await ledger.acquireLease(record, leaseOf(5), NOW, SETTLE_MS);
    await ledger.commit(record, leaseOf(5), { op: 'upsert', at: NOW });
    const truth = await ledger.read(record);

    // Act
    const known = learnOutcome(undefined, { applied: 5 });

    // Assess
    for (const version of [3, 4, 5, 6]) expect(isSkipDecision(decideLease(known, { version }, NOW))).toBe(isSkipDecision(decideLease(truth, { version }, NOW)));
  });
});
