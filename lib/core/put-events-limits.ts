/**
 * Limits of EventBridge's PutEvents, spelled once: the publisher batches to them and the local bus
 * refuses what the service refuses.
 */
export const PutEventsLimits = {
  /** Entries per PutEvents call. */
  MAX_ENTRIES: 10,
  /** The most the entries of one call may add up to, counted by {@link putEventsEntrySize} (256 KB). */
  MAX_REQUEST_BYTES: 256 * 1024,
  /** What an entry's `Time` counts for, whatever its value. */
  TIME_BYTES: 14,
} as const;

/** The fields of a PutEvents entry that count toward its size. */
export interface PutEventsEntryFields {
  readonly Source?: string | undefined;
  readonly DetailType?: string | undefined;
  readonly Detail?: string | undefined;
  readonly Resources?: readonly string[] | undefined;
  readonly Time?: unknown;
}

const utf8Bytes = (text: string | undefined): number => (text === undefined ? 0 : new TextEncoder().encode(text).length);

/**
 * An entry's size as EventBridge counts it (user guide, "Calculating PutEvents event entry size"):
 * 14 bytes for `Time` when given, and the UTF-8 bytes of `Source`, `DetailType`, `Detail` and each
 * of `Resources`.
 *
 * @example
 * putEventsEntrySize({ Source: 'app', DetailType: 'change', Detail: '{"é":1}' }); // 3 + 6 + 8 = 17
 */
export const putEventsEntrySize = (entry: PutEventsEntryFields): number =>
  (entry.Time === undefined || entry.Time === null ? 0 : PutEventsLimits.TIME_BYTES) +
  utf8Bytes(entry.Source) +
  utf8Bytes(entry.DetailType) +
  utf8Bytes(entry.Detail) +
  (entry.Resources ?? []).reduce((sum, resource) => sum + utf8Bytes(resource), 0);
