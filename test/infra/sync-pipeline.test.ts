import { fileURLToPath } from 'node:url';
import { type CfnElement, RemovalPolicy } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  destinationConfigDigest,
  loadPipelineConfig,
  parseDestinationConfig,
  parsePipelineConfig,
  readDestinationConfig,
  type PipelineConfig,
  type PipelineConfigInput,
} from '../../lib/config/pipeline-config.ts';
import { ConsumerEnv } from '../../lib/config/consumer-env.ts';
import { isProbeEvent } from '../../lib/config/probe-event.ts';
import { SyncPipelineStack, type SyncPipelineStackProps } from '../../lib/infra/index.ts';
import { newApp, pipelineTemplates, pipelineTestConfig, type PipelineTemplates } from '../helpers/infra.ts';

const config = pipelineTestConfig;

// Expected values are written out, not derived with the code under test.
const destinations = [
  {
    name: 'crm',
    other: 'erp',
    queueName: 'test-sync-crm',
    deadLetterQueueName: 'test-sync-crm-dlq',
    ledgerKeys: 'crm#*',
    resourceTypes: ['contact', 'company'],
    maxReceiveCount: 4,
    functionTimeoutSeconds: 30,
    visibilityTimeoutSeconds: 180,
    batchSize: 10,
    maxBatchingWindowSeconds: undefined,
    maxConcurrency: 5,
    probeRuleName: 'test-sync-crm-probe',
    probeSchedule: 'rate(1 minute)',
    probeIntervalSeconds: 60,
  },
  {
    name: 'erp',
    other: 'crm',
    queueName: 'test-sync-erp',
    deadLetterQueueName: 'test-sync-erp-dlq',
    ledgerKeys: 'erp#*',
    resourceTypes: ['order'],
    maxReceiveCount: 9,
    functionTimeoutSeconds: 60,
    visibilityTimeoutSeconds: 360,
    batchSize: 50,
    maxBatchingWindowSeconds: 5,
    maxConcurrency: 12,
    probeRuleName: 'test-sync-erp-probe',
    probeSchedule: 'rate(3 minutes)',
    probeIntervalSeconds: 180,
  },
] as const;
type ExpectedDestination = (typeof destinations)[number];

const SEVEN_DAYS_SECONDS = 604_800;
const FOURTEEN_DAYS_SECONDS = 1_209_600;
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

type Resource = { Type: string; Properties?: Record<string, any>; DeletionPolicy?: string; UpdateReplacePolicy?: string };
type TemplateJson = {
  Description?: unknown;
  Parameters?: Record<string, unknown>;
  Outputs?: Record<string, { Description?: unknown; Value: unknown }>;
  Resources: Record<string, Resource>;
};

/** The logical id of the one resource of `type` whose properties match `properties`. */
const logicalIdOf = (template: Template, type: string, properties: Record<string, unknown>): string => {
  const ids = Object.keys(template.findResources(type, { Properties: properties }));
  expect(ids, `${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return ids[0] as string;
};

const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

/** The ARN of an event source mapping, as `EventSourceMapping.eventSourceMappingArn` builds it. */
const eventSourceMappingArnOf = (logicalId: string) => ({
  'Fn::Join': [
    '',
    ['arn:', { Ref: 'AWS::Partition' }, ':lambda:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':event-source-mapping:', { Ref: logicalId }],
  ],
});

/**
 * The name of the one template parameter through which a nested stack receives a root resource's
 * attribute (CDK names it `referenceto<path><hash><attribute>`), e.g. `('LedgerTable', 'Arn')`.
 */
const parameterFor = (template: Template, resource: string, attribute: 'Arn' | 'Ref'): string => {
  const names = Object.keys((template.toJSON() as TemplateJson).Parameters ?? {}).filter(
    (name) => name.includes(resource) && name.endsWith(attribute),
  );
  expect(names, `parameters for ${resource} ${attribute}`).toHaveLength(1);
  return names[0] as string;
};

type PolicyStatementJson = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

/** Every statement of every IAM policy attached to the role `roleId`. */
const statementsOfRole = (template: Template, roleId: string): PolicyStatementJson[] =>
  Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } })).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as PolicyStatementJson[],
  );

/** Every statement of every IAM policy in `template`. */
const allStatements = (template: Template): PolicyStatementJson[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatementJson[]);

const actionsOf = (statement: PolicyStatementJson): string[] => [statement.Action].flat();

/** Asserts that one policy attached to the role `roleId` holds exactly `statements`, in order. */
const expectPolicyOfRole = (template: Template, roleId: string, statements: readonly PolicyStatementJson[]): void =>
  template.hasResourceProperties('AWS::IAM::Policy', {
    Roles: [{ Ref: roleId }],
    PolicyDocument: { Version: '2012-10-17', Statement: [...statements] },
  });

/** The logical ids of one destination's resources in its nested stack, found by their names. */
const destinationIds = (template: Template, queueName: string) => {
  const queue = logicalIdOf(template, 'AWS::SQS::Queue', { QueueName: queueName });
  const deadLetterQueue = logicalIdOf(template, 'AWS::SQS::Queue', { QueueName: `${queueName}-dlq` });
  const consumer = logicalIdOf(template, 'AWS::Lambda::Function', {});
  const properties = template.findResources('AWS::Lambda::Function')[consumer]?.Properties;
  return {
    queue,
    deadLetterQueue,
    consumer,
    role: properties.Role['Fn::GetAtt'][0] as string,
    logGroup: properties.LoggingConfig.LogGroup.Ref as string,
  };
};

/** A stack of `config`, synthesized like `cdk synth` does (bundling skipped), and its templates. */
const synthesize = (pipelineConfig: PipelineConfig, props: Partial<SyncPipelineStackProps> = {}, id = 'TestSync') => {
  const stack = new SyncPipelineStack(newApp(), id, { ...props, config: pipelineConfig });
  return { stack, templates: pipelineTemplates(stack) };
};

/** A destination with only the required fields. */
const minimalDestination = (name: string, more: Record<string, unknown> = {}) => ({
  name,
  kind: 'http' as const,
  baseUrl: `https://${name}.example.com`,
  resourceTypes: [`${name}-record`],
  ...more,
});

describe('Construct: SyncPipeline', () => {
  let templates: PipelineTemplates;
  let root: Template;
  const destination = (name: string): Template => templates.destination(name);
  const ids = {
    table: '',
    bus: '',
    topic: '',
    nestedStack: new Map<string, string>(),
    queue: new Map<string, string>(),
    deadLetterQueue: new Map<string, string>(),
    consumer: new Map<string, string>(),
    role: new Map<string, string>(),
    logGroup: new Map<string, string>(),
    rule: new Map<string, string>(),
    eventSourceMapping: new Map<string, string>(),
    probeRule: new Map<string, string>(),
  };

  beforeAll(() => {
    const { stack, templates: synthesized } = synthesize(config);
    templates = synthesized;
    root = templates.root;

    ids.table = logicalIdOf(root, 'AWS::DynamoDB::Table', { TableName: 'test-sync-ledger' });
    ids.bus = logicalIdOf(root, 'AWS::Events::EventBus', { Name: 'test-sync-changes' });
    ids.topic = logicalIdOf(root, 'AWS::SNS::Topic', { TopicName: 'test-sync-alarms' });
    for (const d of destinations) {
      const template = destination(d.name);
      const nested = stack.pipeline.destinations.get(d.name)?.stack.nestedStackResource as CfnElement;
      ids.nestedStack.set(d.name, stack.getLogicalId(nested));
      const found = destinationIds(template, d.queueName);
      ids.queue.set(d.name, found.queue);
      ids.deadLetterQueue.set(d.name, found.deadLetterQueue);
      ids.consumer.set(d.name, found.consumer);
      ids.role.set(d.name, found.role);
      ids.logGroup.set(d.name, found.logGroup);
      ids.rule.set(d.name, logicalIdOf(template, 'AWS::Events::Rule', { EventPattern: Match.objectLike({ detail: { resourceType: [...d.resourceTypes] } }) }));
      ids.eventSourceMapping.set(d.name, logicalIdOf(template, 'AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: found.consumer } }));
      ids.probeRule.set(d.name, logicalIdOf(template, 'AWS::Events::Rule', { Name: d.probeRuleName }));
    }
  });

  it('keeps the table, the bus and the alarm topic in the root stack, with one nested stack per destination and one dashboard page', () => {
    // Assess
    root.resourceCountIs('AWS::DynamoDB::Table', 1);
    root.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    root.resourceCountIs('AWS::Events::EventBus', 1);
    root.resourceCountIs('AWS::SNS::Topic', 1);
    root.resourceCountIs('AWS::CloudFormation::Stack', 3);
    for (const type of ['AWS::SQS::Queue', 'AWS::Lambda::Function', 'AWS::Events::Rule', 'AWS::IAM::Role', 'AWS::IAM::Policy', 'AWS::CloudWatch::Alarm']) {
      root.resourceCountIs(type, 0);
    }
  });

  it.each(destinations)('creates in the $name nested stack two queues, a function, a routing rule, a probe rule and eight alarms', (d: ExpectedDestination) => {
    // Prepare
    const template = destination(d.name);

    // Assess
    template.resourceCountIs('AWS::SQS::Queue', 2);
    template.resourceCountIs('AWS::Lambda::Function', 1);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.resourceCountIs('AWS::Events::Rule', 2);
    template.resourceCountIs('AWS::Logs::LogGroup', 1);
    template.resourceCountIs('AWS::IAM::Role', 1);
    // Its role's default policy and the policy switching its event source.
    template.resourceCountIs('AWS::IAM::Policy', 2);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 8);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    template.resourceCountIs('AWS::Events::EventBus', 0);
    template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  it.each(destinations)('passes the $name nested stack the table ARN and name, the bus and the alarm topic of the root stack', (d: ExpectedDestination) => {
    // Prepare
    const template = destination(d.name);
    const nestedStack = root.findResources('AWS::CloudFormation::Stack')[ids.nestedStack.get(d.name) as string];

    // Assess: exactly these four, each from the root resource it names.
    expect(nestedStack?.Properties.Parameters).toEqual({
      [parameterFor(template, 'LedgerTable', 'Arn')]: arnOf(ids.table),
      [parameterFor(template, 'LedgerTable', 'Ref')]: { Ref: ids.table },
      [parameterFor(template, 'EventBus', 'Ref')]: { Ref: ids.bus },
      [parameterFor(template, 'AlarmTopic', 'Ref')]: { Ref: ids.topic },
    });
    expect(Object.keys((template.toJSON() as TemplateJson).Parameters ?? {})).toHaveLength(4);
  });

  it('creates the ledger table billed per request, with TTL, point-in-time recovery, deletion protection and encryption, retained', () => {
    // Assess
    root.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        TableName: 'test-sync-ledger',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('creates the event bus under its configured name', () => {
    // Assess
    root.hasResourceProperties('AWS::Events::EventBus', { Name: 'test-sync-changes' });
  });

  it.each(destinations)('creates the $name queue redriving to its own DLQ after maxReceiveCount, keeping messages 7 days, not retained', (d: ExpectedDestination) => {
    // Assess
    destination(d.name).hasResource('AWS::SQS::Queue', {
      Properties: {
        QueueName: d.queueName,
        RedrivePolicy: {
          deadLetterTargetArn: arnOf(ids.deadLetterQueue.get(d.name) as string),
          maxReceiveCount: d.maxReceiveCount,
        },
        // 6x the function timeout, so a batch in flight is not redelivered to a second consumer.
        VisibilityTimeout: d.visibilityTimeoutSeconds,
        // retentionDays defaults to 7.
        MessageRetentionPeriod: SEVEN_DAYS_SECONDS,
        SqsManagedSseEnabled: true,
        KmsMasterKeyId: Match.absent(),
      },
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
  });

  it.each(destinations)('creates the $name DLQ keeping messages 14 days, encrypted, retained', (d: ExpectedDestination) => {
    // Assess
    destination(d.name).hasResource('AWS::SQS::Queue', {
      Properties: {
        QueueName: d.deadLetterQueueName,
        MessageRetentionPeriod: FOURTEEN_DAYS_SECONDS,
        SqsManagedSseEnabled: true,
        KmsMasterKeyId: Match.absent(),
        RedrivePolicy: Match.absent(),
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it.each(destinations.flatMap((d) => [[d.name, d.queueName], [d.name, d.deadLetterQueueName]]))(
    'creates a policy on the %s queue %s denying requests without TLS',
    (name: string, queueName: string) => {
      // Prepare
      const template = destination(name);
      const queueId = logicalIdOf(template, 'AWS::SQS::Queue', { QueueName: queueName });

      // Assess
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queueId }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Resource: arnOf(queueId),
            },
          ]),
        },
      });
    },
  );

  it.each(destinations)('creates the $name consumer on nodejs24.x arm64 with the timeout from config', (d: ExpectedDestination) => {
    // Assess
    destination(d.name).hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 512,
      Timeout: d.functionTimeoutSeconds,
      Role: arnOf(ids.role.get(d.name) as string),
      LoggingConfig: { LogGroup: { Ref: ids.logGroup.get(d.name) } },
      Environment: { Variables: Match.objectLike({ [ConsumerEnv.SERVICE_NAME]: `test-sync-${d.name}` }) },
    });
    destination(d.name).hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it.each(destinations)('creates the $name consumer with every variable the handler reads', (d: ExpectedDestination) => {
    // Prepare
    const template = destination(d.name);
    const variables = template.findResources('AWS::Lambda::Function')[ids.consumer.get(d.name)!]?.Properties.Environment.Variables;
    const expected = config.destinations.find((candidate) => candidate.name === d.name)!;

    // Act: what the handler reads at cold start, and what validating the same text gives
    const parsed = parseDestinationConfig(JSON.parse(variables[ConsumerEnv.DESTINATION]));
    const read = readDestinationConfig(variables[ConsumerEnv.DESTINATION], variables[ConsumerEnv.DESTINATION_SHA256]);

    // Assess
    const { horizonMinutes: _parsedHorizon, ...parsedRetry } = parsed.retry;
    const { horizonMinutes: _configuredHorizon, ...expectedRetry } = expected.retry;
    expect({ ...parsed, retry: parsedRetry }).toEqual({ ...expected, retry: expectedRetry });
    expect(read).toEqual(parsed);
    expect(variables).toEqual({
      [ConsumerEnv.DESTINATION]: expect.any(String),
      // The text synth validated: the handler reads it without validating it again.
      [ConsumerEnv.DESTINATION_SHA256]: destinationConfigDigest(variables[ConsumerEnv.DESTINATION]),
      // The root stack's table, through the nested stack's parameter (see the wiring test).
      [ConsumerEnv.LEDGER_TABLE_NAME]: { Ref: parameterFor(template, 'LedgerTable', 'Ref') },
      [ConsumerEnv.QUEUE_URL]: { Ref: ids.queue.get(d.name) },
      [ConsumerEnv.QUEUE_ARN]: arnOf(ids.queue.get(d.name) as string),
      [ConsumerEnv.DEAD_LETTER_QUEUE_URL]: { Ref: ids.deadLetterQueue.get(d.name) },
      [ConsumerEnv.METRICS_NAMESPACE]: 'TestSync',
      [ConsumerEnv.SERVICE_NAME]: `test-sync-${d.name}`,
      [ConsumerEnv.LOG_LEVEL]: 'DEBUG',
      NODE_OPTIONS: '--enable-source-maps',
    });
  });

  it('gives the Lambda entry point an environment it starts with', async () => {
    // Prepare: the synthesized variables, with CloudFormation references replaced by sample values
    const variables = destination('crm').findResources('AWS::Lambda::Function')[ids.consumer.get('crm')!]?.Properties.Environment
      .Variables as Record<string, unknown>;
    const saved = { ...process.env };
    for (const [name, value] of Object.entries(variables)) {
      process.env[name] = typeof value === 'string' ? value : `https://sqs.us-east-1.amazonaws.com/000000000000/${name.toLowerCase()}`;
    }
    process.env.AWS_REGION = 'us-east-1';
    // Set by the Lambda runtime itself, not by the template.
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'sync-pipeline-crm-consumer';

    // Act
    try {
      const module = (await import('../../lambdas/consumer/handler.ts')) as { handler: unknown };

      // Assess
      expect(typeof module.handler).toBe('function');
    } finally {
      process.env = saved;
    }
  });

  it.each(destinations)(
    'creates the $name event source with batch size, window, concurrency and partial batch responses',
    (d: ExpectedDestination) => {
      // Assess
      destination(d.name).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: arnOf(ids.queue.get(d.name) as string),
        FunctionName: { Ref: ids.consumer.get(d.name) },
        BatchSize: d.batchSize,
        MaximumBatchingWindowInSeconds: d.maxBatchingWindowSeconds ?? Match.absent(),
        ScalingConfig: { MaximumConcurrency: d.maxConcurrency },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    },
  );

  it.each(destinations)(
    'creates the $name role allowed only its log group, GetItem/BatchGetItem/UpdateItem on its own ledger keys, its own queues and its own event source',
    (d: ExpectedDestination) => {
      // Prepare
      const template = destination(d.name);
      const roleId = ids.role.get(d.name) as string;
      const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });

      // Assess: the whole of both policies, so any extra action, resource or condition fails the test.
      expect(Object.keys(policies)).toHaveLength(2);
      expectPolicyOfRole(template, roleId, [
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: arnOf(ids.logGroup.get(d.name) as string),
        },
        {
          Effect: 'Allow',
          Action: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
          Resource: { Ref: parameterFor(template, 'LedgerTable', 'Arn') },
          // Every key of this destination starts with `<destination>#`: no item of another one.
          Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [d.ledgerKeys] } },
        },
        {
          Effect: 'Allow',
          Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
          Resource: arnOf(ids.deadLetterQueue.get(d.name) as string),
        },
        {
          Effect: 'Allow',
          Action: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'],
          Resource: arnOf(ids.queue.get(d.name) as string),
        },
      ]);
      expectPolicyOfRole(template, roleId, [
        {
          Effect: 'Allow',
          Action: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
          Resource: eventSourceMappingArnOf(ids.eventSourceMapping.get(d.name) as string),
        },
        // ListEventSourceMappings has no resource-level permission: IAM accepts only "*".
        { Effect: 'Allow', Action: 'lambda:ListEventSourceMappings', Resource: '*' },
      ]);
      const policyText = JSON.stringify(Object.values(policies));
      expect(policyText).not.toContain(ids.deadLetterQueue.get(d.other));
      expect(policyText).not.toContain(ids.queue.get(d.other));
      expect(policyText).not.toContain(`${d.other}#`);
      // No KMS without a kmsKeyArn: SQS-managed and AWS-managed encryption need no key grant.
      expect(policyText).not.toContain('kms:');
      // No AWSLambdaBasicExecutionRole: it would allow writing to any log group.
      expect(template.findResources('AWS::IAM::Role')[roleId]?.Properties).not.toHaveProperty('ManagedPolicyArns');
    },
  );

  it.each(destinations)('creates the $name rule routing its resource types to its queue as the bare change event', (d: ExpectedDestination) => {
    // Prepare
    const template = destination(d.name);

    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      // The root stack's bus, through the nested stack's parameter.
      EventBusName: { Ref: parameterFor(template, 'EventBus', 'Ref') },
      EventPattern: { detail: { resourceType: [...d.resourceTypes] } },
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: arnOf(ids.queue.get(d.name) as string),
          InputPath: '$.detail',
          // Events EventBridge cannot deliver within a day land in the DLQ, not nowhere.
          DeadLetterConfig: { Arn: arnOf(ids.deadLetterQueue.get(d.name) as string) },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: ids.deadLetterQueue.get(d.name) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: arnOf(ids.deadLetterQueue.get(d.name) as string),
          }),
        ]),
      },
    });
    // EventBridge may send to the queue for this rule only.
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: ids.queue.get(d.name) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: Match.arrayWith(['sqs:SendMessage']),
            Condition: { ArnEquals: { 'aws:SourceArn': arnOf(ids.rule.get(d.name) as string) } },
            Resource: arnOf(ids.queue.get(d.name) as string),
          }),
        ]),
      },
    });
  });

  it.each(destinations)('lets the $name consumer update its own event source mapping and no other', (d: ExpectedDestination) => {
    // Prepare
    const statements = statementsOfRole(destination(d.name), ids.role.get(d.name) as string);
    const switching = statements.filter((statement) =>
      actionsOf(statement).some((action) => action === 'lambda:UpdateEventSourceMapping' || action === 'lambda:GetEventSourceMapping'),
    );

    // Assess: one statement, on this mapping's ARN; no wildcard action or resource could reach another.
    expect(switching).toEqual([
      {
        Effect: 'Allow',
        Action: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
        Resource: eventSourceMappingArnOf(ids.eventSourceMapping.get(d.name) as string),
      },
    ]);
    for (const statement of statements) {
      expect(actionsOf(statement).filter((action) => action.includes('*'))).toEqual([]);
      if (statement.Resource === '*') expect(actionsOf(statement)).toEqual(['lambda:ListEventSourceMappings']);
    }
    expect(JSON.stringify(statements)).not.toContain(ids.eventSourceMapping.get(d.other));
  });

  it.each(destinations)('creates the $name consumer without depending on the policy that names its event source mapping', (d: ExpectedDestination) => {
    // Prepare
    const template = destination(d.name);
    const consumer = template.findResources('AWS::Lambda::Function')[ids.consumer.get(d.name) as string];
    const [switchPolicyId] = Object.keys(
      template.findResources('AWS::IAM::Policy', {
        Properties: { PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'lambda:ListEventSourceMappings' })]) }, Roles: [{ Ref: ids.role.get(d.name) }] },
      }),
    );

    // Assess: the mapping depends on the function, so a dependency back would be a cycle.
    expect(switchPolicyId).toBeDefined();
    expect(consumer?.DependsOn ?? []).not.toContain(switchPolicyId);
  });

  it.each(destinations)(
    'creates the $name probe rule invoking its consumer with the probe event every $probeSchedule',
    (d: ExpectedDestination) => {
      // Prepare
      const template = destination(d.name);
      const rule = template.findResources('AWS::Events::Rule')[ids.probeRule.get(d.name) as string];
      const input = rule?.Properties.Targets[0].Input as string;

      // Assess
      template.hasResourceProperties('AWS::Events::Rule', {
        Name: d.probeRuleName,
        ScheduleExpression: d.probeSchedule,
        State: 'ENABLED',
        // Schedules run on the default bus only.
        EventBusName: Match.absent(),
        Targets: [
          {
            Id: Match.anyValue(),
            Arn: arnOf(ids.consumer.get(d.name) as string),
            Input: '{"sync-pipeline":"probe"}',
            // A probe the next one has replaced is not delivered.
            RetryPolicy: { MaximumEventAgeInSeconds: d.probeIntervalSeconds },
          },
        ],
      });
      expect(isProbeEvent(JSON.parse(input))).toBe(true);
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: arnOf(ids.consumer.get(d.name) as string),
        Principal: 'events.amazonaws.com',
        SourceArn: arnOf(ids.probeRule.get(d.name) as string),
      });
      // The next scheduled probe is the retry of a failed one, not Lambda's own retries.
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: ids.consumer.get(d.name) },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: d.probeIntervalSeconds,
      });
    },
  );

  it('creates the probe rule of the longest names the config allows within the 64 characters EventBridge takes', () => {
    // Prepare
    const longest = parsePipelineConfig({
      name: 'p'.repeat(30),
      destinations: [{ name: 'd'.repeat(27), kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'] }],
    });

    // Act
    const { templates: longestTemplates } = synthesize(longest, {}, 'Longest');

    // Assess
    const ruleName = `${'p'.repeat(30)}-${'d'.repeat(27)}-probe`;
    expect(ruleName).toHaveLength(64);
    longestTemplates.destination('d'.repeat(27)).hasResourceProperties('AWS::Events::Rule', { Name: ruleName });
  });

  it('creates root outputs for the bus, its archive, the table, the alarm topic and the first dashboard, and no others', () => {
    // Prepare: the dashboard page's stack, and its output naming the dashboard
    const page = templates.dashboards[0] as Template;
    const dashboardId = logicalIdOf(page, 'AWS::CloudWatch::Dashboard', {});
    const pageOutputs = Object.entries((page.toJSON() as TemplateJson).Outputs ?? {}).filter(([, output]) => JSON.stringify(output.Value) === JSON.stringify({ Ref: dashboardId }));
    expect(pageOutputs).toHaveLength(1);
    const pageStackIds = Object.keys(root.findResources('AWS::CloudFormation::Stack')).filter((id) => ![...ids.nestedStack.values()].includes(id));
    expect(pageStackIds).toHaveLength(1);

    // Assess
    expect(Object.keys((root.toJSON() as TemplateJson).Outputs ?? {}).sort()).toEqual(['AlarmTopicArn', 'DashboardName', 'EventArchiveName', 'EventBusName', 'LedgerTableName']);
    root.hasOutput('EventBusName', { Value: { Ref: ids.bus } });
    root.hasOutput('EventArchiveName', { Value: { Ref: logicalIdOf(root, 'AWS::Events::Archive', { ArchiveName: 'test-sync-changes-archive' }) } });
    root.hasOutput('LedgerTableName', { Value: { Ref: ids.table } });
    root.hasOutput('AlarmTopicArn', { Value: { Ref: ids.topic } });
    root.hasOutput('DashboardName', { Value: { 'Fn::GetAtt': [pageStackIds[0], `Outputs.${pageOutputs[0]![0]}`] } });
  });

  it.each(destinations)('creates outputs for the $name queue and DLQ in its nested stack', (d: ExpectedDestination) => {
    // Prepare
    const template = destination(d.name);

    // Assess
    template.hasOutput('QueueUrl', { Description: `Queue of destination ${d.name}`, Value: { Ref: ids.queue.get(d.name) } });
    template.hasOutput('DeadLetterQueueUrl', {
      Description: `Dead-letter queue of destination ${d.name}`,
      Value: { Ref: ids.deadLetterQueue.get(d.name) },
    });
  });
});

describe('Construct: SyncPipeline retention and removal', () => {
  // crm keeps changes 3 days, erp the 13 days allowed at most, misc the default 7.
  const retentionConfigInput = {
    name: 'ret-test',
    destinations: [
      minimalDestination('crm', { retentionDays: 3, retry: { maxReceiveCount: 4 } }),
      minimalDestination('erp', { retentionDays: 13 }),
      minimalDestination('misc'),
    ],
  };
  const retentionConfig = parsePipelineConfig(retentionConfigInput);
  let templates: PipelineTemplates;

  beforeAll(() => {
    templates = synthesize(retentionConfig).templates;
  });

  it.each([
    ['crm', 'ret-test-crm', 259_200],
    ['erp', 'ret-test-erp', 1_123_200],
    ['misc', 'ret-test-misc', SEVEN_DAYS_SECONDS],
  ])('keeps messages in the %s queue %s for retentionDays (%i s) and in its DLQ 14 days', (name, queueName, retentionSeconds) => {
    // Assess
    const template = templates.destination(name);
    template.hasResourceProperties('AWS::SQS::Queue', { QueueName: queueName, MessageRetentionPeriod: retentionSeconds });
    template.hasResourceProperties('AWS::SQS::Queue', { QueueName: `${queueName}-dlq`, MessageRetentionPeriod: FOURTEEN_DAYS_SECONDS });
  });

  it('warns at synth when the table is to be destroyed but its deletion protection would make the stack deletion fail', () => {
    // Act
    const { stack: protectedTable } = synthesize(retentionConfig, { removalPolicy: RemovalPolicy.DESTROY }, 'Protected');
    const { stack: unprotected } = synthesize(parsePipelineConfig({ ...retentionConfigInput, ledger: { deletionProtection: false } }), { removalPolicy: RemovalPolicy.DESTROY }, 'Unprotected');
    const { stack: retained } = synthesize(retentionConfig, {}, 'Retained');

    // Assess
    const warnings = (stack: SyncPipelineStack) =>
      Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('ledger.deletionProtection is on: deleting the stack will fail on the table')).length;
    expect([warnings(protectedTable), warnings(unprotected), warnings(retained)]).toEqual([1, 0, 0]);
  });

  it('deletes the table and the DLQs with the stack when removalPolicy says DESTROY, and never retains the source queue', () => {
    // Act
    const { templates: destroyed } = synthesize(retentionConfig, { removalPolicy: RemovalPolicy.DESTROY });

    // Assess
    destroyed.root.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    for (const name of ['crm', 'erp', 'misc']) {
      const queues = Object.values(destroyed.destination(name).findResources('AWS::SQS::Queue')) as Resource[];
      expect(queues).toHaveLength(2);
      for (const queue of queues) {
        expect({ name: queue.Properties?.QueueName, deletion: queue.DeletionPolicy, replace: queue.UpdateReplacePolicy }).toEqual({
          name: expect.stringMatching(new RegExp(`^ret-test-${name}(-dlq)?$`)),
          deletion: 'Delete',
          replace: 'Delete',
        });
      }
    }
  });
});

describe('Construct: SyncPipeline ledger protection', () => {
  it.each([
    [{ pointInTimeRecovery: false }, false, true],
    [{ deletionProtection: false }, true, false],
    [{ pointInTimeRecovery: false, deletionProtection: false }, false, false],
    [{ pointInTimeRecovery: true, deletionProtection: true }, true, true],
  ])('creates the table from ledger %j with point-in-time recovery %s and deletion protection %s', (ledger, pointInTime, deletionProtection) => {
    // Prepare
    const ledgerConfig = parsePipelineConfig({ name: 'ledger-test', ledger, destinations: [minimalDestination('crm')] });

    // Act
    const { templates } = synthesize(ledgerConfig);

    // Assess
    templates.root.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'ledger-test-ledger',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: pointInTime },
      DeletionProtectionEnabled: deletionProtection,
    });
  });
});

describe('Construct: SyncPipeline with a customer-managed KMS key', () => {
  const kmsConfigInput = {
    name: 'kms-test',
    kmsKeyArn: KEY_ARN,
    destinations: [minimalDestination('crm'), minimalDestination('erp')],
  } satisfies PipelineConfigInput;
  let templates: PipelineTemplates;

  beforeAll(() => {
    templates = synthesize(parsePipelineConfig(kmsConfigInput)).templates;
  });

  it.each([
    ['crm', 'kms-test-crm'],
    ['crm', 'kms-test-crm-dlq'],
    ['erp', 'kms-test-erp'],
    ['erp', 'kms-test-erp-dlq'],
  ])('encrypts the %s queue %s with the key', (name, queueName) => {
    // Assess
    templates.destination(name).hasResourceProperties('AWS::SQS::Queue', {
      QueueName: queueName,
      KmsMasterKeyId: KEY_ARN,
      SqsManagedSseEnabled: Match.absent(),
    });
  });

  it('encrypts the ledger table and the alarm topic with the key, creating no key of its own', () => {
    // Assess
    templates.root.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'kms-test-ledger',
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: KEY_ARN },
    });
    templates.root.hasResourceProperties('AWS::SNS::Topic', { TopicName: 'kms-test-alarms', KmsMasterKeyId: KEY_ARN });
    for (const template of [templates.root, templates.destination('crm'), templates.destination('erp'), ...templates.dashboards]) {
      template.resourceCountIs('AWS::KMS::Key', 0);
    }
  });

  it.each([
    ['crm', 'kms-test-crm', 'crm#*'],
    ['erp', 'kms-test-erp', 'erp#*'],
  ])('lets the %s consumer use the key, and no other key', (name, queueName, ledgerKeys) => {
    // Prepare
    const template = templates.destination(name);
    const found = destinationIds(template, queueName);

    // Assess: the whole default policy, with one statement on the key added.
    expectPolicyOfRole(template, found.role, [
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: arnOf(found.logGroup) },
      {
        Effect: 'Allow',
        Action: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
        Resource: { Ref: parameterFor(template, 'LedgerTable', 'Arn') },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [ledgerKeys] } },
      },
      { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'], Resource: KEY_ARN },
      { Effect: 'Allow', Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: arnOf(found.deadLetterQueue) },
      {
        Effect: 'Allow',
        Action: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'],
        Resource: arnOf(found.queue),
      },
    ]);
    const kmsStatements = statementsOfRole(template, found.role).filter((statement) => actionsOf(statement).some((action) => action.startsWith('kms:')));
    expect(kmsStatements.map((statement) => statement.Resource)).toEqual([KEY_ARN]);
  });

  it('grants no KMS action anywhere without a kmsKeyArn', () => {
    // Prepare
    const { kmsKeyArn: _none, ...withoutKey } = kmsConfigInput;

    // Act
    const { templates: plain } = synthesize(parsePipelineConfig(withoutKey));

    // Assess
    const all = [plain.root, plain.destination('crm'), plain.destination('erp'), ...plain.dashboards];
    expect(all.flatMap(allStatements).flatMap(actionsOf).filter((action) => action.startsWith('kms:'))).toEqual([]);
    for (const name of ['crm', 'erp']) {
      for (const queueName of [`kms-test-${name}`, `kms-test-${name}-dlq`]) {
        plain.destination(name).hasResourceProperties('AWS::SQS::Queue', { QueueName: queueName, SqsManagedSseEnabled: true, KmsMasterKeyId: Match.absent() });
      }
    }
    plain.root.hasResourceProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true, SSEType: Match.absent(), KMSMasterKeyId: Match.absent() } });
    plain.root.hasResourceProperties('AWS::SNS::Topic', { TopicName: 'kms-test-alarms', KmsMasterKeyId: Match.absent() });
  });
});

describe('Construct: SyncPipeline descriptions', () => {
  // The limits AWS documents for each description, written out.
  const limitOfResourceDescription: Record<string, number> = {
    'AWS::IAM::Role': 1000,
    'AWS::Lambda::Function': 256,
    'AWS::Events::Rule': 512,
    'AWS::Events::Archive': 512,
  };
  const ALARM_DESCRIPTION_LIMIT = 1024;
  const TEMPLATE_DESCRIPTION_LIMIT = 1024;
  const OUTPUT_DESCRIPTION_LIMIT = 1024;

  /** Every description in `template` longer than its limit, or not a plain string, as readable lines. */
  const descriptionProblems = (label: string, template: Template): string[] => {
    const json = template.toJSON() as TemplateJson;
    const problems: string[] = [];
    const check = (where: string, value: unknown, limit: number): void => {
      if (typeof value !== 'string') problems.push(`${label} ${where}: not a string: ${JSON.stringify(value)}`);
      else if (value.length > limit) problems.push(`${label} ${where}: ${value.length} characters, limit ${limit}`);
    };
    if (json.Description !== undefined) check('template Description', json.Description, TEMPLATE_DESCRIPTION_LIMIT);
    for (const [key, output] of Object.entries(json.Outputs ?? {})) {
      if (output.Description !== undefined) check(`output ${key}`, output.Description, OUTPUT_DESCRIPTION_LIMIT);
    }
    for (const [id, resource] of Object.entries(json.Resources)) {
      const properties = resource.Properties ?? {};
      if (properties.AlarmDescription !== undefined) check(`${id} AlarmDescription`, properties.AlarmDescription, ALARM_DESCRIPTION_LIMIT);
      if (properties.Description === undefined) continue;
      const limit = limitOfResourceDescription[resource.Type];
      if (limit === undefined) problems.push(`${label} ${id}: a Description on ${resource.Type}, whose limit this test does not know`);
      else check(`${id} Description`, properties.Description, limit);
    }
    return problems;
  };

  // The longest names the config allows: 30 + 27 = 57.
  const pipelineName = `long-${'n'.repeat(25)}`;
  const destinationName = `dest-${'d'.repeat(22)}`;
  const resourceTypes = (count: number): string[] =>
    Array.from({ length: count }, (_, index) => `Type${String.fromCharCode(65 + index)}${'x'.repeat(59)}`);

  it.each([4, 10])('synthesizes the longest names with %i resource types of 64 characters, every description within its limit', (count) => {
    // Prepare
    expect(pipelineName).toHaveLength(30);
    expect(destinationName).toHaveLength(27);
    expect(resourceTypes(count).every((type) => type.length === 64)).toBe(true);
    const longConfig = parsePipelineConfig({
      name: pipelineName,
      destinations: [minimalDestination(destinationName, { resourceTypes: resourceTypes(count) }), minimalDestination('crm')],
    });
    const rootDescription = `sync-pipeline ${pipelineName}: 2 destinations, one nested stack each`;

    // Act
    let templates: PipelineTemplates | undefined;
    expect(() => {
      templates = synthesize(longConfig, { description: rootDescription }, 'LongNames').templates;
    }).not.toThrow();

    // Assess
    const all: Array<[string, Template]> = [
      ['root', templates!.root],
      [destinationName, templates!.destination(destinationName)],
      ['crm', templates!.destination('crm')],
      ...templates!.dashboards.map((dashboard, index): [string, Template] => [`dashboard ${index + 1}`, dashboard]),
    ];
    expect(all.flatMap(([label, template]) => descriptionProblems(label, template))).toEqual([]);
    // The checks above had descriptions to check: every template has one, and each kind is present.
    expect(all.map(([, template]) => typeof (template.toJSON() as TemplateJson).Description)).toEqual(['string', 'string', 'string', 'string']);
    expect((templates!.root.toJSON() as TemplateJson).Description).toBe(rootDescription);
    expect((templates!.destination(destinationName).toJSON() as TemplateJson).Description).toBe(`sync-pipeline ${pipelineName}: destination ${destinationName}`);
    const long = templates!.destination(destinationName);
    long.resourceCountIs('AWS::CloudWatch::Alarm', 8);
    // The function's description names every resource type: far beyond 256, so cut to fit.
    const [functionDescription] = Object.values(long.findResources('AWS::Lambda::Function')).map((fn) => fn.Properties.Description as string);
    expect(functionDescription).toHaveLength(256);
    expect(functionDescription?.startsWith(`Delivers ${resourceTypes(count)[0]}, `)).toBe(true);
    expect(functionDescription?.endsWith('...')).toBe(true);
  });
});

describe('Construct: SyncPipeline in two regions', () => {
  /** Properties naming a resource explicitly, by resource type, and whether the name is one per account or per region. */
  const NAME_PROPERTIES: Record<string, { readonly property: string; readonly scope: 'account' | 'region' } | null> = {
    // One namespace per account, across regions.
    'AWS::CloudWatch::Dashboard': { property: 'DashboardName', scope: 'account' },
    'AWS::IAM::Role': { property: 'RoleName', scope: 'account' },
    'AWS::IAM::ManagedPolicy': { property: 'ManagedPolicyName', scope: 'account' },
    'AWS::IAM::User': { property: 'UserName', scope: 'account' },
    'AWS::IAM::Group': { property: 'GroupName', scope: 'account' },
    'AWS::IAM::InstanceProfile': { property: 'InstanceProfileName', scope: 'account' },
    'AWS::S3::Bucket': { property: 'BucketName', scope: 'account' },
    // One per region.
    'AWS::SQS::Queue': { property: 'QueueName', scope: 'region' },
    'AWS::DynamoDB::Table': { property: 'TableName', scope: 'region' },
    'AWS::Events::EventBus': { property: 'Name', scope: 'region' },
    'AWS::Events::Rule': { property: 'Name', scope: 'region' },
    'AWS::Events::Archive': { property: 'ArchiveName', scope: 'region' },
    'AWS::SNS::Topic': { property: 'TopicName', scope: 'region' },
    'AWS::CloudWatch::Alarm': { property: 'AlarmName', scope: 'region' },
    'AWS::Lambda::Function': { property: 'FunctionName', scope: 'region' },
    'AWS::Logs::LogGroup': { property: 'LogGroupName', scope: 'region' },
    // Nothing named, or named within its parent (an inline policy's name is its role's).
    'AWS::CloudFormation::Stack': null,
    'AWS::SNS::TopicPolicy': null,
    'AWS::SNS::Subscription': null,
    'AWS::SQS::QueuePolicy': null,
    'AWS::IAM::Policy': null,
    'AWS::Lambda::EventSourceMapping': null,
    'AWS::Lambda::EventInvokeConfig': null,
    'AWS::Lambda::Permission': null,
  };

  /** A name as it is deployed in `region`: the pseudo parameter resolved, Fn::Join joined. */
  const resolveName = (value: unknown, region: string): string => {
    if (typeof value === 'string') return value;
    const token = value as Record<string, unknown>;
    if (token.Ref === 'AWS::Region') return region;
    const join = token['Fn::Join'] as [string, unknown[]] | undefined;
    if (Array.isArray(join)) return join[1].map((part) => resolveName(part, region)).join(join[0]);
    throw new Error(`cannot resolve the name ${JSON.stringify(value)}`);
  };

  type NamedResource = { readonly type: string; readonly scope: 'account' | 'region'; readonly name: string };

  /** Every explicitly named resource in every template of a pipeline deployed in `region`. */
  const namesIn = (templates: PipelineTemplates, destinationNames: readonly string[], region: string): NamedResource[] =>
    [templates.root, ...destinationNames.map(templates.destination), ...templates.dashboards].flatMap((template) =>
      Object.entries((template.toJSON() as TemplateJson).Resources).flatMap(([id, resource]): NamedResource[] => {
        const naming = NAME_PROPERTIES[resource.Type];
        if (naming === undefined) throw new Error(`${id}: classify ${resource.Type} in NAME_PROPERTIES (is its name per account or per region?)`);
        const value = naming === null ? undefined : resource.Properties?.[naming.property];
        return naming === null || value === undefined ? [] : [{ type: resource.Type, scope: naming.scope, name: resolveName(value, region) }];
      }),
    );

  const regions = ['eu-west-1', 'us-east-1'] as const;
  const names = new Map<string, NamedResource[]>();

  beforeAll(() => {
    const defaultConfig = loadPipelineConfig(fileURLToPath(new URL('../../config/sync-pipeline.json', import.meta.url)));
    const destinationNames = defaultConfig.destinations.map(({ name }) => name);
    expect(destinationNames).toEqual(['crm', 'erp']);
    for (const region of regions) {
      const { templates } = synthesize(defaultConfig, { env: { account: '123456789012', region } }, 'sync-pipeline');
      names.set(region, namesIn(templates, destinationNames, region));
    }
  });

  it('gives every account-wide name a different value in each region', () => {
    // Prepare
    const accountWide = regions.flatMap((region) => names.get(region)!.filter(({ scope }) => scope === 'account'));

    // Assess: the dashboards are the only names that need one, and they hold the region.
    expect(accountWide.map(({ type, name }) => `${type} ${name}`).sort()).toEqual([
      'AWS::CloudWatch::Dashboard sync-pipeline-eu-west-1',
      'AWS::CloudWatch::Dashboard sync-pipeline-us-east-1',
    ]);
    const values = accountWide.map(({ name }) => name);
    expect(new Set(values).size).toBe(values.length);
  });

  it('gives the regional names the same value in both regions', () => {
    // Prepare
    const regional = (region: string): string[] =>
      names
        .get(region)!
        .filter(({ scope }) => scope === 'region')
        .map(({ type, name }) => `${type} ${name}`)
        .sort();
    const signals = ['dlq-not-empty', 'lag-p99', 'error-rate', 'oldest-message-age', 'breaker-open', 'function-errors', 'function-throttles', 'duration-near-timeout'];
    const expected = [
      'AWS::DynamoDB::Table sync-pipeline-ledger',
      'AWS::Events::EventBus sync-pipeline-changes',
      'AWS::Events::Archive sync-pipeline-changes-archive',
      'AWS::SNS::Topic sync-pipeline-alarms',
      ...['crm', 'erp'].flatMap((name) => [
        `AWS::SQS::Queue sync-pipeline-${name}`,
        `AWS::SQS::Queue sync-pipeline-${name}-dlq`,
        `AWS::Events::Rule sync-pipeline-${name}-probe`,
        ...signals.map((signal) => `AWS::CloudWatch::Alarm sync-pipeline-${name}-${signal}`),
      ]),
    ].sort();

    // Assess
    expect(regional('eu-west-1')).toEqual(expected);
    expect(regional('us-east-1')).toEqual(expected);
  });
});
