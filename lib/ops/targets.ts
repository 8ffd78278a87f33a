import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { closest, distance } from 'fastest-levenshtein';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';
import { destinationResources } from '../config/resources.ts';

/** Bad flags, arguments or config: the CLI exits 2 with the message, no stack trace. */
export class UsageError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** An AWS resource the command needs is not where the config says (not deployed, wrong endpoint or region). */
export class ResourceNotFoundError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ResourceNotFoundError';
  }
}

/**
 * " (did you mean "crm"?)" when a name is close to one of the known ones, else "".
 *
 * @example
 * didYouMean('crn', ['crm', 'erp']); // ' (did you mean "crm"?)'
 */
export const didYouMean = (name: string, known: readonly string[]): string => {
  if (known.length === 0) return '';
  const best = closest(name, [...known]);
  return distance(name, best) <= Math.max(2, Math.floor(best.length / 3)) ? ` (did you mean ${JSON.stringify(best)}?)` : '';
};

/**
 * The destination of that name in the config, or a {@link UsageError} that lists the known ones.
 *
 * @example
 * findDestination(config, 'crm').name; // 'crm'
 */
export const findDestination = (config: PipelineConfig, name: string): DestinationConfig => {
  const destination = config.destinations.find((d) => d.name === name);
  if (destination !== undefined) return destination;
  const names = config.destinations.map((d) => d.name);
  throw new UsageError(`unknown destination ${JSON.stringify(name)}${didYouMean(name, names)}; the config has ${names.map((n) => JSON.stringify(n)).join(', ')}`);
};

/** One destination's two queues, as found on the endpoint. */
export interface DestinationQueues {
  readonly destination: string;
  readonly queueName: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueName: string;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
}

const queueOf = async (sqs: SQSClient, queueName: string, where: string): Promise<{ url: string; arn: string }> => {
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    return { url: QueueUrl!, arn: Attributes?.QueueArn ?? '' };
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue') {
      throw new ResourceNotFoundError(`queue ${queueName} does not exist on ${where}: deploy the stack (or start the local runtime), or check --endpoint and --region`, {
        cause: error,
      });
    }
    throw error;
  }
};

/**
 * Finds a destination's queue and DLQ by the names the stack gives them (from the same config).
 *
 * @example
 * const queues = await resolveQueues(sqs, config, findDestination(config, 'crm'), 'AWS');
 */
export const resolveQueues = async (sqs: SQSClient, config: PipelineConfig, destination: DestinationConfig, where: string): Promise<DestinationQueues> => {
  const names = destinationResources(config, destination);
  const [queue, deadLetterQueue] = await Promise.all([queueOf(sqs, names.queueName, where), queueOf(sqs, names.deadLetterQueueName, where)]);
  return {
    destination: destination.name,
    queueName: names.queueName,
    queueUrl: queue.url,
    queueArn: queue.arn,
    deadLetterQueueName: names.deadLetterQueueName,
    deadLetterQueueUrl: deadLetterQueue.url,
    deadLetterQueueArn: deadLetterQueue.arn,
  };
};
