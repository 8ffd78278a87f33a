import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig, type PipelineConfig } from '../../lib/config/pipeline-config.ts';
import { applyNagChecks, SyncPipelineStack } from '../../lib/infra/index.ts';
import { acknowledgedRules, monitoringTestConfigInput, newApp, pipelineTestConfig } from '../helpers/infra.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('Function: applyNagChecks', () => {
  it.each<[string, PipelineConfig]>([
    ['two destinations whose every number differs', pipelineTestConfig],
    ['an alarm email subscription', parsePipelineConfig(monitoringTestConfigInput)],
    ['a customer-managed KMS key', parsePipelineConfig({ ...monitoringTestConfigInput, kmsKeyArn: KEY_ARN })],
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
    const acknowledged = acknowledgedRules(app);

    // Assess: the action has no resource-level permission, so "*" is the only way to grant it.
    expect(acknowledged).toEqual([
      'NagTest/Pipeline/crm/crm/EventSourceSwitch/Policy: Annotation::AwsSolutions-IAM5[Resource::*]',
      'NagTest/Pipeline/erp/erp/EventSourceSwitch/Policy: Annotation::AwsSolutions-IAM5[Resource::*]',
    ]);
  });

  it('acknowledges, with a KMS key, only the wildcard actions of the key grants besides, on each consumer role', () => {
    // Prepare
    const app = newApp();
    new SyncPipelineStack(app, 'NagTest', { config: parsePipelineConfig({ ...monitoringTestConfigInput, kmsKeyArn: KEY_ARN }) });

    // Act
    const acknowledged = acknowledgedRules(app);

    // Assess: CDK's encrypt/decrypt grant names kms:GenerateDataKey* and kms:ReEncrypt*, on the one key only.
    expect(acknowledged).toEqual([
      'NagTest/Pipeline/crm/crm/ConsumerRole: Annotation::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      'NagTest/Pipeline/crm/crm/ConsumerRole: Annotation::AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
      'NagTest/Pipeline/crm/crm/EventSourceSwitch/Policy: Annotation::AwsSolutions-IAM5[Resource::*]',
      'NagTest/Pipeline/erp/erp/ConsumerRole: Annotation::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      'NagTest/Pipeline/erp/erp/ConsumerRole: Annotation::AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
      'NagTest/Pipeline/erp/erp/EventSourceSwitch/Policy: Annotation::AwsSolutions-IAM5[Resource::*]',
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

  it("fails synth on a finding nobody acknowledged in a destination's nested stack", () => {
    // Prepare
    const app = newApp();
    const stack = new SyncPipelineStack(app, 'NagTest', { config: pipelineTestConfig });
    new Queue(stack.pipeline.destinations.get('erp')!.stack, 'QueueWithoutDeadLetterQueue', { enforceSSL: true });

    // Act
    const checks = applyNagChecks(app);

    // Assess: the checks reach into the nested stacks, where the destinations' resources are.
    expect(checks.validateScope(app).violations.map((violation) => violation.ruleName)).toEqual(['AwsSolutions-SQS3']);
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS3/);
  });
});
