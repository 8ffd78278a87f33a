import type { DeadLetterMessage, MessageAttribute } from './dead-letter.ts';

/** A message to send again to the source queue, later, as a new message (a deferral). */
export interface DeferredMessage {
  /** The source message's id (the entry's handle in the result). */
  readonly messageId: string;
  readonly body: string;
  readonly attributes: Readonly<Record<string, MessageAttribute>>;
  readonly delaySeconds: number;
}

/** How a deferral went: the new message's id, or why SQS refused it (the source message then stays). */
export type DeferResult = { readonly messageId: string; readonly sentAs: string } | { readonly messageId: string; readonly error: string };

/** A received message, as the probe gets it from the queue. */
export interface ReceivedRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly messageAttributes: Readonly<Record<string, MessageAttribute>>;
}

/** What the consumer does to a record's queue besides the event source's own deletes. */
export interface RecordQueue {
  /** Sends the dead letter (the original body, with its facts as attributes) to the DLQ; resolves only once SQS has it. */
  deadLetter(letter: DeadLetterMessage): Promise<void>;
  /** Sets when failed records are delivered again (their backoff), in batches, before they are reported failed. */
  delayRetries(entries: ReadonlyArray<{ readonly receiptHandle: string; readonly delaySeconds: number }>): Promise<void>;
  /** Sends messages again as new ones with a delay, in batches; each result says whether SQS took it. */
  defer(messages: readonly DeferredMessage[]): Promise<DeferResult[]>;
  /** Receives one message for the breaker's probe (the event source is off then), or none. */
  receiveOne(visibilityTimeoutSeconds: number): Promise<ReceivedRecord | undefined>;
  /** Deletes a message the probe ended (the event source would have). */
  delete(receiptHandle: string): Promise<void>;
}
