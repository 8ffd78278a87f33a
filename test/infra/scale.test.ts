import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_DESTINATIONS, parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { ValidationError } from '../../lib/contract/validation.ts';
import { figuresOf, scaleTestConfigInput, synthesizeScaleCheck } from '../../lib/infra/template-limits.ts';
import { cdkContext } from '../helpers/infra.ts';

const dirs: string[] = [];
const outdir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'sync-scale-'));
  dirs.push(dir);
  return dir;
};

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('Scale: one pipeline of many destinations', () => {
  it.each([100, MAX_DESTINATIONS])('synthesizes %i destinations into templates each within every CloudFormation and dashboard limit', (destinations) => {
    // Act
    const { figures } = synthesizeScaleCheck({ destinations, outdir: outdir(), context: cdkContext });

    // Assess: the root, one nested stack per destination, one per dashboard page of ten
    expect(figures).toHaveLength(1 + destinations + destinations / 10);
    expect(figures.flatMap((figure) => figure.violations.map((violation) => `${figure.file}: ${violation}`))).toEqual([]);
    const dashboards = figures.flatMap((figure) => figure.dashboards);
    expect(dashboards).toHaveLength(destinations / 10);
    expect(dashboards.every((dashboard) => dashboard.alarmsInOneWidget === 80)).toBe(true);
  }, 120_000);

  it('refuses a config of more destinations than the bound, saying how many it takes', () => {
    // Act
    const refused = (() => {
      try {
        parsePipelineConfig(scaleTestConfigInput(MAX_DESTINATIONS + 1));
        return undefined;
      } catch (error) {
        return error;
      }
    })();

    // Assess
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as Error).message).toContain(`destinations: expected at most ${MAX_DESTINATIONS} destinations`);
  });

  it('reports each limit a template exceeds (the check can fail)', () => {
    // Prepare: 501 resources, 201 outputs, a dashboard of 101 alarms in one widget
    const file = join(outdir(), 'over.template.json');
    const alarms = JSON.stringify(Array.from({ length: 101 }, (_, i) => `arn:${i}`));
    const body = ['{"widgets":[{"type":"alarm","properties":{"region":"', { Ref: 'AWS::Region' }, `","alarms":${alarms}}}]}`];
    const resources: Record<string, unknown> = Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`Topic${i}`, { Type: 'AWS::SNS::Topic' }]));
    resources['Topic0'] = { Type: 'AWS::CloudWatch::Dashboard', Properties: { DashboardBody: { 'Fn::Join': ['', body] } } };
    writeFileSync(file, JSON.stringify({ Resources: resources, Outputs: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`O${i}`, { Value: 'x' }])) }));

    // Act
    const { violations } = figuresOf(file);

    // Assess
    expect(violations).toEqual(['501 resources, over 500', '201 outputs, over 200', 'dashboard 1: 101 alarms in one alarm status widget, over 100']);
  });
});
