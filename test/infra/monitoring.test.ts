import { isDeepStrictEqual } from 'node:util';
import { type NestedStack, Stack } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig, type PipelineConfigInput } from '../../lib/config/pipeline-config.ts';
import { SyncPipelineStack } from '../../lib/infra/index.ts';
import { monitoringTestConfigInput, newApp, type PipelineTemplates, pipelineTemplates } from '../helpers/infra.ts';
import { DestinationErrorClass } from '../../lib/core/errors.ts';

// The shared monitoring config, with erp's function timeout, request timeout and retention set apart
// from crm's defaults (30 s, 5000 ms, 7 days), so a value wired to the wrong destination shows.
const configInput = {
  ...monitoringTestConfigInput,
  destinations: monitoringTestConfigInput.destinations.map((destination) =>
    destination.name === 'erp' ? { ...destination, functionTimeoutSeconds: 60, requestTimeoutMs: 10_000, retentionDays: 10 } : destination,
  ),
} satisfies PipelineConfigInput;
const config = parsePipelineConfig(configInput);
const { alarmEmail: _noEmail, ...inputWithoutEmail } = configInput;
const configWithoutEmail = parsePipelineConfig(inputWithoutEmail);

// Expected values are written out, not derived with the code under test.
const destinations = [
  {
    name: 'crm',
    service: 'mon-test-crm',
    queueName: 'mon-test-crm',
    deadLetterQueueName: 'mon-test-crm-dlq',
    lagThresholdMs: 120_000,
    errorRatePercent: 2,
    oldestMessageAgeSeconds: 600,
    breaker: { failurePercent: 40, minCalls: 10, windowSeconds: 30 },
    probeIntervalMinutes: 2,
    rateLimitPerSecond: 20,
    maxConcurrency: 5,
    functionTimeoutSeconds: 30,
    // 80% of 30 s.
    durationThresholdMs: 24_000,
    requestTimeoutMs: 5_000,
    retentionDays: 7,
  },
  {
    name: 'erp',
    service: 'mon-test-erp',
    queueName: 'mon-test-erp',
    deadLetterQueueName: 'mon-test-erp-dlq',
    lagThresholdMs: 900_000,
    errorRatePercent: 10,
    oldestMessageAgeSeconds: 3600,
    breaker: { failurePercent: 50, minCalls: 20, windowSeconds: 60 },
    probeIntervalMinutes: 1,
    rateLimitPerSecond: undefined,
    maxConcurrency: 5,
    functionTimeoutSeconds: 60,
    // 80% of 60 s.
    durationThresholdMs: 48_000,
    requestTimeoutMs: 10_000,
    retentionDays: 10,
  },
] as const;
type ExpectedDestination = (typeof destinations)[number];

/** The eight alarms of a destination, by the suffix of their names. */
const ALARM_SIGNALS = [
  'dlq-not-empty',
  'lag-p99',
  'error-rate',
  'oldest-message-age',
  'breaker-open',
  'function-errors',
  'function-throttles',
  'duration-near-timeout',
] as const;

type Resource = { Type: string; Properties: Record<string, any> };

/** The logical id of the one resource of `type` whose properties match `properties`. */
const logicalIdOf = (template: Template, type: string, properties: Record<string, unknown>): string => {
  const ids = Object.keys(template.findResources(type, { Properties: properties }));
  expect(ids, `${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return ids[0] as string;
};

/** The properties of every alarm matching `properties` (a Match pattern). */
const alarmsMatching = (template: Template, properties: Record<string, unknown>): Array<Record<string, any>> =>
  Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: properties })).map(
    (resource) => (resource as Resource).Properties,
  );

/** The one alarm matching `properties`; fails unless there is exactly one. */
const oneAlarm = (template: Template, properties: Record<string, unknown>): Record<string, any> => {
  const alarms = alarmsMatching(template, properties);
  expect(alarms, `alarms matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return alarms[0] as Record<string, any>;
};

/** The names of every alarm in `template`, sorted. */
const alarmNamesIn = (template: Template): string[] => alarmsMatching(template, {}).map((alarm) => alarm.AlarmName as string).sort();

const serviceDimensions = (d: ExpectedDestination) => [
  { Name: 'Destination', Value: d.name },
  { Name: 'service', Value: d.service },
];
const byName = (a: { Name: string }, b: { Name: string }) => a.Name.localeCompare(b.Name);

/** The logical id, in the root template, of the AWS::CloudFormation::Stack resource of `nested`. */
const rootIdOf = (stack: SyncPipelineStack, nested: NestedStack): string => {
  const resource = nested.nestedStackResource;
  if (resource === undefined) throw new Error(`${nested.node.path} has no nested stack resource`);
  return stack.resolve(resource.logicalId) as string;
};

/** The parameters the root template passes to one of its nested stacks. */
const parametersPassedTo = (root: Template, nestedStackId: string): Record<string, any> =>
  (root.toJSON().Resources[nestedStackId] as Resource).Properties.Parameters ?? {};

/** The nested stack of a dashboard page. */
const pageStack = (stack: SyncPipelineStack, page: number): NestedStack => {
  const dashboard = stack.pipeline.dashboards[page];
  if (dashboard === undefined) throw new Error(`no dashboard page ${page}`);
  return Stack.of(dashboard) as NestedStack;
};

/** Turns a token inside the dashboard body into a readable, JSON-safe placeholder. */
const placeholder = (token: Record<string, unknown>): string => {
  const ref = token.Ref;
  if (typeof ref === 'string') return `<Ref:${ref}>`;
  const getAtt = token['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return `<GetAtt:${getAtt.join('.')}>`;
  throw new Error(`Unexpected token in the dashboard body: ${JSON.stringify(token)}`);
};

/** The dashboard body (an Fn::Join of literal JSON and tokens) as an object, tokens as placeholders. */
const dashboardBody = (template: Template): { widgets: Array<Record<string, any>> } => {
  const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0] as Resource;
  const [separator, parts] = dashboard.Properties.DashboardBody['Fn::Join'] as [string, unknown[]];
  return JSON.parse(parts.map((part) => (typeof part === 'string' ? part : placeholder(part as Record<string, unknown>))).join(separator));
};

/** The destination names of a dashboard page's headers, in order. */
const headersOf = (template: Template): string[] =>
  dashboardBody(template)
    .widgets.filter((widget) => widget.type === 'text' && widget.properties.markdown.startsWith('## '))
    .map((widget) => (widget.properties.markdown as string).slice('## '.length).split('\n')[0] as string);

/**
 * The names of the alarms a dashboard page's alarm status widget shows. In the page's template each
 * is a parameter; followed through the root template (which sets it to an output of a destination's
 * nested stack) to the alarm that output is the ARN of.
 */
const alarmNamesOnPage = (stack: SyncPipelineStack, templates: PipelineTemplates, page: number): string[] => {
  const pageTemplate = templates.dashboards[page] as Template;
  const alarmWidgets = dashboardBody(pageTemplate).widgets.filter((widget) => widget.type === 'alarm');
  expect(alarmWidgets, `alarm status widgets on page ${page + 1}`).toHaveLength(1);
  const passed = parametersPassedTo(templates.root, rootIdOf(stack, pageStack(stack, page)));
  const destinationByRootId = new Map([...stack.pipeline.destinations].map(([name, { stack: nested }]) => [rootIdOf(stack, nested), name]));
  return (alarmWidgets[0]?.properties.alarms as string[]).map((arn) => {
    const parameter = /^<Ref:(.+)>$/.exec(arn)?.[1];
    expect(parameter, `alarm ${arn} on page ${page + 1}`).toBeDefined();
    expect(pageTemplate.toJSON().Parameters).toHaveProperty([parameter as string]);
    const [nestedStackId, attribute] = passed[parameter as string]['Fn::GetAtt'] as [string, string];
    const destination = destinationByRootId.get(nestedStackId);
    expect(destination, `the nested stack ${nestedStackId} of ${parameter}`).toBeDefined();
    expect(attribute).toMatch(/^Outputs\./);
    const destinationTemplate = templates.destination(destination as string).toJSON();
    const output = destinationTemplate.Outputs[attribute.slice('Outputs.'.length)];
    const [alarmId, alarmAttribute] = output.Value['Fn::GetAtt'] as [string, string];
    expect(alarmAttribute).toBe('Arn');
    const alarm = destinationTemplate.Resources[alarmId] as Resource;
    expect(alarm.Type).toBe('AWS::CloudWatch::Alarm');
    return alarm.Properties.AlarmName as string;
  });
};

/** The metric arrays of a widget as `{ namespace, name, dimensions, options }`, expressions as `{ expression }`. */
const widgetMetrics = (widget: Record<string, any>) =>
  (widget.properties.metrics as unknown[][]).map((entry) => {
    const last = entry.at(-1);
    const options = typeof last === 'object' && last !== null ? (last as Record<string, any>) : {};
    if (typeof entry[0] !== 'string') return { expression: options.expression as string, options };
    const pairs = entry.slice(2, typeof last === 'object' ? -1 : undefined) as string[];
    const dimensions: Record<string, string> = {};
    for (let index = 0; index < pairs.length; index += 2) dimensions[pairs[index] as string] = pairs[index + 1] as string;
    return { namespace: entry[0], name: entry[1] as string, dimensions, options };
  });

/**
 * Evaluates one minute of a metric-math expression built from IF, SUM([...]), arithmetic and
 * comparisons, with CloudWatch's rules for missing values: SUM over an array skips missing series
 * (and is missing when all are), arithmetic on a missing value is missing, and IF without an else
 * drops the datapoint when the condition is false. Returns undefined for "no datapoint".
 */
const evaluateMetricMath = (expression: string, values: Readonly<Record<string, number>>): number | undefined => {
  const sum = (series: Array<number | undefined>): number | undefined => {
    const present = series.filter((value): value is number => value !== undefined && !Number.isNaN(value));
    return present.length === 0 ? undefined : present.reduce((total, value) => total + value, 0);
  };
  const iff = (condition: boolean, value: number | undefined): number | undefined => (condition ? value : undefined);
  const js = expression
    .replace(/SUM\(\[/g, 'sum([')
    .replace(/\]\)/g, '])')
    .replace(/IF\(/g, 'iff(')
    .replace(/\b([a-z][A-Za-z0-9_]*)\b/g, (id) => (id === 'sum' || id === 'iff' ? id : `v[${JSON.stringify(id)}]`));
  const result = new Function('v', 'sum', 'iff', `return ${js};`)(values, sum, iff) as number | undefined;
  return result === undefined || Number.isNaN(result) ? undefined : result;
};

describe('Constructs: PipelineAlarmTopic, DestinationAlarms, PipelineDashboards', () => {
  let stack: SyncPipelineStack;
  let templates: PipelineTemplates;
  let templatesWithoutEmail: PipelineTemplates;
  let root: Template;
  let dashboard: Template;
  let topicId: string;
  const queueId = new Map<string, string>();
  const deadLetterQueueId = new Map<string, string>();
  const consumerId = new Map<string, string>();
  /** Per destination, the parameter of its nested stack that the root sets to the alarm topic's ARN. */
  const topicParameter = new Map<string, string>();
  const destinationTemplate = (d: ExpectedDestination): Template => templates.destination(d.name);

  beforeAll(() => {
    stack = new SyncPipelineStack(newApp(), 'MonTest', { config });
    templates = pipelineTemplates(stack);
    templatesWithoutEmail = pipelineTemplates(new SyncPipelineStack(newApp(), 'MonTestNoEmail', { config: configWithoutEmail }));
    root = templates.root;
    expect(templates.dashboards).toHaveLength(1);
    dashboard = templates.dashboards[0] as Template;

    topicId = logicalIdOf(root, 'AWS::SNS::Topic', { TopicName: 'mon-test-alarms' });
    for (const d of destinations) {
      const template = templates.destination(d.name);
      queueId.set(d.name, logicalIdOf(template, 'AWS::SQS::Queue', { QueueName: d.queueName }));
      deadLetterQueueId.set(d.name, logicalIdOf(template, 'AWS::SQS::Queue', { QueueName: d.deadLetterQueueName }));
      // The consumer: the function the source queue's event source mapping invokes.
      const mapping = Object.values(
        template.findResources('AWS::Lambda::EventSourceMapping', {
          Properties: { EventSourceArn: { 'Fn::GetAtt': [queueId.get(d.name), 'Arn'] } },
        }),
      ) as Resource[];
      expect(mapping, `${d.name} event source mappings`).toHaveLength(1);
      consumerId.set(d.name, mapping[0]?.Properties.FunctionName.Ref as string);
      const passed = parametersPassedTo(root, rootIdOf(stack, stack.pipeline.destinations.get(d.name)?.stack as NestedStack));
      const topicParameters = Object.keys(passed).filter((name) => isDeepStrictEqual(passed[name], { Ref: topicId }));
      expect(topicParameters, `${d.name} parameters set to the alarm topic`).toHaveLength(1);
      topicParameter.set(d.name, topicParameters[0] as string);
    }
  });

  it('creates the alarm topic <name>-alarms in the root stack, requiring TLS and open to this account\'s CloudWatch alarms', () => {
    // Assess
    root.resourceCountIs('AWS::SNS::Topic', 1);
    for (const d of destinations) destinationTemplate(d).resourceCountIs('AWS::SNS::Topic', 0);
    // No KMS key: CloudWatch cannot publish to a topic under the AWS-managed SNS key.
    root.hasResourceProperties('AWS::SNS::Topic', { TopicName: 'mon-test-alarms', KmsMasterKeyId: Match.absent() });
    root.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: [
          {
            Sid: 'AllowPublishThroughSSLOnly',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sns:Publish',
            Resource: { Ref: topicId },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
          {
            Sid: 'AllowCloudWatchAlarmsOfThisAccount',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: topicId },
            Condition: {
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:*'],
                  ],
                },
              },
            },
          },
        ],
      },
    });
  });

  it('creates an email subscription to the alarm topic when alarmEmail is set', () => {
    // Assess
    root.resourceCountIs('AWS::SNS::Subscription', 1);
    root.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: topicId },
    });
    for (const d of destinations) destinationTemplate(d).resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('creates no subscription when alarmEmail is not set', () => {
    // Assess
    templatesWithoutEmail.root.resourceCountIs('AWS::SNS::Topic', 1);
    templatesWithoutEmail.root.resourceCountIs('AWS::SNS::Subscription', 0);
    for (const d of destinations) templatesWithoutEmail.destination(d.name).resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('creates eight alarms per destination, each in its own destination\'s nested stack, and no others', () => {
    // Assess
    for (const t of [templates, templatesWithoutEmail]) {
      t.root.resourceCountIs('AWS::CloudWatch::Alarm', 0);
      for (const page of t.dashboards) page.resourceCountIs('AWS::CloudWatch::Alarm', 0);
      expect(alarmNamesIn(t.destination('crm'))).toEqual([
        'mon-test-crm-breaker-open',
        'mon-test-crm-dlq-not-empty',
        'mon-test-crm-duration-near-timeout',
        'mon-test-crm-error-rate',
        'mon-test-crm-function-errors',
        'mon-test-crm-function-throttles',
        'mon-test-crm-lag-p99',
        'mon-test-crm-oldest-message-age',
      ]);
      expect(alarmNamesIn(t.destination('erp'))).toEqual([
        'mon-test-erp-breaker-open',
        'mon-test-erp-dlq-not-empty',
        'mon-test-erp-duration-near-timeout',
        'mon-test-erp-error-rate',
        'mon-test-erp-function-errors',
        'mon-test-erp-function-throttles',
        'mon-test-erp-lag-p99',
        'mon-test-erp-oldest-message-age',
      ]);
    }
  });

  it.each(destinations)('passes the $name nested stack the alarm topic\'s ARN, as a parameter it declares', (d: ExpectedDestination) => {
    // Assess
    expect(destinationTemplate(d).toJSON().Parameters[topicParameter.get(d.name) as string]).toEqual({ Type: 'String' });
  });

  it.each(destinations)('creates one alarm per signal for $name, each notifying the topic on ALARM and on OK', (d: ExpectedDestination) => {
    // Prepare: one pattern per signal, by what it measures rather than by its name.
    const consumer = [{ Name: 'FunctionName', Value: { Ref: consumerId.get(d.name) } }];
    const signals = {
      deadLetterQueue: {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: d.deadLetterQueueName }],
      },
      lag: { MetricName: 'EndToEndLag', Dimensions: Match.arrayWith([{ Name: 'Destination', Value: d.name }]) },
      errorRate: {
        Metrics: Match.arrayWith([
          Match.objectLike({
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({ MetricName: 'RecordsApplied', Dimensions: Match.arrayWith([{ Name: 'Destination', Value: d.name }]) }),
            }),
          }),
        ]),
      },
      oldestMessageAge: {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: d.queueName }],
      },
      breakerOpen: { MetricName: 'BreakerOpen', Dimensions: Match.arrayWith([{ Name: 'Destination', Value: d.name }]) },
      functionErrors: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: consumer },
      functionThrottles: { Namespace: 'AWS/Lambda', MetricName: 'Throttles', Dimensions: consumer },
      duration: { Namespace: 'AWS/Lambda', MetricName: 'Duration', Dimensions: consumer },
    };
    const topic = [{ Ref: topicParameter.get(d.name) }];

    // Assess
    for (const [signal, pattern] of Object.entries(signals)) {
      const alarms = alarmsMatching(destinationTemplate(d), pattern);
      expect(alarms, `${d.name} ${signal} alarms`).toHaveLength(1);
      expect(alarms[0]?.AlarmActions, `${d.name} ${signal} alarm actions`).toEqual(topic);
      expect(alarms[0]?.OKActions, `${d.name} ${signal} OK actions`).toEqual(topic);
    }
  });

  it.each(destinations)('creates the $name DLQ alarm on ApproximateNumberOfMessagesVisible of its own DLQ above 0', (d: ExpectedDestination) => {
    // Assess
    const alarm = oneAlarm(destinationTemplate(d), { AlarmName: `mon-test-${d.name}-dlq-not-empty` });
    expect(alarm).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      // The DLQ's physical name (the queue in beforeAll), not a reference: the dashboards use it too.
      Dimensions: [{ Name: 'QueueName', Value: d.deadLetterQueueName }],
      Statistic: 'Maximum',
      Period: 60,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      // Silence from an untouched queue must not read as "empty".
      TreatMissingData: 'ignore',
    });
  });

  it.each(destinations)('creates the $name lag alarm on EndToEndLag p99 above lagP99Seconds in ms, 3 of 5 minutes', (d: ExpectedDestination) => {
    // Assess
    const alarm = oneAlarm(destinationTemplate(d), { AlarmName: `mon-test-${d.name}-lag-p99` });
    expect(alarm).toMatchObject({
      Namespace: 'MonTest',
      MetricName: 'EndToEndLag',
      ExtendedStatistic: 'p99',
      Period: 60,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: d.lagThresholdMs,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
    // Exactly the dimensions Powertools emits, or the alarm watches a metric that does not exist.
    expect([...alarm.Dimensions].sort(byName)).toEqual(serviceDimensions(d));
  });

  it.each(destinations)(
    'creates the $name error-rate alarm as metric math over RecordsApplied and every DestinationErrors class',
    (d: ExpectedDestination) => {
      // Prepare
      const alarm = oneAlarm(destinationTemplate(d), { AlarmName: `mon-test-${d.name}-error-rate` });
      const queries = alarm.Metrics as Array<Record<string, any>>;
      const expressions = queries.filter((query) => 'Expression' in query);
      const metricQueries = queries.filter((query) => 'MetricStat' in query);

      // Assess
      expect(alarm).toMatchObject({
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: d.errorRatePercent,
        EvaluationPeriods: 5,
        DatapointsToAlarm: 3,
        TreatMissingData: 'notBreaching',
      });
      expect(expressions).toHaveLength(1);
      expect(expressions[0]).toMatchObject({ ReturnData: true, Expression: expect.stringMatching(/\S/) });
      expect(expressions[0]?.Expression).not.toContain('SEARCH');
      // CloudWatch allows at most 10 metrics in one alarm.
      expect(metricQueries.length).toBeLessThanOrEqual(10);
      for (const query of metricQueries) {
        expect(query.ReturnData).toBe(false);
        expect(query.MetricStat).toMatchObject({ Period: 60, Stat: 'Sum', Metric: { Namespace: 'MonTest' } });
        const dimensions = (query.MetricStat.Metric.Dimensions as Array<{ Name: string; Value: string }>).filter(
          (dimension) => dimension.Name !== 'ErrorClass',
        );
        expect(dimensions.sort(byName)).toEqual(serviceDimensions(d));
      }
      const metricNames = metricQueries.map((query) => query.MetricStat.Metric.MetricName as string);
      expect(metricNames.filter((name) => name === 'RecordsApplied')).toHaveLength(1);
      const errorClasses = metricQueries
        .filter((query) => query.MetricStat.Metric.MetricName === 'DestinationErrors')
        .map((query) => (query.MetricStat.Metric.Dimensions as Array<{ Name: string; Value: string }>).find((x) => x.Name === 'ErrorClass')?.Value);
      // Every class the consumer can emit, or errors of a missing class would never count; a
      // transform failure is no destination call, and the consumer emits none for it.
      expect(errorClasses.sort()).toEqual(Object.values(DestinationErrorClass).filter((c) => c !== 'transform').sort());
    },
  );

  it.each<{ minute: string; values: Record<string, number>; rate: number | undefined }>([
    { minute: '90 applied, 6 throttled, 4 server errors', values: { applied: 90, errors_throttled: 6, errors_server: 4 }, rate: 10 },
    { minute: '0 applied, 3 timeouts', values: { applied: 0, errors_timeout: 3 }, rate: 100 },
    { minute: '50 applied, no errors', values: { applied: 50 }, rate: 0 },
    { minute: 'only skipped records (0 applied, no errors)', values: { applied: 0 }, rate: undefined },
    { minute: 'no invocation at all', values: {}, rate: undefined },
  ])('computes an error rate of $rate for a minute with $minute', ({ values, rate }) => {
    // Prepare
    const alarm = oneAlarm(templates.destination('crm'), { AlarmName: 'mon-test-crm-error-rate' });
    const expression = (alarm.Metrics as Array<Record<string, any>>).find((query) => 'Expression' in query)?.Expression as string;

    // Act
    const result = evaluateMetricMath(expression, values);

    // Assess
    expect(result).toBe(rate);
  });

  it.each(destinations)(
    'creates the $name oldest-message alarm on ApproximateAgeOfOldestMessage of its queue above oldestMessageAgeSeconds',
    (d: ExpectedDestination) => {
      // Assess
      const alarm = oneAlarm(destinationTemplate(d), { AlarmName: `mon-test-${d.name}-oldest-message-age` });
      expect(alarm).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: d.queueName }],
        Statistic: 'Maximum',
        Period: 60,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: d.oldestMessageAgeSeconds,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    },
  );

  it.each(destinations)('creates the $name breaker alarm on BreakerOpen at 1 in one minute, keeping its state between probes', (d: ExpectedDestination) => {
    // Assess
    const alarm = oneAlarm(destinationTemplate(d), { AlarmName: `mon-test-${d.name}-breaker-open` });
    expect(alarm).toMatchObject({
      Namespace: 'MonTest',
      MetricName: 'BreakerOpen',
      Statistic: 'Maximum',
      Period: 60,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      // While open, only the probes report: a minute between them must not read as "closed".
      TreatMissingData: 'ignore',
    });
    expect([...alarm.Dimensions].sort(byName)).toEqual(serviceDimensions(d));
  });

  it.each(destinations)('runs the $name consumer with its own functionTimeoutSeconds (what the duration alarm is relative to)', (d: ExpectedDestination) => {
    // Assess
    const consumer = destinationTemplate(d).toJSON().Resources[consumerId.get(d.name) as string] as Resource;
    expect(consumer.Type).toBe('AWS::Lambda::Function');
    expect(consumer.Properties.Timeout).toBe(d.functionTimeoutSeconds);
  });

  it.each(
    destinations.flatMap((d) => [
      { signal: 'function-errors', d, metricName: 'Errors', statistic: 'Sum', threshold: 0 },
      { signal: 'function-throttles', d, metricName: 'Throttles', statistic: 'Sum', threshold: 0 },
      { signal: 'duration-near-timeout', d, metricName: 'Duration', statistic: 'Maximum', threshold: d.durationThresholdMs },
    ]),
  )(
    'creates mon-test-$d.name-$signal on the consumer\'s $metricName $statistic above $threshold, 3 of 5 minutes',
    ({ signal, d, metricName, statistic, threshold }) => {
      // Assess
      const alarm = oneAlarm(destinationTemplate(d), { AlarmName: `mon-test-${d.name}-${signal}` });
      expect(alarm).toEqual(
        expect.objectContaining({
          Namespace: 'AWS/Lambda',
          MetricName: metricName,
          // This destination's own consumer, not another's.
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: consumerId.get(d.name) } }],
          Statistic: statistic,
          Period: 60,
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: threshold,
          EvaluationPeriods: 5,
          DatapointsToAlarm: 3,
          // No invocation: no error, no throttle, no duration.
          TreatMissingData: 'notBreaching',
          AlarmActions: [{ Ref: topicParameter.get(d.name) }],
          OKActions: [{ Ref: topicParameter.get(d.name) }],
        }),
      );
      expect(alarm.ExtendedStatistic).toBeUndefined();
    },
  );

  it.each(
    destinations.flatMap((d) => [
      { alarmName: `mon-test-${d.name}-dlq-not-empty`, d, mentions: [d.deadLetterQueueName, 'sync-reason', 'redrive'] },
      { alarmName: `mon-test-${d.name}-lag-p99`, d, mentions: [`${d.lagThresholdMs / 1000} s`, 'error rate', 'queue depth'] },
      { alarmName: `mon-test-${d.name}-error-rate`, d, mentions: [`${d.errorRatePercent}%`, 'ErrorClass', 'credentials'] },
      {
        alarmName: `mon-test-${d.name}-oldest-message-age`,
        d,
        mentions: [d.queueName, `${d.oldestMessageAgeSeconds} s`, 'logs', `${d.retentionDays}-day retention`],
      },
      {
        alarmName: `mon-test-${d.name}-breaker-open`,
        d,
        mentions: [
          `${d.breaker.failurePercent}% of ${d.breaker.minCalls} or more calls in ${d.breaker.windowSeconds} s`,
          'event source mapping is disabled',
          d.queueName,
          `${d.retentionDays}-day retention`,
          'lag grows',
          `\`sync-pipeline status ${d.name}\``,
          `every ${d.probeIntervalMinutes} min`,
        ],
      },
      { alarmName: `mon-test-${d.name}-function-errors`, d, mentions: [`${d.functionTimeoutSeconds} s`, 'log group', 'batchSize'] },
      { alarmName: `mon-test-${d.name}-function-throttles`, d, mentions: [`maxConcurrency ${d.maxConcurrency}`, 'ConcurrentExecutions'] },
      {
        alarmName: `mon-test-${d.name}-duration-near-timeout`,
        d,
        mentions: [`80% of its ${d.functionTimeoutSeconds} s timeout`, 'DestinationLatency', 'functionTimeoutSeconds'],
      },
    ]),
  )('creates $alarmName with a description of what it means and what to do first', ({ alarmName, d, mentions }) => {
    // Prepare
    const description = oneAlarm(destinationTemplate(d), { AlarmName: alarmName }).AlarmDescription as string;
    const [meaning = '', nextStep = ''] = description.split(' First: ');

    // Assess
    expect(meaning).toContain(d.name);
    expect(nextStep.length).toBeGreaterThan(40);
    for (const text of mentions) expect(description).toContain(text);
  });

  it('creates every alarm with a description CloudWatch accepts (at most 1024 characters)', () => {
    // Prepare
    const descriptions = destinations.flatMap((d) =>
      alarmsMatching(destinationTemplate(d), {}).map((alarm) => [alarm.AlarmName, alarm.AlarmDescription as string] as const),
    );

    // Assess
    expect(descriptions).toHaveLength(16);
    for (const [name, description] of descriptions) expect(description.length, name).toBeLessThanOrEqual(1024);
  });

  it('creates the dashboard <name>-<region> in a nested stack of its own, with a summary row of every destination first', () => {
    // Prepare
    const widgets = dashboardBody(dashboard).widgets;
    const summary = widgets.filter((widget) => widget.y === 0);

    // Assess
    root.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    for (const d of destinations) destinationTemplate(d).resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    dashboard.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    // The region in the name: dashboards are one namespace per account, across regions.
    dashboard.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: { 'Fn::Join': ['', ['mon-test-', { Ref: 'AWS::Region' }]] },
    });
    expect(summary.map((widget) => widget.properties.view ?? widget.type)).toEqual(['singleValue', 'timeSeries', 'alarm']);
    const totals = widgetMetrics(summary[0] as Record<string, any>);
    const lagOverview = widgetMetrics(summary[1] as Record<string, any>);
    for (const d of destinations) {
      const dimensions = { Destination: d.name, service: d.service };
      expect(totals).toContainEqual(expect.objectContaining({ name: 'RecordsApplied', dimensions }));
      expect(totals).toContainEqual(expect.objectContaining({ name: 'RecordsDeadLettered', dimensions }));
      expect(lagOverview).toContainEqual(
        expect.objectContaining({ name: 'EndToEndLag', dimensions, options: expect.objectContaining({ stat: 'p99' }) }),
      );
    }
    // Every alarm of both destinations, each once.
    const listed = alarmNamesOnPage(stack, templates, 0);
    expect(listed).toHaveLength(16);
    expect([...listed].sort()).toEqual(['crm', 'erp'].flatMap((name) => ALARM_SIGNALS.map((signal) => `mon-test-${name}-${signal}`)).sort());
  });

  it.each(destinations)(
    'creates a dashboard row for $name: lag p50/p90/p99, throughput, error rate, queue and DLQ',
    (d: ExpectedDestination) => {
      // Prepare
      const widgets = dashboardBody(dashboard).widgets;
      const header = widgets.find((widget) => widget.type === 'text' && widget.properties.markdown.startsWith(`## ${d.name}\n`));
      const row = widgets.filter((widget) => widget.y === (header?.y ?? 0) + (header?.height ?? 0));
      const metricsOf = (index: number) => widgetMetrics(row[index] as Record<string, any>);
      const dimensions = { Destination: d.name, service: d.service };
      const errorRateAlarm = oneAlarm(destinationTemplate(d), { AlarmName: `mon-test-${d.name}-error-rate` });

      // Assess
      expect(header).toBeDefined();
      expect(row.map((widget) => widget.properties.title)).toEqual([
        `${d.name}: end-to-end lag (ms)`,
        `${d.name}: records per minute`,
        `${d.name}: error rate (%)`,
        `${d.name}: queue`,
        `${d.name}: DLQ`,
      ]);
      expect(metricsOf(0)).toEqual(
        ['p50', 'p90', 'p99'].map((stat) =>
          expect.objectContaining({ namespace: 'MonTest', name: 'EndToEndLag', dimensions, options: expect.objectContaining({ stat }) }),
        ),
      );
      expect(metricsOf(1).map((metric) => [metric.name, metric.dimensions, metric.options.stat])).toEqual(
        ['RecordsApplied', 'RecordsSkipped', 'RecordsRetried', 'RecordsDeadLettered'].map((name) => [name, dimensions, 'Sum']),
      );
      // The graph shows the very expression the alarm evaluates.
      const errorRateExpression = (errorRateAlarm.Metrics as Array<Record<string, any>>).find((query) => 'Expression' in query)?.Expression;
      expect(metricsOf(2)[0]).toMatchObject({ expression: errorRateExpression });
      // The queues by their physical names: the dashboard's stack holds no reference to them.
      expect(metricsOf(3)).toEqual([
        expect.objectContaining({ namespace: 'AWS/SQS', name: 'ApproximateNumberOfMessagesVisible', dimensions: { QueueName: d.queueName } }),
        expect.objectContaining({ namespace: 'AWS/SQS', name: 'ApproximateAgeOfOldestMessage', dimensions: { QueueName: d.queueName } }),
      ]);
      expect(metricsOf(4)).toEqual([
        expect.objectContaining({ namespace: 'AWS/SQS', name: 'ApproximateNumberOfMessagesVisible', dimensions: { QueueName: d.deadLetterQueueName } }),
      ]);
    },
  );

  /** The second row of graphs under the destination's header. */
  const secondRowOf = (d: ExpectedDestination): Array<Record<string, any>> => {
    const widgets = dashboardBody(dashboard).widgets;
    const header = widgets.find((widget) => widget.type === 'text' && widget.properties.markdown.startsWith(`## ${d.name}\n`));
    expect(header, `${d.name} header`).toBeDefined();
    const firstRowY = (header?.y ?? 0) + (header?.height ?? 0);
    return widgets.filter((widget) => widget.y === firstRowY + 6);
  };

  it.each(destinations)(
    'creates a second dashboard row for $name: the breaker with the rate in force, deferred records by reason, errors by class and call latency',
    (d: ExpectedDestination) => {
      // Prepare
      const row = secondRowOf(d);
      const [breaker, deferred] = row.map((widget) => widgetMetrics(widget as Record<string, any>));
      const dimensions = { Destination: d.name, service: d.service };

      // Assess
      expect(row.map((widget) => widget.properties.title)).toEqual([
        d.rateLimitPerSecond === undefined ? `${d.name}: circuit breaker` : `${d.name}: circuit breaker and rate in force`,
        `${d.name}: records deferred per minute, by reason`,
        `${d.name}: destination errors per minute, by ErrorClass`,
        `${d.name}: destination call latency (ms)`,
      ]);
      // A graph leaves out its default statistic, Average, and its default axis, left.
      expect(breaker?.map((metric) => [metric.namespace, metric.name, metric.dimensions, metric.options.stat ?? 'Average', metric.options.yAxis ?? 'left'])).toEqual([
        ['MonTest', 'BreakerOpen', dimensions, 'Maximum', 'left'],
        ...(d.rateLimitPerSecond === undefined ? [] : [['MonTest', 'RateInForce', dimensions, 'Average', 'right']]),
      ]);
      expect(row[0]?.properties.annotations.horizontal).toEqual([
        // The breaker alarm's threshold.
        { value: 1, label: 'BreakerOpen >= 1 for 1 datapoints within 1 minute', yAxis: 'left' },
        ...(d.rateLimitPerSecond === undefined ? [] : [{ value: d.rateLimitPerSecond, label: 'rateLimit.perSecond', yAxis: 'right' }]),
      ]);
      // One series per Reason the consumer emitted, for exactly this destination's dimensions.
      expect(deferred).toEqual([
        {
          expression: `SEARCH('{"MonTest",Destination,Reason,service} MetricName="RecordsDeferred" Destination="${d.name}" service="${d.service}"', 'Sum', 60)`,
          options: expect.objectContaining({ label: "${PROP('Dim.Reason')}" }),
        },
      ]);
    },
  );

  it.each(destinations)('graphs $name destination errors per minute, one series per ErrorClass of exactly this destination', (d: ExpectedDestination) => {
    // Prepare
    const widget = secondRowOf(d)[2] as Record<string, any>;

    // Assess
    expect(widget.properties.title).toBe(`${d.name}: destination errors per minute, by ErrorClass`);
    // A search, so a class added later shows without a change; quoted terms, so `crm` does not match `crm-eu`.
    expect(widgetMetrics(widget)).toEqual([
      {
        expression: `SEARCH('{"MonTest",Destination,ErrorClass,service} MetricName="DestinationErrors" Destination="${d.name}" service="${d.service}"', 'Sum', 60)`,
        options: expect.objectContaining({ label: "${PROP('Dim.ErrorClass')}" }),
      },
    ]);
  });

  it.each(destinations)('graphs $name destination call latency p50 and p99 against its requestTimeoutMs', (d: ExpectedDestination) => {
    // Prepare
    const widget = secondRowOf(d)[3] as Record<string, any>;
    const dimensions = { Destination: d.name, service: d.service };

    // Assess
    expect(widget.properties.title).toBe(`${d.name}: destination call latency (ms)`);
    expect(widgetMetrics(widget).map((metric) => [metric.namespace, metric.name, metric.dimensions, metric.options.stat, metric.options.label])).toEqual([
      ['MonTest', 'DestinationLatency', dimensions, 'p50', 'p50'],
      ['MonTest', 'DestinationLatency', dimensions, 'p99', 'p99'],
    ]);
    expect(widget.properties.annotations.horizontal).toEqual([{ value: d.requestTimeoutMs, label: 'requestTimeoutMs', yAxis: 'left' }]);
  });

  it('creates outputs for the alarm topic and the first dashboard', () => {
    // Prepare
    const dashboardId = logicalIdOf(dashboard, 'AWS::CloudWatch::Dashboard', {
      DashboardName: { 'Fn::Join': ['', ['mon-test-', { Ref: 'AWS::Region' }]] },
    });
    const outputs = root.toJSON().Outputs as Record<string, { Value: any }>;
    const [pageId, attribute] = outputs.DashboardName?.Value['Fn::GetAtt'] as [string, string];

    // Assess
    root.hasOutput('AlarmTopicArn', { Value: { Ref: topicId } });
    // The dashboard's name comes out of its page's nested stack.
    expect(pageId).toBe(rootIdOf(stack, pageStack(stack, 0)));
    expect(attribute).toMatch(/^Outputs\./);
    expect(dashboard.toJSON().Outputs[attribute.slice('Outputs.'.length)]).toEqual({ Value: { Ref: dashboardId } });
  });
});

describe('Construct: PipelineDashboards, paged ten destinations each', () => {
  // 23 destinations: two full pages and one of 3.
  const names = [
    'd01', 'd02', 'd03', 'd04', 'd05', 'd06', 'd07', 'd08', 'd09', 'd10',
    'd11', 'd12', 'd13', 'd14', 'd15', 'd16', 'd17', 'd18', 'd19', 'd20',
    'd21', 'd22', 'd23',
  ];
  const pages = [
    ['d01', 'd02', 'd03', 'd04', 'd05', 'd06', 'd07', 'd08', 'd09', 'd10'],
    ['d11', 'd12', 'd13', 'd14', 'd15', 'd16', 'd17', 'd18', 'd19', 'd20'],
    ['d21', 'd22', 'd23'],
  ];
  const manyConfig = parsePipelineConfig({
    name: 'many',
    metricsNamespace: 'Many',
    alarmEmail: 'oncall@example.com',
    destinations: names.map((name) => ({ name, kind: 'http', baseUrl: `https://${name}.example.com/api`, resourceTypes: ['thing'] })),
  });
  let stack: SyncPipelineStack;
  let templates: PipelineTemplates;

  beforeAll(() => {
    stack = new SyncPipelineStack(newApp(), 'Many', { config: manyConfig });
    templates = pipelineTemplates(stack);
  });

  it("points each lag alarm's runbook at the dashboard page that shows its destination", () => {
    // Assess
    const described = ['d01', 'd10', 'd11', 'd23'].map((name) => {
      const alarm = Object.values(templates.destination(name).findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: `many-${name}-lag-p99` } }))[0] as Resource;
      return /on the (\S+) dashboard/.exec(String(alarm.Properties.AlarmDescription))?.[1];
    });
    expect(described).toEqual(['many-<region>', 'many-<region>', 'many-<region>-2', 'many-<region>-3']);
  });

  it('creates three dashboard pages, each in a nested stack of its own, named <name>-<region>, then -2 and -3', () => {
    // Assess
    expect(templates.dashboards).toHaveLength(3);
    templates.root.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    const dashboardNames = templates.dashboards.map((page) => {
      page.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      return (Object.values(page.findResources('AWS::CloudWatch::Dashboard'))[0] as Resource).Properties.DashboardName;
    });
    expect(dashboardNames).toEqual([
      { 'Fn::Join': ['', ['many-', { Ref: 'AWS::Region' }]] },
      { 'Fn::Join': ['', ['many-', { Ref: 'AWS::Region' }, '-2']] },
      { 'Fn::Join': ['', ['many-', { Ref: 'AWS::Region' }, '-3']] },
    ]);
    expect(new Set([0, 1, 2].map((page) => rootIdOf(stack, pageStack(stack, page)))).size).toBe(3);
  });

  it.each([{ page: 1 }, { page: 2 }, { page: 3 }])('shows on page $page a header for each of its destinations, in config order (10, 10, 3)', ({ page }) => {
    // Assess
    expect(headersOf(templates.dashboards[page - 1] as Template)).toEqual(pages[page - 1]);
  });

  it.each([{ page: 1 }, { page: 2 }, { page: 3 }])('sums up on page $page exactly the destinations of that page', ({ page }) => {
    // Prepare
    const summary = dashboardBody(templates.dashboards[page - 1] as Template).widgets.filter((widget) => widget.y === 0);
    const destinationsOf = (widget: Record<string, any> | undefined) =>
      [...new Set(widgetMetrics(widget as Record<string, any>).map((metric) => metric.dimensions?.Destination))].sort();

    // Assess
    expect(summary.map((widget) => widget.properties.view ?? widget.type)).toEqual(['singleValue', 'timeSeries', 'alarm']);
    expect(destinationsOf(summary[0])).toEqual(pages[page - 1]);
    expect(destinationsOf(summary[1])).toEqual(pages[page - 1]);
  });

  it.each([
    { page: 1, count: 80 },
    { page: 2, count: 80 },
    { page: 3, count: 24 },
  ])('lists on page $page exactly the eight alarms of each of its destinations ($count, at most 100)', ({ page, count }) => {
    // Prepare
    const listed = alarmNamesOnPage(stack, templates, page - 1);
    const expected = (pages[page - 1] as string[]).flatMap((name) => ALARM_SIGNALS.map((signal) => `many-${name}-${signal}`));

    // Assess
    expect(listed.length).toBeLessThanOrEqual(100);
    expect(listed).toHaveLength(count);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(expected.sort());
  });
});

describe('Synth warning: sync-pipeline:alarm-topic-unsubscribed', () => {
  const unsubscribedWarnings = (stack: SyncPipelineStack) =>
    Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('\\[ack: sync-pipeline:alarm-topic-unsubscribed\\]'));

  it('warns on the alarm topic when alarmEmail is not set and nothing else subscribes', () => {
    // Prepare
    const stack = new SyncPipelineStack(newApp(), 'NoEmail', { config: configWithoutEmail });

    // Assess
    const warnings = unsubscribedWarnings(stack);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.id).toBe('/NoEmail/Pipeline/Alarms/AlarmTopic');
    expect(warnings[0]?.entry.data).toMatch(/has no subscription/);
  });

  it('does not warn when alarmEmail is set', () => {
    // Prepare
    const stack = new SyncPipelineStack(newApp(), 'WithEmail', { config });

    // Assess
    expect(unsubscribedWarnings(stack)).toHaveLength(0);
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('alarm-topic-unsubscribed'));
  });

  it('does not warn when, without alarmEmail, a subscription is added after the pipeline is constructed', () => {
    // Prepare
    const stack = new SyncPipelineStack(newApp(), 'LateSubscription', { config: configWithoutEmail });

    // Act
    stack.pipeline.alarmTopic.addSubscription(new EmailSubscription('x@example.com'));

    // Assess
    expect(unsubscribedWarnings(stack)).toHaveLength(0);
  });
});
