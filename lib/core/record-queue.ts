import type { DeadLetterMessage } from './dead-letter.ts';

/** What the consumer does to a record's queue besides the event source's own deletes. */
export interface RecordQueue {
  /** Sends the dead letter (the original body, with its facts as attributes) to the DLQ; resolves only once SQS has it. */
  deadLetter(letter: DeadLetterMessage): Promise<void>;
  /** Sets when a failed record is delivered again (the backoff), before it is reported failed. */
  delayRetry(receiptHandle: string, delaySeconds: number): Promise<void>;
}
