import { type App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Tracing } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig, type PipelineConfigInput } from '../../lib/config/pipeline-config.ts';
import { ConsumerEnv } from '../../lib/config/consumer-env.ts';
import { ValidationError } from '../../lib/contract/validation.ts';
import { DeadLetterReason } from '../../lib/core/dead-letter.ts';
import { RetryReason } from '../../lib/core/attempt.ts';
import { SkipReason } from '../../lib/core/outcome.ts';
import { applyNagChecks, type DestinationMetrics, SyncPipelineStack, type SyncPipelineStackProps } from '../../lib/infra/index.ts';
import { acknowledgedRules, newApp, pipelineTemplates, type PipelineTemplates } from '../helpers/infra.ts';

// Two destinations, so a setting meant for one shows when it reaches the other.
const configInput = {
  name: 'test-sync',
  metricsNamespace: 'TestSync',
  destinations: [
    { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com/api', resourceTypes: ['contact', 'company'] },
    { name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com/v2', resourceTypes: ['order'] },
  ],
} satisfies PipelineConfigInput;
const config = parsePipelineConfig(configInput);

// Written out, not derived with the code under test.
const BUS_ARN = 'arn:aws:events:eu-west-1:123456789012:event-bus/orders-bus';
const TABLE_ARN = 'arn:aws:dynamodb:eu-west-1:123456789012:table/shared-ledger';
const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:oncall';
const CONFIG_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const VPC_ACTIONS = [
  'ec2:AssignPrivateIpAddresses',
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:UnassignPrivateIpAddresses',
];

type PolicyStatementJson = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
type Resource = { Type: string; Properties: Record<string, any> };

const actionsOf = (statement: PolicyStatementJson): string[] => [statement.Action].flat();

/** Every statement of every IAM policy in `template`. */
const allStatements = (template: Template): PolicyStatementJson[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatementJson[]);

/** The one resource of `type` in `template`. */
const onlyResource = (template: Template, type: string): Resource => {
  const found = Object.values(template.findResources(type)) as Resource[];
  expect(found, type).toHaveLength(1);
  return found[0] as Resource;
};

type PropsOf = Partial<SyncPipelineStackProps> & {
  /** Builds the user's own resources in a stack of theirs in the same app, and returns the props naming them. */
  readonly build?: (user: Stack) => Partial<SyncPipelineStackProps>;
};

/** A pipeline stack of `props`, not synthesized yet: a test may still add to it. */
const buildStack = (props: PropsOf = {}) => {
  const app = newApp();
  const { build, ...rest } = props;
  const stack = new SyncPipelineStack(app, 'PropsTest', { config, ...rest, ...(build === undefined ? {} : build(new Stack(app, 'UserResources'))) });
  return { app, stack };
};

/** A pipeline stack of `props`, synthesized like `cdk synth` does (bundling skipped), and its templates. */
const synthesize = (props: PropsOf = {}) => {
  const built = buildStack(props);
  return { ...built, templates: pipelineTemplates(built.stack) };
};

/** An `Fn::ImportValue` of an export of the user's stack whose name holds `id`. */
const importOf = (id: string) => ({ 'Fn::ImportValue': Match.stringLikeRegexp(`^UserResources:.*${id}`) });

describe('Construct: SyncPipeline with your own bus, ledger table and alarm topic', () => {
  let templates: PipelineTemplates;
  let stack: SyncPipelineStack;

  beforeAll(() => {
    ({ stack, templates } = synthesize({
      config: parsePipelineConfig({ ...configInput, alarmEmail: 'oncall@example.com' }),
      build: (user) => ({
        eventBus: EventBus.fromEventBusArn(user, 'Bus', BUS_ARN),
        ledgerTable: Table.fromTableArn(user, 'Ledger', TABLE_ARN),
        alarmTopic: Topic.fromTopicArn(user, 'Topic', TOPIC_ARN),
      }),
    }));
  });

  it('creates no bus, table or alarm topic of its own in any template', () => {
    // Assess
    for (const template of [templates.root, templates.destination('crm'), templates.destination('erp'), ...templates.dashboards]) {
      template.resourceCountIs('AWS::Events::EventBus', 0);
      template.resourceCountIs('AWS::DynamoDB::Table', 0);
      template.resourceCountIs('AWS::SNS::Topic', 0);
    }
    expect(stack.pipeline.eventBus.eventBusArn).toBe(BUS_ARN);
    expect(stack.pipeline.ledgerTable.tableArn).toBe(TABLE_ARN);
    expect(stack.pipeline.alarmTopic.topicArn).toBe(TOPIC_ARN);
  });

  it.each([
    ['crm', ['contact', 'company']],
    ['erp', ['order']],
  ])('routes the %s resource types on your bus', (name, resourceTypes) => {
    // Assess
    templates.destination(name).hasResourceProperties('AWS::Events::Rule', {
      EventBusName: 'orders-bus',
      EventPattern: { detail: { resourceType: resourceTypes } },
    });
  });

  it.each([
    ['crm', 'crm#*'],
    ['erp', 'erp#*'],
  ])("keeps the %s consumer to its own items of your table, and no other table's", (name, ledgerKeys) => {
    // Prepare
    const dynamodb = allStatements(templates.destination(name)).filter((statement) => actionsOf(statement).some((action) => action.startsWith('dynamodb:')));

    // Assess
    expect(dynamodb).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
        Resource: TABLE_ARN,
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [ledgerKeys] } },
      },
    ]);
    templates.destination(name).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ConsumerEnv.LEDGER_TABLE_NAME]: 'shared-ledger' }) },
    });
  });

  it.each(['crm', 'erp'])('notifies your topic from every %s alarm, on ALARM and on OK', (name) => {
    // Prepare
    const alarms = Object.values(templates.destination(name).findResources('AWS::CloudWatch::Alarm')) as Resource[];

    // Assess
    expect(alarms).toHaveLength(8);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([TOPIC_ARN]);
      expect(alarm.Properties.OKActions).toEqual([TOPIC_ARN]);
    }
  });

  it("subscribes the config's alarmEmail to your topic", () => {
    // Assess
    const subscriptions = Template.fromStack(Stack.of(stack.pipeline.alarmTopic)).findResources('AWS::SNS::Subscription');
    expect(Object.values(subscriptions).map((subscription) => subscription.Properties)).toEqual([
      { Protocol: 'email', TopicArn: TOPIC_ARN, Endpoint: 'oncall@example.com' },
    ]);
  });

  it('archives only the change events on your bus, of any resource type', () => {
    // Assess
    templates.root.hasResourceProperties('AWS::Events::Archive', {
      ArchiveName: 'test-sync-changes-archive',
      SourceArn: BUS_ARN,
      EventPattern: { detail: { resourceType: [{ exists: true }] } },
      RetentionDays: 7,
      Description: 'Every change event (detail.resourceType) for test-sync on this bus, kept 7 days for replay',
    });
  });

  it('names your bus, table and topic in the stack outputs', () => {
    // Assess
    templates.root.hasOutput('EventBusName', { Value: 'orders-bus' });
    templates.root.hasOutput('LedgerTableName', { Value: 'shared-ledger' });
    templates.root.hasOutput('AlarmTopicArn', { Value: TOPIC_ARN });
  });

  it('passes cdk-nag with resources of your own built in another stack of the app', () => {
    // Prepare
    const app = newApp();
    const user = new Stack(app, 'Shared');
    const ledgerTable = new Table(user, 'Ledger', { partitionKey: { name: 'pk', type: AttributeType.STRING }, pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } });
    new SyncPipelineStack(app, 'NagProps', {
      config,
      eventBus: new EventBus(user, 'Bus', { eventBusName: 'orders-bus' }),
      ledgerTable,
      alarmTopic: new Topic(user, 'Topic', { enforceSSL: true }),
    });

    // Act
    const checks = applyNagChecks(app);

    // Assess
    expect(checks.validateScope(app).violations.map((violation) => `${violation.ruleName}`)).toEqual([]);
    expect(() => app.synth()).not.toThrow();
  });
});

describe('Construct: SyncPipeline consumer function overrides', () => {
  let templates: PipelineTemplates;

  beforeAll(() => {
    ({ templates } = synthesize({
      consumerFunctionProps: { memorySize: 1024, tracing: Tracing.ACTIVE, logRetention: RetentionDays.THREE_MONTHS },
      destinationOverrides: { erp: { consumerFunctionProps: { memorySize: 2048, logRetention: RetentionDays.ONE_YEAR } } },
    }));
  });

  it.each([
    // erp's own fields win; the ones it leaves out come from the overrides for all destinations.
    ['crm', 1024, 90],
    ['erp', 2048, 365],
  ])('gives the %s consumer %i MB, active tracing and logs kept %i days', (name, memorySize, retentionDays) => {
    // Prepare
    const template = templates.destination(name);

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: memorySize, TracingConfig: { Mode: 'Active' } });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: retentionDays });
    const xray = allStatements(template).filter((statement) => actionsOf(statement).some((action) => action.startsWith('xray:')));
    expect(xray).toEqual([{ Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' }]);
  });

  it('keeps 512 MB, no tracing and a month of logs without overrides', () => {
    // Act
    const { templates: plain } = synthesize();

    // Assess
    for (const name of ['crm', 'erp']) {
      plain.destination(name).hasResourceProperties('AWS::Lambda::Function', { MemorySize: 512, TracingConfig: Match.absent(), VpcConfig: Match.absent() });
      plain.destination(name).hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
      expect(allStatements(plain.destination(name)).flatMap(actionsOf).filter((action) => action.startsWith('xray:') || action.startsWith('ec2:'))).toEqual([]);
    }
  });
});

describe('Construct: SyncPipeline consumers in a VPC', () => {
  let app: App;
  let templates: PipelineTemplates;
  let stack: SyncPipelineStack;

  beforeAll(() => {
    ({ app, stack, templates } = synthesize({
      build: (user) => {
        const vpc = new Vpc(user, 'Vpc', { maxAzs: 2, flowLogs: { all: {} } });
        return {
          destinationOverrides: {
            erp: {
              consumerFunctionProps: {
                vpc,
                vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
                securityGroups: [new SecurityGroup(user, 'ErpEgress', { vpc, description: 'erp consumer egress' })],
              },
            },
          },
        };
      },
    }));
  });

  it('runs the erp consumer in the given subnets and security group, and crm outside any VPC', () => {
    // Prepare
    const erp = onlyResource(templates.destination('erp'), 'AWS::Lambda::Function');

    // Assess
    expect(erp.Properties.VpcConfig.SubnetIds).toHaveLength(2);
    expect(erp.Properties.VpcConfig.SecurityGroupIds).toHaveLength(1);
    expect(JSON.stringify(erp.Properties.VpcConfig.SecurityGroupIds)).toContain('ErpEgress');
    expect(JSON.stringify(erp.Properties.VpcConfig.SubnetIds)).toContain('PrivateSubnet');
    templates.destination('crm').hasResourceProperties('AWS::Lambda::Function', { VpcConfig: Match.absent() });
  });

  it("lets the erp role attach the function to the VPC with the EC2 network-interface actions only, and no managed policy", () => {
    // Prepare
    const ec2 = (name: string) => allStatements(templates.destination(name)).filter((statement) => actionsOf(statement).some((action) => action.startsWith('ec2:')));
    const role = onlyResource(templates.destination('erp'), 'AWS::IAM::Role');

    // Assess: not AWSLambdaVPCAccessExecutionRole, which would let it write to every log group.
    expect(ec2('erp')).toEqual([{ Effect: 'Allow', Action: VPC_ACTIONS, Resource: '*' }]);
    expect(ec2('crm')).toEqual([]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it("makes the erp function wait for its role's policy, so Lambda finds the EC2 permissions when it creates it", () => {
    // Prepare
    const template = templates.destination('erp');
    const [policyId] = Object.keys(template.findResources('AWS::IAM::Policy', { Properties: { PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: VPC_ACTIONS })]) } } }));
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function')) as Array<Resource & { DependsOn?: string[] }>;

    // Assess
    expect(policyId).toBeDefined();
    expect(fn?.DependsOn).toContain(policyId);
  });

  it('passes cdk-nag, acknowledging the wildcard resource on the erp role only', () => {
    // Act
    const checks = applyNagChecks(app);

    // Assess
    expect(checks.validateScope(stack).violations.map((violation) => violation.ruleName)).toEqual([]);
    expect(acknowledgedRules(app).filter((rule) => rule.includes('ConsumerRole'))).toEqual(['PropsTest/Pipeline/erp/erp/ConsumerRole: Annotation::AwsSolutions-IAM5[Resource::*]']);
  });
});

describe('Construct: SyncPipeline queue key override', () => {
  const keyConfig = parsePipelineConfig({ ...configInput, kmsKeyArn: CONFIG_KEY_ARN });
  let templates: PipelineTemplates;
  let app: App;

  beforeAll(() => {
    ({ app, templates } = synthesize({
      config: keyConfig,
      build: (user) => ({ destinationOverrides: { crm: { queueProps: { encryptionKey: new Key(user, 'QueueKey', { enableKeyRotation: true }) } } } }),
    }));
  });

  it.each([
    // The prop wins over the config's kmsKeyArn for the queues it is given for.
    ['crm', 'test-sync-crm', importOf('QueueKey')],
    ['crm', 'test-sync-crm-dlq', importOf('QueueKey')],
    ['erp', 'test-sync-erp', CONFIG_KEY_ARN],
    ['erp', 'test-sync-erp-dlq', CONFIG_KEY_ARN],
  ])('encrypts the %s queue %s with its key', (name, queueName, keyArn) => {
    // Assess
    templates.destination(name).hasResourceProperties('AWS::SQS::Queue', { QueueName: queueName, KmsMasterKeyId: keyArn, SqsManagedSseEnabled: Match.absent() });
  });

  it("keeps the config's key on the ledger table and the alarm topic", () => {
    // Assess
    templates.root.hasResourceProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: CONFIG_KEY_ARN } });
    templates.root.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: CONFIG_KEY_ARN });
  });

  it("lets the crm consumer use its queues' key and the table's, and erp the config's only", () => {
    // Prepare
    const kmsResources = (name: string) =>
      allStatements(templates.destination(name))
        .filter((statement) => actionsOf(statement).some((action) => action.startsWith('kms:')))
        // minimizePolicies may merge the grants into one statement of several resources.
        .flatMap((statement) => [statement.Resource].flat());

    const distinct = (name: string) => [...new Set(kmsResources(name).map((resource) => JSON.stringify(resource)))].sort();

    // Assess
    expect(distinct('crm')).toEqual([JSON.stringify(CONFIG_KEY_ARN), JSON.stringify({ 'Fn::ImportValue': 'UserResources:ExportsOutputFnGetAttQueueKey8E59F72CArn1A1DAA83' })].sort());
    expect(distinct('erp')).toEqual([JSON.stringify(CONFIG_KEY_ARN)]);
  });

  it("lets EventBridge use a key of the app to deliver to the queue (CDK adds it to the key's policy)", () => {
    // Assess
    Template.fromStack(app.node.findChild('UserResources') as Stack).hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'events.amazonaws.com' }, Action: Match.arrayWith(['kms:Decrypt', 'kms:GenerateDataKey*']) }),
        ]),
      },
    });
  });

  it('passes cdk-nag with the two keys', () => {
    // Act
    const checks = applyNagChecks(app);

    // Assess
    expect(checks.validateScope(app).violations.map((violation) => violation.ruleName)).toEqual([]);
  });
});

describe('Construct: SyncPipeline override validation', () => {
  it.each<[string, Partial<SyncPipelineStackProps>, string]>([
    [
      'an override for a destination the config does not have',
      { destinationOverrides: { billing: { consumerFunctionProps: { memorySize: 1024 } } } },
      `destinationOverrides.billing: expected one of the config's destinations (crm, erp), got "billing"`,
    ],
    ['a memory size Lambda refuses', { consumerFunctionProps: { memorySize: 64 } }, 'consumerFunctionProps.memorySize: expected an integer from 128 to 10240, got 64'],
    [
      "a destination's memory size that is not whole",
      { destinationOverrides: { erp: { consumerFunctionProps: { memorySize: 1000.5 } } } },
      'destinationOverrides.erp.consumerFunctionProps.memorySize: expected an integer from 128 to 10240, got 1000.5',
    ],
  ])('fails synth on %s, naming it', (_label, props, issue) => {
    // Act
    const act = () => synthesize(props);

    // Assess
    expect(act).toThrow(ValidationError);
    expect(act).toThrow(`Invalid SyncPipeline props:\n  - ${issue}`);
  });
});

describe('Method: SyncPipeline.grantPublish', () => {
  /** The one policy of the publisher role in the root template. */
  const publisherStatements = (template: Template): PolicyStatementJson[] => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^Publisher') }] } }));
    expect(policies).toHaveLength(1);
    return policies[0]?.Properties.PolicyDocument.Statement as PolicyStatementJson[];
  };
  /** A queue's ARN in the stack's partition, region and account. */
  const queueArn = (queueName: string) => ({
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':sqs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${queueName}`]],
  });

  it("allows PutEvents on the bus and SendMessage on every destination's queue, never on a DLQ", () => {
    // Prepare
    const { stack } = buildStack();
    const publisher = new Role(stack, 'Publisher', { assumedBy: new AccountRootPrincipal() });

    // Act
    const grant = stack.pipeline.grantPublish(publisher);

    // Assess
    const root = Template.fromStack(stack);
    const busId = Object.keys(root.findResources('AWS::Events::EventBus'))[0];
    expect(grant.success).toBe(true);
    expect(publisherStatements(root)).toEqual([
      { Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [busId, 'Arn'] } },
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: [queueArn('test-sync-crm'), queueArn('test-sync-erp')],
      },
    ]);
  });

  it('adds GenerateDataKey and Decrypt on each queue key, through SQS only', () => {
    // Prepare
    const { stack } = buildStack({
      config: parsePipelineConfig({ ...configInput, kmsKeyArn: CONFIG_KEY_ARN }),
      build: (user) => ({ destinationOverrides: { erp: { queueProps: { encryptionKey: new Key(user, 'QueueKey', { enableKeyRotation: true }) } } } }),
    });
    const publisher = new Role(stack, 'Publisher', { assumedBy: new AccountRootPrincipal() });

    // Act
    stack.pipeline.grantPublish(publisher);

    // Assess
    const kms = publisherStatements(Template.fromStack(stack)).filter((statement) => actionsOf(statement).some((action) => action.startsWith('kms:')));
    expect(kms).toEqual([
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: [CONFIG_KEY_ARN, { 'Fn::ImportValue': expect.stringMatching(/^UserResources:.*QueueKey/) }],
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['sqs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
      },
    ]);
  });

  it('passes cdk-nag on the publisher role with no acknowledgement', () => {
    // Prepare
    const { app, stack } = buildStack();
    stack.pipeline.grantPublish(new Role(stack, 'Publisher', { assumedBy: new AccountRootPrincipal() }));

    // Act
    const checks = applyNagChecks(app);

    // Assess
    expect(checks.validateScope(app).violations.map((violation) => violation.ruleName)).toEqual([]);
    expect(acknowledgedRules(app).filter((rule) => rule.includes('Publisher'))).toEqual([]);
  });
});

describe('Class: DestinationMetrics, per destination on SyncPipeline.destinations', () => {
  let stack: SyncPipelineStack;
  let crm: DestinationMetrics;
  const dimensions = [
    { Name: 'Destination', Value: 'crm' },
    { Name: 'service', Value: 'test-sync-crm' },
  ];

  beforeAll(() => {
    ({ stack } = buildStack());
    crm = stack.pipeline.destinations.get('crm')!.metrics;
  });

  it("drives a user's own alarm in the pipeline's stack with the consumer's namespace and dimensions", () => {
    // Act
    new Alarm(stack, 'CrmDeadLetters', { metric: crm.recordsDeadLettered(), threshold: 10, evaluationPeriods: 1 });

    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'TestSync',
      MetricName: 'RecordsDeadLettered',
      Dimensions: dimensions,
      Statistic: 'Sum',
      Period: 60,
      Threshold: 10,
    });
  });

  it('is the instance the destination alarms are built from', () => {
    // Assess
    expect(crm).toBe(stack.pipeline.destinations.get('crm')!.stack.metrics);
    expect(crm.destination.name).toBe('crm');
    expect(stack.pipeline.destinations.get('erp')!.metrics.destination.name).toBe('erp');
  });

  it.each<[string, (metrics: DestinationMetrics) => ReturnType<DestinationMetrics['metric']>, string, string, Record<string, string>]>([
    ['recordsReceived()', (m) => m.recordsReceived(), 'RecordsReceived', 'Sum', {}],
    ['recordsApplied()', (m) => m.recordsApplied(), 'RecordsApplied', 'Sum', {}],
    ['recordsSkipped()', (m) => m.recordsSkipped(), 'RecordsSkipped', 'Sum', {}],
    ['recordsSkipped(stale)', (m) => m.recordsSkipped(SkipReason.STALE), 'RecordsSkipped', 'Sum', { Reason: 'stale' }],
    ['recordsRetried(busy)', (m) => m.recordsRetried(RetryReason.BUSY), 'RecordsRetried', 'Sum', { Reason: 'busy' }],
    ['recordsDeadLettered()', (m) => m.recordsDeadLettered(), 'RecordsDeadLettered', 'Sum', {}],
    ['recordsDeadLettered(rejected)', (m) => m.recordsDeadLettered(DeadLetterReason.REJECTED), 'RecordsDeadLettered', 'Sum', { Reason: 'rejected' }],
    ['endToEndLag(99)', (m) => m.endToEndLag(99), 'EndToEndLag', 'p99', {}],
    ['queueLag(90)', (m) => m.queueLag(90), 'QueueLag', 'p90', {}],
  ])('gives %s as %s, %s per minute, under the consumer dimensions', (_label, build, metricName, statistic, breakdown) => {
    // Act
    const metric = build(crm);

    // Assess
    expect(metric.namespace).toBe('TestSync');
    expect(metric.metricName).toBe(metricName);
    expect(metric.statistic).toBe(statistic);
    expect(metric.period.toSeconds()).toBe(60);
    expect(metric.dimensions).toEqual({ service: 'test-sync-crm', Destination: 'crm', ...breakdown });
  });
});

describe('Construct: ChangeArchive (config eventBus.archive)', () => {
  const withArchive = (eventBus: PipelineConfigInput['eventBus']) => parsePipelineConfig({ ...configInput, eventBus });

  it('archives every event on the pipeline bus for eventBus.archiveRetentionDays, named after the pipeline, with an output', () => {
    // Act
    const { stack, templates } = synthesize({ config: withArchive({ archiveRetentionDays: 30 }) });

    // Assess
    const root = templates.root;
    const busId = Object.keys(root.findResources('AWS::Events::EventBus'))[0];
    const archive = onlyResource(root, 'AWS::Events::Archive');
    // No EventPattern: everything on the bus, which only the pipeline's publishers use.
    expect(archive.Properties).toEqual({
      ArchiveName: 'test-sync-changes-archive',
      Description: 'Every event on the bus of test-sync, kept 30 days for replay',
      KmsKeyIdentifier: '',
      RetentionDays: 30,
      SourceArn: { 'Fn::GetAtt': [busId, 'Arn'] },
    });
    const archiveId = Object.keys(root.findResources('AWS::Events::Archive'))[0];
    root.hasOutput('EventArchiveName', { Value: { Ref: archiveId } });
    expect(stack.pipeline.eventArchive).toBeDefined();
  });

  it('archives with the default seven days when the config says nothing', () => {
    // Act
    const { templates } = synthesize();

    // Assess
    templates.root.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 7, EventPattern: Match.absent() });
  });

  it('creates no archive and no output when eventBus.archive is off', () => {
    // Act
    const { stack, templates } = synthesize({ config: withArchive({ archive: false }) });

    // Assess
    for (const template of [templates.root, templates.destination('crm'), templates.destination('erp'), ...templates.dashboards]) {
      template.resourceCountIs('AWS::Events::Archive', 0);
    }
    expect(Object.keys(templates.root.toJSON().Outputs ?? {})).not.toContain('EventArchiveName');
    expect(stack.pipeline.eventArchive).toBeUndefined();
  });
});
