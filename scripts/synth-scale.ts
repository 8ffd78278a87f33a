// `node scripts/synth-scale.ts --destinations 100 --out reports/scale-100`: synthesizes a pipeline of
// that many destinations (the consumer not bundled) with cdk.json's context and the cdk-nag checks,
// checks every template against CloudFormation's and CloudWatch's limits, and prints the figures and
// the synth time. Exits 1 when a limit is exceeded. CI runs cfn-lint on the templates it writes.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { synthesizeScaleCheck } from '../lib/infra/template-limits.ts';

const options = new Command()
  .requiredOption('--destinations <n>', 'how many destinations', (value) => Number.parseInt(value, 10))
  .requiredOption('--out <dir>', 'where the templates go')
  .parse()
  .opts<{ destinations: number; out: string }>();

const context = (JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Record<string, unknown> }).context;
const { figures, synthSeconds } = synthesizeScaleCheck({ destinations: options.destinations, outdir: options.out, context });
const most = (pick: (figure: (typeof figures)[number]) => number) => Math.max(...figures.map(pick));
const dashboards = figures.flatMap((figure) => figure.dashboards);
console.log(
  `${options.destinations} destinations: synth ${synthSeconds.toFixed(1)} s, ${figures.length} templates; the largest: ` +
    `${most((f) => f.bytes)} bytes, ${most((f) => f.resources)} resources, ${most((f) => f.outputs)} outputs, ${most((f) => f.parameters)} parameters; ` +
    `${dashboards.length} dashboards, at most ${Math.max(...dashboards.map((d) => d.widgets))} widgets, ${Math.max(...dashboards.map((d) => d.metrics))} metrics ` +
    `and ${Math.max(...dashboards.map((d) => d.alarmsInOneWidget))} alarms in one status widget`,
);
const violations = figures.flatMap((figure) => figure.violations.map((violation) => `${figure.file}: ${violation}`));
for (const violation of violations) console.error(`over a limit: ${violation}`);
process.exitCode = violations.length === 0 ? 0 : 1;
