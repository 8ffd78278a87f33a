import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { SyncPipelineStack } from '../../lib/infra/index.ts';
import { monitoringTestConfigInput, newApp } from '../helpers/infra.ts';
import { DestinationErrorClass } from '../../lib/core/errors.ts';


const configInput = monitoringTestConfigInput;
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
  },
] as const;
type ExpectedDestination = (typeof destinations)[number];

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

const serviceDimensions = (d: ExpectedDestination) => [
  { Name: 'Destination', Value: d.name },
  { Name: 'service', Value: d.service },
];
const byName = (a: { Name: string }, b: { Name: string }) => a.Name.localeCompare(b.Name);

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

describe('Construct: PipelineMonitoring', () => {
  let template: Template;
  let templateWithoutEmail: Template;
  let topicId: string;
  const queueId = new Map<string, string>();
  const deadLetterQueueId = new Map<string, string>();

  beforeAll(() => {
    template = Template.fromStack(new SyncPipelineStack(newApp(), 'MonTest', { config }));
    templateWithoutEmail = Template.fromStack(new SyncPipelineStack(newApp(), 'MonTestNoEmail', { config: configWithoutEmail }));

    topicId = logicalIdOf(template, 'AWS::SNS::Topic', { TopicName: 'mon-test-alarms' });
    for (const d of destinations) {
      queueId.set(d.name, logicalIdOf(template, 'AWS::SQS::Queue', { QueueName: d.queueName }));
      deadLetterQueueId.set(d.name, logicalIdOf(template, 'AWS::SQS::Queue', { QueueName: d.deadLetterQueueName }));
    }
  });

  it('creates the alarm topic <name>-alarms, requiring TLS and open to this account\'s CloudWatch alarms', () => {
    // Assess
    template.resourceCountIs('AWS::SNS::Topic', 1);
    // No KMS key: CloudWatch cannot publish to a topic under the AWS-managed SNS key.
    template.hasResourceProperties('AWS::SNS::Topic', { TopicName: 'mon-test-alarms', KmsMasterKeyId: Match.absent() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
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
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: topicId },
    });
  });

  it('creates no subscription when alarmEmail is not set', () => {
    // Assess
    templateWithoutEmail.resourceCountIs('AWS::SNS::Topic', 1);
    templateWithoutEmail.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('creates five alarms per destination and no others', () => {
    // Assess
    template.resourceCountIs('AWS::CloudWatch::Alarm', 10);
    templateWithoutEmail.resourceCountIs('AWS::CloudWatch::Alarm', 10);
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => (alarm as Resource).Properties.AlarmName);
    expect(names.sort()).toEqual([
      'mon-test-crm-breaker-open',
      'mon-test-crm-dlq-not-empty',
      'mon-test-crm-error-rate',
      'mon-test-crm-lag-p99',
      'mon-test-crm-oldest-message-age',
      'mon-test-erp-breaker-open',
      'mon-test-erp-dlq-not-empty',
      'mon-test-erp-error-rate',
      'mon-test-erp-lag-p99',
      'mon-test-erp-oldest-message-age',
    ]);
  });

  it.each(destinations)('creates one alarm per signal for $name, each notifying the topic on ALARM and on OK', (d: ExpectedDestination) => {
    // Prepare: one pattern per signal, by what it measures rather than by its name.
    const signals = {
      deadLetterQueue: {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterQueueId.get(d.name), 'QueueName'] } }],
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
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId.get(d.name), 'QueueName'] } }],
      },
      breakerOpen: { MetricName: 'BreakerOpen', Dimensions: Match.arrayWith([{ Name: 'Destination', Value: d.name }]) },
    };

    // Assess
    for (const [signal, pattern] of Object.entries(signals)) {
      const alarms = alarmsMatching(template, pattern);
      expect(alarms, `${d.name} ${signal} alarms`).toHaveLength(1);
      expect(alarms[0]?.AlarmActions, `${d.name} ${signal} alarm actions`).toEqual([{ Ref: topicId }]);
      expect(alarms[0]?.OKActions, `${d.name} ${signal} OK actions`).toEqual([{ Ref: topicId }]);
    }
  });

  it.each(destinations)('creates the $name DLQ alarm on ApproximateNumberOfMessagesVisible of its own DLQ above 0', (d: ExpectedDestination) => {
    // Assess
    const alarm = oneAlarm(template, { AlarmName: `mon-test-${d.name}-dlq-not-empty` });
    expect(alarm).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterQueueId.get(d.name), 'QueueName'] } }],
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
    const alarm = oneAlarm(template, { AlarmName: `mon-test-${d.name}-lag-p99` });
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
      const alarm = oneAlarm(template, { AlarmName: `mon-test-${d.name}-error-rate` });
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
      // Every class the consumer can emit, or errors of a missing class would never count.
      expect(errorClasses.sort()).toEqual(Object.values(DestinationErrorClass).sort());
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
    const alarm = oneAlarm(template, { AlarmName: 'mon-test-crm-error-rate' });
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
      const alarm = oneAlarm(template, { AlarmName: `mon-test-${d.name}-oldest-message-age` });
      expect(alarm).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId.get(d.name), 'QueueName'] } }],
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
    const alarm = oneAlarm(template, { AlarmName: `mon-test-${d.name}-breaker-open` });
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

  it.each(
    destinations.flatMap((d) => [
      { alarmName: `mon-test-${d.name}-dlq-not-empty`, d, mentions: [d.deadLetterQueueName, 'sync-reason', 'redrive'] },
      { alarmName: `mon-test-${d.name}-lag-p99`, d, mentions: [`${d.lagThresholdMs / 1000} s`, 'error rate', 'queue depth'] },
      { alarmName: `mon-test-${d.name}-error-rate`, d, mentions: [`${d.errorRatePercent}%`, 'ErrorClass', 'credentials'] },
      { alarmName: `mon-test-${d.name}-oldest-message-age`, d, mentions: [d.queueName, `${d.oldestMessageAgeSeconds} s`, 'logs'] },
      {
        alarmName: `mon-test-${d.name}-breaker-open`,
        d,
        mentions: [
          `${d.breaker.failurePercent}% of ${d.breaker.minCalls} or more calls in ${d.breaker.windowSeconds} s`,
          'event source mapping is disabled',
          d.queueName,
          'lag grows',
          `\`sync-pipeline status ${d.name}\``,
          `every ${d.probeIntervalMinutes} min`,
        ],
      },
    ]),
  )('creates $alarmName with a description of what it means and what to do first', ({ alarmName, d, mentions }) => {
    // Prepare
    const description = oneAlarm(template, { AlarmName: alarmName }).AlarmDescription as string;
    const [meaning = '', nextStep = ''] = description.split(' First: ');

    // Assess
    expect(meaning).toContain(d.name);
    expect(nextStep.length).toBeGreaterThan(40);
    for (const text of mentions) expect(description).toContain(text);
  });

  it('creates every alarm with a description CloudWatch accepts (at most 1024 characters)', () => {
    // Prepare
    const descriptions = alarmsMatching(template, {}).map((alarm) => [alarm.AlarmName, alarm.AlarmDescription as string] as const);

    // Assess
    expect(descriptions).toHaveLength(10);
    for (const [name, description] of descriptions) expect(description.length, name).toBeLessThanOrEqual(1024);
  });

  it('creates the dashboard named after the pipeline, with a summary row of every destination first', () => {
    // Prepare
    const widgets = dashboardBody(template).widgets;
    const summary = widgets.filter((widget) => widget.y === 0);
    const alarmIds = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));

    // Assess
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'mon-test' });
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
    expect([...summary[2]?.properties.alarms].sort()).toEqual(alarmIds.map((id) => `<GetAtt:${id}.Arn>`).sort());
  });

  it.each(destinations)(
    'creates a dashboard row for $name: lag p50/p90/p99, throughput, error rate, queue and DLQ',
    (d: ExpectedDestination) => {
      // Prepare
      const widgets = dashboardBody(template).widgets;
      const header = widgets.find((widget) => widget.type === 'text' && widget.properties.markdown.startsWith(`## ${d.name}\n`));
      const row = widgets.filter((widget) => widget.y === (header?.y ?? 0) + (header?.height ?? 0));
      const metricsOf = (index: number) => widgetMetrics(row[index] as Record<string, any>);
      const dimensions = { Destination: d.name, service: d.service };
      const errorRateAlarm = oneAlarm(template, { AlarmName: `mon-test-${d.name}-error-rate` });

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
      expect(metricsOf(3)).toEqual([
        expect.objectContaining({ name: 'ApproximateNumberOfMessagesVisible', dimensions: { QueueName: `<GetAtt:${queueId.get(d.name)}.QueueName>` } }),
        expect.objectContaining({ name: 'ApproximateAgeOfOldestMessage', dimensions: { QueueName: `<GetAtt:${queueId.get(d.name)}.QueueName>` } }),
      ]);
      expect(metricsOf(4)).toEqual([
        expect.objectContaining({
          name: 'ApproximateNumberOfMessagesVisible',
          dimensions: { QueueName: `<GetAtt:${deadLetterQueueId.get(d.name)}.QueueName>` },
        }),
      ]);
    },
  );

  it.each(destinations)(
    'creates a second dashboard row for $name: the breaker with the rate in force, and deferred records by reason',
    (d: ExpectedDestination) => {
      // Prepare
      const widgets = dashboardBody(template).widgets;
      const header = widgets.find((widget) => widget.type === 'text' && widget.properties.markdown.startsWith(`## ${d.name}\n`));
      const firstRowY = (header?.y ?? 0) + (header?.height ?? 0);
      const row = widgets.filter((widget) => widget.y === firstRowY + 6);
      const [breaker, deferred] = row.map((widget) => widgetMetrics(widget as Record<string, any>));
      const dimensions = { Destination: d.name, service: d.service };

      // Assess
      expect(row.map((widget) => widget.properties.title)).toEqual([
        d.rateLimitPerSecond === undefined ? `${d.name}: circuit breaker` : `${d.name}: circuit breaker and rate in force`,
        `${d.name}: records deferred per minute, by reason`,
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

  it('creates outputs for the alarm topic and the dashboard', () => {
    // Prepare
    const dashboardId = logicalIdOf(template, 'AWS::CloudWatch::Dashboard', { DashboardName: 'mon-test' });

    // Assess
    template.hasOutput('AlarmTopicArn', { Value: { Ref: topicId } });
    template.hasOutput('DashboardName', { Value: { Ref: dashboardId } });
  });
});
