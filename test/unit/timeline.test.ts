import { describe, expect, it } from 'vitest';
import { EmfStore } from '../../lib/local/sim/emf.ts';
import { MetricDimension, MetricName } from '../../lib/core/metrics.ts';
import { buildTimeline } from '../../lib/local/report/timeline.ts';

const NAMESPACE = 'SyncPipeline';
const STARTED_AT = Date.UTC(2026, 10, 27, 10, 0, 0);

/** One EMF blob as Powertools prints it: `service` and `Destination` on every metric, plus `extra`. */
const emfLine = (options: {
  readonly at: number;
  readonly destination?: string;
  readonly namespace?: string;
  readonly extra?: Readonly<Record<string, string>>;
  readonly metrics: Readonly<Record<string, number | number[]>>;
}): string => {
  const extra = options.extra ?? {};
  return JSON.stringify({
    _aws: {
      Timestamp: STARTED_AT + options.at,
      CloudWatchMetrics: [
        {
          Namespace: options.namespace ?? NAMESPACE,
          Dimensions: [['service', MetricDimension.DESTINATION, ...Object.keys(extra)]],
          Metrics: Object.keys(options.metrics).map((name) => ({ Name: name, Unit: name === MetricName.END_TO_END_LAG ? 'Milliseconds' : 'Count' })),
        },
      ],
    },
    service: `sync-pipeline-${options.destination ?? 'crm'}`,
    [MetricDimension.DESTINATION]: options.destination ?? 'crm',
    ...extra,
    ...options.metrics,
  });
};

/** The per-invocation blob of the consumer: every count, and one lag datapoint per applied record. */
const invocation = (
  at: number,
  outcome: { destination?: string; applied?: number; skipped?: number; retried?: number; deadLettered?: number; lag?: number[] },
): string =>
  emfLine({
    at,
    ...(outcome.destination === undefined ? {} : { destination: outcome.destination }),
    metrics: {
      [MetricName.RECORDS_RECEIVED]: (outcome.applied ?? 0) + (outcome.skipped ?? 0) + (outcome.retried ?? 0) + (outcome.deadLettered ?? 0),
      [MetricName.RECORDS_APPLIED]: outcome.applied ?? 0,
      [MetricName.RECORDS_SKIPPED]: outcome.skipped ?? 0,
      [MetricName.RECORDS_RETRIED]: outcome.retried ?? 0,
      [MetricName.RECORDS_DEAD_LETTERED]: outcome.deadLettered ?? 0,
      ...(outcome.lag === undefined ? {} : { [MetricName.END_TO_END_LAG]: outcome.lag }),
    },
  });

/** A single-metric breakdown blob: `name` with one extra dimension (Reason, ErrorClass). */
const breakdown = (at: number, name: string, dimension: string, value: string, count: number, destination = 'crm'): string =>
  emfLine({ at, destination, extra: { [dimension]: value }, metrics: { [name]: count } });

const storeOf = (lines: readonly string[]): EmfStore => {
  const store = new EmfStore();
  for (const line of lines) store.ingestLine(line);
  return store;
};

const crmOnly = { namespace: NAMESPACE, destinations: ['crm'], startedAt: STARTED_AT } as const;

describe('Class: EmfStore', () => {
  it('keeps the timestamp of every datapoint beside its value without changing what sum and values return', () => {
    // Prepare
    const store = new EmfStore();

    // Act
    store.ingestLine(invocation(100, { applied: 2, lag: [40, 60] }));
    store.ingestLine(invocation(1_500, { applied: 1, lag: [90] }));

    // Assess
    const crm = { [MetricDimension.DESTINATION]: 'crm' };
    expect(store.sum(NAMESPACE, MetricName.RECORDS_APPLIED, crm)).toBe(3);
    expect(store.values(NAMESPACE, MetricName.END_TO_END_LAG, crm)).toEqual([40, 60, 90]);
    expect(store.datapoints(NAMESPACE, MetricName.END_TO_END_LAG, crm)).toEqual([
      { value: 40, timestamp: STARTED_AT + 100 },
      { value: 60, timestamp: STARTED_AT + 100 },
      { value: 90, timestamp: STARTED_AT + 1_500 },
    ]);
    expect(store.find(NAMESPACE, MetricName.END_TO_END_LAG, crm)).toEqual([
      { namespace: NAMESPACE, name: MetricName.END_TO_END_LAG, unit: 'Milliseconds', dimensions: { service: 'sync-pipeline-crm', Destination: 'crm' }, values: [40, 60, 90] },
    ]);
  });

  it('stamps a blob without a valid _aws.Timestamp with the time it was read', () => {
    // Prepare
    const store = new EmfStore({ now: () => 42 });
    const blob = JSON.parse(invocation(0, { applied: 1 })) as { _aws: Record<string, unknown> };
    delete blob._aws.Timestamp;

    // Act
    store.ingestLine(JSON.stringify(blob));

    // Assess
    expect(store.datapoints(NAMESPACE, MetricName.RECORDS_APPLIED, { [MetricDimension.DESTINATION]: 'crm' })).toEqual([{ value: 1, timestamp: 42 }]);
  });
});

describe('Function: buildTimeline', () => {
  it('puts each datapoint in the bucket its timestamp falls in, bucket start inclusive, end exclusive', () => {
    // Prepare
    const store = storeOf([
      invocation(0, { applied: 1 }),
      invocation(999, { applied: 2 }),
      invocation(1_000, { skipped: 3 }),
      invocation(3_500, { retried: 4, deadLettered: 1 }),
    ]);

    // Act
    const timeline = buildTimeline(store, crmOnly);

    // Assess
    expect(timeline.bucketMs).toBe(1000);
    expect(timeline.buckets.map((bucket) => bucket.t)).toEqual([0, 1000, 2000, 3000]);
    expect(timeline.buckets.map((bucket) => bucket.destinations.crm)).toMatchObject([
      { applied: 3, skipped: 0, retried: 0, deadLettered: 0 },
      { applied: 0, skipped: 3, retried: 0, deadLettered: 0 },
      { applied: 0, skipped: 0, retried: 0, deadLettered: 0, lagP50: null, errorRate: null },
      { applied: 0, skipped: 0, retried: 4, deadLettered: 1 },
    ]);
  });

  it.each([
    { bucketMs: 500, expected: [{ t: 0, applied: 1 }, { t: 500, applied: 0 }, { t: 1000, applied: 2 }] },
    { bucketMs: 2000, expected: [{ t: 0, applied: 3 }] },
  ])('cuts the run into buckets of $bucketMs ms', ({ bucketMs, expected }) => {
    // Prepare
    const store = storeOf([invocation(200, { applied: 1 }), invocation(1_200, { applied: 2 })]);

    // Act
    const timeline = buildTimeline(store, { ...crmOnly, bucketMs });

    // Assess
    expect(timeline.buckets.map((bucket) => ({ t: bucket.t, applied: bucket.destinations.crm?.applied }))).toEqual(expected);
  });

  it('puts a datapoint stamped before the start (clock skew) in the first bucket', () => {
    // Prepare
    const store = storeOf([invocation(-250, { applied: 1 })]);

    // Act
    const timeline = buildTimeline(store, crmOnly);

    // Assess
    expect(timeline.buckets).toHaveLength(1);
    expect(timeline.buckets[0]?.destinations.crm?.applied).toBe(1);
  });

  it('computes lag percentiles from the datapoints of each bucket alone, by nearest rank', () => {
    // Prepare
    const firstSecond = Array.from({ length: 100 }, (_, i) => (i + 1) * 10); // 10 … 1000
    const store = storeOf([
      invocation(100, { applied: 50, lag: firstSecond.slice(0, 50) }),
      invocation(900, { applied: 50, lag: firstSecond.slice(50) }),
      invocation(1_100, { applied: 3, lag: [5_000, 7_000, 6_000] }),
      invocation(2_100, { skipped: 2 }),
    ]);

    // Act
    const timeline = buildTimeline(store, crmOnly);

    // Assess
    const lag = timeline.buckets.map(({ destinations }) => [destinations.crm?.lagP50, destinations.crm?.lagP90, destinations.crm?.lagP99]);
    expect(lag).toEqual([
      [500, 900, 990],
      [6_000, 7_000, 7_000],
      [null, null, null],
    ]);
  });

  it('computes the error rate as failed calls over all calls, summing the ErrorClass breakdown', () => {
    // Prepare
    const store = storeOf([
      invocation(100, { applied: 6, retried: 2 }),
      breakdown(100, MetricName.DESTINATION_ERRORS, MetricDimension.ERROR_CLASS, 'server', 1),
      breakdown(150, MetricName.DESTINATION_ERRORS, MetricDimension.ERROR_CLASS, 'timeout', 1),
      invocation(1_100, { retried: 3 }),
      breakdown(1_100, MetricName.DESTINATION_ERRORS, MetricDimension.ERROR_CLASS, 'throttled', 3),
      invocation(2_100, { skipped: 4 }),
    ]);

    // Act
    const timeline = buildTimeline(store, crmOnly);

    // Assess
    expect(timeline.buckets.map(({ destinations }) => [destinations.crm?.destinationErrors, destinations.crm?.errorRate])).toEqual([
      [2, 0.25],
      [3, 1],
      [0, null],
    ]);
  });

  it('takes a DestinationErrors total with the bare Destination dimension over the breakdown, so nothing counts twice', () => {
    // Prepare
    const store = storeOf([
      invocation(100, { applied: 3 }),
      emfLine({ at: 100, metrics: { [MetricName.DESTINATION_ERRORS]: 1 } }),
      breakdown(100, MetricName.DESTINATION_ERRORS, MetricDimension.ERROR_CLASS, 'server', 1),
    ]);

    // Act
    const timeline = buildTimeline(store, crmOnly);

    // Assess
    expect(timeline.buckets[0]?.destinations.crm).toMatchObject({ destinationErrors: 1, errorRate: 0.25 });
  });

  it('counts only the series with the bare Destination dimension, and only its namespace and destinations', () => {
    // Prepare
    const store = storeOf([
      invocation(100, { applied: 2, skipped: 3, deadLettered: 1 }),
      breakdown(100, MetricName.RECORDS_SKIPPED, MetricDimension.REASON, 'stale', 2),
      breakdown(100, MetricName.RECORDS_SKIPPED, MetricDimension.REASON, 'duplicate', 1),
      breakdown(100, MetricName.RECORDS_DEAD_LETTERED, MetricDimension.REASON, 'invalid-json', 1),
      invocation(200, { destination: 'erp', applied: 7 }),
      emfLine({ at: 300, namespace: 'Other', metrics: { [MetricName.RECORDS_APPLIED]: 100 } }),
      invocation(5_000, { destination: 'billing', applied: 1 }),
    ]);

    // Act
    const timeline = buildTimeline(store, { ...crmOnly, destinations: ['crm', 'erp'] });

    // Assess
    expect(timeline.buckets).toHaveLength(1);
    expect(Object.keys(timeline.buckets[0]!.destinations)).toEqual(['crm', 'erp']);
    expect(timeline.buckets[0]?.destinations.crm).toMatchObject({ applied: 2, skipped: 3, deadLettered: 1 });
    expect(timeline.buckets[0]?.destinations.erp).toMatchObject({ applied: 7, skipped: 0, deadLettered: 0 });
  });

  it('gives every destination its dead-letter reasons over the whole run, most frequent first', () => {
    // Prepare
    const store = storeOf([
      breakdown(100, MetricName.RECORDS_DEAD_LETTERED, MetricDimension.REASON, 'invalid-json', 1),
      breakdown(1_200, MetricName.RECORDS_DEAD_LETTERED, MetricDimension.REASON, 'invalid-schema', 1),
      breakdown(2_300, MetricName.RECORDS_DEAD_LETTERED, MetricDimension.REASON, 'invalid-schema', 1),
      breakdown(2_300, MetricName.RECORDS_DEAD_LETTERED, MetricDimension.REASON, 'rejected', 4, 'erp'),
      breakdown(2_300, MetricName.RECORDS_SKIPPED, MetricDimension.REASON, 'stale', 9),
    ]);

    // Act
    const timeline = buildTimeline(store, { ...crmOnly, destinations: ['crm', 'erp', 'billing'] });

    // Assess
    expect(timeline.deadLetterReasons).toEqual({ crm: { 'invalid-schema': 2, 'invalid-json': 1 }, erp: { rejected: 4 }, billing: {} });
    expect(Object.keys(timeline.deadLetterReasons.crm ?? {})).toEqual(['invalid-schema', 'invalid-json']);
  });

  it('has no buckets when nothing was emitted', () => {
    // Act
    const timeline = buildTimeline(new EmfStore(), crmOnly);

    // Assess
    expect(timeline).toEqual({ bucketMs: 1000, buckets: [], deadLetterReasons: { crm: {} } });
  });

  it('holds per bucket the queue depth of its last sample and the oldest age received in it, and extends to the last sample', () => {
    // Prepare: EMF for the first second only; queue samples over three seconds
    const store = storeOf([invocation(200, { applied: 1 })]);
    const queues = {
      depth: [
        { destination: 'crm', at: STARTED_AT + 100, visible: 50, inFlight: 10 },
        { destination: 'crm', at: STARTED_AT + 900, visible: 40, inFlight: 20 },
        { destination: 'erp', at: STARTED_AT + 900, visible: 7, inFlight: 0 },
        { destination: 'crm', at: STARTED_AT + 2_100, visible: 0, inFlight: 3 },
      ],
      receivedAges: [
        { destination: 'crm', at: STARTED_AT + 300, oldestAgeMs: 120 },
        { destination: 'crm', at: STARTED_AT + 700, oldestAgeMs: 480 },
        { destination: 'crm', at: STARTED_AT + 2_500, oldestAgeMs: 2_000 },
      ],
    };

    // Act
    const timeline = buildTimeline(store, { ...crmOnly, queues });

    // Assess
    expect(timeline.buckets.map((bucket) => bucket.destinations.crm)).toMatchObject([
      { applied: 1, queueVisible: 40, queueInFlight: 20, oldestReceivedAgeMs: 480 },
      { applied: 0, queueVisible: null, queueInFlight: null, oldestReceivedAgeMs: null },
      { applied: 0, queueVisible: 0, queueInFlight: 3, oldestReceivedAgeMs: 2_000 },
    ]);
    expect(timeline.buckets.every((bucket) => bucket.destinations.erp === undefined)).toBe(true);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects a bucket width of %s', (bucketMs) => {
    // Act
    const build = () => buildTimeline(new EmfStore(), { ...crmOnly, bucketMs });

    // Assess
    expect(build).toThrow(`Expected \`bucketMs\` to be a number > 0, got \`${bucketMs}\``);
  });
});
