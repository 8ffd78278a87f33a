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
