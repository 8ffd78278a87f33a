import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SyncPipeline, type SyncPipelineProps } from './sync-pipeline.ts';

/** Props of {@link SyncPipelineStack}: the stack's own props plus those of the {@link SyncPipeline} in it. */
export interface SyncPipelineStackProps extends StackProps, SyncPipelineProps {}

/**
 * A stack holding one {@link SyncPipeline}, with outputs for the bus, the table, the alarm topic and
 * the first dashboard (each destination's nested stack has its queue URLs as outputs).
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
      description: 'First CloudWatch dashboard of the pipeline (ten destinations each; more are <name>-<region>-2, -3, ...)',
      value: this.pipeline.dashboards[0]!.dashboardName,
    });
    // The queue URLs are outputs of each destination's nested stack: 200 outputs a template would
    // otherwise cap the pipeline at 98 destinations.
  }
}
