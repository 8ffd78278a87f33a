import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterMessage } from '../core/dead-letter.ts';
import { toSqsMessageAttributes } from './sqs-attributes.ts';
import type { RecordQueue } from '../core/record-queue.ts';

export interface SqsRecordQueueOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
}

/**
 * @example
 * const queue = new SqsRecordQueue({ client: new SQSClient({}), queueUrl, deadLetterQueueUrl });
 */
export class SqsRecordQueue implements RecordQueue {
  readonly #options: SqsRecordQueueOptions;

  public constructor(options: SqsRecordQueueOptions) {
    this.#options = options;
  }

  public async deadLetter(letter: DeadLetterMessage): Promise<void> {
    await this.#options.client.send(
      new SendMessageCommand({
        QueueUrl: this.#options.deadLetterQueueUrl,
        MessageBody: letter.body,
        MessageAttributes: toSqsMessageAttributes(letter.attributes),
      }),
    );
  }

  public async delayRetry(receiptHandle: string, delaySeconds: number): Promise<void> {
    await this.#options.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.#options.queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: delaySeconds,
      }),
    );
  }
}
