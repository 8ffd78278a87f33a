import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { describe, expect, it } from 'vitest';
import { SeriesMetrics } from '../../lib/consumer/series-metrics.ts';
import { captureJsonOutput } from '../../lib/local/sim/output-capture.ts';

const options = { namespace: 'Test', serviceName: 'crm', defaultDimensions: { Destination: 'crm' } };

/** The EMF documents `emit` prints, parsed, timestamps removed. */
const documentsOf = (emit: () => void): Array<Record<string, unknown>> => {
  const lines: string[] = [];
  const capture = captureJsonOutput((line) => lines.push(line));
  try {
    emit();
  } finally {
    capture.restore();
  }
  return lines.map((line) => {
    const document = JSON.parse(line) as { _aws: { Timestamp?: number } };
    delete document._aws.Timestamp;
    return document;
  });
};

/** Counts, then `perRecord` values of two series, the way the consumer publishes an invocation. */
const invocation = (metrics: Metrics, perRecord: number, add: (name: string, value: number) => void) => () => {
  metrics.addMetric('RecordsApplied', MetricUnit.Count, perRecord);
  for (let i = 0; i < perRecord; i += 1) {
    add('EndToEndLag', 100 + i);
    add('QueueLag', 10 + i);
  }
  metrics.publishStoredMetrics();
};

describe('Class: SeriesMetrics', () => {
  it.each([1, 10, 99])('prints the document Powertools prints for the same %i values a series', (perRecord) => {
    // Prepare
    const plain = new Metrics(options);
    const series = new SeriesMetrics(options);

    // Act
    const expected = documentsOf(invocation(plain, perRecord, (name, value) => plain.addMetric(name, MetricUnit.Milliseconds, value)));
    const actual = documentsOf(invocation(series, perRecord, (name, value) => series.addValue(name, MetricUnit.Milliseconds, value)));

    // Assess
    expect(actual).toEqual(expected);
    expect(actual).toHaveLength(1);
  });

  it('lets Powertools split a series longer than one document holds, and forgets every value once published', () => {
    // Prepare
    const series = new SeriesMetrics(options);
    const values = (documents: Array<Record<string, unknown>>, name: string) => documents.flatMap((document) => [document[name] ?? []].flat());

    // Act
    const long = documentsOf(invocation(series, 150, (name, value) => series.addValue(name, MetricUnit.Milliseconds, value)));
    const next = documentsOf(() => {
      series.addMetric('RecordsApplied', MetricUnit.Count, 0);
      series.publishStoredMetrics();
    });

    // Assess: every value once, none over 100 in a document, and none left for the next invocation
    expect(values(long, 'EndToEndLag')).toEqual(Array.from({ length: 150 }, (_, i) => 100 + i));
    expect(long.every((document) => [document.EndToEndLag ?? []].flat().length <= 100)).toBe(true);
    expect(next).toHaveLength(1);
    expect(next[0]).not.toHaveProperty('EndToEndLag');
  });

  it('prints values added alone (no other metric) and drops values CloudWatch would refuse', () => {
    // Prepare
    const series = new SeriesMetrics(options);

    // Act
    const documents = documentsOf(() => {
      series.addValue('DestinationLatency', MetricUnit.Milliseconds, 12);
      series.addValue('DestinationLatency', MetricUnit.Milliseconds, Number.NaN);
      series.publishStoredMetrics();
    });

    // Assess
    expect(documents.map((document) => document.DestinationLatency)).toEqual([12]);
  });
});
