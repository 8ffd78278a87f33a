import { GetQueueAttributesCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { EntryOutcome } from '../core/publish-batches.ts';
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
 * Sends up to 10 bodies to one queue in one SendMessageBatch call and says, per body and in order,
 * what SQS did with it. SendMessageBatch reports refused entries in its answer, not as an error:
 * `SenderFault: false` is SQS's own trouble (worth sending again), `true` is the body's (never). A
 * whole call that fails (throttled, 5xx, no such queue) rejects, as the SDK does.
 *
 * @example
 * const outcomes = await sendMessageBatch(sqs, queueUrl, [serializeChangeEvent(event)]);
 * if (outcomes[0]?.sent) console.log(outcomes[0].id); // the MessageId
 */
export const sendMessageBatch = async (
  sqs: SQSClient,
  queueUrl: string,
  bodies: readonly string[],
  options: { readonly abortSignal?: AbortSignal } = {},
): Promise<EntryOutcome[]> => {
  const result = await sqs.send(
    new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: bodies.map((body, index) => ({ Id: String(index), MessageBody: body })) }),
    options.abortSignal === undefined ? {} : { abortSignal: options.abortSignal },
  );
  const sent = new Map((result.Successful ?? []).map((entry) => [entry.Id, entry.MessageId ?? '']));
  const failed = new Map((result.Failed ?? []).map((entry) => [entry.Id, entry]));
  return bodies.map((_body, index): EntryOutcome => {
    const id = String(index);
    const messageId = sent.get(id);
    if (messageId !== undefined) return { sent: true, id: messageId };
    const failure = failed.get(id);
    if (failure === undefined) return { sent: false, code: 'MissingResult', message: `SQS answered nothing for entry ${id}`, retryable: true };
    return { sent: false, code: failure.Code ?? 'Unknown', message: failure.Message ?? '', retryable: failure.SenderFault !== true };
  });
};

/**
 * Sends bodies to one queue with SendMessageBatch, 10 at a time, in order, and returns their message
 * ids. Any refused entry throws a {@link PublishError} here, so nothing is lost silently.
 *
 * @example
 * const messageIds = await sendBodies(sqs, queueUrl, events.map(serializeChangeEvent));
 */
export const sendBodies = async (sqs: SQSClient, queueUrl: string, bodies: readonly string[]): Promise<string[]> => {
  const messageIds: string[] = [];
  for (const batch of chunk(bodies, SqsLimits.MAX_BATCH_ENTRIES)) {
    const outcomes = await sendMessageBatch(sqs, queueUrl, batch);
    const failures = outcomes.flatMap((outcome) => (outcome.sent ? [] : [`${outcome.code}: ${outcome.message}`]));
    if (failures.length > 0) {
      throw new PublishError(`SQS refused ${failures.length} of ${batch.length} messages for ${queueUrl}: ${failures.join('; ')}`, failures);
    }
    messageIds.push(...outcomes.map((outcome) => (outcome.sent ? outcome.id : '')));
  }
  return messageIds;
};

/**
 * A queue's `MaximumMessageSize` in bytes: the largest body, and the largest sum of bodies in one
 * SendMessageBatch call.
 *
 * @example
 * await readMaximumMessageSize(sqs, queueUrl); // 262144 on a queue made with the defaults before August 2025
 */
export const readMaximumMessageSize = async (sqs: SQSClient, queueUrl: string): Promise<number> => {
  const result = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['MaximumMessageSize'] }));
  const value = Number(result.Attributes?.MaximumMessageSize);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`Expected queue ${queueUrl} to report a MaximumMessageSize in bytes, got ${JSON.stringify(result.Attributes?.MaximumMessageSize)}`);
  }
  return value;
};
