/**
 * Reads CloudWatch Embedded Metric Format lines the way CloudWatch does: each metric declared in a
 * blob's `_aws.CloudWatchMetrics` becomes one datapoint (or several, for value arrays) under its
 * namespace and dimension set. Used by the local runtime's report and by tests to compare what the
 * consumer emitted with what the destination holds (invariant I3 for metrics).
 */

/** One series: a metric name under one set of dimension values. */
export interface MetricSeries {
  readonly namespace: string;
  readonly name: string;
  readonly unit: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly values: number[];
}

const seriesKey = (namespace: string, name: string, dimensions: Record<string, string>): string =>
  JSON.stringify([namespace, name, Object.entries(dimensions).sort(([a], [b]) => a.localeCompare(b))]);

interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: string[][];
  readonly Metrics: Array<{ Name: string; Unit?: string }>;
}

const isEmf = (value: unknown): value is { _aws: { CloudWatchMetrics: EmfDirective[] } } & Record<string, unknown> =>
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
    for (const directive of blob._aws.CloudWatchMetrics) {
      for (const dimensionSet of directive.Dimensions) {
        const dimensions: Record<string, string> = {};
        for (const name of dimensionSet) dimensions[name] = String(blob[name]);
        for (const metric of directive.Metrics) {
          const raw = blob[metric.Name];
          const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is number => typeof v === 'number');
          const key = seriesKey(directive.Namespace, metric.Name, dimensions);
          const existing = this.#series.get(key);
          if (existing === undefined) {
            this.#series.set(key, { namespace: directive.Namespace, name: metric.Name, unit: metric.Unit ?? 'None', dimensions, values });
          } else {
            existing.values.push(...values);
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
    const wanted = Object.keys(dimensions).sort().join(',');
    return this.find(namespace, name, dimensions)
      .filter((series) => Object.keys(series.dimensions).filter((k) => k !== 'service').sort().join(',') === wanted)
      .reduce((total, series) => total + series.values.reduce((a, b) => a + b, 0), 0);
  }

  /** All datapoints of the exact-dimension series (for percentiles). */
  public values(namespace: string, name: string, dimensions: Readonly<Record<string, string>>): number[] {
    const wanted = Object.keys(dimensions).sort().join(',');
    return this.find(namespace, name, dimensions)
      .filter((series) => Object.keys(series.dimensions).filter((k) => k !== 'service').sort().join(',') === wanted)
      .flatMap((series) => series.values);
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
