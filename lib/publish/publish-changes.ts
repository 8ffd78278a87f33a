import { setTimeout as delay } from 'node:timers/promises';
import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { describeAwsCallFailure } from '../adapters/aws-errors.ts';
import { putEvents } from '../adapters/eventbridge-put.ts';
import { readMaximumMessageSize, sendMessageBatch } from '../adapters/sqs-send.ts';
import { CHANGE_DETAIL_TYPE, checkChangeEvent, MAX_CHANGE_EVENT_BYTES, serializeChangeEvent, type ChangeEvent } from '../contract/change-event.ts';
import { describeValue, intInRange, lazily, parseOrThrow, ValidationError } from '../contract/validation.ts';
import { fullJitterDelayMs } from '../core/backoff.ts';
import { EventBridgeLimits, planBatches, putEventsEntryBytes, utf8Bytes, type BatchLimits, type EntryOutcome } from '../core/publish-batches.ts';
import { SqsLimits } from '../core/sqs-limits.ts';

/** Where {@link publishChanges} sends: an EventBridge bus (PutEvents) or one SQS queue (SendMessageBatch). */
export type PublishRoute =
  | {
      readonly via: 'eventbridge';
      readonly client: EventBridgeClient;
      /** The bus's name or ARN. */
      readonly eventBusName: string;
      /** @default 'sync-pipeline.publisher' */
      readonly source?: string;
      /** @default CHANGE_DETAIL_TYPE */
      readonly detailType?: string;
    }
  | {
      readonly via: 'sqs';
      readonly client: SQSClient;
      readonly queueUrl: string;
      /**
       * The queue's largest message, which is also the most one SendMessageBatch call may carry in all.
       * @default the queue's MaximumMessageSize, read once per client and queue with GetQueueAttributes; 262144 when that is not allowed
       */
      readonly maxMessageBytes?: number;
    };

/** How {@link publishChanges} sends, retries and reports. */
export type PublishOptions = PublishRoute & {
  /** Retries of refused entries and failed calls: bounded, exponential, full jitter. */
  readonly retry?: {
    /** Sends of one change in all, the first included. @default 5 */
    readonly attempts?: number;
    /** @default 100 */
    readonly baseDelayMs?: number;
    /** @default 5000 */
    readonly maxDelayMs?: number;
  };
  /** The clock for a missing `occurredAt` and for the schema's clock-skew rule, epoch ms. @default Date.now */
  readonly now?: () => number;
  /** Stops sending: what is not sent yet comes back `failed` with an `AbortError`. */
  readonly signal?: AbortSignal;
  /** Told before each batch call, so callers can count calls and bytes. */
  readonly onBatch?: (batch: { readonly entries: number; readonly bytes: number; readonly attempt: number }) => void;
};

/** `sent`: accepted by the service; `invalid`: broke the schema; `too-large`: over the size limit; `failed`: refused or unreachable after the retries. */
export type PublishStatus = 'sent' | 'invalid' | 'too-large' | 'failed';

/** What happened to one change; {@link publishChanges} returns one per change, in order. */
export interface PublishResult {
  /** The change's position in the list given. */
  readonly index: number;
  readonly status: PublishStatus;
  /** The change as sent (or as it would have been), `occurredAt` filled; absent when invalid. */
  readonly change?: ChangeEvent;
  /** The EventId (EventBridge) or MessageId (SQS) the service gave. */
  readonly id?: string;
  /** Calls the change was part of. */
  readonly attempts: number;
  /** Why it was not sent: the change named, then the field and the reason, or the service's last code and message. */
  readonly error?: string;
}

export const DEFAULT_PUBLISH_SOURCE = 'sync-pipeline.publisher';
const DEFAULT_RETRY = { attempts: 5, baseDelayMs: 100, maxDelayMs: 5000 } as const;

const isSdkClient = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as { readonly send?: unknown }).send === 'function';
const isFunction = (value: unknown): boolean => typeof value === 'function';

const optionsSchema = lazily(() => {
  const client = z.custom<EventBridgeClient & SQSClient>(isSdkClient, { error: 'expected an AWS SDK v3 client (an object with send)' });
  const text = (what: string) => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });
  const shared = {
    client,
    retry: z
      .strictObject({ attempts: intInRange(1, 100).optional(), baseDelayMs: intInRange(0, 60_000).optional(), maxDelayMs: intInRange(0, 600_000).optional() })
      .optional(),
    now: z.custom<() => number>(isFunction, { error: 'expected a function returning epoch milliseconds' }).optional(),
    signal: z.instanceof(AbortSignal, { error: 'expected an AbortSignal' }).optional(),
    onBatch: z.custom<NonNullable<PublishOptions['onBatch']>>(isFunction, { error: 'expected a function' }).optional(),
  };
  return z.discriminatedUnion(
    'via',
    [
      z.strictObject({
        via: z.literal('eventbridge'),
        eventBusName: text('the name or ARN of an event bus'),
        source: text('a non-empty source').optional(),
        detailType: text('a non-empty detail type').optional(),
        ...shared,
      }),
      z.strictObject({
        via: z.literal('sqs'),
        queueUrl: text('a queue URL'),
        maxMessageBytes: intInRange(1024, 1_048_576).optional(),
        ...shared,
      }),
    ],
    { error: (issue) => (issue.code === 'invalid_union' ? 'expected "eventbridge" or "sqs"' : 'expected an options object') },
  );
});

/** A valid change ready to go: its wire form and size, and what has happened to it so far. */
interface Outgoing {
  readonly index: number;
  readonly change: ChangeEvent;
  readonly bytes: number;
  readonly entry: PutEventsRequestEntry | string;
  attempts: number;
}

/** One route's sizes, limits and batch call. */
interface Channel {
  /** What is measured, for messages: 'a PutEvents entry', 'an SQS message body'. */
  readonly unit: string;
  readonly maxItemBytes: number;
  /** Where the per-change limit comes from. */
  readonly itemLimitSource: string;
  readonly batch: BatchLimits;
  wire(change: ChangeEvent): { readonly entry: PutEventsRequestEntry | string; readonly bytes: number };
  send(entries: ReadonlyArray<Outgoing['entry']>, signal: AbortSignal | undefined): Promise<EntryOutcome[]>;
}

const eventBridgeChannel = (route: Extract<PublishRoute, { via: 'eventbridge' }>): Channel => {
  const source = route.source ?? DEFAULT_PUBLISH_SOURCE;
  const detailType = route.detailType ?? CHANGE_DETAIL_TYPE;
  return {
    unit: 'a PutEvents entry (Time, Source, DetailType and Detail in UTF-8)',
    maxItemBytes: EventBridgeLimits.MAX_REQUEST_BYTES,
    itemLimitSource: 'the PutEvents limit',
    batch: { maxEntries: EventBridgeLimits.MAX_BATCH_ENTRIES, maxBytes: EventBridgeLimits.MAX_REQUEST_BYTES },
    wire: (change) => {
      const entry = { EventBusName: route.eventBusName, Source: source, DetailType: detailType, Detail: serializeChangeEvent(change), Time: new Date(change.occurredAt) };
      return { entry, bytes: putEventsEntryBytes(entry) };
    },
    send: (entries, signal) => putEvents(route.client, entries as PutEventsRequestEntry[], signal === undefined ? {} : { abortSignal: signal }),
  };
};

/**
 * Queue sizes read so far, per client and queue URL. A publisher calls publishChanges again and
 * again; the queue's limit does not change between calls.
 */
const maxMessageBytesRead = new WeakMap<SQSClient, Map<string, Promise<number>>>();

/**
 * The queue's MaximumMessageSize, read once. A publisher's role may lack sqs:GetQueueAttributes
 * (then 262144, the limit every queue had before August 2025, is safe); any other failure is not
 * kept, so the next call asks again, and the send itself then reports what is wrong.
 */
const queueMaxMessageBytes = (sqs: SQSClient, queueUrl: string): Promise<number> => {
  const known = maxMessageBytesRead.get(sqs) ?? new Map<string, Promise<number>>();
  maxMessageBytesRead.set(sqs, known);
  const cached = known.get(queueUrl);
  if (cached !== undefined) return cached;
  const read = readMaximumMessageSize(sqs, queueUrl).catch((error: unknown) => {
    if (!/AccessDenied|NotAuthorized|AuthorizationError/.test(describeAwsCallFailure(error).code)) known.delete(queueUrl);
    return MAX_CHANGE_EVENT_BYTES;
  });
  known.set(queueUrl, read);
  return read;
};

const sqsChannel = async (route: Extract<PublishRoute, { via: 'sqs' }>): Promise<Channel> => {
  const queueMax = route.maxMessageBytes ?? (await queueMaxMessageBytes(route.client, route.queueUrl));
  return {
    unit: 'an SQS message body (UTF-8)',
    // The consumer refuses a body over the contract's limit, whatever the queue would take.
    maxItemBytes: Math.min(queueMax, MAX_CHANGE_EVENT_BYTES),
    itemLimitSource: queueMax < MAX_CHANGE_EVENT_BYTES ? "the queue's MaximumMessageSize" : "the contract's MAX_CHANGE_EVENT_BYTES, which the consumer enforces",
    batch: { maxEntries: SqsLimits.MAX_BATCH_ENTRIES, maxBytes: queueMax },
    wire: (change) => {
      const body = serializeChangeEvent(change);
      return { entry: body, bytes: utf8Bytes(body) };
    },
    send: (bodies, signal) => sendMessageBatch(route.client, route.queueUrl, bodies as string[], signal === undefined ? {} : { abortSignal: signal }),
  };
};

/** Names a change in an error by its position and, where it has them, its resource type, id and version. */
const nameChange = (index: number, change: unknown): string => {
  if (typeof change !== 'object' || change === null) return `change ${index}`;
  const fields = (['resourceType', 'id', 'version'] as const).flatMap((field) => {
    const value = (change as Record<string, unknown>)[field];
    return typeof value === 'string' || typeof value === 'number' ? [`${field} ${describeValue(value)}`] : [];
  });
  return fields.length === 0 ? `change ${index}` : `change ${index} (${fields.join(', ')})`;
};

/** A caller's object with `occurredAt` set to now when it was left out; the caller's object is not changed. */
const withOccurredAt = (change: unknown, nowMs: number): unknown =>
  typeof change === 'object' && change !== null && !Array.isArray(change) && (change as { readonly occurredAt?: unknown }).occurredAt === undefined
    ? { ...change, occurredAt: new Date(nowMs).toISOString() }
    : change;

/** Checks, fills and measures one change: ready to send, or its final result. */
const prepare = (change: unknown, index: number, channel: Channel, nowMs: number): Outgoing | PublishResult => {
  const checked = checkChangeEvent(withOccurredAt(change, nowMs), nowMs);
  if (!checked.ok) return { index, status: 'invalid', attempts: 0, error: `${nameChange(index, change)} is invalid: ${checked.issues.join('; ')}` };
  const { entry, bytes } = channel.wire(checked.event);
  if (bytes > channel.maxItemBytes) {
    const error = `${nameChange(index, change)} is ${bytes} bytes as ${channel.unit}, over the limit of ${channel.maxItemBytes} bytes (${channel.itemLimitSource}); not sent`;
    return { index, status: 'too-large', change: checked.event, attempts: 0, error };
  }
  return { index, change: checked.event, bytes, entry, attempts: 0 };
};

interface SendSettings {
  readonly channel: Channel;
  readonly retry: { readonly attempts: number; readonly baseDelayMs: number; readonly maxDelayMs: number };
  readonly signal: AbortSignal | undefined;
  readonly onBatch: PublishOptions['onBatch'];
}

/** The outcome of entries not sent (or cut off) because the caller aborted; undefined while not aborted. */
const abortedOutcome = (signal: AbortSignal | undefined): EntryOutcome | undefined =>
  signal?.aborted === true ? { sent: false, code: 'AbortError', message: String(signal.reason ?? 'aborted'), retryable: false } : undefined;

/** One batch call; a call that fails as a whole fails each of its entries the same way. */
const sendBatch = async (batch: readonly Outgoing[], attempt: number, settings: SendSettings): Promise<EntryOutcome[]> => {
  const aborted = abortedOutcome(settings.signal);
  if (aborted !== undefined) return batch.map(() => aborted);
  for (const item of batch) item.attempts = attempt;
  settings.onBatch?.({ entries: batch.length, bytes: batch.reduce((sum, item) => sum + item.bytes, 0), attempt });
  try {
    return await settings.channel.send(
      batch.map((item) => item.entry),
      settings.signal,
    );
  } catch (error) {
    const failure = abortedOutcome(settings.signal) ?? { sent: false as const, ...describeAwsCallFailure(error) };
    return batch.map(() => failure);
  }
};

/**
 * Batch calls in flight at once. A few hide the round trip (the services take far more from one
 * publisher); more would only make throttling likelier.
 */
const CALLS_IN_FLIGHT = 4;

/**
 * Sends in batches, a few calls at a time; entries refused for a reason that may pass (throttling,
 * the service's fault) are batched again and re-sent, alone, after a full-jitter pause, until the
 * attempts run out. A call whose answer was lost (a reset socket) may have been accepted: sending
 * it again can publish a change twice, which the consumers' idempotency absorbs; not sending it
 * could lose it.
 */
const sendWithRetries = async (outgoing: readonly Outgoing[], settings: SendSettings): Promise<PublishResult[]> => {
  const results: PublishResult[] = [];
  let pending = outgoing;
  for (let attempt = 1; pending.length > 0; attempt += 1) {
    const again: Outgoing[] = [];
    const current = pending;
    const batches = planBatches(
      current.map((item) => item.bytes),
      settings.channel.batch,
    ).map((indices) => indices.map((index) => current[index]!));
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let batch = batches[next++]; batch !== undefined; batch = batches[next++]) {
        const outcomes = await sendBatch(batch, attempt, settings);
        batch.forEach((item, position) => {
          const outcome = outcomes[position]!;
          const base = { index: item.index, change: item.change, attempts: item.attempts };
          if (outcome.sent) results.push({ ...base, status: 'sent', id: outcome.id });
          else if (outcome.retryable && attempt < settings.retry.attempts) again.push(item);
          else results.push({ ...base, status: 'failed', error: `${outcome.code}: ${outcome.message} (${item.attempts === 1 ? '1 attempt' : `${item.attempts} attempts`})` });
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(CALLS_IN_FLIGHT, batches.length) }, worker));
    pending = again.sort((a, b) => a.index - b.index);
    if (pending.length > 0) {
      await delay(fullJitterDelayMs(attempt, settings.retry, Math.random), undefined, settings.signal === undefined ? {} : { signal: settings.signal }).catch(() => undefined);
    }
  }
  return results;
};

/**
 * Publishes changes to the pipeline through EventBridge (PutEvents) or straight to a queue
 * (SendMessageBatch). Each change is checked against the shared schema first (an invalid one is
 * not sent; its `error` names it and each field with the reason), gets `occurredAt` = now when it
 * has none, and is measured as the service counts it: a change over the limit is refused as
 * `too-large`. The rest travel in as few calls as the limits allow (10 entries; 256 KB per PutEvents
 * request, the queue's MaximumMessageSize per SendMessageBatch call), and refused entries that may
 * pass later are re-sent with bounded backoff. Returns one result per change, in order; never throws
 * for a change, only for bad options (a {@link ValidationError} naming the field).
 *
 * @example
 * const results = await publishChanges(changes, { via: 'eventbridge', client: new EventBridgeClient({}), eventBusName: 'sync-pipeline' });
 * const notSent = results.filter((result) => result.status !== 'sent');
 * @example
 * await publishChanges([{ resourceType: 'contact', id: 'c-1', version: 4, op: 'upsert', payload: { email: 'a@example.com' } }], { via: 'sqs', client: sqs, queueUrl });
 */
export const publishChanges = async (changes: readonly unknown[], options: PublishOptions): Promise<PublishResult[]> => {
  if (!Array.isArray(changes)) throw new ValidationError('publishChanges changes', [`(root): expected an array of changes, got ${describeValue(changes)}`]);
  const route = parseOrThrow(optionsSchema(), options, 'publishChanges options') as PublishOptions;
  const channel = route.via === 'eventbridge' ? eventBridgeChannel(route) : await sqsChannel(route);
  const nowMs = (route.now ?? Date.now)();
  const retry = {
    attempts: route.retry?.attempts ?? DEFAULT_RETRY.attempts,
    baseDelayMs: route.retry?.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs,
    maxDelayMs: route.retry?.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
  };
  const results = new Array<PublishResult>(changes.length);
  const outgoing: Outgoing[] = [];
  changes.forEach((change, index) => {
    const prepared = prepare(change, index, channel, nowMs);
    if ('status' in prepared) results[index] = prepared;
    else outgoing.push(prepared);
  });
  for (const result of await sendWithRetries(outgoing, { channel, retry, signal: route.signal, onBatch: route.onBatch })) results[result.index] = result;
  return results;
};
