import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { chunk, SqsLimits } from '../core/sqs-limits.ts';

/** Raised when SQS accepts a SendMessageBatch call but refuses some of its entries. */
export class PublishError extends Error {
  /** `Code: Message` of every refused entry. */
  public readonly failures: readonly string[];

  public constructor(message: string, failures: readonly string[], options?: ErrorOptions) {
    super(message, options);
    this.name = 'PublishError';
    this.failures = failures;
  }
}

/**
 * Sends bodies to one queue with SendMessageBatch, 10 at a time, in order, and returns their message
 * ids. SendMessageBatch reports refused entries in its answer, not as an error: any refusal throws a
 * {@link PublishError} here, so nothing is lost silently.
 *
 * @example
 * const messageIds = await sendBodies(sqs, queueUrl, events.map(serializeChangeEvent));
 */
export const sendBodies = async (sqs: SQSClient, queueUrl: string, bodies: readonly string[]): Promise<string[]> => {
  const messageIds: string[] = [];
  for (const batch of chunk(bodies, SqsLimits.MAX_BATCH_ENTRIES)) {
    const result = await sqs.send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch.map((body, index) => ({ Id: String(index), MessageBody: body })) }),
    );
    const failed = result.Failed ?? [];
    if (failed.length > 0) {
      const failures = failed.map((entry) => `${entry.Code}: ${entry.Message}`);
      throw new PublishError(`SQS refused ${failed.length} of ${batch.length} messages for ${queueUrl}: ${failures.join('; ')}`, failures);
    }
    const byId = new Map((result.Successful ?? []).map((entry) => [entry.Id, entry.MessageId ?? '']));
    messageIds.push(...batch.map((_body, index) => byId.get(String(index)) ?? ''));
  }
  return messageIds;
};
