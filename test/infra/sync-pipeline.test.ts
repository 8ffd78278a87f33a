import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDestinationConfig, parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { ConsumerEnv } from '../../lib/config/consumer-env.ts';
import { isProbeEvent } from '../../lib/config/probe-event.ts';
import { SyncPipelineStack } from '../../lib/infra/index.ts';
import { newApp, pipelineTestConfig } from '../helpers/infra.ts';

const config = pipelineTestConfig;

// Expected values are written out, not derived with the code under test.
const destinations = [
  {
    name: 'crm',
    other: 'erp',
    queueName: 'test-sync-crm',
    deadLetterQueueName: 'test-sync-crm-dlq',
    resourceTypes: ['contact', 'company'],
    maxReceiveCount: 4,
    functionTimeoutSeconds: 30,
    visibilityTimeoutSeconds: 180,
    batchSize: 10,
    maxBatchingWindowSeconds: undefined,
    maxConcurrency: 5,
    outputKey: 'Crm',
    probeRuleName: 'test-sync-crm-probe',
    probeSchedule: 'rate(1 minute)',
    probeIntervalSeconds: 60,
  },
  {
    name: 'erp',
    other: 'crm',
    queueName: 'test-sync-erp',
    deadLetterQueueName: 'test-sync-erp-dlq',
    resourceTypes: ['order'],
    maxReceiveCount: 9,
    functionTimeoutSeconds: 60,
    visibilityTimeoutSeconds: 360,
    batchSize: 50,
    maxBatchingWindowSeconds: 5,
    maxConcurrency: 12,
    outputKey: 'Erp',
    probeRuleName: 'test-sync-erp-probe',
    probeSchedule: 'rate(3 minutes)',
    probeIntervalSeconds: 180,
  },
] as const;
type ExpectedDestination = (typeof destinations)[number];

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

type PolicyStatementJson = { Effect: string; Action: string | string[]; Resource: unknown };

/** Every statement of every IAM policy attached to the role `roleId`. */
const statementsOfRole = (template: Template, roleId: string): PolicyStatementJson[] =>
  Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } })).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as PolicyStatementJson[],
  );

const actionsOf = (statement: PolicyStatementJson): string[] => [statement.Action].flat();

/** Asserts that one policy attached to the role `roleId` holds exactly `statements`, in order. */
const expectPolicyOfRole = (template: Template, roleId: string, statements: readonly PolicyStatementJson[]): void =>
  template.hasResourceProperties('AWS::IAM::Policy', {
    Roles: [{ Ref: roleId }],
    PolicyDocument: { Version: '2012-10-17', Statement: [...statements] },
  });

describe('Construct: SyncPipeline', () => {
  let template: Template;
  const ids = {
    table: '',
    bus: '',
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
    const stack = new SyncPipelineStack(newApp(), 'TestSync', { config });
    template = Template.fromStack(stack);

    ids.table = logicalIdOf(template, 'AWS::DynamoDB::Table', { TableName: 'test-sync-ledger' });
    ids.bus = logicalIdOf(template, 'AWS::Events::EventBus', { Name: 'test-sync-changes' });
    for (const d of destinations) {
      ids.queue.set(d.name, logicalIdOf(template, 'AWS::SQS::Queue', { QueueName: d.queueName }));
      ids.deadLetterQueue.set(d.name, logicalIdOf(template, 'AWS::SQS::Queue', { QueueName: d.deadLetterQueueName }));
      const consumerId = logicalIdOf(template, 'AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ [ConsumerEnv.SERVICE_NAME]: `test-sync-${d.name}` }) },
      });
      ids.consumer.set(d.name, consumerId);
      const consumer = template.findResources('AWS::Lambda::Function')[consumerId];
      ids.role.set(d.name, consumer?.Properties.Role['Fn::GetAtt'][0]);
      ids.logGroup.set(d.name, consumer?.Properties.LoggingConfig.LogGroup.Ref);
      ids.rule.set(d.name, logicalIdOf(template, 'AWS::Events::Rule', { EventPattern: Match.objectLike({ detail: { resourceType: [...d.resourceTypes] } }) }));
      ids.eventSourceMapping.set(d.name, logicalIdOf(template, 'AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: consumerId } }));
      ids.probeRule.set(d.name, logicalIdOf(template, 'AWS::Events::Rule', { Name: d.probeRuleName }));
    }
  });

  it('creates one table, one bus, and per destination two queues, a function, a routing rule and a probe rule', () => {
    // Assess
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.resourceCountIs('AWS::SQS::Queue', 4);
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    template.resourceCountIs('AWS::Events::Rule', 4);
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    // Per destination its role's default policy and the policy switching its event source.
    template.resourceCountIs('AWS::IAM::Policy', 4);
  });

  it('creates the ledger table billed per request, with TTL, point-in-time recovery and encryption, retained', () => {
    // Assess
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        TableName: 'test-sync-ledger',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('creates the event bus under its configured name', () => {
    // Assess
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'test-sync-changes' });
  });

  it.each(destinations)('creates the $name queue redriving to its own DLQ after maxReceiveCount', (d: ExpectedDestination) => {
    // Assess
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: d.queueName,
      RedrivePolicy: {
        deadLetterTargetArn: arnOf(ids.deadLetterQueue.get(d.name) as string),
        maxReceiveCount: d.maxReceiveCount,
      },
      // 6x the function timeout, so a batch in flight is not redelivered to a second consumer.
      VisibilityTimeout: d.visibilityTimeoutSeconds,
      MessageRetentionPeriod: 1_209_600,
      SqsManagedSseEnabled: true,
    });
  });

  it.each(destinations)('creates the $name DLQ keeping messages 14 days, encrypted', (d: ExpectedDestination) => {
    // Assess
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: d.deadLetterQueueName,
      MessageRetentionPeriod: 1_209_600,
      SqsManagedSseEnabled: true,
      RedrivePolicy: Match.absent(),
    });
  });

  it.each(destinations.flatMap((d) => [d.queueName, d.deadLetterQueueName]))(
    'creates a policy on %s denying requests without TLS',
    (queueName: string) => {
      // Prepare
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
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 512,
      Timeout: d.functionTimeoutSeconds,
      Role: arnOf(ids.role.get(d.name) as string),
      LoggingConfig: { LogGroup: { Ref: ids.logGroup.get(d.name) } },
      Environment: { Variables: Match.objectLike({ [ConsumerEnv.SERVICE_NAME]: `test-sync-${d.name}` }) },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it.each(destinations)('creates the $name consumer with every variable the handler reads', (d: ExpectedDestination) => {
    // Prepare
    const variables = template.findResources('AWS::Lambda::Function')[ids.consumer.get(d.name)!]?.Properties.Environment.Variables;
    const expected = config.destinations.find((destination) => destination.name === d.name)!;

    // Act: the handler validates SYNC_DESTINATION at cold start exactly like this
    const parsed = parseDestinationConfig(JSON.parse(variables[ConsumerEnv.DESTINATION]));

    // Assess
    const { horizonMinutes: _parsedHorizon, ...parsedRetry } = parsed.retry;
    const { horizonMinutes: _configuredHorizon, ...expectedRetry } = expected.retry;
    expect({ ...parsed, retry: parsedRetry }).toEqual({ ...expected, retry: expectedRetry });
    expect(variables).toEqual({
      [ConsumerEnv.DESTINATION]: expect.any(String),
      [ConsumerEnv.LEDGER_TABLE_NAME]: { Ref: ids.table },
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
    const variables = template.findResources('AWS::Lambda::Function')[ids.consumer.get('crm')!]?.Properties.Environment.Variables as Record<string, unknown>;
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
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
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
    'creates the $name role allowed only its log group, GetItem/UpdateItem on the ledger, its own queues and its own event source',
    (d: ExpectedDestination) => {
      // Prepare
      const roleId = ids.role.get(d.name) as string;
      const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });

      // Assess: the whole of both policies, so any extra action or resource fails the test.
      expect(Object.keys(policies)).toHaveLength(2);
      expectPolicyOfRole(template, roleId, [
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: arnOf(ids.logGroup.get(d.name) as string),
        },
        { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: arnOf(ids.table) },
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
      // No AWSLambdaBasicExecutionRole: it would allow writing to any log group.
      expect(template.findResources('AWS::IAM::Role')[roleId]?.Properties).not.toHaveProperty('ManagedPolicyArns');
    },
  );

  it.each(destinations)('creates the $name rule routing its resource types to its queue as the bare change event', (d: ExpectedDestination) => {
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: ids.bus },
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
    const statements = statementsOfRole(template, ids.role.get(d.name) as string);
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
    const longestTemplate = Template.fromStack(new SyncPipelineStack(newApp(), 'Longest', { config: longest }));

    // Assess
    const ruleName = `${'p'.repeat(30)}-${'d'.repeat(27)}-probe`;
    expect(ruleName).toHaveLength(64);
    longestTemplate.hasResourceProperties('AWS::Events::Rule', { Name: ruleName });
  });

  it('creates outputs for the bus, the table and every queue', () => {
    // Assess
    template.hasOutput('EventBusName', { Value: { Ref: ids.bus } });
    template.hasOutput('LedgerTableName', { Value: { Ref: ids.table } });
    for (const d of destinations) {
      template.hasOutput(`${d.outputKey}QueueUrl`, { Value: { Ref: ids.queue.get(d.name) } });
      template.hasOutput(`${d.outputKey}DeadLetterQueueUrl`, { Value: { Ref: ids.deadLetterQueue.get(d.name) } });
    }
  });
});
