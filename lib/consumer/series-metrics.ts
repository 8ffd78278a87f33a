import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricUnit } from '@aws-lambda-powertools/metrics/types';

/** Values one EMF document may hold for one metric (CloudWatch's limit). */
const MAX_VALUES_PER_METRIC = 100;

type EmfDocument = ReturnType<Metrics['serializeMetrics']>;

/**
 * Powertools Metrics with a cheap path for metrics that get one value per record (lags, latency):
 * `addMetric` validates the name and unit and reads the environment twice on every call, which for
 * three values per record was most of the handler's metrics time. {@link addValue} only appends to
 * an array; the values join the same EMF document Powertools writes, as the same `Values` array
 * `addMetric` would have built, when the metrics are published. A metric with more values than one
 * document may hold goes through `addMetric`, which splits it as Powertools does.
 *
 * @example
 * const metrics = new SeriesMetrics({ namespace: 'SyncPipeline', serviceName: 'crm', defaultDimensions: { Destination: 'crm' } });
 * metrics.addValue('EndToEndLag', MetricUnit.Milliseconds, 120);
 * metrics.addMetric('RecordsApplied', MetricUnit.Count, 1);
 * metrics.publishStoredMetrics(); // one document: RecordsApplied and EndToEndLag
 */
export class SeriesMetrics extends Metrics {
  readonly #series = new Map<string, { unit: MetricUnit; values: number[] }>();
  /** The series the document being written carries (set only while publishing). */
  #publishing: ReadonlyMap<string, { unit: MetricUnit; values: number[] }> | undefined;

  /** Adds one value of `name`; non-finite values are dropped, as CloudWatch would refuse them. */
  public addValue(name: string, unit: MetricUnit, value: number): void {
    if (!Number.isFinite(value)) return;
    const series = this.#series.get(name);
    if (series === undefined) this.#series.set(name, { unit, values: [value] });
    else series.values.push(value);
  }

  public override publishStoredMetrics(): this {
    const series = new Map(this.#series);
    this.#series.clear();
    // Powertools prints a document only when it holds a metric of its own.
    const alone = !this.hasStoredMetrics();
    for (const [name, { unit, values }] of series) {
      if (values.length <= MAX_VALUES_PER_METRIC && !alone) continue;
      series.delete(name);
      for (const value of values) this.addMetric(name, unit, value);
    }
    this.#publishing = series;
    try {
      return super.publishStoredMetrics();
    } finally {
      this.#publishing = undefined;
    }
  }

  public override serializeMetrics(): EmfDocument {
    const document = super.serializeMetrics();
    const publishing = this.#publishing;
    const directive = document._aws.CloudWatchMetrics[0];
    if (publishing === undefined || directive === undefined) return document;
    const values: Record<string, number | number[]> = {};
    for (const [name, series] of publishing) {
      directive.Metrics.push({ Name: name, Unit: series.unit });
      values[name] = series.values.length === 1 ? series.values[0]! : series.values;
    }
    return { ...document, ...values };
  }
}
