import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type IEventBus, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { type Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { destinationConfigDigest, serializeDestinationConfig, type DestinationConfig, type PipelineConfig } from '../config/pipeline-config.ts';
import { destinationResources, consumerServiceName, ledgerKeyPrefix } from '../config/resources.ts';
import { ConsumerEnv } from '../config/consumer-env.ts';
import { routingPattern } from '../config/routing.ts';
import type { AuthConfig } from '../config/destination-kinds.ts';
import { consumerBundling, CONSUMER_MEMORY_MB, CONSUMER_RUNTIME_ENVIRONMENT } from './consumer-bundling.ts';
import { consumerEntryFor } from './consumer-entry.ts';
import { boundedDescription, DescriptionLimit } from './descriptions.ts';
import { BreakerProbe, EventSourceSwitch } from './destination-breaker.ts';
import type { ConsumerFunctionOverrides } from './overrides.ts';

type ConsumerEnvName = (typeof ConsumerEnv)[keyof typeof ConsumerEnv];

/** A secret's ARN, complete or partial: partition, region, account and the resource name after `secret:`. */
const SECRET_ARN = /^arn:([a-z-]+):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;
/**
 * The suffix Secrets Manager appends to a secret's name in its ARN: a hyphen and six random
 * alphanumeric characters. An ARN ending in one is complete; Secrets Manager and CDK
 * (`Secret.fromSecretArn`) tell a complete ARN from a partial one the same way.
 */
const SECRET_SUFFIX = /-[A-Za-z0-9]{6}$/;
/**
 * Matches exactly the six suffix characters, the wildcard AWS recommends for a secret known by its
 * name (Secrets Manager user guide, "Limiting access to specific secrets"): `-*` would also match
 * `<name>-<anything>`, another secret.
 */
const SUFFIX_WILDCARD = '-??????';

/**
 * The consumer's right to read its destination's secret, and no other: `secretsmanager:GetSecretValue`
 * (the value only: no DescribeSecret, no List) on the secret's ARN, by name the ARN in this stack's
 * partition, region and account with the suffix wildcard, by partial ARN with the wildcard, by
 * complete ARN as it is. With `kmsKeyArn`, `kms:Decrypt` on that key, only when Secrets Manager asks
 * (`kms:ViaService`, in the secret's region). Neither holds the value: it is read at run time.
 */
const secretStatements = (stack: Stack, auth: AuthConfig): PolicyStatement[] => {
  const arn = SECRET_ARN.exec(auth.secret);
  const secretArn =
    arn === null
      ? stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${auth.secret}${SUFFIX_WILDCARD}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })
      : SECRET_SUFFIX.test(arn[4]!)
        ? auth.secret
        : `${auth.secret}${SUFFIX_WILDCARD}`;
  const statements = [new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArn] })];
  if (auth.kmsKeyArn !== undefined) {
    // The secret's own region when its ARN says it; Secrets Manager calls KMS from there.
    const region = arn === null ? stack.region : arn[2]!;
    statements.push(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [auth.kmsKeyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` } },
      }),
    );
  }
  return statements;
};

/**
 * What Lambda needs of a function's role to attach it to a VPC: the EC2 actions of the managed
 * policy `AWSLambdaVPCAccessExecutionRole`, which CDK adds only to a role it creates itself. That
 * policy also lets the function create and write to every log group, which this role must not (it
 * writes to its own). The Describe actions take no resource-level permission, and Lambda creates
 * the interfaces before their ARNs exist, hence `*`.
 */
const vpcAccessStatement = (): PolicyStatement =>
  new PolicyStatement({
    actions: [
      'ec2:CreateNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:DeleteNetworkInterface',
      'ec2:AssignPrivateIpAddresses',
      'ec2:UnassignPrivateIpAddresses',
    ],
    resources: ['*'],
  });

/**
 * Acknowledges the cdk-nag finding on the `*` resources the overrides bring to the consumer's
 * role, and only when they do: X-Ray's actions (tracing) and the VPC network-interface actions.
 */
const acknowledgeWildcardResources = (role: Role, overrides: ConsumerFunctionOverrides): void => {
  const reasons = [
    ...(overrides.tracing === undefined || overrides.tracing === Tracing.DISABLED
      ? []
      : ['xray:PutTraceSegments and xray:PutTelemetryRecords (tracing) support no resource-level permission']),
    ...(overrides.vpc === undefined
      ? []
      : ['the EC2 network-interface actions Lambda needs to attach the function to its VPC: the Describe actions take no resource, and the interfaces have no ARN before Lambda creates them']),
  ];
  if (reasons.length === 0) return;
  Validations.of(role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: `${reasons.join('; ')}.` });
};

/** Props of {@link DestinationConsumer}. */
export interface DestinationConsumerProps {
  /** The whole pipeline config: names are derived from its `name`, metrics and logs from its settings. */
  readonly config: PipelineConfig;
  /** The destination this construct delivers to; one of `config.destinations`. */
  readonly destination: DestinationConfig;
  /** The version ledger. The consumer may read and conditionally update items, nothing else. */
  readonly ledgerTable: ITable;
  /** The bus publishers send change events to; a rule on it routes this destination's resource types. */
  readonly eventBus: IEventBus;
  /**
   * Absolute path of the consumer handler source (bundled with local esbuild), for a destination
   * that names no user module. One with a `transform` or `kind: "module"` gets an entry generated
   * around its module instead (see `consumerEntryFor`), so its code is bundled into its function only.
   */
  readonly consumerEntry: string;
  /**
   * A customer-managed key for both queues (`QueueOverrides.encryptionKey`, else the config's
   * `kmsKeyArn`).
   *
   * @default - SQS-managed encryption
   */
  readonly encryptionKey?: IKey;
  /**
   * Memory, tracing, log retention and VPC of the consumer function (see {@link ConsumerFunctionOverrides}).
   *
   * @default - 512 MB, no tracing, logs kept a month, not in a VPC
   */
  readonly consumerFunctionProps?: ConsumerFunctionOverrides;
  /**
   * What happens to the DLQ when it leaves the stack: it holds changes no destination received.
   * @default RemovalPolicy.RETAIN
   */
  readonly deadLetterRemovalPolicy?: RemovalPolicy;
}

/**
 * Everything one destination needs: its queue and DLQ, its consumer function with its own role and
 * log group, the EventBridge rule routing its resource types to its queue, and its circuit breaker's
 * controls (the right to switch its own event source mapping, and the scheduled probe). Only the bus
 * and the ledger table are shared, so a slow or failing destination cannot hold up another
 * (invariant I5).
 *
 * @example
 * const crm = new DestinationConsumer(this, 'crm', {
 *   config,
 *   destination: config.destinations[0],
 *   ledgerTable,
 *   eventBus,
 *   consumerEntry: '/abs/path/lambdas/consumer/handler.ts',
 * });
 * crm.deadLetterQueue.metricApproximateNumberOfMessagesVisible();
 */
export class DestinationConsumer extends Construct {
  /** The queue the consumer reads; redrives to {@link deadLetterQueue} after `maxReceiveCount` receives. */
  public readonly queue: Queue;
  /** Holds what could not be applied: redriven messages and permanent failures sent by the consumer. */
  public readonly deadLetterQueue: Queue;
  /** The Lambda consumer, fed by an SQS event source on {@link queue}. */
  public readonly consumer: NodejsFunction;
  /** The EventBridge rule sending this destination's resource types to {@link queue}. */
  public readonly rule: Rule;
  /** The scheduled rule invoking {@link consumer} with the probe event. */
  public readonly probeRule: Rule;
  /** Allows {@link consumer} to disable and enable its own event source mapping, and no other. */
  public readonly eventSourceSwitchPolicy: Policy;

  public constructor(scope: Construct, id: string, props: DestinationConsumerProps) {
    super(scope, id);
    const { config, destination } = props;
    const resources = destinationResources(config, destination);

    // SQS-managed SSE unless the config names a key: EventBridge can deliver to it without a key
    // policy, and the consumer needs no kms:Decrypt.
    const encryption = props.encryptionKey === undefined
      ? { encryption: QueueEncryption.SQS_MANAGED }
      : { encryption: QueueEncryption.KMS, encryptionMasterKey: props.encryptionKey };
    // Retained by default, and named statically, so a redeploy after `cdk destroy` can take it back
    // (`cdk deploy --import-existing-resources`, see the README).
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: resources.deadLetterQueueName,
      retentionPeriod: Duration.seconds(resources.deadLetterRetentionPeriodSeconds),
      ...encryption,
      enforceSSL: true,
      removalPolicy: props.deadLetterRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.queue = new Queue(this, 'Queue', {
      queueName: resources.queueName,
      visibilityTimeout: Duration.seconds(resources.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(resources.retentionPeriodSeconds),
      ...encryption,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: resources.maxReceiveCount },
    });

    const overrides = props.consumerFunctionProps ?? {};
    const logGroup = new LogGroup(this, 'ConsumerLogs', { retention: overrides.logRetention ?? RetentionDays.ONE_MONTH });

    // An own role instead of AWSLambdaBasicExecutionRole: that managed policy lets a function create
    // log groups and write to any of them; this one may write to its own log group only.
    const role = new Role(this, 'ConsumerRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: boundedDescription(`Consumer of the ${destination.name} destination of ${config.name}`, DescriptionLimit.ROLE),
    });
    logGroup.grantWrite(role);

    // Typed by the names the handler reads: a variable added to ConsumerEnv and not set here is a
    // compile error, not a cold-start failure in AWS.
    const serializedDestination = serializeDestinationConfig(destination);
    const consumerEnvironment: Record<ConsumerEnvName, string> = {
      [ConsumerEnv.DESTINATION]: serializedDestination,
      [ConsumerEnv.DESTINATION_SHA256]: destinationConfigDigest(serializedDestination),
      [ConsumerEnv.LEDGER_TABLE_NAME]: props.ledgerTable.tableName,
      [ConsumerEnv.QUEUE_URL]: this.queue.queueUrl,
      [ConsumerEnv.QUEUE_ARN]: this.queue.queueArn,
      [ConsumerEnv.DEAD_LETTER_QUEUE_URL]: this.deadLetterQueue.queueUrl,
      [ConsumerEnv.METRICS_NAMESPACE]: config.metricsNamespace,
      // Also the `service` dimension of every metric: the alarms and dashboard read it from the same function.
      [ConsumerEnv.SERVICE_NAME]: consumerServiceName(config, destination),
      [ConsumerEnv.LOG_LEVEL]: config.logLevel,
    };

    this.consumer = new NodejsFunction(this, 'Consumer', {
      description: boundedDescription(`Delivers ${destination.resourceTypes.join(', ')} changes to ${destination.name}`, DescriptionLimit.FUNCTION),
      entry: consumerEntryFor(config, destination, { sharedEntry: props.consumerEntry }),
      handler: 'handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: overrides.memorySize ?? CONSUMER_MEMORY_MB,
      timeout: Duration.seconds(destination.functionTimeoutSeconds),
      role,
      logGroup,
      ...(overrides.tracing === undefined ? {} : { tracing: overrides.tracing }),
      ...(overrides.vpc === undefined ? {} : { vpc: overrides.vpc }),
      ...(overrides.vpcSubnets === undefined ? {} : { vpcSubnets: overrides.vpcSubnets }),
      ...(overrides.securityGroups === undefined ? {} : { securityGroups: overrides.securityGroups }),
      environment: { ...consumerEnvironment, ...CONSUMER_RUNTIME_ENVIRONMENT },
      // One definition, which the benchmark bundles with too (lib/local/bench/bundle-size.ts).
      bundling: consumerBundling(),
    });

    acknowledgeWildcardResources(role, overrides);
    if (overrides.vpc !== undefined) role.addToPrincipalPolicy(vpcAccessStatement());

    // Least privilege: the version check is a conditional UpdateItem, and GetItem and BatchGetItem
    // serve ledger reads (a batch's entries are read at once when the stream skips many); no Put, Delete, Query or Scan; and only on this destination's items (every key it writes,
    // its records' and its control item, starts with `<destination>#`, and `#` cannot appear in a
    // destination name, so `crm#*` never matches an item of `crm-eu`).
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem'],
        resources: [props.ledgerTable.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${ledgerKeyPrefix(destination)}*`] } },
      }),
    );
    // A table under the config's key needs the key for every read and write.
    props.ledgerTable.encryptionKey?.grantEncryptDecrypt(role);
    if (props.encryptionKey !== undefined || props.ledgerTable.encryptionKey !== undefined) {
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason: "CDK's grants for queues and tables under a customer-managed key (encrypt and decrypt), on the queues' and the table's keys only",
        });
      }
    }
    // Its own secret only: the name travels in the destination config, the value is read at run time.
    if (destination.auth !== undefined) {
      for (const statement of secretStatements(Stack.of(this), destination.auth)) role.addToPrincipalPolicy(statement);
    }
    // Permanent failures and invalid messages are dead-lettered by the consumer itself (I6).
    this.deadLetterQueue.grantSendMessages(this.consumer);

    // The event source grants receive, delete and ChangeMessageVisibility (backoff) on this queue.
    const eventSource = new SqsEventSource(this.queue, {
      batchSize: destination.batchSize,
      maxBatchingWindow:
        destination.maxBatchingWindowSeconds > 0 ? Duration.seconds(destination.maxBatchingWindowSeconds) : undefined,
      maxConcurrency: destination.maxConcurrency,
      reportBatchItemFailures: true,
    });
    this.consumer.addEventSource(eventSource);

    this.eventSourceSwitchPolicy = new EventSourceSwitch(this, 'EventSourceSwitch', {
      role,
      eventSourceMappingArn: eventSource.eventSourceMappingArn,
    }).policy;
    this.probeRule = new BreakerProbe(this, 'BreakerProbe', { config, destination, consumer: this.consumer }).rule;

    // Publishers put the change event in the EventBridge event's `detail`; the queue receives the
    // change event itself, the same body a publisher sending straight to SQS would produce.
    this.rule = new Rule(this, 'Route', {
      eventBus: props.eventBus,
      description: boundedDescription(`Routes ${destination.resourceTypes.join(', ')} changes to ${resources.queueName}`, DescriptionLimit.RULE),
      eventPattern: routingPattern(destination),
      targets: [
        new SqsQueue(this.queue, {
          message: RuleTargetInput.fromEventPath('$.detail'),
          // EventBridge retries delivery for a day; what it still cannot deliver goes to the DLQ
          // (with its ERROR_CODE and ERROR_MESSAGE attributes) instead of being dropped.
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
  }
}
