/**
 * Limits of EventBridge's PutEvents that the publisher respects, spelled once. (SQS's are in
 * `sqs-limits.ts`.)
 */
export const EventBridgeLimits = {
  /** Entries per PutEvents request. */
  MAX_BATCH_ENTRIES: 10,
  /** Largest entry, and largest sum of entry sizes in one request (256 KB), counted by {@link putEventsEntryBytes}. */
  MAX_REQUEST_BYTES: 262_144,
  /** What a `Time` counts, whatever its value (AWS's documented rule). */
  TIME_BYTES: 14,
} as const;

/**
 * Bytes of a string in UTF-8: what SQS and EventBridge count. `'é'` is 2, `'客'` 3, `'🚀'` 4 (one
 * character, two UTF-16 code units, so `length` would say 2).
 *
 * @example
 * utf8Bytes('müller'); // 7
 */
export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** The fields of a PutEvents entry that count towards its size. */
export interface PutEventsEntrySizeFields {
  readonly Time?: unknown;
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail?: string;
  readonly Resources?: readonly string[];
}

/**
 * The size of one PutEvents entry as EventBridge counts it ("Calculating Amazon EventBridge PutEvents
 * event entry size"): 14 bytes for a `Time` when given, plus the UTF-8 bytes of `Source`,
 * `DetailType`, `Detail` and each of `Resources`. `EventBusName` does not count.
 *
 * @example
 * putEventsEntryBytes({ Source: 'orders', DetailType: 'sync-pipeline.change', Detail: '{"note":"é"}' }); // 6 + 20 + 13 = 39
 */
export const putEventsEntryBytes = (entry: PutEventsEntrySizeFields): number =>
  (entry.Time === undefined ? 0 : EventBridgeLimits.TIME_BYTES) +
  utf8Bytes(entry.Source) +
  utf8Bytes(entry.DetailType) +
  (entry.Detail === undefined ? 0 : utf8Bytes(entry.Detail)) +
  (entry.Resources ?? []).reduce((sum, resource) => sum + utf8Bytes(resource), 0);

/** How many entries, and how many bytes in all, one batch request may carry. */
export interface BatchLimits {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/**
 * Packs sized items into batches, in order: a batch is closed when one more item would exceed
 * `maxEntries` or `maxBytes`. Returns the items' indices per batch. Every size must be at most
 * `maxBytes` (the caller refuses larger items first); an item of exactly `maxBytes` travels alone.
 *
 * @throws {RangeError} when an item is larger than `maxBytes` (it could never be sent)
 * @example
 * planBatches([100, 100, 100], { maxEntries: 10, maxBytes: 250 }); // [[0, 1], [2]]
 */
export const planBatches = (sizes: readonly number[], limits: BatchLimits): number[][] => {
  const batches: number[][] = [];
  let current: number[] = [];
  let currentBytes = 0;
  sizes.forEach((size, index) => {
    if (size > limits.maxBytes) throw new RangeError(`Expected every item to be at most ${limits.maxBytes} bytes, got ${size} bytes at index ${index}`);
    if (current.length === limits.maxEntries || currentBytes + size > limits.maxBytes) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(index);
    currentBytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
};

/**
 * What the service said about one entry of a batch call: accepted with its id, or refused with its
 * code and whether sending it again may succeed (throttling, the service's own fault) or never will.
 *
 * @example
 * const outcome: EntryOutcome = { sent: false, code: 'ThrottlingException', message: 'Rate exceeded', retryable: true };
 */
export type EntryOutcome =
  | { readonly sent: true; readonly id: string }
  | { readonly sent: false; readonly code: string; readonly message: string; readonly retryable: boolean };
