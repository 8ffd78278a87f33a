import { Annotations, Aspects, Aws, Duration, type IAspect, NestedStack, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { CfnSubscription, type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IConstruct } from 'constructs';
import { DEAD_LETTER_REASON_ATTRIBUTE } from '../core/dead-letter.ts';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';
import { destinationResources } from '../config/resources.ts';
import { MetricName } from '../core/metrics.ts';
import { boundedDescription, DescriptionLimit } from './descriptions.ts';
import { probeIntervalMinutes } from './destination-breaker.ts';
import { DestinationMetrics } from './pipeline-metrics.ts';

/** The name of the SNS topic every pipeline alarm notifies. */
export const alarmTopicName = (config: Pick<PipelineConfig, 'name'>): string => `${config.name}-alarms`;

/** Props of {@link DestinationAlarms}. */
export interface DestinationAlarmsProps {
  /** What to measure for the destination; its `destination.alarms` holds the thresholds. */
  readonly metrics: DestinationMetrics;
  /** Notified when an alarm fires and when it recovers. */
  readonly alarmTopic: ITopic;
  /** The destination's consumer function: its errors, throttles and duration have alarms too. */
  readonly consumer: IFunction;
}

/** The consumer's duration alarm fires at this share of its timeout. */
export const DURATION_ALARM_SHARE_OF_TIMEOUT = 0.8;

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
  /** The consumer function itself failed (an invocation threw or timed out) in 3 of 5 minutes. */
  public readonly functionErrors: Alarm;
  /** Lambda throttled the consumer in 3 of 5 minutes. */
  public readonly functionThrottles: Alarm;
  /** The consumer's longest invocation above 80 % of its timeout in 3 of 5 minutes. */
  public readonly durationNearTimeout: Alarm;
  /** The eight alarms above, in that order. */
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
      alarmDescription: boundedDescription(
        `Messages are waiting in the ${deadLetterQueueName} DLQ: changes ${destination.name} did not receive. ` +
          `First: \`sync-pipeline dlq inspect ${destination.name}\` groups them by reason (each keeps its original body; the ` +
          `consumer's reason is the \`${DEAD_LETTER_REASON_ATTRIBUTE}\` attribute; a message without one was moved by SQS after ` +
          `maxReceiveCount or is an event EventBridge could not deliver). Fix the cause, then \`sync-pipeline dlq redrive ` +
          `${destination.name}\`, or StartMessageMoveTask ("Start DLQ redrive" in the console) to ${queueName}.`,
        DescriptionLimit.ALARM,
      ),
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
      alarmDescription: boundedDescription(
        `End-to-end lag p99 (applied - occurredAt) of ${destination.name} was above its SLO of ${lagP99Seconds} s in 3 of ` +
        `the last 5 minutes: changes reach ${destination.name} late. First: on the ${dashboardOf(config, destination)} dashboard, check the ` +
        `${destination.name} error rate and queue depth: throttling or errors mean the destination is the bottleneck ` +
        `(see its ErrorClass breakdown); a deep queue with few errors means the consumer needs more maxConcurrency.`,
        DescriptionLimit.ALARM,
      ),
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
      alarmDescription: boundedDescription(
        `More than ${errorRatePercent}% of calls to ${destination.name} failed (DestinationErrors / (RecordsApplied + ` +
          `DestinationErrors)) in 3 of the last 5 minutes; failed changes are retried with backoff and dead-lettered past ` +
          `the retry horizon. First: find the failing ErrorClass (dashboard, or the consumer logs' \`errorClass\` field): ` +
          `throttled -> lower maxConcurrency; server, timeout or network -> check the destination's status; auth -> fix ` +
          `its credentials; client -> inspect the DLQ.`,
        DescriptionLimit.ALARM,
      ),
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
      alarmDescription: boundedDescription(
        `The oldest message in ${queueName} has waited more than ${oldestMessageAgeSeconds} s: ${destination.name} is ` +
        `not being consumed fast enough or at all (destination down, consumer failing or throttled). First: check the ` +
        `consumer function's errors, throttles and logs and the ${destination.name} error rate; messages wait on the ` +
        `queue (${destination.retentionDays}-day retention) and drain once the cause is fixed.`,
        DescriptionLimit.ALARM,
      ),
      metric: metrics.oldestMessageAge(),
      threshold: oldestMessageAgeSeconds,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // SQS reports the age only while the queue holds a message: no datapoint means an empty queue.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    this.breakerOpen = new Alarm(this, 'BreakerOpen', {
      alarmName: alarmName('breaker-open'),
      alarmDescription: boundedDescription(
        `The circuit breaker of ${destination.name} is open: at least ${failurePercent}% of ${minCalls} or more calls in ` +
          `${windowSeconds} s failed transiently, so its event source mapping is disabled. Changes wait in ${queueName} ` +
          `(${destination.retentionDays}-day retention) without spending their receives, and lag grows. First: check ${destination.name}'s own ` +
          `status and \`sync-pipeline status ${destination.name}\`. Nothing needs re-enabling: a probe tries ` +
          `${destination.name} every ${probeIntervalMinutes(destination)} min and enables the event source once it ` +
          `answers; enabling it by hand while ${destination.name} still fails only opens the breaker again.`,
        DescriptionLimit.ALARM,
      ),
      metric: metrics.breakerOpen(),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // IGNORE, not NOT_BREACHING: while the breaker is open the consumer runs only when probed, so
      // minutes between probes have no datapoint. Read as "closed", they would send OK after every
      // probe and ALARM at the next; keeping the last state holds the alarm until a 0 is reported.
      treatMissingData: TreatMissingData.IGNORE,
    });

    const { consumer } = props;
    const timeoutSeconds = destination.functionTimeoutSeconds;
    this.functionErrors = new Alarm(this, 'FunctionErrors', {
      alarmName: alarmName('function-errors'),
      alarmDescription: boundedDescription(
        `The ${destination.name} consumer function failed in 3 of the last 5 minutes (Lambda Errors: an invocation threw ` +
          `or ran out of its ${timeoutSeconds} s): its whole batch goes back to the queue and spends a receive. Record ` +
          `failures do not count here (they are partial batch responses). First: the consumer's log group, level ERROR, ` +
          `for the invocation's error; a timeout means the destination answers slower than requestTimeoutMs allows for a ` +
          `batch: lower batchSize or raise functionTimeoutSeconds.`,
        DescriptionLimit.ALARM,
      ),
      metric: consumer.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      // No invocation, no error.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.functionThrottles = new Alarm(this, 'FunctionThrottles', {
      alarmName: alarmName('function-throttles'),
      alarmDescription: boundedDescription(
        `Lambda throttled the ${destination.name} consumer in 3 of the last 5 minutes: the account's (or the function's ` +
          `reserved) concurrency is exhausted, so its event source cannot reach maxConcurrency ${destination.maxConcurrency} ` +
          `and lag grows. First: the account's ConcurrentExecutions against its quota; raise the quota or lower other ` +
          `functions' use.`,
        DescriptionLimit.ALARM,
      ),
      metric: consumer.metricThrottles({ period: Duration.minutes(1), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.durationNearTimeout = new Alarm(this, 'DurationNearTimeout', {
      alarmName: alarmName('duration-near-timeout'),
      alarmDescription: boundedDescription(
        `The ${destination.name} consumer's longest invocation took more than ${DURATION_ALARM_SHARE_OF_TIMEOUT * 100}% of ` +
          `its ${timeoutSeconds} s timeout in 3 of the last 5 minutes: the next slowdown of ${destination.name} times ` +
          `invocations out. First: DestinationLatency on the dashboard; lower batchSize, or raise functionTimeoutSeconds ` +
          `(the queue's visibility timeout follows it).`,
        DescriptionLimit.ALARM,
      ),
      metric: consumer.metricDuration({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: timeoutSeconds * 1000 * DURATION_ALARM_SHARE_OF_TIMEOUT,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    this.all = [
      this.deadLetterQueueNotEmpty,
      this.lagAboveSlo,
      this.errorRateAboveLimit,
      this.oldestMessageTooOld,
      this.breakerOpen,
      this.functionErrors,
      this.functionThrottles,
      this.durationNearTimeout,
    ];
    const action = new SnsAction(props.alarmTopic);
    for (const alarm of this.all) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}

/** One destination as {@link PipelineDashboards} shows it. */
export interface MonitoredDestination {
  readonly metrics: DestinationMetrics;
  readonly alarms: DestinationAlarms;
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
    width: FULL_WIDTH / 4,
    height: GRAPH_HEIGHT,
  });
};

/** A quarter-width graph of one search, one series per value of its breakdown dimension. */
const breakdownWidget = (metrics: DestinationMetrics, what: string, search: IMetric): IWidget =>
  new GraphWidget({ title: `${metrics.destination.name}: ${what}`, left: [search], width: FULL_WIDTH / 4, height: GRAPH_HEIGHT });

const deferredWidget = (metrics: DestinationMetrics): IWidget => breakdownWidget(metrics, 'records deferred per minute, by reason', metrics.recordsDeferredByReason());

/** What the error-rate alarm's runbook asks for first: which ErrorClass is failing. */
const errorClassWidget = (metrics: DestinationMetrics): IWidget =>
  breakdownWidget(metrics, 'destination errors per minute, by ErrorClass', metrics.destinationErrorsByClass());

const latencyWidget = (metrics: DestinationMetrics): IWidget =>
  new GraphWidget({
    title: `${metrics.destination.name}: destination call latency (ms)`,
    left: [50, 99].map((percentile) => metrics.destinationLatency(percentile).with({ label: `p${percentile}` })),
    leftAnnotations: [{ value: metrics.destination.requestTimeoutMs, label: 'requestTimeoutMs' }],
    width: FULL_WIDTH / 4,
    height: GRAPH_HEIGHT,
  });

/** Props of {@link PipelineAlarmTopic}. */
export interface PipelineAlarmTopicProps {
  readonly config: PipelineConfig;
  /** The config's customer-managed key (`kmsKeyArn`); its key policy must let cloudwatch.amazonaws.com use it. */
  readonly encryptionKey?: IKey;
}

/**
 * The SNS topic every alarm of the pipeline notifies (`<name>-alarms`), emailed to
 * `config.alarmEmail` when set. Synth warns when the topic has no subscription in its stack: alarms
 * would notify nobody.
 *
 * @example
 * const { topic } = new PipelineAlarmTopic(scope, 'AlarmTopic', { config });
 * topic.addSubscription(new UrlSubscription('https://pager.example.com/hook'));
 */
export class PipelineAlarmTopic extends Construct {
  public readonly topic: Topic;

  /**
   * Emails `address` every notification of `topic` (the config's `alarmEmail`): on the pipeline's own
   * topic, and on one the user brought (`SyncPipelineProps.alarmTopic`).
   *
   * @example
   * PipelineAlarmTopic.subscribeEmail(Topic.fromTopicArn(stack, 'Pager', pagerTopicArn), 'oncall@example.com');
   */
  public static subscribeEmail(topic: ITopic, address: string): void {
    topic.addSubscription(new EmailSubscription(address));
  }

  public constructor(scope: Construct, id: string, props: PipelineAlarmTopicProps) {
    super(scope, id);
    const { config } = props;

    // KMS-encrypted only under the config's key: CloudWatch cannot publish to a topic under the
    // AWS-managed SNS key (its key policy cannot grant cloudwatch.amazonaws.com), and notifications
    // carry alarm names and numbers, no record data. Publishing requires TLS (cdk-nag AwsSolutions-SNS3).
    this.topic = new Topic(this, 'AlarmTopic', {
      topicName: alarmTopicName(config),
      displayName: `${config.name} alarms`,
      enforceSSL: true,
      ...(props.encryptionKey === undefined ? {} : { masterKey: props.encryptionKey }),
    });
    // The topic policy replaces SNS's default one, which is what lets CloudWatch publish without it;
    // allow this account's alarms explicitly.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsOfThisAccount',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
        },
      }),
    );
    if (config.alarmEmail !== undefined) PipelineAlarmTopic.subscribeEmail(this.topic, config.alarmEmail);
    // An aspect, so that subscriptions added after this construct (`topic.addSubscription`) count.
    Aspects.of(this).add(new WarnWithoutSubscription(this.topic));
  }
}

/** Warns at synth when no SNS subscription in the topic's stack points at it. */
class WarnWithoutSubscription implements IAspect {
  readonly #topic: Topic;
  #checked = false;

  public constructor(topic: Topic) {
    this.#topic = topic;
  }

  public visit(node: IConstruct): void {
    if (node !== this.#topic || this.#checked) return;
    this.#checked = true;
    const stack = Stack.of(this.#topic);
    const topicArn = JSON.stringify(stack.resolve(this.#topic.topicArn));
    const subscribed = stack.node
      .findAll()
      .some((construct) => construct instanceof CfnSubscription && JSON.stringify(stack.resolve(construct.topicArn)) === topicArn);
    if (subscribed) return;
    Annotations.of(this.#topic).addWarningV2(
      'sync-pipeline:alarm-topic-unsubscribed',
      `The alarm topic ${this.#topic.node.path} has no subscription: every alarm would notify nobody. Set alarmEmail in ` +
        'the config, or subscribe your on-call endpoint to the topic (stack output AlarmTopicArn).',
    );
  }
}

/** Destinations per dashboard: ten rows of widgets each, and 80 alarms in its status widget (CloudWatch shows at most 100). */
export const DESTINATIONS_PER_DASHBOARD = 10;

/**
 * The name of the i-th dashboard (0-based) of a pipeline. Dashboards are one namespace per account,
 * across regions, so the name holds the region: the same config deploys in two regions.
 *
 * @example
 * dashboardName(config, 0); // '<name>-<region>'
 * dashboardName(config, 1); // '<name>-<region>-2'
 */
export const dashboardName = (config: Pick<PipelineConfig, 'name'>, index: number, region: string = Aws.REGION): string =>
  `${config.name}-${region}${index === 0 ? '' : `-${index + 1}`}`;

/**
 * The dashboard showing `destination`, as an alarm description names it: the region is the
 * alarm's own, written `<region>` (a description is plain text).
 *
 * @example
 * dashboardOf(config, config.destinations[12]); // 'sync-pipeline-<region>-2'
 */
export const dashboardOf = (config: PipelineConfig, destination: DestinationConfig): string => {
  const page = Math.floor(config.destinations.findIndex((candidate) => candidate.name === destination.name) / DESTINATIONS_PER_DASHBOARD);
  return dashboardName(config, page, '<region>');
};

/** Props of {@link PipelineDashboards}. */
export interface PipelineDashboardsProps {
  readonly config: PipelineConfig;
  /** Every destination of `config`, with its metrics and alarms, in config order. */
  readonly destinations: readonly MonitoredDestination[];
}

/**
 * The CloudWatch dashboards of the pipeline, {@link DESTINATIONS_PER_DASHBOARD} destinations each,
 * in config order: a summary row of its destinations, then per destination a header and two rows
 * of graphs. A dashboard stays far inside CloudWatch's limits (500 widgets, 2,500 metrics, 100 alarms
 * in an alarm status widget) however many destinations there are.
 *
 * @example
 * const { dashboards } = new PipelineDashboards(scope, 'Dashboards', { config, destinations });
 */
export class PipelineDashboards extends Construct {
  public readonly dashboards: readonly Dashboard[];

  public constructor(scope: Construct, id: string, props: PipelineDashboardsProps) {
    super(scope, id);
    const { config } = props;
    const pages: MonitoredDestination[][] = [];
    for (let start = 0; start < props.destinations.length; start += DESTINATIONS_PER_DASHBOARD) {
      pages.push(props.destinations.slice(start, start + DESTINATIONS_PER_DASHBOARD));
    }
    this.dashboards = pages.map((rows, index) => {
      const allMetrics = rows.map(({ metrics }) => metrics);
      // A nested stack per dashboard: a body for ten destinations is about 100 KB of template (every
      // metric names the region), so ten of them would not fit the 1 MB of one template.
      const page = new NestedStack(this, `Page${index + 1}`, {
        description: boundedDescription(`sync-pipeline ${config.name}: dashboard ${index + 1} of ${pages.length}`, DescriptionLimit.STACK),
      });
      return new Dashboard(page, 'Dashboard', {
        dashboardName: dashboardName(config, index),
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
            [breakerWidget(metrics, alarms), deferredWidget(metrics), errorClassWidget(metrics), latencyWidget(metrics)],
          ]),
        ],
      });
    });
  }
}
