import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDestinationConfig } from '../../lib/config/pipeline-config.ts';
import { ConsumerEnv } from '../../lib/config/consumer-env.ts';
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
    }
  });

  it('creates one table, one bus, and per destination two queues, a function and a rule', () => {
    // Assess
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.resourceCountIs('AWS::SQS::Queue', 4);
    template.resourceCountIs('AWS::Lambda::Function', 2);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    template.resourceCountIs('AWS::Events::Rule', 2);
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
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
    'creates the $name role allowed only its log group, GetItem/UpdateItem on the ledger and its own queues',
    (d: ExpectedDestination) => {
      // Prepare
      const roleId = ids.role.get(d.name) as string;
      const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });

      // Assess: the whole policy, so any extra action or resource fails the test.
      expect(Object.keys(policies)).toHaveLength(1);
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: roleId }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
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
              Action: [
                'sqs:ChangeMessageVisibility',
                'sqs:DeleteMessage',
                'sqs:GetQueueAttributes',
                'sqs:GetQueueUrl',
                'sqs:ReceiveMessage',
              ],
              Resource: arnOf(ids.queue.get(d.name) as string),
            },
          ],
        },
      });
      const policyText = JSON.stringify(Object.values(policies)[0]);
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
