import { fileURLToPath } from 'node:url';
import { Annotations, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { PipelineConfig } from '../config/pipeline-config.ts';
import { eventBusName, LEDGER_KEY_ATTRIBUTE, LEDGER_TTL_ATTRIBUTE, ledgerTableName } from '../config/resources.ts';
import { DestinationStack } from './destination-stack.ts';
import { type DestinationAlarms, PipelineAlarmTopic, PipelineDashboards } from './monitoring.ts';

/** The consumer handler shipped with this package, found relative to this file. */
const DEFAULT_CONSUMER_ENTRY = fileURLToPath(new URL('../../lambdas/consumer/handler.ts', import.meta.url));

/** Props of {@link SyncPipeline}. */
export interface SyncPipelineProps {
  /** The validated pipeline config (see `parsePipelineConfig` / `loadPipelineConfig`). */
  readonly config: PipelineConfig;
  /**
   * Path of the consumer handler source, bundled with local esbuild, for the destinations that name
   * no user module. A destination with a `transform` or `kind: "module"` gets an entry generated at
   * synth under `.sync-pipeline/` (see `consumerEntryFor`), which bundles its module with this
   * package's `lambdas/consumer/create-handler.ts`.
   *
   * @default - `lambdas/consumer/handler.ts` of this package
   */
  readonly consumerEntry?: string;
  /**
   * What happens to the version ledger table and the DLQs when they leave the stack (the stack is
   * deleted, or a destination removed). Losing the table forgets which versions each destination
   * holds, and a DLQ holds changes a destination never received, so they are kept unless you say
   * otherwise. `npx cdk deploy --import-existing-resources` takes retained ones back (see the README).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The resources of one destination, as exposed by {@link SyncPipeline.destinations}. */
export interface SyncPipelineDestination {
  /** The nested stack holding everything below. */
  readonly stack: DestinationStack;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly consumer: NodejsFunction;
  /**
   * Its eight alarms (DLQ not empty, lag p99, error rate, oldest message age, breaker open, function
   * errors, throttles, duration near the timeout); add actions here.
   */
  readonly alarms: DestinationAlarms;
}

/**
 * The whole sync pipeline for one config: an EventBridge bus, the DynamoDB version ledger, the alarm
 * topic and the dashboards, and per destination a nested stack ({@link DestinationStack}) with its
 * queue, DLQ, Lambda consumer, routing rule and alarms. Add it to any stack.
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
  /** Per destination name, its nested stack, queue, DLQ, consumer and alarms. */
  public readonly destinations: ReadonlyMap<string, SyncPipelineDestination>;
  /** Every alarm notifies this topic on ALARM and on OK; subscribe more endpoints to it. */
  public readonly alarmTopic: Topic;
  /** The CloudWatch dashboards, ten destinations each (see {@link PipelineDashboards}); the first is `<name>-<region>`. */
  public readonly dashboards: readonly Dashboard[];

  public constructor(scope: Construct, id: string, props: SyncPipelineProps) {
    super(scope, id);
    const { config } = props;
    const consumerEntry = props.consumerEntry ?? DEFAULT_CONSUMER_ENTRY;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const encryptionKey = config.kmsKeyArn === undefined ? undefined : Key.fromKeyArn(this, 'EncryptionKey', config.kmsKeyArn);

    // Table, not TableV2: TableV2 always synthesizes AWS::DynamoDB::GlobalTable, which the local
    // emulators reject, and the local runtime must create the same table as AWS.
    this.ledgerTable = new Table(this, 'LedgerTable', {
      tableName: ledgerTableName(config),
      partitionKey: { name: LEDGER_KEY_ATTRIBUTE, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: LEDGER_TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: config.ledger.pointInTimeRecovery },
      deletionProtection: config.ledger.deletionProtection,
      ...(encryptionKey === undefined
        ? { encryption: TableEncryption.AWS_MANAGED }
        : { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey }),
      removalPolicy,
    });

    if (removalPolicy === RemovalPolicy.DESTROY && config.ledger.deletionProtection) {
      Annotations.of(this.ledgerTable).addWarningV2(
        'sync-pipeline:ledger-deletion-protected',
        'The ledger table is to be destroyed with the stack, but ledger.deletionProtection is on: deleting the stack will fail on the table. Turn ledger.deletionProtection off in the config to let it go.',
      );
    }

    this.eventBus = new EventBus(this, 'EventBus', { eventBusName: eventBusName(config) });

    this.alarmTopic = new PipelineAlarmTopic(this, 'Alarms', { config, ...(encryptionKey === undefined ? {} : { encryptionKey }) }).topic;

    const destinations = new Map<string, SyncPipelineDestination>();
    for (const destination of config.destinations) {
      const stack = new DestinationStack(this, destination.name, {
        config,
        destination,
        ledgerTable: this.ledgerTable,
        eventBus: this.eventBus,
        alarmTopic: this.alarmTopic,
        consumerEntry,
        deadLetterRemovalPolicy: removalPolicy,
      });
      const { queue, deadLetterQueue, consumer } = stack.consumer;
      destinations.set(destination.name, { stack, queue, deadLetterQueue, consumer, alarms: stack.alarms });
    }
    this.dashboards = new PipelineDashboards(this, 'Dashboards', {
      config,
      destinations: [...destinations.values()].map(({ stack }) => ({ metrics: stack.metrics, alarms: stack.alarms })),
    }).dashboards;
    this.destinations = destinations;
  }
}
