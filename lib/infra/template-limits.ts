import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { parsePipelineConfig } from '../config/pipeline-config.ts';
import { applyNagChecks } from './nag.ts';
import { SyncPipelineStack } from './sync-pipeline-stack.ts';

/** CloudFormation's limits on one template (and its stack), as its quotas page states them. */
export const CloudFormationLimits = {
  RESOURCES: 500,
  OUTPUTS: 200,
  PARAMETERS: 200,
  /** A template uploaded through S3, as `cdk deploy` does, in bytes. */
  TEMPLATE_BYTES: 1_000_000,
} as const;

/** CloudWatch's limits on one dashboard. */
export const DashboardLimits = {
  WIDGETS: 500,
  METRICS: 2_500,
  ALARMS_PER_ALARM_STATUS_WIDGET: 100,
} as const;

/** What one synthesized template holds, against the limits above. */
export interface TemplateFigures {
  readonly file: string;
  readonly bytes: number;
  readonly resources: number;
  readonly outputs: number;
  readonly parameters: number;
  /** The dashboards it defines: widgets, metrics, and the most alarms in one alarm status widget. */
  readonly dashboards: ReadonlyArray<{ readonly widgets: number; readonly metrics: number; readonly alarmsInOneWidget: number }>;
  /** Every limit it exceeds, in words; empty when it is within all of them. */
  readonly violations: readonly string[];
}

interface TemplateJson {
  readonly Resources?: Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>;
  readonly Outputs?: Record<string, unknown>;
  readonly Parameters?: Record<string, unknown>;
}

interface DashboardWidget {
  readonly type: string;
  readonly properties?: { readonly metrics?: readonly unknown[]; readonly alarms?: readonly unknown[] };
}

/**
 * A dashboard body as CloudWatch will read it. CDK writes it as an `Fn::Join` of strings and tokens
 * (the region, alarm ARNs), each token inside a JSON string, so a placeholder in its place leaves
 * valid JSON.
 */
const dashboardBody = (body: unknown): { readonly widgets: readonly DashboardWidget[] } => {
  if (typeof body === 'string') return JSON.parse(body) as { widgets: DashboardWidget[] };
  const join = (body as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) throw new Error(`unexpected dashboard body: ${JSON.stringify(body).slice(0, 200)}`);
  return JSON.parse(join[1].map((part) => (typeof part === 'string' ? part : 'token')).join(join[0])) as { widgets: DashboardWidget[] };
};

/**
 * The figures of one template file and the limits it exceeds.
 *
 * @example
 * figuresOf('cdk.out/sync-pipeline.template.json').violations; // []
 */
export const figuresOf = (file: string): TemplateFigures => {
  const bytes = statSync(file).size;
  const template = JSON.parse(readFileSync(file, 'utf8')) as TemplateJson;
  const resources = Object.values(template.Resources ?? {});
  const outputs = Object.keys(template.Outputs ?? {}).length;
  const parameters = Object.keys(template.Parameters ?? {}).length;
  const dashboards = resources
    .filter((resource) => resource.Type === 'AWS::CloudWatch::Dashboard')
    .map((resource) => {
      const { widgets } = dashboardBody(resource.Properties?.DashboardBody);
      return {
        widgets: widgets.length,
        metrics: widgets.reduce((sum, widget) => sum + (widget.properties?.metrics?.length ?? 0), 0),
        alarmsInOneWidget: Math.max(0, ...widgets.map((widget) => widget.properties?.alarms?.length ?? 0)),
      };
    });
  const violations = [
    ...(bytes > CloudFormationLimits.TEMPLATE_BYTES ? [`${bytes} bytes, over ${CloudFormationLimits.TEMPLATE_BYTES}`] : []),
    ...(resources.length > CloudFormationLimits.RESOURCES ? [`${resources.length} resources, over ${CloudFormationLimits.RESOURCES}`] : []),
    ...(outputs > CloudFormationLimits.OUTPUTS ? [`${outputs} outputs, over ${CloudFormationLimits.OUTPUTS}`] : []),
    ...(parameters > CloudFormationLimits.PARAMETERS ? [`${parameters} parameters, over ${CloudFormationLimits.PARAMETERS}`] : []),
    ...dashboards.flatMap((dashboard, index) => [
      ...(dashboard.widgets > DashboardLimits.WIDGETS ? [`dashboard ${index + 1}: ${dashboard.widgets} widgets, over ${DashboardLimits.WIDGETS}`] : []),
      ...(dashboard.metrics > DashboardLimits.METRICS ? [`dashboard ${index + 1}: ${dashboard.metrics} metrics, over ${DashboardLimits.METRICS}`] : []),
      ...(dashboard.alarmsInOneWidget > DashboardLimits.ALARMS_PER_ALARM_STATUS_WIDGET
        ? [`dashboard ${index + 1}: ${dashboard.alarmsInOneWidget} alarms in one alarm status widget, over ${DashboardLimits.ALARMS_PER_ALARM_STATUS_WIDGET}`]
        : []),
    ]),
  ];
  return { file, bytes, resources: resources.length, outputs, parameters, dashboards, violations };
};

/**
 * The figures of every template in a cloud assembly directory (`cdk.out`): the stacks' and their
 * nested stacks' (`*.template.json`).
 *
 * @example
 * templateFiguresIn('cdk.out').filter((figures) => figures.violations.length > 0); // []
 */
export const templateFiguresIn = (dir: string): TemplateFigures[] =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.template.json'))
    .sort()
    .map((name) => figuresOf(join(dir, name)));

/**
 * A valid config of `count` destinations, each with its own resource type, every other one with a
 * rate limit, and an alarm email: what the scale checks synthesize.
 *
 * @example
 * scaleTestConfigInput(100).destinations.length; // 100
 */
export const scaleTestConfigInput = (count: number) => ({
  name: 'sync-scale',
  alarmEmail: 'oncall@example.com',
  destinations: Array.from({ length: count }, (_, index) => {
    const name = `dest-${String(index + 1).padStart(3, '0')}`;
    return {
      name,
      kind: 'http' as const,
      baseUrl: `https://${name}.example.com/api`,
      resourceTypes: [`type${index + 1}`],
      ...(index % 2 === 0 ? { rateLimit: { perSecond: 20 } } : {}),
    };
  }),
});

/** What {@link synthesizeScaleCheck} measured. */
export interface ScaleCheck {
  readonly destinations: number;
  readonly synthSeconds: number;
  readonly figures: readonly TemplateFigures[];
}

/**
 * Synthesizes {@link scaleTestConfigInput}`(count)` into `outdir` as `cdk synth` would (the given
 * cdk.json context, the cdk-nag checks) but without bundling the consumer, and reads back every
 * template's figures.
 *
 * @example
 * const check = synthesizeScaleCheck({ destinations: 100, outdir: 'reports/scale-100', context });
 * check.figures.flatMap((figures) => figures.violations); // []
 */
export const synthesizeScaleCheck = (options: { readonly destinations: number; readonly outdir: string; readonly context: Record<string, unknown> }): ScaleCheck => {
  const config = parsePipelineConfig(scaleTestConfigInput(options.destinations));
  const startedAt = performance.now();
  const app = new App({ outdir: options.outdir, context: { ...options.context, 'aws:cdk:bundling-stacks': [] } });
  new SyncPipelineStack(app, config.name, { config, description: `sync-pipeline ${config.name}: scale check` });
  applyNagChecks(app);
  app.synth();
  return { destinations: options.destinations, synthSeconds: (performance.now() - startedAt) / 1000, figures: templateFiguresIn(options.outdir) };
};
