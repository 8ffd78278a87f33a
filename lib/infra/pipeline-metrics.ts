import { Duration } from 'aws-cdk-lib';
import { MathExpression, Metric, SearchExpression, Stats } from 'aws-cdk-lib/aws-cloudwatch';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';
import { consumerServiceName, destinationResources } from '../config/resources.ts';
import { MetricDimension, MetricName } from '../core/metrics.ts';
import { DestinationErrorClass } from '../core/errors.ts';
import type { RetryReason } from '../core/attempt.ts';
import type { DeadLetterReason } from '../core/dead-letter.ts';
import type { SkipReason } from '../core/outcome.ts';

/** Every alarm and graph reads one-minute datapoints: the finest SQS and standard EMF metrics give. */
export const METRIC_PERIOD = Duration.minutes(1);

/**
 * What {@link DestinationMetrics} reads: the config and the destination. Its queues' metrics are
 * named by their physical names (`destinationResources`), so a dashboard in another stack than the
 * queues needs no reference to them.
 */
export interface DestinationMetricsProps {
  readonly config: PipelineConfig;
  readonly destination: DestinationConfig;
}

/**
 * Options of one pipeline metric. There is no label: an alarm on a labelled metric is synthesized as
 * a metric query instead of the plain MetricName/Statistic form the console shows best, so graphs
 * add their labels with `metric.with({ label })`.
 */
export interface PipelineMetricOptions {
  /** @default Stats.SUM */
  readonly statistic?: string;
  /** A breakdown dimension (Reason, ErrorClass) on top of `service` and `Destination`. */
  readonly breakdown?: { readonly name: string; readonly value: string };
}

/**
 * The error classes of failed destination calls, each a metric of the error-rate alarm (CloudWatch
 * allows 10 metrics in one, RecordsApplied included). `transform` is left out: a transform failure
 * is not a destination call, and the consumer emits no DestinationErrors for it.
 */
export const CALL_ERROR_CLASSES: readonly DestinationErrorClass[] = Object.values(DestinationErrorClass).filter(
  (errorClass) => errorClass !== DestinationErrorClass.TRANSFORM,
);

/** `('errors', 'rate-limited')` → `errors_rate_limited`: metric math ids allow letters, digits and `_` only. */
const mathId = (prefix: string, value: string): string => `${prefix}_${value.replace(/[^A-Za-z0-9_]/g, '_')}`;

/**
 * What to measure for one destination, defined once: the dashboard and the alarms both build their
 * metrics here, with the namespace and the exact dimension sets the consumer emits
 * (`{service, Destination}`, plus `Reason` or `ErrorClass` for the breakdowns). Exposed per
 * destination as `SyncPipeline.destinations.get(name).metrics`, for your own alarms and dashboards:
 * every metric is named by the config (namespace, service, destination, queue names), so it can be
 * used in any stack of the app. Counts are per minute ({@link METRIC_PERIOD}); `.with({ period })`
 * changes it.
 *
 * @example
 * const metrics = pipeline.destinations.get('crm')!.metrics;
 * new Alarm(stack, 'CrmDeadLetters', { metric: metrics.recordsDeadLettered(), threshold: 10, evaluationPeriods: 1 });
 * new GraphWidget({ left: [metrics.recordsApplied(), metrics.endToEndLag(99)], right: [metrics.errorRatePercent()] });
 */
export class DestinationMetrics {
  public readonly config: PipelineConfig;
  public readonly destination: DestinationConfig;
  readonly #queueName: string;
  readonly #deadLetterQueueName: string;

  public constructor(props: DestinationMetricsProps) {
    this.config = props.config;
    this.destination = props.destination;
    const { queueName, deadLetterQueueName } = destinationResources(props.config, props.destination);
    this.#queueName = queueName;
    this.#deadLetterQueueName = deadLetterQueueName;
  }

  /**
   * A metric the consumer emits, under this destination's `service` and `Destination` dimensions;
   * counts (RecordsApplied, RecordsSkipped, ...) as their Sum per minute by default.
   */
  public metric(name: MetricName, options: PipelineMetricOptions = {}): Metric {
    return new Metric({
      namespace: this.config.metricsNamespace,
      metricName: name,
      dimensionsMap: {
        // Powertools adds `service` to every metric, so a Metric without it matches nothing.
        [MetricDimension.SERVICE]: consumerServiceName(this.config, this.destination),
        [MetricDimension.DESTINATION]: this.destination.name,
        ...(options.breakdown === undefined ? {} : { [options.breakdown.name]: options.breakdown.value }),
      },
      statistic: options.statistic ?? Stats.SUM,
      period: METRIC_PERIOD,
    });
  }

  /** RecordsReceived: records the consumer was handed, per minute (Sum). */
  public recordsReceived(): Metric {
    return this.metric(MetricName.RECORDS_RECEIVED);
  }

  /** RecordsApplied: changes written to the destination, per minute (Sum). */
  public recordsApplied(): Metric {
    return this.metric(MetricName.RECORDS_APPLIED);
  }

  /** RecordsSkipped: changes not written because stale or a duplicate, per minute (Sum); all reasons, or one. */
  public recordsSkipped(reason?: SkipReason): Metric {
    return this.#count(MetricName.RECORDS_SKIPPED, reason);
  }

  /** RecordsRetried: records returned to the queue for a later attempt, per minute (Sum); all reasons, or one. */
  public recordsRetried(reason?: RetryReason): Metric {
    return this.#count(MetricName.RECORDS_RETRIED, reason);
  }

  /**
   * RecordsDeadLettered: records the consumer sent to the DLQ, per minute (Sum); all reasons, or one.
   * It leaves out what SQS itself moves there after maxReceiveCount: {@link deadLetterQueueDepth}
   * counts both.
   */
  public recordsDeadLettered(reason?: DeadLetterReason): Metric {
    return this.#count(MetricName.RECORDS_DEAD_LETTERED, reason);
  }

  /** A count, of every reason or, with `reason`, of that one only (the consumer emits both). */
  #count(name: MetricName, reason: string | undefined): Metric {
    return this.metric(name, reason === undefined ? {} : { breakdown: { name: MetricDimension.REASON, value: reason } });
  }

  /** QueueLag (appliedAt - SentTimestamp, milliseconds: the time spent in the pipeline) at a percentile. */
  public queueLag(percentile: number): Metric {
    return this.metric(MetricName.QUEUE_LAG, { statistic: Stats.percentile(percentile) });
  }

  /** EndToEndLag (appliedAt - occurredAt, milliseconds) at a percentile, e.g. 99 for p99. */
  public endToEndLag(percentile: number): Metric {
    return this.metric(MetricName.END_TO_END_LAG, { statistic: Stats.percentile(percentile) });
  }

  /** DestinationErrors of one class, per minute. */
  public destinationErrors(errorClass: DestinationErrorClass): Metric {
    return this.metric(MetricName.DESTINATION_ERRORS, { breakdown: { name: MetricDimension.ERROR_CLASS, value: errorClass } });
  }

  /**
   * Percentage of destination calls that failed, per minute: 100 * errors / calls.
   *
   * Calls are RecordsApplied + DestinationErrors: a record is applied only after a successful call,
   * and DestinationErrors counts each failed one. RecordsRetried or RecordsDeadLettered would be the
   * wrong denominator: they also count records that never reached the destination (a busy lease, an
   * invalid message), and skipped records make no call at all.
   *
   * DestinationErrors is only emitted per ErrorClass, and an alarm may not use SEARCH, so each known
   * class is its own metric. They are added with SUM([...]), which sums whichever series have a
   * datapoint that minute; `a + b` would need FILL on each class, and FILL cannot be relied on for a
   * class with no datapoint at all in the window (most classes, most of the time), which would leave
   * the sum missing and the alarm silent. RecordsApplied is emitted on every invocation, even as 0, so
   * `calls - applied` is the error count and is 0 (not missing) in a healthy minute. A minute without
   * any call has no rate (IF without else), and the alarm treats that as missing data.
   */
  public errorRatePercent(): MathExpression {
    const errorIds = CALL_ERROR_CLASSES.map((errorClass) => mathId('errors', errorClass));
    const calls = `SUM([applied, ${errorIds.join(', ')}])`;
    return new MathExpression({
      expression: `IF(${calls} > 0, 100 * (${calls} - applied) / ${calls})`,
      usingMetrics: {
        applied: this.metric(MetricName.RECORDS_APPLIED),
        ...Object.fromEntries(CALL_ERROR_CLASSES.map((errorClass) => [mathId('errors', errorClass), this.destinationErrors(errorClass)])),
      },
      label: 'error rate (%)',
      period: METRIC_PERIOD,
    });
  }

  /** BreakerOpen: 1 while the destination's circuit breaker is open, else 0 (maximum per minute). */
  public breakerOpen(): Metric {
    return this.metric(MetricName.BREAKER_OPEN, { statistic: Stats.MAXIMUM });
  }

  /** RateInForce: the requests per second the destination is sent at most (average per minute). */
  public rateInForce(): Metric {
    return this.metric(MetricName.RATE_IN_FORCE, { statistic: Stats.AVERAGE });
  }

  /**
   * RecordsDeferred per minute, one series per Reason the consumer emitted (throttled, breaker-open,
   * coalescing, ...). A search rather than one metric per reason: a reason added later shows up
   * without a change here. For graphs only; an alarm cannot search.
   */
  public recordsDeferredByReason(): SearchExpression {
    return this.#byDimension(MetricName.RECORDS_DEFERRED, MetricDimension.REASON);
  }

  /** A metric of this destination, one series per value of a breakdown dimension, by SEARCH. */
  #byDimension(metricName: MetricName, dimension: string): SearchExpression {
    const { SERVICE, DESTINATION } = MetricDimension;
    // Quoted terms match whole values: `Destination="crm"` alone would also match `crm-eu`. The schema
    // in braces keeps to series with exactly these dimensions, so the broken-down ones only.
    const schema = `{"${this.config.metricsNamespace}",${[DESTINATION, dimension, SERVICE].sort().join(',')}}`;
    const terms = [
      `MetricName="${metricName}"`,
      `${DESTINATION}="${this.destination.name}"`,
      `${SERVICE}="${consumerServiceName(this.config, this.destination)}"`,
    ];
    return new SearchExpression({
      expression: `SEARCH('${schema} ${terms.join(' ')}', '${Stats.SUM}', ${METRIC_PERIOD.toSeconds()})`,
      // A dynamic label: each series is named by its value of the dimension.
      label: `\${PROP('Dim.${dimension}')}`,
      period: METRIC_PERIOD,
    });
  }

  /**
   * DestinationErrors per minute, one series per ErrorClass the consumer emitted (throttled, server,
   * timeout, auth, ...): what the error-rate alarm's runbook asks to look at first. For graphs only.
   */
  public destinationErrorsByClass(): SearchExpression {
    return this.#byDimension(MetricName.DESTINATION_ERRORS, MetricDimension.ERROR_CLASS);
  }

  /** DestinationLatency (one destination call, milliseconds) at a percentile. */
  public destinationLatency(percentile: number): Metric {
    return this.metric(MetricName.DESTINATION_LATENCY, { statistic: Stats.percentile(percentile) });
  }

  /** An SQS metric of one of the destination's queues, the maximum per minute. */
  #queueMetric(queueName: string, metricName: string): Metric {
    return new Metric({ namespace: 'AWS/SQS', metricName, dimensionsMap: { QueueName: queueName }, statistic: Stats.MAXIMUM, period: METRIC_PERIOD });
  }

  /** Messages waiting in the source queue (maximum per minute). */
  public queueDepth(): Metric {
    return this.#queueMetric(this.#queueName, 'ApproximateNumberOfMessagesVisible');
  }

  /** Age in seconds of the oldest message in the source queue (maximum per minute). */
  public oldestMessageAge(): Metric {
    return this.#queueMetric(this.#queueName, 'ApproximateAgeOfOldestMessage');
  }

  /**
   * Messages in the DLQ (maximum per minute). A level, not NumberOfMessagesSent: SQS redrives after
   * maxReceiveCount do not count as sends, and a level stays up until someone handles the messages.
   */
  public deadLetterQueueDepth(): Metric {
    return this.#queueMetric(this.#deadLetterQueueName, 'ApproximateNumberOfMessagesVisible');
  }
}
