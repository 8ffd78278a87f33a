import { ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { parseChangeEvent, type ChangeEvent } from '../contract/change-event.ts';
import { DEAD_LETTER_REASON_ATTRIBUTE } from '../core/dead-letter.ts';
import { SqsLimits } from '../core/sqs-limits.ts';

/** The reason of a message SQS moved to the DLQ by redrive (it carries no envelope of ours). */
export const REDRIVEN_REASON = 'redriven-after-max-receives';

/** One source message in a DLQ and why it is there. */
export interface DeadLetter {
  readonly destination: string;
  /** The consumer's reason, or {@link REDRIVEN_REASON} for a message SQS moved by redrive; '' when the envelope and its attribute disagree. */
  readonly reason: string;
  /** Request ids of the invocations that wrote an envelope for this message (none after redrive). */
  readonly invocationIds?: readonly string[];
  /** The change it carried, when its body was a readable change event. */
  readonly change?: Pick<ChangeEvent, 'resourceType' | 'id' | 'version'>;
  /** The source queue's message id (from the envelope, or the message SQS moved by redrive). */
  readonly messageId?: string;
  /** What went wrong, in words (never payload content). */
  readonly message?: string;
  /** Deliveries the change had before it was dead-lettered. */
  readonly attempts?: number;
  /** ISO 8601 time of the first delivery attempt. */
  readonly firstAttemptAt?: string;
  /** ISO 8601 time of the last delivery attempt. */
  readonly lastAttemptAt?: string;
  /** The destination's HTTP status of the last attempt, when it answered. */
  readonly status?: number;
}

export interface ReceiveAllOptions {
  /** How long received messages stay invisible, so one read sees each once. @default 300 */
  readonly visibilityTimeoutSeconds?: number;
  /** Long poll of each receive. @default 0 */
  readonly waitTimeSeconds?: number;
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
  for (let emptyReceives = 0; emptyReceives < 2; ) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: SqsLimits.MAX_BATCH_ENTRIES,
        WaitTimeSeconds: options.waitTimeSeconds ?? 0,
        VisibilityTimeout: options.visibilityTimeoutSeconds ?? 300,
        MessageAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) emptyReceives += 1;
    else messages.push(...Messages);
  }
  return messages;
};

const readEnvelope = (body: string): { reason?: string; originalBody?: string; messageId?: string; invocationId?: string } | undefined => {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Says why each message of a DLQ is there, once per source message: an invocation that died after
 * dead-lettering a record leaves an envelope, and the redelivery writes another; both fold into one
 * dead letter with both invocation ids.
 *
 * @example
 * const letters = groupDeadLetters(await receiveAll(sqs, deadLetterQueueUrl), 'crm');
 */
export const groupDeadLetters = (messages: readonly Message[], destination: string): DeadLetter[] => {
  const letters = new Map<string, DeadLetter>();
  for (const message of messages) {
    const marked = message.MessageAttributes?.[DEAD_LETTER_REASON_ATTRIBUTE]?.StringValue;
    // A message moved by redrive carries no envelope: it used up maxReceiveCount. A marked one
    // must hold a readable envelope whose reason matches its attribute, or it says nothing (I6).
    const envelope = marked === undefined ? undefined : readEnvelope(message.Body ?? '');
    const body = envelope === undefined ? (message.Body ?? '') : (envelope.originalBody ?? '');
    const sourceMessageId = envelope?.messageId ?? message.MessageId ?? String(letters.size);
    const parsed = parseChangeEvent(body);
    const earlier = letters.get(sourceMessageId)?.invocationIds ?? [];
    letters.set(sourceMessageId, {
      destination,
      invocationIds: envelope?.invocationId === undefined ? earlier : [...earlier, envelope.invocationId],
      reason: marked === undefined ? REDRIVEN_REASON : envelope?.reason === marked ? marked : '',
      messageId: sourceMessageId,
      ...(parsed.ok ? { change: { resourceType: parsed.event.resourceType, id: parsed.event.id, version: parsed.event.version } } : {}),
    });
  }
  return [...letters.values()];
};

/**
 * Reads a destination's whole DLQ and says why each source message is there.
 *
 * @example
 * const letters = await readDeadLetters(sqs, deadLetterQueueUrl, 'crm'); // [{ destination: 'crm', reason: 'invalid-json', messageId, … }]
 */
export const readDeadLetters = async (sqs: SQSClient, queueUrl: string, destination: string, options: ReceiveAllOptions = {}): Promise<DeadLetter[]> =>
  groupDeadLetters(await receiveAll(sqs, queueUrl, options), destination);
