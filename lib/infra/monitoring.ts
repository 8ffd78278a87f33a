import { Aws, Duration } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IWidget,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEAD_LETTER_REASON_ATTRIBUTE } from '../core/dead-letter.ts';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';
import { destinationResources } from '../config/resources.ts';
import { MetricName } from '../core/metrics.ts';
import { probeIntervalMinutes } from './destination-breaker.ts';
import { DestinationMetrics } from './pipeline-metrics.ts';

/** The name of the SNS topic every pipeline alarm notifies. */
export const alarmTopicName = (config: Pick<PipelineConfig, 'name'>): string => `${config.name}-alarms`;

/** Props of {@link DestinationAlarms}. */
export interface DestinationAlarmsProps {
  /** What to measure for the destination; its `destination.alarms` holds the thresholds. */
  readonly metrics: DestinationMetrics;
  /** Notified when an alarm fires and when it recovers. */
  readonly alarmTopic: Topic;
}

/**
 * The alarm policy of one destination: one alarm per signal, thresholds from `destination.alarms`
 * (the breaker's settings go into its alarm's description), each notifying the alarm topic on ALARM
 * and on OK. Every description says what the alarm means and, after "First:", what to do first.
 *
 * @example
 * const alarms = new DestinationAlarms(scope, 'crm', { metrics, alarmTopic });
 * alarms.deadLetterQueueNotEmpty.addAlarmAction(new SnsAction(pagerTopic));
 */
export class DestinationAlarms extends Construct {
  /** The DLQ holds at least one message. */
  public readonly deadLetterQueueNotEmpty: Alarm;
  /** EndToEndLag p99 above `alarms.lagP99Seconds` in 3 of 5 minutes. */
  public readonly lagAboveSlo: Alarm;
  /** Destination calls failing above `alarms.errorRatePercent` in 3 of 5 minutes. */
  public readonly errorRateAboveLimit: Alarm;
  /** The oldest queued message older than `alarms.oldestMessageAgeSeconds`. */
  public readonly oldestMessageTooOld: Alarm;
  /** The circuit breaker is open: the event source is disabled until the probe enables it. */
  public readonly breakerOpen: Alarm;
  /** The five alarms above, in that order. */
  public readonly all: readonly Alarm[];

  public constructor(scope: Construct, id: string, props: DestinationAlarmsProps) {
    super(scope, id);
    const { metrics } = props;
    const { config, destination } = metrics;
    const { lagP99Seconds, errorRatePercent, oldestMessageAgeSeconds } = destination.alarms;
    const { failurePercent, minCalls, windowSeconds } = destination.breaker;
    const { queueName, deadLetterQueueName } = destinationResources(config, destination);
    const alarmName = (signal: string): string => `${config.name}-${destination.name}-${signal}`;

    this.deadLetterQueueNotEmpty = new Alarm(this, 'DeadLetterQueueNotEmpty', {
      alarmName: alarmName('dlq-not-empty'),
      alarmDescription:
        `Messages are waiting in the ${deadLetterQueueName} DLQ: changes ${destination.name} did not receive. ` +
        `First: \`sync-pipeline dlq inspect ${destination.name}\` groups them by reason (each keeps its original body; the ` +
        `consumer's reason is the \`${DEAD_LETTER_REASON_ATTRIBUTE}\` attribute; a message without one was moved by SQS after ` +
        `maxReceiveCount or is an event EventBridge could not deliver). Fix the cause, then \`sync-pipeline dlq redrive ` +
        `${destination.name}\`, or StartMessageMoveTask ("Start DLQ redrive" in the console) to ${queueName}.`,
      metric: metrics.deadLetterQueueDepth(),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // IGNORE, not NOT_BREACHING: SQS stops publishing metrics for a queue nobody has touched for
      // six hours, and dead letters nobody has looked at are exactly that. Treating the silence as
      // "empty" would send an all-clear while the messages are still there; keeping the last state
      // holds the alarm until someone receives, redrives or purges (which reports again).
      treatMissingData: TreatMissingData.IGNORE,
    });

    this.lagAboveSlo = new Alarm(this, 'LagAboveSlo', {
      alarmName: alarmName('lag-p99'),
      alarmDescription:
        `End-to-end lag p99 (applied - occurredAt) of ${destination.name} was above its SLO of ${lagP99Seconds} s in 3 of ` +
        `the last 5 minutes: changes reach ${destination.name} late. First: on the ${config.name} dashboard, check the ` +
        `${destination.name} error rate and queue depth: throttling or errors mean the destination is the bottleneck ` +
        `(see its ErrorClass breakdown); a deep queue with few errors means the consumer needs more maxConcurrency.`,
      metric: metrics.endToEndLag(99),
      threshold: lagP99Seconds * 1000,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      // Lag is measured only when a record is applied. No datapoint means nothing was applied, which
      // is not evidence of lag; a stalled consumer shows in the oldest-message-age alarm instead.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    // At most 10 metrics per alarm (CloudWatch): RecordsApplied + one per error class; CDK fails the
    // synth if a new class ever pushes it over.
    this.errorRateAboveLimit = new Alarm(this, 'ErrorRateAboveLimit', {
      alarmName: alarmName('error-rate'),
      alarmDescription:
        `More than ${errorRatePercent}% of calls to ${destination.name} failed (DestinationErrors / (RecordsApplied + ` +
        `DestinationErrors)) in 3 of the last 5 minutes; failed changes are retried with backoff and dead-lettered past ` +
        `the retry horizon. First: find the failing ErrorClass (dashboard, or the consumer logs' \`errorClass\` field): ` +
        `throttled -> lower maxConcurrency; server, timeout or network -> check the destination's status; auth -> fix ` +
        `its credentials; client -> inspect the DLQ.`,
      metric: metrics.errorRatePercent(),
      threshold: errorRatePercent,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      // A minute without destination calls has no rate: no calls, no failed calls.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    // SQS leaves out messages received 3 or more times from this metric, so records in retry show
    // in the lag and error-rate alarms; this one catches a queue nobody consumes.
    this.oldestMessageTooOld = new Alarm(this, 'OldestMessageTooOld', {
      alarmName: alarmName('oldest-message-age'),
      alarmDescription:
        `The oldest message in ${queueName} has waited more than ${oldestMessageAgeSeconds} s: ${destination.name} is ` +
        `not being consumed fast enough or at all (destination down, consumer failing or throttled). First: check the ` +
        `consumer function's errors, throttles and logs and the ${destination.name} error rate; messages wait on the ` +
        `queue (14-day retention) and drain once the cause is fixed.`,
      metric: metrics.oldestMessageAge(),
      threshold: oldestMessageAgeSeconds,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // SQS reports the age only while the queue holds a message: no datapoint means an empty queue.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    this.breakerOpen = new Alarm(this, 'BreakerOpen', {
      alarmName: alarmName('breaker-open'),
      alarmDescription:
        `The circuit breaker of ${destination.name} is open: at least ${failurePercent}% of ${minCalls} or more calls in ` +
        `${windowSeconds} s failed transiently, so its event source mapping is disabled. Changes wait in ${queueName} ` +
        `(14-day retention) without spending their receives, and lag grows. First: check ${destination.name}'s own ` +
        `status and \`sync-pipeline status ${destination.name}\`. Nothing needs re-enabling: a probe tries ` +
        `${destination.name} every ${probeIntervalMinutes(destination)} min and enables the event source once it ` +
        `answers; enabling it by hand while ${destination.name} still fails only opens the breaker again.`,
      metric: metrics.breakerOpen(),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // IGNORE, not NOT_BREACHING: while the breaker is open the consumer runs only when probed, so
      // minutes between probes have no datapoint. Read as "closed", they would send OK after every
      // probe and ALARM at the next; keeping the last state holds the alarm until a 0 is reported.
      treatMissingData: TreatMissingData.IGNORE,
    });

    this.all = [this.deadLetterQueueNotEmpty, this.lagAboveSlo, this.errorRateAboveLimit, this.oldestMessageTooOld, this.breakerOpen];
    const action = new SnsAction(props.alarmTopic);
    for (const alarm of this.all) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}

/** One destination as {@link PipelineMonitoring} sees it. */
export interface MonitoredDestination {
  readonly destination: DestinationConfig;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
}

/** Props of {@link PipelineMonitoring}. */
export interface PipelineMonitoringProps {
  readonly config: PipelineConfig;
  /** Every destination of `config`, with its queues. */
  readonly destinations: readonly MonitoredDestination[];
}

const FULL_WIDTH = 24;
const GRAPH_HEIGHT = 6;

/** Summary row: applied and dead-lettered records per destination over the dashboard's range. */
const totalsWidget = (all: readonly DestinationMetrics[]): IWidget =>
  new SingleValueWidget({
    title: 'Applied / dead-lettered (whole range)',
    metrics: all.flatMap((metrics) => [
      metrics.metric(MetricName.RECORDS_APPLIED).with({ label: `${metrics.destination.name} applied` }),
      metrics.metric(MetricName.RECORDS_DEAD_LETTERED).with({ label: `${metrics.destination.name} dead-lettered` }),
    ]),
    setPeriodToTimeRange: true,
    width: 8,
    height: GRAPH_HEIGHT,
  });

/** Summary row: lag p99 of every destination on one graph. */
const lagP99OverviewWidget = (all: readonly DestinationMetrics[]): IWidget =>
  new GraphWidget({
    title: 'End-to-end lag p99 (ms)',
    left: all.map((metrics) => metrics.endToEndLag(99).with({ label: metrics.destination.name })),
    width: 8,
    height: GRAPH_HEIGHT,
  });

/** Summary row: the state of every alarm. */
const alarmStatusWidget = (alarms: readonly Alarm[]): IWidget =>
  new AlarmStatusWidget({ title: 'Alarms', alarms: [...alarms], width: 8, height: GRAPH_HEIGHT });

const destinationHeaderWidget = (metrics: DestinationMetrics): IWidget =>
  new TextWidget({
    markdown: `## ${metrics.destination.name}\nResource types: ${metrics.destination.resourceTypes.join(', ')}`,
    width: FULL_WIDTH,
    height: 2,
  });

const lagPercentilesWidget = (metrics: DestinationMetrics, alarms: DestinationAlarms): IWidget =>
  new GraphWidget({
    title: `${metrics.destination.name}: end-to-end lag (ms)`,
    left: [50, 90, 99].map((percentile) => metrics.endToEndLag(percentile).with({ label: `p${percentile}` })),
    leftAnnotations: [alarms.lagAboveSlo.toAnnotation()],
    width: 6,
    height: GRAPH_HEIGHT,
  });

const throughputWidget = (metrics: DestinationMetrics): IWidget =>
  new GraphWidget({
    title: `${metrics.destination.name}: records per minute`,
    left: [
      MetricName.RECORDS_APPLIED,
      MetricName.RECORDS_SKIPPED,
      MetricName.RECORDS_RETRIED,
      MetricName.RECORDS_DEAD_LETTERED,
    ].map((name) => metrics.metric(name)),
    width: 6,
    height: GRAPH_HEIGHT,
  });

const errorRateWidget = (metrics: DestinationMetrics, alarms: DestinationAlarms): IWidget =>
  new GraphWidget({
    title: `${metrics.destination.name}: error rate (%)`,
    left: [metrics.errorRatePercent()],
    leftAnnotations: [alarms.errorRateAboveLimit.toAnnotation()],
    leftYAxis: { min: 0, max: 100 },
    width: 4,
    height: GRAPH_HEIGHT,
  });

const queueWidget = (metrics: DestinationMetrics, alarms: DestinationAlarms): IWidget =>
  new GraphWidget({
    title: `${metrics.destination.name}: queue`,
    left: [metrics.queueDepth().with({ label: 'messages queued' })],
    right: [metrics.oldestMessageAge().with({ label: 'oldest message age (s)' })],
    rightAnnotations: [alarms.oldestMessageTooOld.toAnnotation()],
    width: 4,
    height: GRAPH_HEIGHT,
  });

const deadLetterQueueWidget = (metrics: DestinationMetrics): IWidget =>
  new GraphWidget({
    title: `${metrics.destination.name}: DLQ`,
    left: [metrics.deadLetterQueueDepth().with({ label: 'messages in DLQ' })],
    width: 4,
    height: GRAPH_HEIGHT,
  });

const breakerWidget = (metrics: DestinationMetrics, alarms: DestinationAlarms): IWidget => {
  const { rateLimit } = metrics.destination;
  return new GraphWidget({
    title: `${metrics.destination.name}: circuit breaker${rateLimit === undefined ? '' : ' and rate in force'}`,
    left: [metrics.breakerOpen().with({ label: 'breaker open (1) or closed (0)' })],
    leftAnnotations: [alarms.breakerOpen.toAnnotation()],
    leftYAxis: { min: 0, max: 1 },
    // Without a rate limit the consumer reports no rate.
    ...(rateLimit === undefined
      ? {}
      : {
          right: [metrics.rateInForce().with({ label: 'rate in force (requests/s)' })],
          rightAnnotations: [{ value: rateLimit.perSecond, label: 'rateLimit.perSecond' }],
          rightYAxis: { min: 0 },
        }),
    width: FULL_WIDTH / 2,
    height: GRAPH_HEIGHT,
  });
};

const deferredWidget = (metrics: DestinationMetrics): IWidget =>
  new GraphWidget({
    title: `${metrics.destination.name}: records deferred per minute, by reason`,
    left: [metrics.recordsDeferredByReason()],
    width: FULL_WIDTH / 2,
    height: GRAPH_HEIGHT,
  });

/**
 * Alarms and dashboard of the whole pipeline, from the same config as the resources: an SNS topic
 * (`<name>-alarms`, emailed to `config.alarmEmail` when set), {@link DestinationAlarms} per
 * destination, and a dashboard `<name>` with a summary row and, per destination, a header and two
 * rows of graphs.
 *
 * @example
 * const monitoring = new PipelineMonitoring(scope, 'Monitoring', { config, destinations: [{ destination, queue, deadLetterQueue }] });
 * monitoring.alarmTopic.addSubscription(new UrlSubscription('https://pager.example.com/hook'));
 */
export class PipelineMonitoring extends Construct {
  /** Every alarm of the pipeline notifies this topic, on ALARM and on OK. */
  public readonly alarmTopic: Topic;
  /** The CloudWatch dashboard named after the pipeline. */
  public readonly dashboard: Dashboard;
  /** Per destination name, its alarms. */
  public readonly alarms: ReadonlyMap<string, DestinationAlarms>;

  public constructor(scope: Construct, id: string, props: PipelineMonitoringProps) {
    super(scope, id);
    const { config } = props;

    // Not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS-managed SNS key (its key
    // policy cannot grant cloudwatch.amazonaws.com), and notifications carry alarm names and numbers,
    // no record data. Publishing requires TLS (cdk-nag AwsSolutions-SNS3).
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      topicName: alarmTopicName(config),
      displayName: `${config.name} alarms`,
      enforceSSL: true,
    });
    // The topic policy replaces SNS's default one, which is what lets CloudWatch publish without it;
    // allow this account's alarms explicitly.
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsOfThisAccount',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
        },
      }),
    );
    if (config.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new EmailSubscription(config.alarmEmail));
    }

    const rows = props.destinations.map(({ destination, queue, deadLetterQueue }) => {
      const metrics = new DestinationMetrics({ config, destination, queue, deadLetterQueue });
      const alarms = new DestinationAlarms(this, `${destination.name}Alarms`, { metrics, alarmTopic: this.alarmTopic });
      return { metrics, alarms };
    });
    this.alarms = new Map(rows.map(({ metrics, alarms }) => [metrics.destination.name, alarms]));

    const allMetrics = rows.map(({ metrics }) => metrics);
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: config.name,
      defaultInterval: Duration.hours(3),
      widgets: [
        [totalsWidget(allMetrics), lagP99OverviewWidget(allMetrics), alarmStatusWidget(rows.flatMap(({ alarms }) => alarms.all))],
        ...rows.flatMap(({ metrics, alarms }) => [
          [destinationHeaderWidget(metrics)],
          [
            lagPercentilesWidget(metrics, alarms),
            throughputWidget(metrics),
            errorRateWidget(metrics, alarms),
            queueWidget(metrics, alarms),
            deadLetterQueueWidget(metrics),
          ],
          [breakerWidget(metrics, alarms), deferredWidget(metrics)],
        ]),
      ],
    });
  }
}
