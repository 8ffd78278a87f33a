import { CfnOutput, NestedStack, type RemovalPolicy } from 'aws-cdk-lib';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';
import { boundedDescription, DescriptionLimit } from './descriptions.ts';
import { DestinationConsumer } from './destination-consumer.ts';
import { DestinationAlarms } from './monitoring.ts';
import type { ConsumerFunctionOverrides } from './overrides.ts';
import { DestinationMetrics } from './pipeline-metrics.ts';

/** Props of {@link DestinationStack}. */
export interface DestinationStackProps {
  readonly config: PipelineConfig;
  readonly destination: DestinationConfig;
  readonly ledgerTable: ITable;
  readonly eventBus: IEventBus;
  /** Every alarm of the destination notifies it. */
  readonly alarmTopic: ITopic;
  /** The consumer entry if the destination names no user module (see `DestinationConsumerProps.consumerEntry`). */
  readonly consumerEntry: string;
  /** @default RemovalPolicy.RETAIN */
  readonly deadLetterRemovalPolicy?: RemovalPolicy;
  /**
   * The key of the queue and its DLQ (`QueueOverrides.encryptionKey`).
   *
   * @default - the config's `kmsKeyArn`, else SQS-managed encryption
   */
  readonly encryptionKey?: IKey;
  /** @default - none (see {@link ConsumerFunctionOverrides} for each field's default) */
  readonly consumerFunctionProps?: ConsumerFunctionOverrides;
}

/**
 * One destination in a nested stack of its own: its {@link DestinationConsumer} (queues, function,
 * event source, routing rule, breaker controls) and its {@link DestinationAlarms}, with the queue URLs
 * as outputs. A nested stack per destination keeps every template far inside CloudFormation's limits
 * (500 resources, 200 outputs, 1 MB) at any number of destinations the config allows, and adding or
 * removing a destination never moves another one's resources (a queue moved between stacks would be
 * created anew under a name its old self still holds).
 *
 * @example
 * const crm = new DestinationStack(pipeline, 'crm', { config, destination, ledgerTable, eventBus, alarmTopic, consumerEntry });
 * crm.consumer.queue.queueUrl;
 */
export class DestinationStack extends NestedStack {
  public readonly consumer: DestinationConsumer;
  public readonly alarms: DestinationAlarms;
  public readonly metrics: DestinationMetrics;

  public constructor(scope: Construct, id: string, props: DestinationStackProps) {
    const { config, destination } = props;
    super(scope, id, { description: boundedDescription(`sync-pipeline ${config.name}: destination ${destination.name}`, DescriptionLimit.STACK) });
    this.consumer = new DestinationConsumer(this, destination.name, {
      config,
      destination,
      ledgerTable: props.ledgerTable,
      eventBus: props.eventBus,
      consumerEntry: props.consumerEntry,
      ...this.#queueKey(props),
      ...(props.consumerFunctionProps === undefined ? {} : { consumerFunctionProps: props.consumerFunctionProps }),
      ...(props.deadLetterRemovalPolicy === undefined ? {} : { deadLetterRemovalPolicy: props.deadLetterRemovalPolicy }),
    });
    this.metrics = new DestinationMetrics({ config, destination });
    this.alarms = new DestinationAlarms(this, `${destination.name}Alarms`, { metrics: this.metrics, alarmTopic: props.alarmTopic, consumer: this.consumer.consumer });

    new CfnOutput(this, 'QueueUrl', {
      description: boundedDescription(`Queue of destination ${destination.name}`, DescriptionLimit.OUTPUT),
      value: this.consumer.queue.queueUrl,
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      description: boundedDescription(`Dead-letter queue of destination ${destination.name}`, DescriptionLimit.OUTPUT),
      value: this.consumer.deadLetterQueue.queueUrl,
    });
  }

  /** The queues' key: the one given wins over the config's `kmsKeyArn`, imported here (no parameter from the root stack). */
  #queueKey(props: DestinationStackProps): { encryptionKey?: IKey } {
    if (props.encryptionKey !== undefined) return { encryptionKey: props.encryptionKey };
    const { kmsKeyArn } = props.config;
    return kmsKeyArn === undefined ? {} : { encryptionKey: Key.fromKeyArn(this, 'EncryptionKey', kmsKeyArn) };
  }
}
