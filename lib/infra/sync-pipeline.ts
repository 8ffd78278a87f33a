import { fileURLToPath } from 'node:url';
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import type { Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { PipelineConfig } from '../config/pipeline-config.ts';
import { eventBusName, LEDGER_KEY_ATTRIBUTE, LEDGER_TTL_ATTRIBUTE, ledgerTableName } from '../config/resources.ts';
import { DestinationConsumer } from './destination-consumer.ts';
import { type DestinationAlarms, PipelineMonitoring } from './monitoring.ts';

/** The consumer handler shipped with this package, found relative to this file. */
const DEFAULT_CONSUMER_ENTRY = fileURLToPath(new URL('../../lambdas/consumer/handler.ts', import.meta.url));

/** Props of {@link SyncPipeline}. */
export interface SyncPipelineProps {
  /** The validated pipeline config (see `parsePipelineConfig` / `loadPipelineConfig`). */
  readonly config: PipelineConfig;
  /**
   * Path of the consumer handler source, bundled with local esbuild.
   *
   * @default - `lambdas/consumer/handler.ts` of this package
   */
  readonly consumerEntry?: string;
  /**
   * What happens to the version ledger table when it leaves the stack. Losing it forgets which
   * versions each destination holds, so it is kept unless you say otherwise.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The resources of one destination, as exposed by {@link SyncPipeline.destinations}. */
export interface SyncPipelineDestination {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly consumer: NodejsFunction;
  /** Its five alarms (DLQ not empty, lag p99, error rate, oldest message age, breaker open); add actions here. */
  readonly alarms: DestinationAlarms;
}

/**
 * The whole sync pipeline for one config: an EventBridge bus, the DynamoDB version ledger, per
 * destination a queue, a DLQ, a Lambda consumer, a routing rule and alarms, and a dashboard with an
 * alarm topic. Add it to any stack.
 *
 * @example
 * const stack = new Stack(new App(), 'Sync');
 * const pipeline = new SyncPipeline(stack, 'Pipeline', { config: loadPipelineConfig('config/sync-pipeline.json') });
 * pipeline.destinations.get('crm')?.deadLetterQueue.metricApproximateNumberOfMessagesVisible();
 * pipeline.alarmTopic.addSubscription(new EmailSubscription('oncall@example.com'));
 */
export class SyncPipeline extends Construct {
  /** One item per (destination, resourceType, id): applied version and lease. */
  public readonly ledgerTable: Table;
  /** The bus publishers send change events to, the event in `detail`. */
  public readonly eventBus: EventBus;
  /** Per destination name, its queue, DLQ, consumer and alarms. */
  public readonly destinations: ReadonlyMap<string, SyncPipelineDestination>;
  /** The alarm topic, the alarms and the dashboard. */
  public readonly monitoring: PipelineMonitoring;
  /** Every alarm notifies this topic on ALARM and on OK; subscribe more endpoints to it. */
  public readonly alarmTopic: Topic;
  /** The CloudWatch dashboard named after the pipeline. */
  public readonly dashboard: Dashboard;

  public constructor(scope: Construct, id: string, props: SyncPipelineProps) {
    super(scope, id);
    const { config } = props;
    const consumerEntry = props.consumerEntry ?? DEFAULT_CONSUMER_ENTRY;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    // Table, not TableV2: TableV2 always synthesizes AWS::DynamoDB::GlobalTable, which the local
    // emulators reject, and the local runtime must create the same table as AWS.
    this.ledgerTable = new Table(this, 'LedgerTable', {
      tableName: ledgerTableName(config),
      partitionKey: { name: LEDGER_KEY_ATTRIBUTE, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: LEDGER_TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy,
    });

    this.eventBus = new EventBus(this, 'EventBus', { eventBusName: eventBusName(config) });

    const consumers = config.destinations.map((destination) => {
      const { queue, deadLetterQueue, consumer } = new DestinationConsumer(this, destination.name, {
        config,
        destination,
        ledgerTable: this.ledgerTable,
        eventBus: this.eventBus,
        consumerEntry,
      });
      return { destination, queue, deadLetterQueue, consumer };
    });

    this.monitoring = new PipelineMonitoring(this, 'Monitoring', { config, destinations: consumers });
    this.alarmTopic = this.monitoring.alarmTopic;
    this.dashboard = this.monitoring.dashboard;

    const destinations = new Map<string, SyncPipelineDestination>();
    for (const { destination, queue, deadLetterQueue, consumer } of consumers) {
      const alarms = this.monitoring.alarms.get(destination.name);
      if (alarms === undefined) throw new Error(`No alarms were created for destination ${destination.name}`);
      destinations.set(destination.name, { queue, deadLetterQueue, consumer, alarms });
    }
    this.destinations = destinations;
  }
}
