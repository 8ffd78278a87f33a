import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';
import { consumerServiceName } from '../config/resources.ts';
import { MetricDimension, MetricName } from '../core/metrics.ts';
import { isBreakerOpen, rateInForce, type DestinationControlStore } from '../core/destination-control.ts';
import type { DestinationQueues } from './targets.ts';

/** One destination's health, as `sync-pipeline status` shows it. */
export interface DestinationStatus {
  readonly destination: string;
  /** Messages waiting (visible), being processed (in flight) and delayed, in the source queue. */
  readonly queued: number;
  readonly inFlight: number;
  readonly delayed: number;
  readonly deadLetters: number;
  /** From CloudWatch (SQS publishes no such attribute); null where CloudWatch has no data (emulators). */
  readonly oldestMessageAgeSeconds: number | null;
  /** The last minute with RecordsApplied > 0 in the past day (CloudWatch); null when unknown. */
  readonly lastAppliedAt: string | null;
  /** The circuit breaker: open (nothing is sent, the event source is off) or closed; from the shared control state. */
  readonly breaker: 'open' | 'closed';
  /** Requests per second in force (the configured ceiling, lowered after a 429); null without a rate limit. */
  readonly rateInForcePerSecond: number | null;
  readonly healthy: boolean;
  /** Why it is unhealthy, one line each. */
  readonly problems: readonly string[];
}

const count = (attributes: Record<string, string> | undefined, name: string): number => Number(attributes?.[name] ?? 0) || 0;

const ONE_DAY_MS = 24 * 60 * 60 * 1000;

/** What CloudWatch knows; null figures where it has nothing (or cannot be reached). */
const cloudWatchFigures = async (
  cloudwatch: CloudWatchClient | undefined,
  config: PipelineConfig,
  destination: DestinationConfig,
  queues: DestinationQueues,
  now: number,
): Promise<{ oldestMessageAgeSeconds: number | null; lastAppliedAt: string | null; note?: string }> => {
  if (cloudwatch === undefined) return { oldestMessageAgeSeconds: null, lastAppliedAt: null };
  const queries: MetricDataQuery[] = [
    {
      Id: 'oldest',
      MetricStat: {
        Metric: { Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: [{ Name: 'QueueName', Value: queues.queueName }] },
        Period: 60,
        Stat: 'Maximum',
      },
    },
    {
      Id: 'applied',
      MetricStat: {
        Metric: {
          Namespace: config.metricsNamespace,
          MetricName: MetricName.RECORDS_APPLIED,
          Dimensions: [
            { Name: MetricDimension.DESTINATION, Value: destination.name },
            { Name: 'service', Value: consumerServiceName(config, destination) },
          ],
        },
        Period: 60,
        Stat: 'Sum',
      },
    },
  ];
  try {
    const { MetricDataResults = [] } = await cloudwatch.send(
      new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: new Date(now - ONE_DAY_MS), EndTime: new Date(now), ScanBy: 'TimestampDescending' }),
    );
    const oldest = MetricDataResults.find((r) => r.Id === 'oldest');
    const applied = MetricDataResults.find((r) => r.Id === 'applied');
    // The newest datapoint of the age, if it is recent; the newest minute in which something was applied.
    const recentAge = oldest?.Timestamps?.[0] !== undefined && now - oldest.Timestamps[0].getTime() < 10 * 60_000 ? (oldest.Values?.[0] ?? null) : null;
    const appliedIndex = applied?.Values?.findIndex((value) => value > 0) ?? -1;
    return {
      oldestMessageAgeSeconds: recentAge,
      lastAppliedAt: appliedIndex < 0 ? null : (applied?.Timestamps?.[appliedIndex]?.toISOString() ?? null),
    };
  } catch (error) {
    return { oldestMessageAgeSeconds: null, lastAppliedAt: null, note: `CloudWatch not reachable (${(error as Error).name})` };
  }
};

/**
 * A destination's status: queue depth, in flight, DLQ depth, age of the oldest message and the last
 * applied time (from CloudWatch, where it has them). Unhealthy when the DLQ holds anything or the
 * oldest message is older than the destination's alarm threshold.
 *
 * @example
 * const status = await destinationStatus({ sqs, cloudwatch }, config, destination, queues);
 * status.healthy; // false when the DLQ is not empty
 */
export const destinationStatus = async (
  clients: { readonly sqs: SQSClient; readonly cloudwatch?: CloudWatchClient; readonly control?: DestinationControlStore },
  config: PipelineConfig,
  destination: DestinationConfig,
  queues: DestinationQueues,
  now: number = Date.now(),
): Promise<DestinationStatus & { readonly notes: readonly string[] }> => {
  const names = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] as const;
  const [source, dlq, figures, control] = await Promise.all([
    clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queues.queueUrl, AttributeNames: [...names] })),
    clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queues.deadLetterQueueUrl, AttributeNames: [...names] })),
    cloudWatchFigures(clients.cloudwatch, config, destination, queues, now),
    clients.control?.read(destination.name),
  ]);
  const breakerOpen = isBreakerOpen(control);
  const deadLetters = count(dlq.Attributes, names[0]) + count(dlq.Attributes, names[1]) + count(dlq.Attributes, names[2]);
  const threshold = destination.alarms.oldestMessageAgeSeconds;
  const problems = [
    ...(breakerOpen ? [`the circuit breaker is open since ${new Date(control!.breakerOpenedAt!).toISOString()}: nothing is sent, changes wait in the queue; the probe closes it once the destination answers`] : []),
    ...(deadLetters > 0 ? [`${deadLetters} messages in the DLQ ${queues.deadLetterQueueName}: sync-pipeline dlq inspect ${destination.name}`] : []),
    ...(figures.oldestMessageAgeSeconds !== null && figures.oldestMessageAgeSeconds > threshold
      ? [`oldest message is ${Math.round(figures.oldestMessageAgeSeconds)} s old, above the ${threshold} s alarm threshold`]
      : []),
  ];
  return {
    destination: destination.name,
    queued: count(source.Attributes, names[0]),
    inFlight: count(source.Attributes, names[1]),
    delayed: count(source.Attributes, names[2]),
    deadLetters,
    oldestMessageAgeSeconds: figures.oldestMessageAgeSeconds,
    lastAppliedAt: figures.lastAppliedAt,
    breaker: breakerOpen ? 'open' : 'closed',
    rateInForcePerSecond: destination.rateLimit === undefined ? null : Math.round(rateInForce(control, destination.rateLimit, now) * 10) / 10,
    healthy: problems.length === 0,
    problems,
    notes: figures.note === undefined ? [] : [figures.note],
  };
};
