import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SyncPipeline, type SyncPipelineProps } from './sync-pipeline.ts';

/** Props of {@link SyncPipelineStack}: the stack's own props plus those of the {@link SyncPipeline} in it. */
export interface SyncPipelineStackProps extends StackProps, SyncPipelineProps {}

/** The props of the pipeline among a stack's, named once so that a prop added to the pipeline reaches it. */
const pipelineProps = (props: SyncPipelineStackProps): SyncPipelineProps => {
  const picked: { [Key in keyof Required<SyncPipelineProps>]: SyncPipelineProps[Key] } = {
    config: props.config,
    consumerEntry: props.consumerEntry,
    removalPolicy: props.removalPolicy,
    eventBus: props.eventBus,
    ledgerTable: props.ledgerTable,
    alarmTopic: props.alarmTopic,
    consumerFunctionProps: props.consumerFunctionProps,
    queueProps: props.queueProps,
    destinationOverrides: props.destinationOverrides,
  };
  return picked;
};

/**
 * A stack holding one {@link SyncPipeline}, with outputs for the bus, the archive (when on), the
 * table, the alarm topic and the first dashboard (each destination's nested stack has its queue URLs
 * as outputs).
 *
 * @example
 * const app = new App();
 * new SyncPipelineStack(app, 'sync-pipeline', { config: loadPipelineConfig('config/sync-pipeline.json') });
 */
export class SyncPipelineStack extends Stack {
  public readonly pipeline: SyncPipeline;

  public constructor(scope: Construct, id: string, props: SyncPipelineStackProps) {
    super(scope, id, props);
    this.pipeline = new SyncPipeline(this, 'Pipeline', pipelineProps(props));

    new CfnOutput(this, 'EventBusName', {
      description: 'Publishers PutEvents here, the change event as detail',
      value: this.pipeline.eventBus.eventBusName,
    });
    if (this.pipeline.eventArchive !== undefined) {
      new CfnOutput(this, 'EventArchiveName', {
        description: `Archive of the change events, kept ${props.config.eventBus.archiveRetentionDays} days: replay from it with aws events start-replay`,
        value: this.pipeline.eventArchive.archiveName,
      });
    }
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
