import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { destinationsFor, type PipelineConfig } from '../config/pipeline-config.ts';
import { serializeChangeEvent, type ChangeEvent } from '../contract/change-event.ts';
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

/**
 * The destinations a change goes to: the same rule as the EventBridge rules (`destinationsFor`).
 *
 * @example
 * routeChange(config, event); // ['crm', 'erp']
 */
export const routeChange = (config: PipelineConfig, event: Pick<ChangeEvent, 'resourceType'>): string[] =>
  destinationsFor(config, event.resourceType).map((destination) => destination.name);

export interface QueuePublisherOptions {
  readonly config: PipelineConfig;
  readonly sqs: SQSClient;
  /** The source queue of each destination. */
  readonly queueUrls: Readonly<Record<string, string>>;
  /** Told after each batch SQS accepted, with the message ids it gave. */
  readonly onSent?: (destination: string, messageIds: readonly string[]) => void;
}

/** Publishes straight to the destination queues, as a publisher that skips EventBridge does. */
export interface QueuePublisher {
  /** Queues a body for a destination; sends a batch as soon as 10 are waiting. */
  enqueue(destination: string, body: string): Promise<void>;
  /** Routes a change as the EventBridge rules do and queues it for each of its destinations. */
  publish(event: ChangeEvent): Promise<readonly string[]>;
  /** Sends whatever is still waiting. */
  flush(): Promise<void>;
}

/**
 * A publisher to the destination queues that batches by 10 and refuses silent failures.
 *
 * @example
 * const publisher = createQueuePublisher({ config, sqs, queueUrls: { crm: crmQueueUrl } });
 * await publisher.publish(event);
 * await publisher.flush();
 */
export const createQueuePublisher = (options: QueuePublisherOptions): QueuePublisher => {
  const outbox = new Map<string, string[]>();
  const send = async (destination: string, force: boolean): Promise<void> => {
    const pending = outbox.get(destination) ?? [];
    outbox.set(destination, pending);
    while (pending.length >= SqsLimits.MAX_BATCH_ENTRIES || (force && pending.length > 0)) {
      const queueUrl = options.queueUrls[destination];
      if (queueUrl === undefined) throw new PublishError(`Expected a queue for destination ${JSON.stringify(destination)}, got none`, []);
      const batch = pending.splice(0, SqsLimits.MAX_BATCH_ENTRIES);
      options.onSent?.(destination, await sendBodies(options.sqs, queueUrl, batch));
    }
  };
  const enqueue = async (destination: string, body: string): Promise<void> => {
    const pending = outbox.get(destination) ?? [];
    pending.push(body);
    outbox.set(destination, pending);
    await send(destination, false);
  };
  return {
    enqueue,
    publish: async (event) => {
      const targets = routeChange(options.config, event);
      const body = serializeChangeEvent(event);
      for (const target of targets) await enqueue(target, body);
      return targets;
    },
    flush: async () => {
      for (const destination of outbox.keys()) await send(destination, true);
    },
  };
};
