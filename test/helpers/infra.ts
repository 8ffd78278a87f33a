import { readFileSync } from 'node:fs';
import { App, type NestedStack, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { SyncPipelineStack } from '../../lib/infra/index.ts';
import { parsePipelineConfig, type PipelineConfigInput } from '../../lib/config/pipeline-config.ts';

// The feature flags of cdk.json, so the template under test is the one `cdk synth` produces;
// bundling is skipped (no esbuild run) to keep a synth at a few hundred milliseconds.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

/** cdk.json's context: the feature flags `cdk synth` runs with. */
export const cdkContext: Record<string, unknown> = cdkJson.context;

/** A CDK app as `cdk synth` builds it (cdk.json's context), without bundling the consumer. */
export const newApp = (): App => new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });

// Two destinations whose every number differs, so a value wired to the wrong destination shows.
export const pipelineTestConfig = parsePipelineConfig({
  name: 'test-sync',
  metricsNamespace: 'TestSync',
  logLevel: 'DEBUG',
  destinations: [
    {
      name: 'crm',
      kind: 'http',
      baseUrl: 'https://crm.example.com/api',
      resourceTypes: ['contact', 'company'],
      batchSize: 10,
      maxConcurrency: 5,
      requestTimeoutMs: 5_000,
      functionTimeoutSeconds: 30,
      retry: { maxReceiveCount: 4 },
      // Below EventBridge's finest rate: the probe runs every minute.
      breaker: { probeIntervalSeconds: 30 },
    },
    {
      name: 'erp',
      kind: 'http',
      baseUrl: 'https://erp.example.com/v2',
      resourceTypes: ['order'],
      batchSize: 50,
      maxBatchingWindowSeconds: 5,
      maxConcurrency: 12,
      requestTimeoutMs: 10_000,
      functionTimeoutSeconds: 60,
      retry: { maxReceiveCount: 9 },
      // Not a whole number of minutes: rounded up to 3.
      breaker: { probeIntervalSeconds: 150 },
    },
  ],
});

// Two destinations whose alarm and breaker settings all differ, so a threshold wired to the wrong one
// shows; only crm has a rate limit.
export const monitoringTestConfigInput = {
  name: 'mon-test',
  metricsNamespace: 'MonTest',
  alarmEmail: 'oncall@example.com',
  destinations: [
    {
      name: 'crm',
      kind: 'http',
      baseUrl: 'https://crm.example.com/api',
      resourceTypes: ['contact'],
      alarms: { lagP99Seconds: 120, errorRatePercent: 2, oldestMessageAgeSeconds: 600 },
      rateLimit: { perSecond: 20 },
      breaker: { failurePercent: 40, minCalls: 10, windowSeconds: 30, probeIntervalSeconds: 120 },
    },
    {
      name: 'erp',
      kind: 'http',
      baseUrl: 'https://erp.example.com/v2',
      resourceTypes: ['order', 'invoice'],
      alarms: { lagP99Seconds: 900, errorRatePercent: 10, oldestMessageAgeSeconds: 3600 },
    },
  ],
} satisfies PipelineConfigInput;

/** The templates of a {@link SyncPipelineStack}: the root, each destination's nested stack, each dashboard page's nested stack. */
export interface PipelineTemplates {
  readonly root: Template;
  /** The nested stack of one destination (its queues, consumer, rules and alarms). */
  readonly destination: (name: string) => Template;
  /** One per dashboard page, in order. */
  readonly dashboards: readonly Template[];
}

/**
 * Synthesizes `stack` once and returns its templates.
 *
 * @example
 * const templates = pipelineTemplates(new SyncPipelineStack(newApp(), 'TestSync', { config }));
 * templates.destination('crm').resourceCountIs('AWS::SQS::Queue', 2);
 */
export const pipelineTemplates = (stack: SyncPipelineStack): PipelineTemplates => {
  const root = Template.fromStack(stack);
  const byName = new Map([...stack.pipeline.destinations].map(([name, destination]) => [name, Template.fromStack(destination.stack)]));
  return {
    root,
    destination: (name) => {
      const template = byName.get(name);
      if (template === undefined) throw new Error(`no destination ${name} in the stack`);
      return template;
    },
    dashboards: stack.pipeline.dashboards.map((dashboard) => Template.fromStack(Stack.of(dashboard) as NestedStack)),
  };
};

/**
 * Every cdk-nag rule acknowledged in `app`, as `<construct path>: <rule>`, sorted.
 *
 * @example
 * expect(acknowledgedRules(app)).toEqual(['NagTest/Pipeline/crm/crm/EventSourceSwitch/Policy: Annotation::AwsSolutions-IAM5[Resource::*]']);
 */
export const acknowledgedRules = (app: App): string[] =>
  app.node
    .findAll()
    .flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) => Object.keys(entry.data as Record<string, string>).map((rule) => `${construct.node.path}: ${rule}`)),
    )
    .sort();
