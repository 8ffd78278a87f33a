import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { ConsumerEnv } from '../../config/consumer-env.ts';
import { ChangeOp, parseChangeEvent, type ChangeEvent } from '../../contract/change-event.ts';
import { MetricName } from '../../core/metrics.ts';
import { toHeaderValue } from '../../adapters/http-destination.ts';

/**
 * The seed post's algorithm, written literally with stock Powertools, as the baseline the benchmark
 * measures the consumer against. Per record: parse and validate with the shared schema, then,
 * inside Powertools idempotency on `resourceType:id:version` (picked with `eventKeyJmesPath`, as
 * Powertools documents), `client.get(id)`, compare versions, `client.upsert(...)` with the key.
 * Transient errors fail the record (the partial batch response: SQS redelivers it); client errors
 * (4xx other than 408/429) and invalid input go to the DLQ. It emits the seed's core signals:
 * processed, skipped, retried and dead-lettered counts and end-to-end lag, once per invocation.
 *
 * It is not safe, which is why the product is not built this way: two consumers can both read the
 * old version and both write (a newer version can be overwritten by an older one), and a completed
 * duplicate returns its first outcome again, so the counts cannot tell a replay from an apply.
 */

/** The external API as the seed uses it. */
export interface SeedClient {
  /** The version the destination holds, or undefined when it has no such record. */
  get(resourceType: string, id: string): Promise<{ readonly version: number } | undefined>;
  upsert(event: ChangeEvent, idempotencyKey: string): Promise<void>;
  remove(event: ChangeEvent, idempotencyKey: string): Promise<void>;
}

/** Thrown by a {@link SeedClient} for an answer that is not a success. */
export class SeedClientError extends Error {
  public readonly status: number;

  public constructor(message: string, status: number) {
    super(message);
    this.name = 'SeedClientError';
    this.status = status;
  }
}

export interface SeedBaselineDeps {
  readonly persistenceStore: BasePersistenceLayer;
  readonly client: SeedClient;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Sends a record to the dead-letter queue with its reason. */
  readonly deadLetter: (body: string, reason: string) => Promise<void>;
}

type SeedResult = { readonly outcome: 'applied' } | { readonly outcome: 'skipped'; readonly reason: 'stale_or_duplicate' };

const isPermanent = (error: unknown): boolean =>
  error instanceof SeedClientError && error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429;

/**
 * The seed baseline's SQS batch handler.
 *
 * @example
 * const handler = createSeedBaselineHandler({ persistenceStore, client, logger, metrics, deadLetter });
 * await handler(sqsEvent, context);
 */
export const createSeedBaselineHandler = (deps: SeedBaselineDeps) => {
  const config = new IdempotencyConfig({ eventKeyJmesPath: 'idempotencyKey' });
  const syncRecord = makeIdempotent(
    async ({ event, idempotencyKey }: { readonly idempotencyKey: string; readonly event: ChangeEvent }): Promise<SeedResult> => {
      const existing = await deps.client.get(event.resourceType, event.id);
      if (existing !== undefined && existing.version >= event.version) return { outcome: 'skipped', reason: 'stale_or_duplicate' };
      if (event.op === ChangeOp.DELETE) await deps.client.remove(event, idempotencyKey);
      else await deps.client.upsert(event, idempotencyKey);
      return { outcome: 'applied' };
    },
    { persistenceStore: deps.persistenceStore, config },
  );

  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    config.registerLambdaContext(context);
    deps.logger.addContext(context);
    const processor = new BatchProcessor(EventType.SQS);
    const counts = { applied: 0, skipped: 0, retried: 0, deadLettered: 0 };
    const lags: number[] = [];

    const recordHandler = async (record: SQSRecord): Promise<void> => {
      const parsed = parseChangeEvent(record.body);
      if (!parsed.ok) {
        await deps.deadLetter(record.body, parsed.rejection.detail);
        counts.deadLettered += 1;
        return;
      }
      const change = parsed.event;
      try {
        const result = await syncRecord({ idempotencyKey: `${change.resourceType}:${change.id}:${change.version}`, event: change });
        if (result.outcome === 'applied') {
          counts.applied += 1;
          lags.push(Date.now() - Date.parse(change.occurredAt));
        } else counts.skipped += 1;
      } catch (error) {
        if (isPermanent(error)) {
          deps.logger.error('record dead-lettered', { messageId: record.messageId, error: (error as Error).message });
          await deps.deadLetter(record.body, (error as Error).message);
          counts.deadLettered += 1;
          return;
        }
        counts.retried += 1;
        throw error;
      }
    };

    try {
      return await processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false });
    } finally {
      const { metrics } = deps;
      metrics.addMetric(MetricName.RECORDS_RECEIVED, MetricUnit.Count, event.Records.length);
      metrics.addMetric(MetricName.RECORDS_APPLIED, MetricUnit.Count, counts.applied);
      metrics.addMetric(MetricName.RECORDS_SKIPPED, MetricUnit.Count, counts.skipped);
      metrics.addMetric(MetricName.RECORDS_RETRIED, MetricUnit.Count, counts.retried);
      metrics.addMetric(MetricName.RECORDS_DEAD_LETTERED, MetricUnit.Count, counts.deadLettered);
      for (const lag of lags) metrics.addMetric(MetricName.END_TO_END_LAG, MetricUnit.Milliseconds, lag);
      metrics.publishStoredMetrics();
    }
  };
};

/**
 * The seed's client over HTTP against a destination that answers `GET`, `PUT` and `DELETE` on
 * `{baseUrl}/{resourceType}/{id}` (the local fake API does), with the same `fetch` the product's
 * HTTP adapter uses, and the key written into its header the way the adapter writes it
 * (`toHeaderValue`: `fetch` refuses a header with characters above U+00FF, such as `müller-客户`).
 *
 * @example
 * const client = httpSeedClient('http://127.0.0.1:8080/crm');
 */
export const httpSeedClient = (baseUrl: string): SeedClient => {
  const url = (resourceType: string, id: string) => `${baseUrl}/${encodeURIComponent(resourceType)}/${encodeURIComponent(id)}`;
  const check = async (response: Response, what: string): Promise<void> => {
    if (response.ok || (what === 'DELETE' && response.status === 404)) {
      await response.body?.cancel();
      return;
    }
    const text = await response.text();
    throw new SeedClientError(`${what} answered ${response.status}: ${text.slice(0, 200)}`, response.status);
  };
  return {
    get: async (resourceType, id) => {
      const response = await fetch(url(resourceType, id));
      if (response.status === 404) {
        await response.body?.cancel();
        return undefined;
      }
      if (!response.ok) throw new SeedClientError(`GET answered ${response.status}`, response.status);
      const body = (await response.json()) as { version?: unknown };
      return typeof body.version === 'number' ? { version: body.version } : undefined;
    },
    upsert: async (event, idempotencyKey) => {
      const response = await fetch(url(event.resourceType, event.id), {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'idempotency-key': toHeaderValue(idempotencyKey), 'x-record-version': String(event.version) },
        body: JSON.stringify(event.payload ?? {}),
      });
      await check(response, 'PUT');
    },
    remove: async (event, idempotencyKey) => {
      const response = await fetch(url(event.resourceType, event.id), {
        method: 'DELETE',
        headers: { 'idempotency-key': toHeaderValue(idempotencyKey), 'x-record-version': String(event.version) },
      });
      await check(response, 'DELETE');
    },
  };
};

/**
 * Environment variables the baseline's Lambda entry (`seed-baseline-entry.ts`) reads at cold start,
 * set as the construct sets the consumer's: ours where they mean the same (the DLQ, and the Powertools
 * settings both read), the baseline's own for its idempotency table (keyed `id`, as Powertools
 * expects, not our ledger) and its destination.
 */
export const SeedBaselineEnv = {
  IDEMPOTENCY_TABLE_NAME: 'SEED_IDEMPOTENCY_TABLE_NAME',
  DEAD_LETTER_QUEUE_URL: ConsumerEnv.DEAD_LETTER_QUEUE_URL,
  /** The destination's base URL, for {@link httpSeedClient}. */
  DESTINATION_BASE_URL: 'SEED_DESTINATION_BASE_URL',
  METRICS_NAMESPACE: ConsumerEnv.METRICS_NAMESPACE,
  SERVICE_NAME: ConsumerEnv.SERVICE_NAME,
  LOG_LEVEL: ConsumerEnv.LOG_LEVEL,
} as const;
