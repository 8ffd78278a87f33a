import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DEAD_LETTER_REASON_ATTRIBUTE, serializeDeadLetterEnvelope, type DeadLetterEnvelope } from '../core/dead-letter.ts';
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

  public async deadLetter(envelope: DeadLetterEnvelope): Promise<void> {
    await this.#options.client.send(
      new SendMessageCommand({
        QueueUrl: this.#options.deadLetterQueueUrl,
        MessageBody: serializeDeadLetterEnvelope(envelope),
        MessageAttributes: {
          [DEAD_LETTER_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: envelope.reason },
        },
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
