import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ConsumerEnv } from '../../lib/config/consumer-env.ts';
import { SyncPipelineStack } from '../../lib/infra/index.ts';
import { localstackS3Endpoint, planStandaloneStacks, standaloneStackName } from '../../lib/local/e2e/deploy.ts';
import { MOTO_UNSUPPORTED_TYPES } from '../../lib/local/e2e/moto-gaps.ts';
import {
  attributeFromPhysicalId,
  declaredPhysicalId,
  functionsOf,
  handlerModuleOf,
  leaveOutUnsupported,
  nestedStacksOf,
  referencesOf,
  resolveEnvironment,
  resolveValue,
  stackResolver,
  UnresolvedValueError,
  type CfnTemplate,
  type ValueResolver,
} from '../../lib/local/e2e/template.ts';
import { cdkContext, pipelineTestConfig } from '../helpers/infra.ts';

const env = { partition: 'aws', region: 'us-east-1', account: '123456789012' } as const;

/**
 * The cloud assembly `cdk synth` writes (asset and path metadata on, as the CLI sets them), with
 * bundling skipped: the templates the e2e reads, nested ones as files.
 */
const synthesized = (() => {
  const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-asset-metadata': true, 'aws:cdk:enable-path-metadata': true } });
  new SyncPipelineStack(app, 'test-sync', { config: pipelineTestConfig });
  const { directory } = app.synth();
  const read = (file: string): CfnTemplate => JSON.parse(readFileSync(join(directory, file), 'utf8')) as CfnTemplate;
  return { root: read('test-sync.template.json'), read };
})();

/** The root's resources as the e2e resolves them: physical ids from the names the template declares. */
const rootResolver = (): ValueResolver => {
  const physicalIds = new Map<string, string>();
  for (const [logicalId, resource] of Object.entries(synthesized.root.Resources)) {
    const id = declaredPhysicalId(resource, env);
    if (id !== undefined) physicalIds.set(logicalId, id);
  }
  return stackResolver(synthesized.root, { physicalIds, env });
};

describe('Function: referencesOf', () => {
  it.each([
    [{ Ref: 'Queue' }, ['Queue']],
    [{ Ref: 'AWS::Region' }, []],
    [{ 'Fn::GetAtt': ['Queue', 'Arn'] }, ['Queue']],
    [{ 'Fn::GetAtt': 'Queue.Arn' }, ['Queue']],
    [{ 'Fn::Sub': 'arn:${AWS::Partition}:x:${Table.Arn}/${Own}' }, ['Table', 'Own']],
    [{ 'Fn::Sub': ['${Bucket}/${Key}', { Key: { Ref: 'Other' } }] }, ['Bucket', 'Other']],
    [{ 'Fn::Join': ['', ['a', { Ref: 'A' }, { Nested: [{ 'Fn::GetAtt': ['B', 'Arn'] }] }]] }, ['A', 'B']],
  ])('finds the logical ids %j refers to', (value, expected) => {
    // Act
    const found = referencesOf(value);

    // Assess
    expect([...found].sort()).toEqual([...expected].sort());
  });
});

describe('Function: leaveOutUnsupported', () => {
  it('leaves out the types given and what refers to them, drops their DependsOn entries and outputs, and keeps the rest untouched', () => {
    // Prepare
    const template: CfnTemplate = {
      Resources: {
        Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'q' } },
        Alarm: { Type: 'AWS::CloudWatch::Alarm', Properties: { Dimensions: [{ Value: { 'Fn::GetAtt': ['Queue', 'QueueName'] } }] } },
        AlarmUser: { Type: 'AWS::IAM::Policy', Properties: { Resource: { 'Fn::GetAtt': ['Alarm', 'Arn'] } } },
        Function: { Type: 'AWS::Lambda::Function', Properties: { Role: 'r' }, DependsOn: ['Queue', 'AlarmUser'] },
      },
      Outputs: { QueueUrl: { Value: { Ref: 'Queue' } }, AlarmArn: { Value: { 'Fn::GetAtt': ['Alarm', 'Arn'] } } },
    };
    const copy = structuredClone(template);

    // Act
    const result = leaveOutUnsupported(template, new Map([['AWS::CloudWatch::Alarm', 'no model']]));

    // Assess
    expect(Object.keys(result.template.Resources)).toEqual(['Queue', 'Function']);
    expect(result.template.Resources['Function']!.DependsOn).toEqual(['Queue']);
    expect(result.leftOut).toEqual([
      { logicalId: 'Alarm', type: 'AWS::CloudWatch::Alarm', reason: 'no model' },
      { logicalId: 'AlarmUser', type: 'AWS::IAM::Policy', reason: 'refers to Alarm (AWS::CloudWatch::Alarm), which is left out' },
    ]);
    expect(result.droppedOutputs).toEqual(['AlarmArn']);
    expect(Object.keys(result.template.Outputs!)).toEqual(['QueueUrl']);
    expect(template).toEqual(copy);
  });

  it("leaves out of a synthesized destination template exactly moto's unsupported types and the breaker's switch policy that refers to the event source mapping", () => {
    // Prepare
    const [crm] = nestedStacksOf(synthesized.root);
    const nested = synthesized.read(crm!.templateFile);

    // Act
    const { template, leftOut } = leaveOutUnsupported(nested, MOTO_UNSUPPORTED_TYPES);

    // Assess
    const kept = new Set(Object.values(template.Resources).map((resource) => resource.Type));
    for (const type of MOTO_UNSUPPORTED_TYPES.keys()) expect(kept.has(type)).toBe(false);
    expect([...kept].sort()).toEqual(['AWS::Events::Rule', 'AWS::IAM::Policy', 'AWS::IAM::Role', 'AWS::Lambda::Function', 'AWS::Lambda::Permission', 'AWS::Logs::LogGroup', 'AWS::SQS::Queue']);
    expect(leftOut.filter((left) => left.type === 'AWS::CloudWatch::Alarm')).toHaveLength(8);
    expect(leftOut.filter((left) => left.reason.startsWith('refers to')).map((left) => left.type)).toEqual(['AWS::IAM::Policy']);
    expect(Object.keys(template.Outputs ?? {}).sort()).toEqual(['DeadLetterQueueUrl', 'QueueUrl']);
  });
});

describe('Function: resolveValue', () => {
  const resolver: ValueResolver = {
    ref: (name) => ({ Queue: 'http://127.0.0.1:5000/123456789012/q', 'AWS::Region': 'us-east-1' })[name],
    getAtt: (logicalId, attribute) => (logicalId === 'Queue' && attribute === 'Arn' ? 'arn:aws:sqs:us-east-1:123456789012:q' : undefined),
  };

  it.each([
    ['plain', 'text', 'text'],
    ['Ref', { Ref: 'Queue' }, 'http://127.0.0.1:5000/123456789012/q'],
    ['GetAtt', { 'Fn::GetAtt': ['Queue', 'Arn'] }, 'arn:aws:sqs:us-east-1:123456789012:q'],
    ['Join', { 'Fn::Join': [':', ['a', { Ref: 'AWS::Region' }]] }, 'a:us-east-1'],
    ['Sub', { 'Fn::Sub': ['${Queue.Arn}/${Own}/${AWS::Region}', { Own: 'x' }] }, 'arn:aws:sqs:us-east-1:123456789012:q/x/us-east-1'],
  ])('resolves %s', (_name, value, expected) => {
    // Act
    const resolved = resolveValue(value, resolver, 'TEST');

    // Assess
    expect(resolved).toBe(expected);
  });

  it.each([
    [{ Ref: 'Missing' }, 'Cannot resolve TEST: no value for Ref Missing'],
    [{ 'Fn::GetAtt': ['Queue', 'QueueName'] }, 'Cannot resolve TEST: no value for Fn::GetAtt Queue.QueueName'],
    [{ 'Fn::If': ['c', 'a', 'b'] }, 'Cannot resolve TEST: unsupported intrinsic Fn::If'],
  ])('refuses %j, naming it', (value, message) => {
    // Act & Assess
    expect(() => resolveValue(value, resolver, 'TEST')).toThrow(new UnresolvedValueError(message));
  });
});

describe('Function: attributeFromPhysicalId', () => {
  it.each([
    ['AWS::DynamoDB::Table', 'Arn', 'test-sync-ledger', 'arn:aws:dynamodb:us-east-1:123456789012:table/test-sync-ledger'],
    ['AWS::SQS::Queue', 'Arn', 'https://sqs.us-east-1.amazonaws.com/123456789012/test-sync-crm', 'arn:aws:sqs:us-east-1:123456789012:test-sync-crm'],
    ['AWS::SQS::Queue', 'QueueName', 'http://127.0.0.1:5000/123456789012/test-sync-crm', 'test-sync-crm'],
    ['AWS::Events::EventBus', 'Arn', 'test-sync-changes', 'arn:aws:events:us-east-1:123456789012:event-bus/test-sync-changes'],
    ['AWS::SNS::Topic', 'Arn', 'arn:aws:sns:us-east-1:123456789012:t', 'arn:aws:sns:us-east-1:123456789012:t'],
    ['AWS::IAM::Role', 'Arn', 'r', undefined],
  ])('gives %s %s from the physical id', (type, attribute, physicalId, expected) => {
    // Act & Assess
    expect(attributeFromPhysicalId(type, attribute, physicalId, env)).toBe(expected);
  });
});

describe('Function: planStandaloneStacks', () => {
  it("plans each destination's nested template with its parameters resolved from the root's table, bus and topic, and the dashboards as not deployed", () => {
    // Act
    const plans = planStandaloneStacks({ root: synthesized.root, rootStack: 'test-sync', readTemplate: synthesized.read, rootResolver: rootResolver(), unsupported: MOTO_UNSUPPORTED_TYPES });

    // Assess
    expect(plans.map((plan) => [plan.stackName, plan.notDeployed === undefined])).toEqual([
      ['test-sync-crm', true],
      ['test-sync-erp', true],
      ['test-sync-Page1', false],
    ]);
    expect(Object.values(plans[0]!.parameters).sort()).toEqual([
      'arn:aws:dynamodb:us-east-1:123456789012:table/test-sync-ledger',
      'arn:aws:sns:us-east-1:123456789012:test-sync-alarms',
      'test-sync-changes',
      'test-sync-ledger',
    ]);
    expect(plans[2]!.notDeployed).toMatch(/^Cannot resolve parameter .*Alarms.* no value for Fn::GetAtt .*\.Outputs\./);
  });
});

describe('Function: standaloneStackName', () => {
  it.each([
    ['spe2e/Pipeline/crm.NestedStack/crm.NestedStackResource', 'spe2e-crm'],
    ['spe2e/Pipeline/Dashboards/Page1.NestedStack/Page1.NestedStackResource', 'spe2e-Page1'],
    ['Weird_id', 'spe2e-Weird-id'],
  ])('names the stack of %s', (path, expected) => {
    // Act & Assess
    expect(standaloneStackName('spe2e', { path })).toBe(expected);
  });
});

describe('Function: functionsOf', () => {
  it("finds the consumer's asset and resolves the environment the template gives it against the deployed queues and the stack's parameters", () => {
    // Prepare
    const [plan] = planStandaloneStacks({ root: synthesized.root, rootStack: 'test-sync', readTemplate: synthesized.read, rootResolver: rootResolver(), unsupported: MOTO_UNSUPPORTED_TYPES });
    const queues = Object.entries(plan!.template.Resources).filter(([, resource]) => resource.Type === 'AWS::SQS::Queue');
    const physicalIds = new Map(queues.map(([logicalId, resource]) => [logicalId, `https://sqs.us-east-1.amazonaws.com/123456789012/${String(resource.Properties?.['QueueName'])}`]));

    // Act
    const [fn, ...others] = functionsOf(plan!.template);
    const environment = resolveEnvironment(fn!, stackResolver(plan!.template, { physicalIds, parameters: plan!.parameters, env }));

    // Assess
    expect(others).toEqual([]);
    // Bundling is skipped here, so the asset path is CDK's placeholder; `cdk synth` writes asset.<hash>.
    expect(fn!.assetPath).not.toBe('');
    expect(fn!.handler).toBe('index.handler');
    expect(fn!.timeoutSeconds).toBe(30);
    expect(environment).toMatchObject({
      [ConsumerEnv.LEDGER_TABLE_NAME]: 'test-sync-ledger',
      [ConsumerEnv.QUEUE_URL]: 'https://sqs.us-east-1.amazonaws.com/123456789012/test-sync-crm',
      [ConsumerEnv.QUEUE_ARN]: 'arn:aws:sqs:us-east-1:123456789012:test-sync-crm',
      [ConsumerEnv.DEAD_LETTER_QUEUE_URL]: 'https://sqs.us-east-1.amazonaws.com/123456789012/test-sync-crm-dlq',
      [ConsumerEnv.SERVICE_NAME]: 'test-sync-crm',
    });
    expect(JSON.parse(environment[ConsumerEnv.DESTINATION]!)).toMatchObject({ name: 'crm', resourceTypes: ['contact', 'company'] });
  });

  it.each([
    [['asset.1/index.mjs', 'asset.1/index.js'], 'asset.1/index.mjs'],
    [['asset.1/index.js'], 'asset.1/index.js'],
  ])('finds the bundle the Handler names among %j', (files, expected) => {
    // Act
    const module = handlerModuleOf({ logicalId: 'Fn', handler: 'index.handler' }, 'asset.1', (path) => files.includes(path));

    // Assess
    expect(module).toEqual({ file: expected, exportName: 'handler' });
  });

  it('refuses an asset without the bundle the Handler names, listing the files looked for', () => {
    // Act & Assess
    expect(() => handlerModuleOf({ logicalId: 'Fn', handler: 'index.handler' }, 'asset.1', () => false)).toThrow(
      'The bundle of Fn is not in its asset: none of asset.1/index.mjs, asset.1/index.js, asset.1/index.cjs exists',
    );
  });

  it('refuses a function CDK did not bundle from an asset, naming it', () => {
    // Prepare
    const template: CfnTemplate = { Resources: { Fn: { Type: 'AWS::Lambda::Function', Properties: { Handler: 'index.handler' } } } };

    // Act & Assess
    expect(() => functionsOf(template)).toThrow('Expected the function Fn to carry Metadata "aws:asset:path" (bundled by CDK), got undefined');
  });
});

describe('Function: localstackS3Endpoint', () => {
  it.each([
    ['http://localhost:4566', 'http://s3.localhost.localstack.cloud:4566'],
    ['http://127.0.0.1:4566', 'http://s3.localhost.localstack.cloud:4566'],
    ['https://localstack.internal', 'https://s3.localstack.internal:443'],
  ])('gives cdklocal an S3 endpoint with ".s3." for %s', (endpoint, expected) => {
    // Act & Assess
    expect(localstackS3Endpoint(endpoint)).toBe(expected);
  });
});
