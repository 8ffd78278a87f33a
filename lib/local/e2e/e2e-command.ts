import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ExitCode, type CliIo } from '../../ops/cli.ts';
import { integer } from '../local-command.ts';
import { runE2e, type E2eReport } from './run-e2e.ts';

interface E2eFlags {
  readonly endpoint?: string;
  readonly localstack: boolean;
  readonly keep: boolean;
  readonly json: boolean;
  readonly changes: number;
  readonly viaEventbridge: number;
  readonly seed: number;
  readonly pollers: number;
  readonly fakeApiHost: string;
  readonly config: string;
  readonly report: string;
}

const HELP_AFTER = `
Without --endpoint it starts moto (python3 -m moto.server, the machine image's Python) on a free
loopback port and stops it after. It deploys the stack (cdk synth, bootstrap, deploy), deploys each
nested template as a stack of its own where the emulator created none (moto), checks the bus's
rules, publishes via EventBridge and via SQS, runs the deployed consumer bundle in local
event-source pollers (moto cannot invoke Lambda), checks the invariants against the fake API and
the metrics, prints every emulator gap it worked around, and deletes what it deployed.

--localstack: the same command against LocalStack (e.g. --endpoint http://localhost:4566, see
localstack/compose.yml): cdklocal deploys the stack with its nested stacks, the real Lambda runs
there (no pollers), and the fake API listens on every interface so the Lambda containers reach it
as --fake-api-host. It needs Docker and, for LocalStack images after 4.14.0, LOCALSTACK_AUTH_TOKEN;
it is not run in this repository's CI, which has neither.

Exit code: 0 when every check passed, 1 when one failed (or the run failed), 2 on bad usage.`;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * The report for people: what ran where, what was not deployed, each workaround, and each check.
 *
 * @example
 * io.stderr.write(`${formatE2eReport(report)}\n`);
 */
export const formatE2eReport = (report: E2eReport): string => {
  const lines = [
    `e2e ${report.runId} on ${report.emulator} (${report.endpoint}), stack ${report.stackName}: ${seconds(report.durationMs)} (${report.phases.map((p) => `${p.phase} ${seconds(p.ms)}`).join(', ')})`,
    `published ${report.published.changes} changes (${report.published.viaEventBridge} via EventBridge, ${report.published.viaSqs} via SQS) and ${report.published.malformed} malformed bodies; per destination: ${Object.entries(
      report.published.byDestination,
    )
      .map(([name, n]) => `${name} ${n.eventBridge} + ${n.sqs}`)
      .join(', ')}`,
  ];
  if (report.notDeployed.length > 0) {
    lines.push('', 'not deployed on the emulator:');
    for (const left of report.notDeployed) lines.push(`  ${left.stack}/${left.logicalId} (${left.type}): ${left.reason}`);
  }
  if (report.workarounds.length > 0) {
    lines.push('', 'emulator gaps worked around:');
    for (const line of report.workarounds) lines.push(`  - ${line}`);
  }
  lines.push('', 'checks:');
  for (const check of report.checks) lines.push(`  ${check.status.padEnd(10)} ${check.name}: ${check.detail}`);
  lines.push('', ...report.teardown.map((line) => `teardown: ${line}`));
  lines.push(report.ok ? 'e2e: every check passed' : `e2e: ${report.checks.filter((c) => c.status === 'FAIL').length} checks FAILED`);
  return lines.join('\n');
};

/**
 * `npm run e2e -- [--endpoint URL] [--localstack] [--keep] [--json]`: runs {@link runE2e}, prints the
 * report to stderr (JSON to stdout with --json), writes it to reports/e2e.json, and returns the exit code.
 *
 * @example
 * process.exitCode = await runE2eCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
export const runE2eCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const program = new Command('e2e')
    .description('Deploys the stack to an AWS emulator (moto by default) and checks the deployed pipeline end to end.')
    .option('--endpoint <url>', 'an emulator already running (moto or LocalStack); default: start moto on loopback')
    .option('--localstack', 'the endpoint is LocalStack: cdklocal deploy, the real Lambda runs there, no pollers', false)
    .option('--keep', 'leave what was deployed (and a moto started here) until Ctrl-C', false)
    .option('--json', 'print the report as JSON on stdout', false)
    .option('--changes <n>', 'changes to publish', integer(10, 100_000), 300)
    .option('--via-eventbridge <n>', 'of the changes, how many go via EventBridge (the rest straight to SQS)', integer(1, 100_000), 60)
    .option('--seed <n>', 'seed of the workload', integer(0, 2 ** 31), 1)
    .option('--pollers <n>', 'concurrent pollers (execution environments) per destination', integer(1, 20), 2)
    .option('--fake-api-host <host>', 'the host LocalStack\'s Lambda containers reach this machine at', 'host.docker.internal')
    .option('--config <path>', 'the pipeline config the scratch config is made from', 'config/sync-pipeline.json')
    .option('--report <path>', 'where the JSON report is written', 'reports/e2e.json')
    .addHelpText('after', HELP_AFTER)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stderr.write(text), writeErr: (text) => io.stderr.write(text) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    throw error;
  }
  const flags = program.opts<E2eFlags>();
  if (flags.localstack && flags.endpoint === undefined) {
    io.stderr.write('--localstack needs --endpoint (e.g. --endpoint http://localhost:4566)\n');
    return ExitCode.USAGE;
  }
  let report: E2eReport;
  try {
    report = await runE2e({
      ...(flags.endpoint === undefined ? {} : { endpoint: flags.endpoint }),
      localstack: flags.localstack,
      keep: flags.keep,
      changes: flags.changes,
      viaEventBridge: flags.viaEventbridge,
      seed: flags.seed,
      pollers: flags.pollers,
      fakeApiHost: flags.fakeApiHost,
      configPath: flags.config,
      onProgress: (line) => io.stderr.write(`e2e: ${line}\n`),
      ...(io.signal === undefined ? {} : { signal: io.signal }),
    });
  } catch (error) {
    io.stderr.write(`e2e failed: ${(error as Error).message}\n`);
    return ExitCode.UNHEALTHY;
  }
  mkdirSync(dirname(flags.report), { recursive: true });
  writeFileSync(flags.report, `${JSON.stringify(report, null, 2)}\n`);
  io.stderr.write(`${formatE2eReport(report)}\n`);
  if (flags.json) io.stdout.write(`${JSON.stringify(report)}\n`);
  return report.ok ? ExitCode.OK : ExitCode.UNHEALTHY;
};
