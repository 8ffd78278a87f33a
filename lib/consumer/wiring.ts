import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';
import { createDestination } from '../adapters/destination-factory.ts';
import { createAuthenticator } from '../adapters/http-auth.ts';
import type { ClientSource } from '../adapters/at-first-use.ts';
import type { SecretReader } from '../adapters/secrets.ts';
import { DynamoDbDestinationControl } from '../adapters/dynamodb-destination-control.ts';
import { DynamoDbLedgerStore } from '../adapters/dynamodb-ledger.ts';
import { SqsRecordQueue } from '../adapters/sqs-record-queue.ts';
import type { Destination } from '../core/destination.ts';
import type { DestinationPlugins } from '../core/plugins.ts';
import type { DestinationControlStore, EventSourceSwitch } from '../core/destination-control.ts';
import { leaseDurationMsFor } from '../config/resources.ts';
import { MetricDimension } from '../core/metrics.ts';
import { createConsumerHandler, type ConsumerHandlerDeps } from './consumer-handler.ts';
import { SeriesMetrics } from './series-metrics.ts';

export interface ConsumerWiring {
  readonly destination: DestinationConfig;
  readonly tableName: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly metricsNamespace: string;
  readonly serviceName: string;
  readonly logLevel: PipelineConfig['logLevel'];
  readonly dynamodb: DynamoDBClient;
  /** The queues' client, or a function that makes it at the first queue call (the Lambda entry's: `defaultSqsClient`). */
  readonly sqs: ClientSource<SQSClient>;
  /**
   * The user code the destination's config names (`transform`, `module`), already loaded: bundled
   * into the Lambda entry on AWS, `loadDestinationPlugins` locally.
   * @default {} (a destination that names no user module)
   */
  readonly plugins?: DestinationPlugins;
  /**
   * Where the destination's `auth` secret is read (Secrets Manager through Powertools Parameters).
   * Required when the destination has `auth`.
   */
  readonly secrets?: SecretReader;
  /** Replaces the adapter chosen by `destination.kind` (tests wrap it to inject delays or faults). */
  readonly decorateDestination?: (destination: Destination) => Destination;
  /** Turns the destination's event source off while its breaker is open (the Lambda mapping; the pollers locally). @default none */
  readonly eventSource?: EventSourceSwitch;
  /** Overrides for the local runtime and tests. */
  readonly overrides?: Partial<Pick<ConsumerHandlerDeps, 'logger' | 'metrics' | 'random' | 'now' | 'ledger' | 'sleep'>> & {
    readonly control?: DestinationControlStore;
  };
}

/**
 * Assembles a consumer handler from plain settings and SDK clients. The Lambda entry point passes
 * clients for AWS; the local runtime passes clients for the emulators.
 *
 * @example
 * const handler = wireConsumerHandler({ destination, tableName, queueUrl, deadLetterQueueUrl, metricsNamespace: 'SyncPipeline', serviceName: 'sync-pipeline-crm', logLevel: 'INFO', dynamodb, sqs });
 */
export const wireConsumerHandler = (wiring: ConsumerWiring) => {
  const { auth } = wiring.destination;
  if (auth !== undefined && wiring.secrets === undefined) throw new Error(`destination ${wiring.destination.name} has auth but the consumer was given no secret reader`);
  const authenticator = auth === undefined ? undefined : createAuthenticator(auth, { secrets: wiring.secrets!, requestTimeoutMs: wiring.destination.requestTimeoutMs });
  const adapter = createDestination(wiring.destination, wiring.plugins ?? {}, authenticator === undefined ? {} : { auth: authenticator });
  const logger =
    wiring.overrides?.logger ??
    new Logger({
      serviceName: wiring.serviceName,
      logLevel: wiring.logLevel,
      persistentKeys: { destination: wiring.destination.name },
    });
  const metrics =
    wiring.overrides?.metrics ??
    new SeriesMetrics({
      namespace: wiring.metricsNamespace,
      serviceName: wiring.serviceName,
      defaultDimensions: { [MetricDimension.DESTINATION]: wiring.destination.name },
    });
  return createConsumerHandler({
    destinationName: wiring.destination.name,
    resourceTypes: new Set(wiring.destination.resourceTypes),
    idNormalization: wiring.destination.idNormalization,
    retry: wiring.destination.retry,
    leaseDurationMs: leaseDurationMsFor(wiring.destination),
    requestTimeoutMs: wiring.destination.requestTimeoutMs,
    settleMs: wiring.destination.settleSeconds * 1000,
    ledger: wiring.overrides?.ledger ?? new DynamoDbLedgerStore({ client: wiring.dynamodb, tableName: wiring.tableName }),
    destination: wiring.decorateDestination?.(adapter) ?? adapter,
    queue: new SqsRecordQueue({ client: wiring.sqs, queueUrl: wiring.queueUrl, deadLetterQueueUrl: wiring.deadLetterQueueUrl }),
    logger,
    metrics,
    control: wiring.overrides?.control ?? new DynamoDbDestinationControl({ client: wiring.dynamodb, tableName: wiring.tableName }),
    ...(wiring.destination.rateLimit === undefined ? {} : { rateLimit: wiring.destination.rateLimit }),
    breaker: wiring.destination.breaker,
    deferralHorizonMs: wiring.destination.retry.horizonMinutes * 60_000,
    ...(wiring.destination.coalescing.enabled
      ? { coalescing: { backlogAgeMs: wiring.destination.coalescing.backlogAgeSeconds * 1000, holdSeconds: wiring.destination.coalescing.holdSeconds } }
      : {}),
    ...(wiring.eventSource === undefined ? {} : { eventSource: wiring.eventSource }),
    ...(wiring.overrides?.random === undefined ? {} : { random: wiring.overrides.random }),
    ...(wiring.overrides?.now === undefined ? {} : { now: wiring.overrides.now }),
    ...(wiring.overrides?.sleep === undefined ? {} : { sleep: wiring.overrides.sleep }),
  });
};
