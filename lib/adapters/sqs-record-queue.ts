import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterMessage } from '../core/dead-letter.ts';
import type { DeferredMessage, DeferResult, ReceivedRecord, RecordQueue } from '../core/record-queue.ts';
import { chunk } from '../core/sqs-limits.ts';
import { atFirstUse, clientFrom, importSdk, type ClientSource } from './at-first-use.ts';
import { fromSqsMessageAttributes, toSqsMessageAttributes } from './sqs-attributes.ts';

const importSqs = () => importSdk('@aws-sdk/client-sqs', 'reach the queues', () => import('@aws-sdk/client-sqs'));

/**
 * The SDK's own SQS client, `new SQSClient({})` (configured by the function's environment), made
 * when called: what the Lambda entry gives {@link SqsRecordQueue}.
 */
export const defaultSqsClient = async (): Promise<SQSClient> => new (await importSqs()).SQSClient({});

export interface SqsRecordQueueOptions {
  /** The client, or a function that makes it at the first call ({@link defaultSqsClient} on Lambda). */
  readonly client: ClientSource<SQSClient>;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
}

interface Connection {
  readonly sdk: typeof import('@aws-sdk/client-sqs');
  readonly client: SQSClient;
}

/**
 * The destination's queue and dead-letter queue. The SDK's SQS client is loaded, and the client
 * made, at the first call, once (a failed load is tried again at the next): an invocation whose
 * records all succeed calls no queue (Lambda deletes them), so a function starts without it.
 *
 * @example
 * const queue = new SqsRecordQueue({ client: new SQSClient({}), queueUrl, deadLetterQueueUrl });
 * const lambdaQueue = new SqsRecordQueue({ client: defaultSqsClient, queueUrl, deadLetterQueueUrl });
 */
export class SqsRecordQueue implements RecordQueue {
  readonly #options: SqsRecordQueueOptions;
  readonly #connect = atFirstUse(async (): Promise<Connection> => {
    const sdk = await importSqs();
    return { sdk, client: await clientFrom(this.#options.client) };
  });

  public constructor(options: SqsRecordQueueOptions) {
    this.#options = options;
  }

  public async deadLetter(letter: DeadLetterMessage): Promise<void> {
    const { sdk, client } = await this.#connect();
    await client.send(
      new sdk.SendMessageCommand({
        QueueUrl: this.#options.deadLetterQueueUrl,
        MessageBody: letter.body,
        MessageAttributes: toSqsMessageAttributes(letter.attributes),
      }),
    );
  }

  public async delayRetries(entries: ReadonlyArray<{ receiptHandle: string; delaySeconds: number }>): Promise<void> {
    const { sdk, client } = await this.#connect();
    for (const batch of chunk(entries)) {
      await client.send(
        new sdk.ChangeMessageVisibilityBatchCommand({
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
        const { sdk, client } = await this.#connect();
        const { Successful = [], Failed = [] } = await client.send(
          new sdk.SendMessageBatchCommand({
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
    const { sdk, client } = await this.#connect();
    const { Messages = [] } = await client.send(
      new sdk.ReceiveMessageCommand({
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
    const { sdk, client } = await this.#connect();
    await client.send(new sdk.DeleteMessageCommand({ QueueUrl: this.#options.queueUrl, ReceiptHandle: receiptHandle }));
  }
}
