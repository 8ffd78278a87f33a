import { dimensionNames, percentile, type EmfStore, type MetricDatapoint } from '../sim/emf.ts';
import type { QueueObservations } from '../sim/queue-sampler.ts';
import { MetricDimension, MetricName } from '../../core/metrics.ts';

export interface TimelineOptions {
  /** The CloudWatch namespace the consumers emit to (`metricsNamespace` of the config). */
  readonly namespace: string;
  /** Every destination gets an entry in every bucket, in this order, even with no datapoints. */
  readonly destinations: readonly string[];
  /** Epoch milliseconds the run started at: the first bucket starts here. */
  readonly startedAt: number;
  /** Width of one bucket. @default 1000 */
  readonly bucketMs?: number;
  /** The source queues' depth samples and the ages of what the pollers received. @default none */
  readonly queues?: QueueObservations;
}

/** What one destination did during one bucket. */
export interface DestinationBucket {
  readonly applied: number;
  readonly skipped: number;
  readonly retried: number;
  readonly deadLettered: number;
  /** Failed destination calls (every error class). */
  readonly destinationErrors: number;
  /** destinationErrors / (applied + destinationErrors); null when no call was made. */
  readonly errorRate: number | null;
  /** EndToEndLag percentiles (nearest rank) of the records applied in the bucket; null when none was. */
  readonly lagP50: number | null;
  readonly lagP90: number | null;
  readonly lagP99: number | null;
  /** The source queue's ApproximateNumberOfMessages at the bucket's last depth sample; null without one. */
  readonly queueVisible: number | null;
  /** ApproximateNumberOfMessagesNotVisible (in flight) at the same sample. */
  readonly queueInFlight: number | null;
  /**
   * The age of the oldest message the pollers received in the bucket (receive time minus its
   * SentTimestamp; SQS has no age-of-oldest attribute); null when nothing was received.
   */
  readonly oldestReceivedAgeMs: number | null;
}

export interface TimelineBucket {
  /** Milliseconds from `startedAt` to the start of the bucket. */
  readonly t: number;
  readonly destinations: Readonly<Record<string, DestinationBucket>>;
}

/** A run's metrics over time, per destination, in fixed-width buckets. */
export interface Timeline {
  readonly bucketMs: number;
  /** Contiguous from t = 0 to the bucket of the last datapoint; empty when there is none. */
  readonly buckets: readonly TimelineBucket[];
  /** Per destination, dead letters per reason over the whole run (most frequent first). */
  readonly deadLetterReasons: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** The count fields of a bucket and the metric each one sums. */
const COUNTED = {
  applied: MetricName.RECORDS_APPLIED,
  skipped: MetricName.RECORDS_SKIPPED,
  retried: MetricName.RECORDS_RETRIED,
  deadLettered: MetricName.RECORDS_DEAD_LETTERED,
} as const;
type CountedField = keyof typeof COUNTED;
const COUNTED_FIELDS = Object.keys(COUNTED) as CountedField[];

/**
 * DestinationErrors is emitted per ErrorClass only (see consumer-handler.ts), so the total is the
 * sum of that breakdown. Should a series with the bare {Destination} dimensions appear, it is the
 * total and wins, so that no error is counted twice.
 */
const destinationErrorDatapoints = (store: EmfStore, namespace: string, dimensions: Readonly<Record<string, string>>): MetricDatapoint[] => {
  if (store.findExact(namespace, MetricName.DESTINATION_ERRORS, dimensions).length > 0) {
    return store.datapoints(namespace, MetricName.DESTINATION_ERRORS, dimensions);
  }
  const byErrorClass = [...Object.keys(dimensions), MetricDimension.ERROR_CLASS].sort().join(',');
  return store
    .find(namespace, MetricName.DESTINATION_ERRORS, dimensions)
    .filter((series) => dimensionNames(series).join(',') === byErrorClass)
    .flatMap((series) => store.datapointsOf(series));
};

const sumOf = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);

/**
 * Buckets what the consumers emitted (EMF, as read by `EmfStore`) by the datapoints' timestamps:
 * per destination and bucket, the records applied, skipped, retried and dead-lettered, the
 * destination errors and error rate, and the end-to-end lag percentiles. Counts are read from the
 * series with exactly the {Destination} dimension (the per-Reason breakdowns would count twice);
 * dead-letter reasons from RecordsDeadLettered's Reason breakdown. With `queues`, each bucket also
 * holds its destination's queue depth (the bucket's last sample) and the oldest age received in it.
 * A datapoint stamped before `startedAt` (clock skew) falls into the first bucket.
 *
 * @example
 * const timeline = buildTimeline(store, { namespace: 'SyncPipeline', destinations: ['crm', 'erp'], startedAt });
 * timeline.buckets[2]?.destinations.crm?.lagP99; // p99 lag of crm's records applied 2-3 s into the run
 */
export const buildTimeline = (store: EmfStore, options: TimelineOptions): Timeline => {
  const bucketMs = options.bucketMs ?? 1000;
  if (!Number.isFinite(bucketMs) || bucketMs <= 0) throw new RangeError(`Expected \`bucketMs\` to be a number > 0, got \`${bucketMs}\``);
  if (!Number.isFinite(options.startedAt)) throw new RangeError(`Expected \`startedAt\` to be epoch milliseconds, got \`${options.startedAt}\``);
  const { namespace, startedAt } = options;
  const destinations = [...new Set(options.destinations)];
  const bucketOf = (timestamp: number): number => Math.max(0, Math.floor((timestamp - startedAt) / bucketMs));

  const gathered = destinations.map((destination) => {
    const dimensions = { [MetricDimension.DESTINATION]: destination };
    const counts = Object.fromEntries(
      COUNTED_FIELDS.map((field) => [field, store.datapoints(namespace, COUNTED[field], dimensions)]),
    ) as Record<CountedField, MetricDatapoint[]>;
    return {
      destination,
      counts,
      destinationErrors: destinationErrorDatapoints(store, namespace, dimensions),
      lag: store.datapoints(namespace, MetricName.END_TO_END_LAG, dimensions),
    };
  });

  const queues = options.queues ?? { depth: [], receivedAges: [] };
  const everyTimestamp = [
    ...gathered.flatMap((g) => [...Object.values(g.counts).flat(), ...g.destinationErrors, ...g.lag]).map((point) => point.timestamp),
    ...queues.depth.map((sample) => sample.at),
    ...queues.receivedAges.map((sample) => sample.at),
  ];
  const bucketCount = everyTimestamp.reduce((count, timestamp) => Math.max(count, bucketOf(timestamp) + 1), 0);
  const binned = (points: ReadonlyArray<Pick<MetricDatapoint, 'timestamp' | 'value'>>): number[][] => {
    const bins = Array.from({ length: bucketCount }, (): number[] => []);
    for (const point of points) bins[bucketOf(point.timestamp)]!.push(point.value);
    return bins;
  };

  const perDestination = gathered.map((g) => {
    // Depth: the last sample of each bucket (samples arrive in time order); age: the bucket's oldest.
    const depth = Array.from({ length: bucketCount }, (): { visible: number; inFlight: number } | null => null);
    for (const sample of queues.depth) if (sample.destination === g.destination) depth[bucketOf(sample.at)] = sample;
    const ages = binned(queues.receivedAges.filter((sample) => sample.destination === g.destination).map((sample) => ({ timestamp: sample.at, value: sample.oldestAgeMs })));
    return {
      destination: g.destination,
      counts: Object.fromEntries(COUNTED_FIELDS.map((field) => [field, binned(g.counts[field])])) as Record<CountedField, number[][]>,
      destinationErrors: binned(g.destinationErrors),
      lag: binned(g.lag),
      depth,
      ages,
    };
  });

  const buckets: TimelineBucket[] = Array.from({ length: bucketCount }, (_, index) => ({
    t: index * bucketMs,
    destinations: Object.fromEntries(
      perDestination.map((d): [string, DestinationBucket] => {
        const applied = sumOf(d.counts.applied[index]!);
        const destinationErrors = sumOf(d.destinationErrors[index]!);
        const calls = applied + destinationErrors;
        const lag = d.lag[index]!;
        return [
          d.destination,
          {
            applied,
            skipped: sumOf(d.counts.skipped[index]!),
            retried: sumOf(d.counts.retried[index]!),
            deadLettered: sumOf(d.counts.deadLettered[index]!),
            destinationErrors,
            errorRate: calls === 0 ? null : destinationErrors / calls,
            lagP50: percentile(lag, 50) ?? null,
            lagP90: percentile(lag, 90) ?? null,
            lagP99: percentile(lag, 99) ?? null,
            queueVisible: d.depth[index]?.visible ?? null,
            queueInFlight: d.depth[index]?.inFlight ?? null,
            oldestReceivedAgeMs: d.ages[index]!.length === 0 ? null : Math.max(...d.ages[index]!),
          },
        ];
      }),
    ),
  }));

  const deadLetterReasons = Object.fromEntries(
    destinations.map((destination) => {
      const reasons = store.dimensionValues(namespace, MetricName.RECORDS_DEAD_LETTERED, MetricDimension.REASON, {
        [MetricDimension.DESTINATION]: destination,
      });
      const ordered = [...reasons].filter(([, count]) => count > 0).sort(([a, m], [b, n]) => n - m || a.localeCompare(b));
      return [destination, Object.fromEntries(ordered)];
    }),
  );

  return { bucketMs, buckets, deadLetterReasons };
};
