import { ChangeEventSchema, ChangeOp, type ChangeEvent } from '../../contract/change-event.ts';
import { createRandom, type Random } from '../../core/random.ts';
import { recordKey } from '../../core/record-key.ts';

/**
 * @example
 * const options: DemoStreamOptions = { changes: 1000, ids: 50, resourceTypes: ['contact', 'invoice'], seed: 7 };
 */
export interface DemoStreamOptions {
  /** Events to produce, duplicates included. */
  readonly changes: number;
  /** Distinct records; fewer get events when there are fewer original changes than ids. */
  readonly ids: number;
  /** Records are spread over these round-robin. */
  readonly resourceTypes: readonly string[];
  /** Share of events that are exact re-sends of an earlier event. @default 0.2 */
  readonly duplicateRate?: number;
  /** Share of events published after a higher version of the same record. @default 0.3 */
  readonly outOfOrderRate?: number;
  /**
   * Share of events that are same-version twins: a re-send with the same (resourceType, id,
   * version) as an earlier upsert but another payload, as a publisher bug produces (two writers
   * stamping the same version). Twins are taken from the re-sends, so they count among the
   * duplicates and at most `duplicateRate` can be twins; where too few re-sends are of upserts,
   * fewer twins are made. @default 0
   */
  readonly twinRate?: number;
  /** Chance that a change after the first is a delete (never two deletes in a row). @default 0.05 */
  readonly deleteRate?: number;
  /** @default 1 */
  readonly seed?: number;
  /** The clock `occurredAt` ends at. @default Date.now */
  readonly now?: () => number;
}

/**
 * What a stream contains, measured from the events alone.
 *
 * @example
 * describeStream(events); // { total: 1000, distinct: 800, duplicates: 200, twins: 0, outOfOrder: 300, records: 50 }
 */
export interface StreamDescription {
  readonly total: number;
  /** Distinct changes: (resourceType, id, version) triples. */
  readonly distinct: number;
  /** Events whose (resourceType, id, version) was published before: `total - distinct`. */
  readonly duplicates: number;
  /**
   * Duplicates whose op or payload differs from the first event published with that (resourceType,
   * id, version): same-version twins. Counted among `duplicates`.
   */
  readonly twins: number;
  /** Events published after a higher version of the same record. */
  readonly outOfOrder: number;
  /** Distinct (resourceType, id) pairs. */
  readonly records: number;
}

/**
 * The state a correct destination converges to for one record (invariant I2).
 *
 * @example
 * const final: FinalVersion = { version: 4, op: 'delete' };
 */
export interface FinalVersion {
  readonly version: number;
  readonly op: ChangeOp;
}


interface DemoRecord {
  readonly index: number;
  readonly resourceType: string;
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly originals: Original[];
}

interface Original {
  readonly record: DemoRecord;
  readonly event: ChangeEvent;
  /** Position in source order (when the change happened). */
  readonly sourceIndex: number;
}

interface Duplicate {
  readonly source: Original;
  /** Chosen to be published after a higher version although its source was not. */
  outOfOrder: boolean;
}

type Published = { readonly kind: 'original'; readonly original: Original } | { readonly kind: 'duplicate'; readonly duplicate: Duplicate };

const NAMES = [
  'Ada Lovelace',
  'Grace Hopper',
  'Alan Turing',
  'Katherine Johnson',
  'Edsger Dijkstra',
  'Barbara Liskov',
  'Margaret Hamilton',
  'Donald Knuth',
  'Zoë Ångström',
  'José Núñez',
  'Łukasz Żółkiewski',
  'Søren Kierkegård',
  'Nguyễn Thị Minh',
  '李雷',
  'Ærin O’Brien',
  'Mårten Berg 🚀',
] as const;
const STATUSES = ['lead', 'active', 'active', 'active', 'paused', 'churned'] as const;
const CURRENCIES = ['EUR', 'USD', 'GBP'] as const;
/** Letters NFKD does not decompose into ASCII. */
const TRANSLITERATION: Readonly<Record<string, string>> = { ø: 'o', Ø: 'O', ł: 'l', Ł: 'L', æ: 'ae', Æ: 'Ae', ß: 'ss', '’': '' };
/** A re-send arrives up to this many source positions after its original (SQS redelivery, publisher retry). */
const MAX_DUPLICATE_DELAY = 25;
/** A re-send lands within this many positions of its anchor in its record's own sequence. */
const DUPLICATE_WINDOW = 8;
/** Keeps a record's publish keys strictly increasing (a power of two, so sums stay exact). */
const KEY_STEP = 1 / 1024;

const checkRate = (name: string, value: number, maxExclusive = false): void => {
  if (!(typeof value === 'number' && value >= 0 && (maxExclusive ? value < 1 : value <= 1))) {
    throw new RangeError(`Expected \`${name}\` to be a number from 0 to ${maxExclusive ? 'below 1' : '1'}, got \`${String(value)}\``);
  }
};

const checkCount = (name: string, value: number, min: number): void => {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Expected \`${name}\` to be an integer >= ${min}, got \`${String(value)}\``);
  }
};

const resourceTypeSchema = ChangeEventSchema.options[0].shape.resourceType;

/** Mostly plain ids, some with '/', spaces or non-ASCII characters, so URL encoding is exercised. */
const makeId = (random: Random, resourceType: string, index: number): string => {
  const serial = String(index + 1).padStart(5, '0');
  const prefix = resourceType.toLowerCase();
  const draw = random.next();
  if (draw < 0.85) return `${prefix}-${serial}`;
  if (draw < 0.9) return `eu-west/${prefix}/${serial}`;
  if (draw < 0.95) return `${prefix} ${serial} (import)`;
  return `${prefix}-${serial}-müller-客户`;
};

const makeEmail = (name: string, index: number): string => {
  const local = name
    .normalize('NFKD')
    .replace(/[øØłŁæÆß’]/g, (letter) => TRANSLITERATION[letter] ?? '')
    .replace(/[^A-Za-z ]/g, '')
    .trim()
    .toLowerCase()
    .replace(/\s+/g, '.');
  return `${local === '' ? 'customer' : local}.${index + 1}@example.com`;
};

const makePayload = (random: Random, record: DemoRecord, version: number): Record<string, unknown> => ({
  name: record.name,
  email: record.email,
  status: random.pick(STATUSES),
  amount: Math.round(random.next() * 500_000) / 100,
  currency: random.pick(CURRENCIES),
  revision: version,
});

const publishedVersion = (item: Published): number =>
  item.kind === 'original' ? item.original.event.version : item.duplicate.source.event.version;

/** Inserts `item` at a random index in [from, to] (clamped to the list). */
const insertBetween = <T>(random: Random, list: T[], item: T, from: number, to: number): void => {
  const upper = Math.min(to, list.length);
  list.splice(from + random.int(upper - from + 1), 0, item);
};

/**
 * Generates a publish-ordered stream of change events that stresses a sync pipeline the way
 * production does: per-record versions 1..n with occasional deletes, about `duplicateRate` of the
 * events exact re-sends of earlier ones, and about `outOfOrderRate` of them published after a
 * higher version of the same record. Some ids contain '/', spaces or non-ASCII characters, and
 * some names are non-ASCII. `occurredAt` follows source order and ends at `now()`, 1 ms apart.
 * Every event satisfies `ChangeEventSchema`. The same options and seed give the same stream.
 *
 * How the rates are met: whether an event is out of order depends only on its own record's
 * sequence. Each record's sequence is built first (a delayed version moves just after the next
 * one; a re-send goes just after its original or after a higher version), picking delayed
 * versions and late re-sends until `round(changes * outOfOrderRate)` is reached where the
 * records allow it; the sequences are then merged by when each event would be sent. With a
 * `twinRate`, `round(changes * twinRate)` of the re-sends of upserts (picked last, so the rest of
 * the stream is the same as without twins) get a payload of their own.
 *
 * @throws {RangeError} for a count or rate out of range, or an invalid resource type
 * @example
 * const events = generateDemoStream({ changes: 1000, ids: 50, resourceTypes: ['contact', 'invoice'], seed: 7 });
 * describeStream(events); // { total: 1000, distinct: 800, duplicates: 200, twins: 0, outOfOrder: 300, records: 50 }
 */
export const generateDemoStream = (options: DemoStreamOptions): ChangeEvent[] => {
  const { changes, ids, resourceTypes } = options;
  const duplicateRate = options.duplicateRate ?? 0.2;
  const outOfOrderRate = options.outOfOrderRate ?? 0.3;
  const deleteRate = options.deleteRate ?? 0.05;
  const twinRate = options.twinRate ?? 0;
  const now = options.now ?? Date.now;
  checkCount('changes', changes, 0);
  checkCount('ids', ids, 1);
  checkRate('duplicateRate', duplicateRate, true);
  checkRate('outOfOrderRate', outOfOrderRate);
  checkRate('deleteRate', deleteRate);
  checkRate('twinRate', twinRate);
  if (twinRate > duplicateRate) {
    throw new RangeError(`Expected \`twinRate\` to be at most \`duplicateRate\` (${duplicateRate}): twins are re-sends, got \`${twinRate}\``);
  }
  if (resourceTypes.length === 0) throw new RangeError('Expected `resourceTypes` to hold at least one resource type, got an empty list');
  for (const resourceType of resourceTypes) {
    if (!resourceTypeSchema.safeParse(resourceType).success) {
      throw new RangeError(`Expected \`resourceTypes\` to hold valid resource types, got \`${String(resourceType)}\``);
    }
  }
  if (changes === 0) return [];

  const random = createRandom(options.seed ?? 1);
  // At least one original: a duplicate needs something to repeat.
  const duplicateCount = Math.min(changes - 1, Math.round(changes * duplicateRate));
  const originalCount = changes - duplicateCount;
  const recordCount = Math.min(ids, originalCount);

  const records: DemoRecord[] = Array.from({ length: recordCount }, (_, index) => {
    const resourceType = resourceTypes[index % resourceTypes.length] as string;
    const name = random.pick(NAMES);
    return { index, resourceType, id: makeId(random, resourceType, index), name, email: makeEmail(name, index), originals: [] };
  });

  // Versions per record: one each, the rest skewed towards a few hot records (random ones), as in
  // real traffic; hot records are where concurrent consumers collide.
  const versionCounts = records.map(() => 1);
  const hotness = random.shuffle(records.map((record) => record.index));
  for (let extra = originalCount - recordCount; extra > 0; extra -= 1) {
    const draw = random.next();
    const recordIndex = hotness[Math.floor(recordCount * draw * draw)] as number;
    versionCounts[recordIndex] = (versionCounts[recordIndex] as number) + 1;
  }

  // Source order: when each change happened. A record's versions follow its appearances.
  const sourceOrder = random.shuffle(versionCounts.flatMap((versions, recordIndex) => Array.from({ length: versions }, () => recordIndex)));
  const end = now();
  const originals: Original[] = sourceOrder.map((recordIndex, sourceIndex) => {
    const record = records[recordIndex] as DemoRecord;
    const version = record.originals.length + 1;
    const occurredAt = new Date(end - (originalCount - 1 - sourceIndex)).toISOString();
    const previous = record.originals.at(-1)?.event;
    const isDelete = previous !== undefined && previous.op === ChangeOp.UPSERT && random.next() < deleteRate;
    const event: ChangeEvent = isDelete
      ? { resourceType: record.resourceType, id: record.id, version, occurredAt, op: ChangeOp.DELETE }
      : { resourceType: record.resourceType, id: record.id, version, occurredAt, op: ChangeOp.UPSERT, payload: makePayload(random, record, version) };
    const original = { record, event, sourceIndex };
    record.originals.push(original);
    return original;
  });

  const duplicates: Duplicate[] = Array.from({ length: duplicateCount }, () => ({ source: random.pick(originals), outOfOrder: false }));
  const duplicatesOf = new Map<Original, Duplicate[]>();
  for (const duplicate of duplicates) {
    const list = duplicatesOf.get(duplicate.source);
    if (list === undefined) duplicatesOf.set(duplicate.source, [duplicate]);
    else list.push(duplicate);
  }

  // Choose what is out of order. A delayed original drags its re-sends along (they follow it), so
  // it costs 1 + its re-sends; the highest version of a record can never be out of order.
  const isTop = (original: Original): boolean => original.event.version === original.record.originals.length;
  let budget = Math.round(changes * outOfOrderRate);
  const delayed = new Set<Original>();
  const eligible = random.shuffle(originals.filter((original) => !isTop(original)));
  const delay = (original: Original): void => {
    const cost = 1 + (duplicatesOf.get(original) ?? []).filter((duplicate) => !duplicate.outOfOrder).length;
    if (cost > budget) return;
    delayed.add(original);
    budget -= cost;
  };
  for (const original of eligible) {
    if (random.next() < outOfOrderRate) delay(original);
  }
  for (const duplicate of random.shuffle(duplicates.filter((d) => !delayed.has(d.source) && !isTop(d.source)))) {
    if (budget === 0) break;
    duplicate.outOfOrder = true;
    budget -= 1;
  }
  for (const original of eligible) {
    if (budget === 0) break;
    if (!delayed.has(original)) delay(original);
  }

  // Each record's publish sequence. Delaying versions from the top down keeps every choice exact:
  // moving v just after v+1 makes v out of order and changes nothing for any other event.
  const sequences = records.map((record) => {
    const sequence: Published[] = record.originals.map((original) => ({ kind: 'original', original }));
    const positionOf = (original: Original): number =>
      sequence.findIndex((item) => item.kind === 'original' && item.original === original);
    for (let index = record.originals.length - 2; index >= 0; index -= 1) {
      const original = record.originals[index] as Original;
      if (!delayed.has(original)) continue;
      sequence.splice(positionOf(original), 1);
      sequence.splice(positionOf(record.originals[index + 1] as Original) + 1, 0, { kind: 'original', original });
    }
    // A re-send anywhere after its original never changes another event's status.
    for (const original of record.originals) {
      for (const duplicate of duplicatesOf.get(original) ?? []) {
        const item: Published = { kind: 'duplicate', duplicate };
        const at = positionOf(original);
        if (delayed.has(original)) {
          insertBetween(random, sequence, item, at + 1, at + 1 + DUPLICATE_WINDOW);
        } else if (duplicate.outOfOrder) {
          const next = positionOf(record.originals[original.event.version] as Original);
          insertBetween(random, sequence, item, next + 1, next + 1 + DUPLICATE_WINDOW);
        } else {
          const higher = sequence.findIndex((other, position) => position > at && publishedVersion(other) > original.event.version);
          insertBetween(random, sequence, item, at + 1, higher === -1 ? sequence.length : higher);
        }
      }
    }
    return sequence;
  });

  // Merge: an event is sent at its source position (a re-send a little later), but never before
  // what precedes it in its record's sequence; ties between records are broken at random.
  const keyed = sequences.flatMap((sequence, recordIndex) => {
    let previousKey = Number.NEGATIVE_INFINITY;
    return sequence.map((item) => {
      const base =
        item.kind === 'original' ? item.original.sourceIndex : item.duplicate.source.sourceIndex + 1 + random.int(MAX_DUPLICATE_DELAY);
      const key = Math.max(previousKey + KEY_STEP, base);
      previousKey = key;
      return { item, key, tieBreak: random.next(), recordIndex };
    });
  });
  keyed.sort((a, b) => a.key - b.key || a.tieBreak - b.tieBreak || a.recordIndex - b.recordIndex);

  const events = keyed.map(({ item }) => (item.kind === 'original' ? item.original.event : structuredClone(item.duplicate.source.event)));
  if (twinRate === 0) return events;

  // Same-version twins: re-sends of upserts that get a payload of their own. Drawn after everything
  // else, so the stream is the one without twins apart from these payloads.
  const twinCandidates = keyed.flatMap(({ item }, index) =>
    item.kind === 'duplicate' && item.duplicate.source.event.op === ChangeOp.UPSERT ? [{ index, source: item.duplicate.source }] : [],
  );
  for (const { index, source } of random.shuffle(twinCandidates).slice(0, Math.round(changes * twinRate))) {
    const { event, record } = source;
    if (event.op !== ChangeOp.UPSERT) continue;
    const payload = makePayload(random, record, event.version);
    // Another payload for sure: the draw could repeat the original's status, amount and currency.
    if (JSON.stringify(payload) === JSON.stringify(event.payload)) payload.amount = Number(payload.amount) + 0.01;
    events[index] = { ...event, payload };
  }
  return events;
};

/**
 * The highest version published per record and its op: what every destination must hold once the
 * queues drain (invariant I2). Keys are {@link recordKey}.
 *
 * @example
 * expectedFinalVersions(events).get(recordKey('contact', 'c-1')); // { version: 4, op: 'upsert' }
 */
export const expectedFinalVersions = (events: readonly ChangeEvent[]): Map<string, FinalVersion> => {
  const finals = new Map<string, FinalVersion>();
  for (const event of events) {
    const key = recordKey(event.resourceType, event.id);
    const current = finals.get(key);
    if (current === undefined || event.version > current.version) finals.set(key, { version: event.version, op: event.op });
  }
  return finals;
};

/**
 * Counts what a stream contains, from the events alone (independent of how they were generated).
 *
 * @example
 * const { duplicates, outOfOrder } = describeStream(events);
 */
export const describeStream = (events: readonly ChangeEvent[]): StreamDescription => {
  /** The op and payload first published per (resourceType, id, version). */
  const seen = new Map<string, string>();
  const highest = new Map<string, number>();
  let outOfOrder = 0;
  let twins = 0;
  for (const event of events) {
    const key = recordKey(event.resourceType, event.id);
    const content = JSON.stringify([event.op, event.op === ChangeOp.UPSERT ? event.payload : null]);
    const first = seen.get(recordKey(event.resourceType, event.id, event.version));
    if (first === undefined) seen.set(recordKey(event.resourceType, event.id, event.version), content);
    else if (first !== content) twins += 1;
    const top = highest.get(key);
    if (top !== undefined && top > event.version) outOfOrder += 1;
    if (top === undefined || event.version > top) highest.set(key, event.version);
  }
  return { total: events.length, distinct: seen.size, duplicates: events.length - seen.size, twins, outOfOrder, records: highest.size };
};
