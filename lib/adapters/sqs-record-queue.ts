import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { DeadLetterMessage } from '../core/dead-letter.ts';
import type { DeferredMessage, DeferResult, ReceivedRecord, RecordQueue } from '../core/record-queue.ts';
import { chunk } from '../core/sqs-limits.ts';
import { fromSqsMessageAttributes, toSqsMessageAttributes } from './sqs-attributes.ts';

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

  public async delayRetries(entries: ReadonlyArray<{ receiptHandle: string; delaySeconds: number }>): Promise<void> {
    for (const batch of chunk(entries)) {
      await this.#options.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.#options.queueUrl,
          Entries: batch.map((entry, index) => ({ Id: String(index), ReceiptHandle: entry.receiptHandle, VisibilityTimeout: entry.delaySeconds })),
        }),
      );
    }
  }

  public async defer(messages: readonly DeferredMessage[]): Promise<DeferResult[]> {
    const results: DeferResult[] = [];
    for (const batch of chunk(messages)) {
      try {
        const { Successful = [], Failed = [] } = await this.#options.client.send(
          new SendMessageBatchCommand({
            QueueUrl: this.#options.queueUrl,
            Entries: batch.map((message, index) => ({
              Id: String(index),
              MessageBody: message.body,
              DelaySeconds: message.delaySeconds,
              ...(Object.keys(message.attributes).length === 0 ? {} : { MessageAttributes: toSqsMessageAttributes(message.attributes) }),
            })),
          }),
        );
        for (const entry of Successful) results.push({ messageId: batch[Number(entry.Id)]!.messageId, sentAs: entry.MessageId ?? '' });
        for (const entry of Failed) results.push({ messageId: batch[Number(entry.Id)]!.messageId, error: `${entry.Code}: ${entry.Message ?? ''}` });
      } catch (error) {
        // The whole call failed: every message of the batch stays on the queue and is retried.
        for (const message of batch) results.push({ messageId: message.messageId, error: error instanceof Error ? error.message : String(error) });
      }
    }
    return results;
  }

  public async receiveOne(visibilityTimeoutSeconds: number): Promise<ReceivedRecord | undefined> {
    const { Messages = [] } = await this.#options.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.#options.queueUrl,
        MaxNumberOfMessages: 1,
        VisibilityTimeout: visibilityTimeoutSeconds,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const message = Messages[0];
    if (message === undefined) return undefined;
    return {
      messageId: message.MessageId ?? '',
      receiptHandle: message.ReceiptHandle ?? '',
      body: message.Body ?? '',
      attributes: message.Attributes ?? {},
      messageAttributes: fromSqsMessageAttributes(message.MessageAttributes),
    };
  }

  public async delete(receiptHandle: string): Promise<void> {
    await this.#options.client.send(new DeleteMessageCommand({ QueueUrl: this.#options.queueUrl, ReceiptHandle: receiptHandle }));
  }
}
