/**
 * Reads CloudWatch Embedded Metric Format lines the way CloudWatch does: each metric declared in a
 * blob's `_aws.CloudWatchMetrics` becomes one datapoint (or several, for value arrays) under its
 * namespace and dimension set, stamped with the blob's `_aws.Timestamp`. Used by the local runtime's
 * report and timeline, and by tests to compare what the consumer emitted with what the destination
 * holds (invariant I3 for metrics).
 */

/** One series: a metric name under one set of dimension values. */
export interface MetricSeries {
  readonly namespace: string;
  readonly name: string;
  readonly unit: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly values: number[];
}

/** One value of a series with the time CloudWatch files it under: the blob's `_aws.Timestamp`. */
export interface MetricDatapoint {
  readonly value: number;
  /** Epoch milliseconds. */
  readonly timestamp: number;
}

export interface EmfStoreOptions {
  /**
   * Stamps the datapoints of a blob that carries no valid `_aws.Timestamp` (CloudWatch would reject
   * such a blob; the store keeps it, stamped with the time it was read).
   * @default Date.now
   */
  readonly now?: () => number;
}

const seriesKey = (namespace: string, name: string, dimensions: Record<string, string>): string =>
  JSON.stringify([namespace, name, Object.entries(dimensions).sort(([a], [b]) => a.localeCompare(b))]);

interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: string[][];
  readonly Metrics: Array<{ Name: string; Unit?: string }>;
}

const isEmf = (value: unknown): value is { _aws: { CloudWatchMetrics: EmfDirective[]; Timestamp?: unknown } } & Record<string, unknown> =>
  typeof value === 'object' &&
  value !== null &&
  '_aws' in value &&
  Array.isArray((value as { _aws?: { CloudWatchMetrics?: unknown } })._aws?.CloudWatchMetrics);

/**
 * Accumulates EMF blobs into series.
 *
 * @example
 * const store = new EmfStore();
 * store.ingestLine(line);
 * store.sum('SyncPipeline', 'RecordsApplied', { Destination: 'crm' });
 */
export class EmfStore {
  readonly #series = new Map<string, MetricSeries>();
  /** Invariant: `#timestamps.get(series)[i]` is the timestamp of `series.values[i]`. */
  readonly #timestamps = new Map<MetricSeries, number[]>();
  readonly #now: () => number;

  public constructor(options: EmfStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Takes one output line; returns false when it is not an EMF blob (a log line, say). */
  public ingestLine(line: string): boolean {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{') || !trimmed.includes('"_aws"')) return false;
    let blob: unknown;
    try {
      blob = JSON.parse(trimmed);
    } catch {
      return false;
    }
    if (!isEmf(blob)) return false;
    const stamp = blob._aws.Timestamp;
    const timestamp = typeof stamp === 'number' && Number.isFinite(stamp) ? stamp : this.#now();
    for (const directive of blob._aws.CloudWatchMetrics) {
      for (const dimensionSet of directive.Dimensions) {
        const dimensions: Record<string, string> = {};
        for (const name of dimensionSet) dimensions[name] = String(blob[name]);
        for (const metric of directive.Metrics) {
          const raw = blob[metric.Name];
          const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is number => typeof v === 'number');
          const key = seriesKey(directive.Namespace, metric.Name, dimensions);
          const stamps = values.map(() => timestamp);
          const existing = this.#series.get(key);
          if (existing === undefined) {
            const series: MetricSeries = { namespace: directive.Namespace, name: metric.Name, unit: metric.Unit ?? 'None', dimensions, values };
            this.#series.set(key, series);
            this.#timestamps.set(series, stamps);
          } else {
            existing.values.push(...values);
            this.#timestamps.get(existing)!.push(...stamps);
          }
        }
      }
    }
    return true;
  }

  /** Series of `name` in `namespace` whose dimensions include every pair of `match`. */
  public find(namespace: string, name: string, match: Readonly<Record<string, string>> = {}): MetricSeries[] {
    return [...this.#series.values()].filter(
      (series) =>
        series.namespace === namespace &&
        series.name === name &&
        Object.entries(match).every(([key, value]) => series.dimensions[key] === value),
    );
  }

  /**
   * Sum over the series whose dimension names are exactly those of `dimensions` (CloudWatch treats
   * each dimension set as its own metric, so a breakdown is not added to its total).
   */
  public sum(namespace: string, name: string, dimensions: Readonly<Record<string, string>>): number {
    return this.findExact(namespace, name, dimensions).reduce((total, series) => total + series.values.reduce((a, b) => a + b, 0), 0);
  }

  /** All datapoints of the exact-dimension series (for percentiles). */
  public values(namespace: string, name: string, dimensions: Readonly<Record<string, string>>): number[] {
    return this.findExact(namespace, name, dimensions).flatMap((series) => series.values);
  }

  /**
   * Series of `name` whose dimensions are exactly `dimensions`, apart from Powertools' `service`
   * (the series `sum` and `values` read).
   */
  public findExact(namespace: string, name: string, dimensions: Readonly<Record<string, string>>): MetricSeries[] {
    const wanted = Object.keys(dimensions).sort().join(',');
    return this.find(namespace, name, dimensions).filter((series) => dimensionNames(series).join(',') === wanted);
  }

  /**
   * The datapoints of the exact-dimension series with their timestamps: `values` in time.
   *
   * @example
   * store.datapoints('SyncPipeline', 'EndToEndLag', { Destination: 'crm' }); // [{ value: 1296, timestamp: 1795777590769 }, …]
   */
  public datapoints(namespace: string, name: string, dimensions: Readonly<Record<string, string>>): MetricDatapoint[] {
    return this.findExact(namespace, name, dimensions).flatMap((series) => this.datapointsOf(series));
  }

  /**
   * The datapoints of one series this store returned (from `find` or `findExact`), in ingestion order.
   *
   * @example
   * for (const series of store.find('SyncPipeline', 'DestinationErrors', { Destination: 'crm' })) store.datapointsOf(series);
   */
  public datapointsOf(series: MetricSeries): MetricDatapoint[] {
    const stamps = this.#timestamps.get(series);
    if (stamps === undefined) throw new Error(`Expected a series returned by this EmfStore, got \`${series.namespace}/${series.name}\``);
    return series.values.map((value, index) => ({ value, timestamp: stamps[index]! }));
  }

  /** The values a dimension takes in the series of `name` (e.g. the dead-letter reasons seen). */
  public dimensionValues(namespace: string, name: string, dimension: string, match: Readonly<Record<string, string>> = {}): Map<string, number> {
    const totals = new Map<string, number>();
    for (const series of this.find(namespace, name, match)) {
      const value = series.dimensions[dimension];
      if (value === undefined) continue;
      totals.set(value, (totals.get(value) ?? 0) + series.values.reduce((a, b) => a + b, 0));
    }
    return totals;
  }
}

/**
 * The dimension names of a series, sorted, without the `service` dimension Powertools adds to every
 * blob (it is constant per function, so it never distinguishes the series a report reads).
 *
 * @example
 * dimensionNames({ dimensions: { service: 'sync-crm', Reason: 'stale', Destination: 'crm' } }); // ['Destination', 'Reason']
 */
export const dimensionNames = (series: Pick<MetricSeries, 'dimensions'>): string[] =>
  Object.keys(series.dimensions).filter((key) => key !== 'service').sort();

/**
 * The p-th percentile (0..100) by nearest rank; undefined for no data.
 *
 * @example
 * percentile([1, 2, 3, 4], 50); // 2
 */
export const percentile = (values: readonly number[], p: number): number | undefined => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
};
