import { describe, expect, it } from 'vitest';
import { ChangeEventSchema, type ChangeEvent } from '../../lib/contract/change-event.ts';
import { recordKey } from '../../lib/core/record-key.ts';
import { describeStream, expectedFinalVersions, generateDemoStream } from '../../lib/local/lab/demo-stream.ts';

const NOW = Date.parse('2026-11-27T10:00:00.000Z');
const base = { changes: 2000, ids: 60, resourceTypes: ['contact', 'invoice', 'order'], seed: 42, now: () => NOW } as const;

/** The stream of `base`, generated once for the file: it is deterministic, and no test mutates it. */
let cachedBaseStream: ChangeEvent[] | undefined;
const baseStream = (): ChangeEvent[] => (cachedBaseStream ??= generateDemoStream(base));

/** Counts duplicates and out-of-order events the plain way, without the module's own helper. */
const measure = (events: readonly ChangeEvent[]): { duplicates: number; outOfOrder: number } => {
  const sentBefore: ChangeEvent[] = [];
  let duplicates = 0;
  let outOfOrder = 0;
  for (const event of events) {
    const sameRecord = sentBefore.filter((earlier) => earlier.resourceType === event.resourceType && earlier.id === event.id);
    if (sameRecord.some((earlier) => earlier.version === event.version)) duplicates += 1;
    if (sameRecord.some((earlier) => earlier.version > event.version)) outOfOrder += 1;
    sentBefore.push(event);
  }
  return { duplicates, outOfOrder };
};

const versionsByRecord = (events: readonly ChangeEvent[]): Map<string, number[]> => {
  const versions = new Map<string, number[]>();
  for (const event of events) {
    const key = recordKey(event.resourceType, event.id);
    versions.set(key, [...(versions.get(key) ?? []), event.version]);
  }
  return versions;
};

describe('Function: generateDemoStream', () => {
  it.each([0, 1, 7, 250, 2000])('produces exactly %i events', (changes) => {
    // Act
    const events = generateDemoStream({ ...base, changes });

    // Assess
    expect(events).toHaveLength(changes);
  });

  it('produces only events that satisfy ChangeEventSchema', () => {
    // Act
    const events = baseStream();

    // Assess
    const invalid = events.filter((event) => !ChangeEventSchema.safeParse(event).success);
    expect(invalid).toEqual([]);
    expect(events.some((event) => event.op === 'delete')).toBe(true);
  });

  it.each([
    { duplicateRate: 0.2, outOfOrderRate: 0.3 },
    { duplicateRate: 0, outOfOrderRate: 0 },
    { duplicateRate: 0.5, outOfOrderRate: 0.1 },
    { duplicateRate: 0.05, outOfOrderRate: 0.6 },
  ])('meets duplicateRate $duplicateRate and outOfOrderRate $outOfOrderRate within 2 points', ({ duplicateRate, outOfOrderRate }) => {
    // Act
    const events = generateDemoStream({ ...base, duplicateRate, outOfOrderRate });

    // Assess
    const described = describeStream(events);
    const measured = measure(events);
    expect(measured).toEqual({ duplicates: described.duplicates, outOfOrder: described.outOfOrder });
    expect(Math.abs(measured.duplicates / events.length - duplicateRate)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(measured.outOfOrder / events.length - outOfOrderRate)).toBeLessThanOrEqual(0.02);
  });

  it('uses the defaults of 20% duplicates and 30% out of order', () => {
    // Act
    const events = generateDemoStream({ changes: 1000, ids: 40, resourceTypes: ['contact'], seed: 3 });

    // Assess
    const { duplicates, outOfOrder } = measure(events);
    expect(duplicates / 1000).toBeCloseTo(0.2, 1);
    expect(outOfOrder / 1000).toBeCloseTo(0.3, 1);
  });

  it('makes every duplicate an exact copy of an event published before it', () => {
    // Act
    const events = baseStream();

    // Assess
    const firstSent = new Map<string, ChangeEvent>();
    let copies = 0;
    for (const event of events) {
      const key = recordKey(event.resourceType, event.id, event.version);
      const first = firstSent.get(key);
      if (first === undefined) {
        firstSent.set(key, event);
        continue;
      }
      expect(event).toEqual(first);
      expect(event).not.toBe(first);
      copies += 1;
    }
    expect(copies).toBe(describeStream(events).duplicates);
  });

  it('makes round(changes * twinRate) re-sends of upserts same-version twins with another payload', () => {
    // Act
    const events = generateDemoStream({ ...base, twinRate: 0.02 });

    // Assess
    const firstSent = new Map<string, ChangeEvent>();
    const twins: ChangeEvent[] = [];
    for (const event of events) {
      const key = recordKey(event.resourceType, event.id, event.version);
      const first = firstSent.get(key);
      if (first === undefined) firstSent.set(key, event);
      else if (JSON.stringify(event) !== JSON.stringify(first)) twins.push(event);
    }
    expect(twins).toHaveLength(40);
    expect(twins.every((twin) => twin.op === 'upsert' && ChangeEventSchema.safeParse(twin).success)).toBe(true);
    expect(describeStream(events)).toMatchObject({ total: 2000, twins: 40 });
  });

  it('keeps the rest of the stream as it is without twins', () => {
    // Act
    const plain = baseStream();
    const withTwins = generateDemoStream({ ...base, twinRate: 0.05 });

    // Assess: the same changes in the same order; only some re-sends' payloads differ
    const identity = (event: ChangeEvent) => [event.resourceType, event.id, event.version, event.op, event.occurredAt];
    expect(withTwins.map(identity)).toEqual(plain.map(identity));
    expect(describeStream(withTwins)).toMatchObject({ duplicates: describeStream(plain).duplicates, outOfOrder: describeStream(plain).outOfOrder, twins: 100 });
    expect(describeStream(plain).twins).toBe(0);
  });

  it('gives every record the versions 1..n, each at least once', () => {
    // Act
    const events = baseStream();

    // Assess
    const versions = versionsByRecord(events);
    expect(versions.size).toBe(base.ids);
    for (const [key, published] of versions) {
      const distinct = [...new Set(published)].sort((a, b) => a - b);
      expect(distinct, key).toEqual(Array.from({ length: distinct.length }, (_, index) => index + 1));
    }
  });

  it('spreads records over the resource types and dates later versions later', () => {
    // Act
    const events = baseStream();

    // Assess
    expect(new Set(events.map((event) => event.resourceType))).toEqual(new Set(base.resourceTypes));
    const occurredAt = new Map<string, number>();
    for (const event of events) occurredAt.set(recordKey(event.resourceType, event.id, event.version), Date.parse(event.occurredAt));
    for (const event of events) {
      const previous = occurredAt.get(recordKey(event.resourceType, event.id, event.version - 1));
      if (previous !== undefined) expect(Date.parse(event.occurredAt)).toBeGreaterThan(previous);
      expect(Date.parse(event.occurredAt)).toBeLessThanOrEqual(NOW);
    }
  });

  it('includes ids that need URL encoding', () => {
    // Act
    const events = baseStream();

    // Assess
    const ids = new Set(events.map((event) => event.id));
    expect([...ids].some((id) => id.includes('/'))).toBe(true);
    expect([...ids].some((id) => id.includes(' '))).toBe(true);
    expect([...ids].some((id) => /[^\x20-\x7e]/.test(id))).toBe(true);
  });

  it('returns the same stream for the same seed', () => {
    // Act
    const first = generateDemoStream(base);
    const second = generateDemoStream(base);

    // Assess
    expect(second).toEqual(first);
  });

  it('returns a different stream for a different seed', () => {
    // Act
    const first = baseStream();
    const other = generateDemoStream({ ...base, seed: 43 });

    // Assess
    expect(other).toHaveLength(first.length);
    expect(other).not.toEqual(first);
  });

  it.each([
    [{ changes: -1 }, 'Expected `changes` to be an integer >= 0, got `-1`'],
    [{ ids: 0 }, 'Expected `ids` to be an integer >= 1, got `0`'],
    [{ duplicateRate: 1 }, 'Expected `duplicateRate` to be a number from 0 to below 1, got `1`'],
    [{ outOfOrderRate: 1.5 }, 'Expected `outOfOrderRate` to be a number from 0 to 1, got `1.5`'],
    [{ twinRate: -0.1 }, 'Expected `twinRate` to be a number from 0 to 1, got `-0.1`'],
    [{ duplicateRate: 0.1, twinRate: 0.2 }, 'Expected `twinRate` to be at most `duplicateRate` (0.1): twins are re-sends, got `0.2`'],
    [{ resourceTypes: [] }, 'Expected `resourceTypes` to hold at least one resource type, got an empty list'],
    [{ resourceTypes: ['no spaces'] }, 'Expected `resourceTypes` to hold valid resource types, got `no spaces`'],
  ])('rejects %o with a clear message', (override, message) => {
    // Act
    const generate = (): ChangeEvent[] => generateDemoStream({ ...base, ...override });

    // Assess
    expect(generate).toThrow(message);
  });
});

const at = '2026-11-27T10:00:00Z';
const handWritten: ChangeEvent[] = [
  { resourceType: 'contact', id: 'c-1', version: 2, occurredAt: at, op: 'upsert', payload: { name: 'Ada' } },
  { resourceType: 'contact', id: 'c-1', version: 1, occurredAt: at, op: 'upsert', payload: { name: 'A' } },
  { resourceType: 'contact', id: 'c-1', version: 2, occurredAt: at, op: 'upsert', payload: { name: 'Ada' } },
  { resourceType: 'contact', id: 'c-2', version: 1, occurredAt: at, op: 'upsert', payload: {} },
  { resourceType: 'contact', id: 'c-2', version: 3, occurredAt: at, op: 'delete' },
  { resourceType: 'contact', id: 'c-2', version: 2, occurredAt: at, op: 'upsert', payload: {} },
  { resourceType: 'invoice', id: 'c-1', version: 1, occurredAt: at, op: 'upsert', payload: {} },
];

describe('Function: expectedFinalVersions', () => {
  it('holds the highest version and its op per record', () => {
    // Act
    const finals = expectedFinalVersions(handWritten);

    // Assess
    expect(finals).toEqual(
      new Map([
        [recordKey('contact', 'c-1'), { version: 2, op: 'upsert' }],
        [recordKey('contact', 'c-2'), { version: 3, op: 'delete' }],
        [recordKey('invoice', 'c-1'), { version: 1, op: 'upsert' }],
      ]),
    );
  });

  it('agrees with the per-record maximum of a generated stream', () => {
    // Prepare
    const events = baseStream();

    // Act
    const finals = expectedFinalVersions(events);

    // Assess
    const versions = versionsByRecord(events);
    expect(finals.size).toBe(versions.size);
    for (const [key, published] of versions) expect(finals.get(key)?.version, key).toBe(Math.max(...published));
  });
});

describe('Function: describeStream', () => {
  it('counts duplicates and out-of-order events of a hand-written stream', () => {
    // Act
    const described = describeStream(handWritten);

    // Assess
    // Out of order: c-1 v1 (after v2), the re-sent c-1 v2 is not (v2 is not higher than itself), c-2 v2 (after v3).
    expect(described).toEqual({ total: 7, distinct: 6, duplicates: 1, twins: 0, outOfOrder: 2, records: 3 });
  });

  it('counts a re-send with another payload or op as a twin, and as a duplicate', () => {
    // Prepare
    const stream: ChangeEvent[] = [
      ...handWritten,
      { resourceType: 'contact', id: 'c-1', version: 2, occurredAt: at, op: 'upsert', payload: { name: 'Eve' } },
      { resourceType: 'contact', id: 'c-2', version: 3, occurredAt: at, op: 'upsert', payload: {} },
      { resourceType: 'invoice', id: 'c-1', version: 1, occurredAt: at, op: 'upsert', payload: {} },
    ];

    // Act
    const described = describeStream(stream);

    // Assess
    expect(described).toMatchObject({ total: 10, distinct: 6, duplicates: 4, twins: 2 });
  });
});
