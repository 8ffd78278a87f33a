import type { SQSRecord } from 'aws-lambda';
import type { MessageAttribute } from '../core/dead-letter.ts';
import type { DeferredMessage } from '../core/record-queue.ts';

/**
 * Message attribute a deferred message carries: how often it was deferred, and when the change first
 * reached the queue (JSON). A deferral is a new message, so SQS's own SentTimestamp and receive count
 * start again; this keeps the retry horizon counted from the first.
 */
export const DEFERRAL_ATTRIBUTE = 'sync-deferred';

/** What a record's deferrals so far say. */
export interface Deferral {
  readonly count: number;
  /** Epoch ms. */
  readonly firstSentAt: number;
}

/**
 * The deferrals of a record so far: none, and its own SentTimestamp, for a message never deferred.
 *
 * @example
 * readDeferral(record); // { count: 0, firstSentAt: 1764583200000 }
 */
export const readDeferral = (record: Pick<SQSRecord, 'attributes' | 'messageAttributes'>): Deferral => {
  const sent = Number(record.attributes.SentTimestamp) || Date.now();
  const text = record.messageAttributes?.[DEFERRAL_ATTRIBUTE]?.stringValue;
  if (text !== undefined) {
    try {
      const value = JSON.parse(text) as Partial<Deferral>;
      if (typeof value.count === 'number' && typeof value.firstSentAt === 'number') return { count: value.count, firstSentAt: Math.min(value.firstSentAt, sent) };
    } catch {
      // Not ours to trust: count from this message.
    }
  }
  return { count: 0, firstSentAt: sent };
};

/**
 * The message that defers a record: its body and attributes as received, with the deferral count one
 * up and the first-sent time kept.
 *
 * @example
 * await queue.defer([deferredMessage(record, 5)]);
 */
export const deferredMessage = (record: SQSRecord, delaySeconds: number): DeferredMessage => {
  const deferral = readDeferral(record);
  const attributes: Record<string, MessageAttribute> = {};
  for (const [name, value] of Object.entries(record.messageAttributes ?? {})) {
    attributes[name] = {
      dataType: value.dataType,
      ...(value.stringValue === undefined ? {} : { stringValue: value.stringValue }),
      ...(value.binaryValue === undefined ? {} : { binaryValue: value.binaryValue }),
    };
  }
  attributes[DEFERRAL_ATTRIBUTE] = { dataType: 'String', stringValue: JSON.stringify({ count: deferral.count + 1, firstSentAt: deferral.firstSentAt }) };
  return { messageId: record.messageId, body: record.body, attributes, delaySeconds };
};
