import { Validations } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig, type PipelineConfig } from '../../lib/config/pipeline-config.ts';
import { applyNagChecks, SyncPipelineStack } from '../../lib/infra/index.ts';
import { monitoringTestConfigInput, newApp, pipelineTestConfig } from '../helpers/infra.ts';

describe('Function: applyNagChecks', () => {
  it.each<[string, PipelineConfig]>([
    ['two destinations whose every number differs', pipelineTestConfig],
    ['an alarm email subscription', parsePipelineConfig(monitoringTestConfigInput)],
  ])('finds nothing unacknowledged in a stack with %s', (_label, config) => {
    // Prepare
    const app = newApp();
    new SyncPipelineStack(app, 'NagTest', { config });

    // Act
    const checks = applyNagChecks(app);

    // Assess: the list first, for a readable failure; then synth, which runs the plugin for real.
    expect(checks.validateScope(app).violations.map((violation) => violation.ruleName)).toEqual([]);
    expect(() => app.synth()).not.toThrow();
  });

  it('acknowledges only the wildcard resource of ListEventSourceMappings, on each event source switch', () => {
    // Prepare
    const app = newApp();
    new SyncPipelineStack(app, 'NagTest', { config: pipelineTestConfig });

    // Act
    const acknowledged = app.node.findAll().flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) => Object.keys(entry.data as Record<string, string>).map((rule) => `${construct.node.path}: ${rule}`)),
    );

    // Assess: the action has no resource-level permission, so "*" is the only way to grant it.
    expect(acknowledged.sort()).toEqual([
      'NagTest/Pipeline/crm/EventSourceSwitch/Policy: Annotation::AwsSolutions-IAM5[Resource::*]',
      'NagTest/Pipeline/erp/EventSourceSwitch/Policy: Annotation::AwsSolutions-IAM5[Resource::*]',
    ]);
  });

  it('fails synth on a finding nobody acknowledged', () => {
    // Prepare
    const app = newApp();
    const stack = new SyncPipelineStack(app, 'NagTest', { config: pipelineTestConfig });
    new Queue(stack, 'QueueWithoutDeadLetterQueue', { enforceSSL: true });

    // Act
    applyNagChecks(app);

    // Assess
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS3/);
  });
});
