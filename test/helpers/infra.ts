import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { parsePipelineConfig, type PipelineConfigInput } from '../../lib/config/pipeline-config.ts';

// The feature flags of cdk.json, so the template under test is the one `cdk synth` produces;
// bundling is skipped (no esbuild run) to keep a synth at a few hundred milliseconds.
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

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
