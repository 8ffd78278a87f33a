import { ChangeMessageVisibilityBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { ChangeEvent } from '../contract/change-event.ts';
import {
  DEAD_LETTER_FACTS_ATTRIBUTE,
  DEAD_LETTER_REASON_ATTRIBUTE,
  readDeadLetterEnvelope,
  readDeadLetterFacts,
  type DeadLetterEnvelope,
  type DeadLetterFacts,
} from '../core/dead-letter.ts';
import { readChangeMessage } from '../core/message-body.ts';
import { chunk, SqsLimits } from '../core/sqs-limits.ts';

/** The reason of a message SQS moved to the DLQ by redrive (it carries no facts of ours). */
export const REDRIVEN_REASON = 'redriven-after-max-receives';
/** The reason of an event EventBridge could not deliver to the queue (its target's DLQ). */
export const EVENTBRIDGE_REASON = 'eventbridge-delivery-failed';

/** Attributes EventBridge puts on an event it could not deliver to its target. */
const EVENTBRIDGE_ERROR_CODE = 'ERROR_CODE';
const EVENTBRIDGE_ERROR_MESSAGE = 'ERROR_MESSAGE';

/** One source message in a DLQ and why it is there. Never holds the body or payload: reports show it. */
export interface DeadLetter {
  readonly destination: string;
  /**
   * The consumer's reason, {@link REDRIVEN_REASON} for a message SQS moved by redrive, or
   * {@link EVENTBRIDGE_REASON}; '' when the facts and the reason attribute disagree (I6).
   */
  readonly reason: string;
  /** Request ids of the invocations that dead-lettered this message (none after redrive). */
  readonly invocationIds?: readonly string[];
  /** The change it carried, when its body held a readable change event. */
  readonly change?: Pick<ChangeEvent, 'resourceType' | 'id' | 'version'>;
  /** The source queue's message id (from the facts, or the message SQS moved by redrive). */
  readonly messageId?: string;
  /** What failed and why, as the consumer (or EventBridge) said it. */
  readonly message?: string;
  readonly attempts?: number;
  readonly firstAttemptAt?: string;
  readonly lastAttemptAt?: string;
  readonly status?: number;
}

/** One DLQ message read: what it says, and the body to send again (the original, unwrapped). */
export interface ReadDeadLetter extends DeadLetter {
  /** The DLQ's own message id. */
  readonly dlqMessageId: string;
  /** The original body: a new-shape dead letter's body, or a legacy envelope's `originalBody`. */
  readonly originalBody: string;
  /** True when the original body was cut to fit (legacy envelopes, or the oversized exception): it cannot be sent again. */
  readonly truncated: boolean;
  /** The shape it was written in. */
  readonly shape: 'original-body' | 'legacy-envelope' | 'redriven' | 'eventbridge';
}

export interface ReceiveAllOptions {
  /** How long received messages stay invisible, so one read sees each once. @default 300 */
  readonly visibilityTimeoutSeconds?: number;
  /** Long poll of each receive. @default 0 */
  readonly waitTimeSeconds?: number;
  /** Stop after this many messages. @default no limit */
  readonly limit?: number;
}

/**
 * Receives every message a queue holds now, in batches of 10, until two receives in a row come back
 * empty; the messages stay in the queue (invisible for the visibility timeout), with all attributes.
 *
 * @example
 * const messages = await receiveAll(sqs, deadLetterQueueUrl, { visibilityTimeoutSeconds: 600 });
 */
export const receiveAll = async (sqs: SQSClient, queueUrl: string, options: ReceiveAllOptions = {}): Promise<Message[]> => {
  const messages: Message[] = [];
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  for (let emptyReceives = 0; emptyReceives < 2 && messages.length < limit; ) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(SqsLimits.MAX_BATCH_ENTRIES, limit - messages.length),
        WaitTimeSeconds: options.waitTimeSeconds ?? 0,
        VisibilityTimeout: options.visibilityTimeoutSeconds ?? 300,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) emptyReceives += 1;
    else messages.push(...Messages);
  }
  return messages;
};

/**
 * Makes received messages visible again at once (a read that consumes nothing).
 *
 * @example
 * await release(sqs, queueUrl, messages.map((m) => m.ReceiptHandle!));
 */
export const release = async (sqs: SQSClient, queueUrl: string, receiptHandles: readonly string[]): Promise<void> => {
  for (const handles of chunk(receiptHandles)) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: handles.map((ReceiptHandle, index) => ({ Id: String(index), ReceiptHandle, VisibilityTimeout: 0 })),
      }),
    );
  }
};

/**
 * Every message a queue holds now, read without consuming it: received (so each is seen once) and
 * made visible again at once.
 *
 * @example
 * const letters = groupDeadLetters(await peekMessages(sqs, deadLetterQueueUrl), 'crm');
 */
export const peekMessages = async (sqs: SQSClient, queueUrl: string): Promise<Message[]> => {
  const messages = await receiveAll(sqs, queueUrl, { visibilityTimeoutSeconds: 120 });
  await release(sqs, queueUrl, messages.flatMap((m) => (m.ReceiptHandle === undefined ? [] : [m.ReceiptHandle])));
  return messages;
};

const fromFacts = (facts: Pick<DeadLetterFacts, 'message' | 'attempts' | 'firstAttemptAt' | 'lastAttemptAt' | 'status'>) => ({
  ...(typeof facts.message === 'string' ? { message: facts.message } : {}),
  ...(typeof facts.attempts === 'number' ? { attempts: facts.attempts } : {}),
  ...(typeof facts.firstAttemptAt === 'string' ? { firstAttemptAt: facts.firstAttemptAt } : {}),
  ...(typeof facts.lastAttemptAt === 'string' ? { lastAttemptAt: facts.lastAttemptAt } : {}),
  ...(typeof facts.status === 'number' ? { status: facts.status } : {}),
});

const changeOf = (body: string): Pick<DeadLetter, 'change'> => {
  const read = readChangeMessage(body);
  return read.ok ? { change: { resourceType: read.event.resourceType, id: read.event.id, version: read.event.version } } : {};
};

/**
 * Says what one DLQ message is, whichever shape it was written in: the original body with the
 * consumer's facts as attributes; a legacy envelope (the original inside, the reason as attribute);
 * an event EventBridge could not deliver (its error as attributes); or a message SQS moved after
 * maxReceiveCount (nothing of ours). A reason attribute that disagrees with the facts gives '' (I6).
 *
 * @example
 * readDeadLetter(message, 'crm').reason; // 'rejected'
 */
export const readDeadLetter = (message: Message, destination: string): ReadDeadLetter => {
  const attributes = message.MessageAttributes ?? {};
  const marked = attributes[DEAD_LETTER_REASON_ATTRIBUTE]?.StringValue;
  const body = message.Body ?? '';
  const dlqMessageId = message.MessageId ?? '';
  const facts = readDeadLetterFacts(attributes[DEAD_LETTER_FACTS_ATTRIBUTE]?.StringValue);
  const envelope: DeadLetterEnvelope | undefined = marked !== undefined && (facts === undefined || facts.bodyIsEnvelope !== undefined) ? readDeadLetterEnvelope(body) : undefined;
  if (marked !== undefined) {
    const said = facts ?? envelope;
    const originalBody = facts?.bodyIsEnvelope !== undefined || facts === undefined ? (envelope?.originalBody ?? '') : body;
    return {
      destination,
      dlqMessageId,
      reason: said !== undefined && said.reason === marked ? marked : '',
      invocationIds: said?.invocationId === undefined ? [] : [said.invocationId],
      messageId: said?.messageId ?? dlqMessageId,
      ...(said === undefined ? {} : fromFacts(said)),
      ...changeOf(originalBody),
      originalBody,
      truncated: envelope?.originalBodyTruncated ?? false,
      shape: facts === undefined ? 'legacy-envelope' : 'original-body',
    };
  }
  const errorCode = attributes[EVENTBRIDGE_ERROR_CODE]?.StringValue;
  if (errorCode !== undefined) {
    const detail = attributes[EVENTBRIDGE_ERROR_MESSAGE]?.StringValue;
    return {
      destination,
      dlqMessageId,
      reason: EVENTBRIDGE_REASON,
      invocationIds: [],
      messageId: dlqMessageId,
      message: detail === undefined ? errorCode : `${errorCode}: ${detail}`,
      ...changeOf(body),
      originalBody: body,
      truncated: false,
      shape: 'eventbridge',
    };
  }
  return {
    destination,
    dlqMessageId,
    reason: REDRIVEN_REASON,
    invocationIds: [],
    messageId: dlqMessageId,
    ...changeOf(body),
    originalBody: body,
    truncated: false,
    shape: 'redriven',
  };
};

/** A read dead letter without its body: what reports and the invariants may see. */
export const withoutBody = (letter: ReadDeadLetter): DeadLetter => {
  const { originalBody: _body, truncated: _truncated, shape: _shape, dlqMessageId: _dlq, ...rest } = letter;
  return rest;
};

/**
 * Says why each message of a DLQ is there, once per source message: an invocation that died after
 * dead-lettering a record leaves a dead letter, and the redelivery writes another; both fold into
 * one with both invocation ids.
 *
 * @example
 * const letters = groupDeadLetters(await receiveAll(sqs, deadLetterQueueUrl), 'crm');
 */
export const groupDeadLetters = (messages: readonly Message[], destination: string): DeadLetter[] => {
  const letters = new Map<string, DeadLetter>();
  for (const message of messages) {
    const letter = withoutBody(readDeadLetter(message, destination));
    const key = letter.messageId ?? String(letters.size);
    const earlier = letters.get(key)?.invocationIds ?? [];
    letters.set(key, { ...letter, invocationIds: [...earlier, ...(letter.invocationIds ?? [])] });
  }
  return [...letters.values()];
};

/**
 * Reads a destination's whole DLQ without consuming it (every message is visible again at once, for
 * the operator's tools) and says why each source message is there.
 *
 * @example
 * const letters = await readDeadLetters(sqs, deadLetterQueueUrl, 'crm'); // [{ destination: 'crm', reason: 'invalid-json', messageId, … }]
 */
export const readDeadLetters = async (sqs: SQSClient, queueUrl: string, destination: string): Promise<DeadLetter[]> =>
  groupDeadLetters(await peekMessages(sqs, queueUrl), destination);
