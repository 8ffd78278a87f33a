import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SyncPipeline, type SyncPipelineProps } from './sync-pipeline.ts';

/** Props of {@link SyncPipelineStack}: the stack's own props plus those of the {@link SyncPipeline} in it. */
export interface SyncPipelineStackProps extends StackProps, SyncPipelineProps {}

/** `crm-eu` → `CrmEu`: CloudFormation output keys allow letters and digits only. */
const outputKeyPart = (name: string): string =>
  name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

/**
 * A stack holding one {@link SyncPipeline}, with outputs for the bus, the table, the alarm topic, the
 * dashboard and every queue.
 *
 * @example
 * const app = new App();
 * new SyncPipelineStack(app, 'sync-pipeline', { config: loadPipelineConfig('config/sync-pipeline.json') });
 */
export class SyncPipelineStack extends Stack {
  public readonly pipeline: SyncPipeline;

  public constructor(scope: Construct, id: string, props: SyncPipelineStackProps) {
    super(scope, id, props);
    this.pipeline = new SyncPipeline(this, 'Pipeline', {
      config: props.config,
      consumerEntry: props.consumerEntry,
      removalPolicy: props.removalPolicy,
    });

    new CfnOutput(this, 'EventBusName', {
      description: 'Publishers PutEvents here, the change event as detail',
      value: this.pipeline.eventBus.eventBusName,
    });
    new CfnOutput(this, 'LedgerTableName', {
      description: 'Version ledger',
      value: this.pipeline.ledgerTable.tableName,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'Every alarm notifies this topic on ALARM and OK; subscribe on-call endpoints to it',
      value: this.pipeline.alarmTopic.topicArn,
    });
    new CfnOutput(this, 'DashboardName', {
      description: 'CloudWatch dashboard of the pipeline',
      value: this.pipeline.dashboard.dashboardName,
    });
    // Two destination names mapping to the same key (e.g. `a-b` and `a--b`) fail synth with a
    // duplicate construct id, so outputs can never silently overwrite each other.
    for (const [name, destination] of this.pipeline.destinations) {
      const key = outputKeyPart(name);
      new CfnOutput(this, `${key}QueueUrl`, {
        description: `Queue of destination ${name}`,
        value: destination.queue.queueUrl,
      });
      new CfnOutput(this, `${key}DeadLetterQueueUrl`, {
        description: `Dead-letter queue of destination ${name}`,
        value: destination.deadLetterQueue.queueUrl,
      });
    }
  }
}
