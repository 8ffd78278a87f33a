import { Annotations, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { type Archive, EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import type { Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { PipelineConfig } from '../config/pipeline-config.ts';
import { ChangeArchive } from './change-archive.ts';
import { type ConsumerFunctionOverrides, type DestinationOverrides, type QueueOverrides, resolveOverrides } from './overrides.ts';
import type { DestinationMetrics } from './pipeline-metrics.ts';
import { destinationResources, eventBusName, LEDGER_KEY_ATTRIBUTE, LEDGER_TTL_ATTRIBUTE, ledgerTableName } from '../config/resources.ts';
import { defaultConsumerEntry } from './consumer-entry.ts';
import { DestinationStack } from './destination-stack.ts';
import { type DestinationAlarms, PipelineAlarmTopic, PipelineDashboards } from './monitoring.ts';

/** The consumer handler shipped with this package, found relative to this file. */
const DEFAULT_CONSUMER_ENTRY = defaultConsumerEntry();

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
   * It does not apply to a `ledgerTable` you bring.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Your own bus for the change events, e.g. one your services already publish to
   * (`EventBus.fromEventBusName`). The pipeline then creates no bus: it adds one rule per
   * destination to yours (mind EventBridge's 300 rules per bus), and, with `eventBus.archive`, an
   * archive of the change events on it. Publishers put the change event as `detail`, as on the
   * pipeline's own bus.
   *
   * @default - a bus of the pipeline's own, `<name>-changes`
   */
  readonly eventBus?: IEventBus;
  /**
   * Your own table for the version ledger. The pipeline then creates no table, and the config's
   * `ledger` settings, `kmsKeyArn` and `removalPolicy` do not apply to it. It must have a partition
   * key `pk` of type String and no sort key; every destination's items start with `<destination>#`
   * and each consumer may reach only its own (`dynamodb:LeadingKeys`). TTL is not required (the
   * pipeline's own table turns it on, on `expiration`, which nothing writes today). Under a
   * customer-managed key, import it with `Table.fromTableAttributes({ tableArn, encryptionKey })`
   * so the consumers are granted the key. The `sync-pipeline` CLI finds the ledger by the config's
   * name (`<name>-ledger`): its `status` and `replay` commands do not see a table of another name.
   *
   * @default - a table of the pipeline's own, `<name>-ledger`
   */
  readonly ledgerTable?: ITable;
  /**
   * Your own SNS topic for every alarm's ALARM and OK notifications. The pipeline then creates no
   * topic; `alarmEmail` in the config still subscribes that address to yours. Its policy must let
   * `cloudwatch.amazonaws.com` publish (SNS's default policy does) and, under a customer-managed
   * key, the key's policy must let CloudWatch use it.
   *
   * @default - a topic of the pipeline's own, `<name>-alarms`
   */
  readonly alarmTopic?: ITopic;
  /**
   * Memory, tracing, log retention and VPC of every destination's consumer function;
   * `destinationOverrides` changes them for one destination.
   *
   * @default - see {@link ConsumerFunctionOverrides}: 512 MB, no tracing, logs kept a month, not in a VPC
   */
  readonly consumerFunctionProps?: ConsumerFunctionOverrides;
  /**
   * The KMS key of every destination's queue and DLQ; `destinationOverrides` changes it for one
   * destination. It wins over the config's `kmsKeyArn` for the queues.
   *
   * @default - the config's `kmsKeyArn`, else SQS-managed encryption
   */
  readonly queueProps?: QueueOverrides;
  /**
   * Overrides for one destination, by its name in the config, each field on top of
   * `consumerFunctionProps` and `queueProps`. A name the config does not have fails the synth,
   * naming it.
   *
   * @default - none
   */
  readonly destinationOverrides?: Readonly<Record<string, DestinationOverrides>>;
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
  /**
   * Its metrics (applied, skipped, retried, dead-lettered, lag percentiles, error rate, queue depth,
   * ...), the ones its alarms and dashboard row use, for alarms and dashboards of your own.
   */
  readonly metrics: DestinationMetrics;
}

/**
 * The whole sync pipeline for one config: an EventBridge bus (with an archive of the change events),
 * the DynamoDB version ledger, the alarm topic and the dashboards, and per destination a nested
 * stack ({@link DestinationStack}) with its queue, DLQ, Lambda consumer, routing rule and alarms.
 * Add it to any stack.
 *
 * The config decides what the pipeline holds (names, queues, retries, batching, alarms, the archive),
 * and the local runtime reads the same config. The props add what depends on the CDK app around it:
 * a bus, table or alarm topic you already have, the consumer functions' place in your network and
 * their cost settings, and the queues' key.
 *
 * @example
 * const stack = new Stack(new App(), 'Sync');
 * const pipeline = new SyncPipeline(stack, 'Pipeline', {
 *   config: loadPipelineConfig('config/sync-pipeline.json'),
 *   consumerFunctionProps: { tracing: Tracing.ACTIVE },
 *   destinationOverrides: { erp: { consumerFunctionProps: { vpc, memorySize: 1024 } } },
 * });
 * pipeline.grantPublish(ordersServiceRole);
 * new Alarm(stack, 'CrmDeadLetters', { metric: pipeline.destinations.get('crm')!.metrics.recordsDeadLettered(), threshold: 10, evaluationPeriods: 1 });
 * pipeline.alarmTopic.addSubscription(new EmailSubscription('oncall@example.com'));
 */
export class SyncPipeline extends Construct {
  /** One item per (destination, resourceType, id): applied version and lease. Yours, if you gave one. */
  public readonly ledgerTable: ITable;
  /** The bus publishers send change events to, the event in `detail`. Yours, if you gave one. */
  public readonly eventBus: IEventBus;
  /** The archive of the change events on {@link eventBus} (config `eventBus.archive`); undefined when off. */
  public readonly eventArchive?: Archive;
  /** Per destination name, its nested stack, queue, DLQ, consumer, alarms and metrics. */
  public readonly destinations: ReadonlyMap<string, SyncPipelineDestination>;
  /** Every alarm notifies this topic on ALARM and on OK; subscribe more endpoints to it. Yours, if you gave one. */
  public readonly alarmTopic: ITopic;
  /** The CloudWatch dashboards, ten destinations each (see {@link PipelineDashboards}); the first is `<name>-<region>`. */
  public readonly dashboards: readonly Dashboard[];
  readonly #config: PipelineConfig;

  public constructor(scope: Construct, id: string, props: SyncPipelineProps) {
    super(scope, id);
    const { config } = props;
    this.#config = config;
    // First: a mistaken override must fail before anything is built.
    const overridesOf = resolveOverrides(config, props);
    const consumerEntry = props.consumerEntry ?? DEFAULT_CONSUMER_ENTRY;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const encryptionKey = config.kmsKeyArn === undefined ? undefined : Key.fromKeyArn(this, 'EncryptionKey', config.kmsKeyArn);

    this.ledgerTable = props.ledgerTable ?? this.#ownLedgerTable(config, removalPolicy, encryptionKey);
    this.eventBus = props.eventBus ?? new EventBus(this, 'EventBus', { eventBusName: eventBusName(config) });
    if (config.eventBus.archive) {
      this.eventArchive = new ChangeArchive(this, 'EventArchive', { config, eventBus: this.eventBus, ownBus: props.eventBus === undefined }).archive;
    }

    this.alarmTopic = props.alarmTopic ?? new PipelineAlarmTopic(this, 'Alarms', { config, ...(encryptionKey === undefined ? {} : { encryptionKey }) }).topic;
    if (props.alarmTopic !== undefined && config.alarmEmail !== undefined) {
      PipelineAlarmTopic.subscribeEmail(props.alarmTopic, config.alarmEmail);
    }

    const destinations = new Map<string, SyncPipelineDestination>();
    for (const destination of config.destinations) {
      const overrides = overridesOf(destination);
      const stack = new DestinationStack(this, destination.name, {
        config,
        destination,
        ledgerTable: this.ledgerTable,
        eventBus: this.eventBus,
        alarmTopic: this.alarmTopic,
        consumerEntry,
        deadLetterRemovalPolicy: removalPolicy,
        consumerFunctionProps: overrides.consumerFunctionProps,
        ...(overrides.queueProps.encryptionKey === undefined ? {} : { encryptionKey: overrides.queueProps.encryptionKey }),
      });
      const { queue, deadLetterQueue, consumer } = stack.consumer;
      destinations.set(destination.name, { stack, queue, deadLetterQueue, consumer, alarms: stack.alarms, metrics: stack.metrics });
    }
    this.dashboards = new PipelineDashboards(this, 'Dashboards', {
      config,
      destinations: [...destinations.values()].map(({ stack }) => ({ metrics: stack.metrics, alarms: stack.alarms })),
    }).dashboards;
    this.destinations = destinations;
  }

  /**
   * Lets `grantee` (a publisher's role) publish changes by either route: `events:PutEvents` on
   * {@link eventBus}, and `sqs:SendMessage` (with `sqs:GetQueueAttributes` for the queue's size
   * limit and `sqs:GetQueueUrl`) on every destination's queue, never its DLQ. A queue under a
   * customer-managed key adds `kms:GenerateDataKey` and `kms:Decrypt` on that key, through SQS
   * only (`kms:ViaService`). The queue ARNs are built from their names, so the grant holds no
   * reference into the destinations' nested stacks. One ARN per destination, 50 to 95 characters by
   * the names' length: somewhere between 100 and 190 destinations the grant alone fills IAM's 10,240
   * characters of inline policy per role; give such a publisher a managed policy instead.
   *
   * @example
   * const publisher = new Role(stack, 'OrdersService', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
   * pipeline.grantPublish(publisher);
   */
  public grantPublish(grantee: IGrantable): Grant {
    const stack = Stack.of(this);
    const events = this.eventBus.grantPutEventsTo(grantee);
    const sqs = Grant.addToPrincipal({
      grantee,
      actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
      resourceArns: this.#config.destinations.map((destination) =>
        stack.formatArn({ service: 'sqs', resource: destinationResources(this.#config, destination).queueName }),
      ),
    });
    const keyArns = [...new Set([...this.destinations.values()].flatMap(({ queue }) => (queue.encryptionMasterKey === undefined ? [] : [queue.encryptionMasterKey.keyArn])))];
    const grants = events.combine(sqs);
    if (keyArns.length === 0) return grants;
    return grants.combine(
      Grant.addToPrincipal({
        grantee,
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resourceArns: keyArns,
        conditions: { StringEquals: { 'kms:ViaService': `sqs.${stack.region}.amazonaws.com` } },
      }),
    );
  }

  /** The pipeline's own ledger table, when the user gave none. */
  #ownLedgerTable(config: PipelineConfig, removalPolicy: RemovalPolicy, encryptionKey: IKey | undefined): Table {
    // Table, not TableV2: TableV2 always synthesizes AWS::DynamoDB::GlobalTable, which the local
    // emulators reject, and the local runtime must create the same table as AWS.
    const table = new Table(this, 'LedgerTable', {
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
      Annotations.of(table).addWarningV2(
        'sync-pipeline:ledger-deletion-protected',
        'The ledger table is to be destroyed with the stack, but ledger.deletionProtection is on: deleting the stack will fail on the table. Turn ledger.deletionProtection off in the config to let it go.',
      );
    }
    return table;
  }
}
