import type { SQSClient } from '@aws-sdk/client-sqs';
import { PublishError, sendBodies } from '../adapters/sqs-send.ts';
import { destinationsFor, type PipelineConfig } from '../config/pipeline-config.ts';
import { serializeChangeEvent, type ChangeEvent } from '../contract/change-event.ts';
import { SqsLimits } from '../core/sqs-limits.ts';

export { PublishError, sendBodies } from '../adapters/sqs-send.ts';

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
