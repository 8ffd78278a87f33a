import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ExitCode, type CommandFactory } from '../ops/cli.ts';
import { UsageError } from '../ops/targets.ts';
import { CHAOS_SIZE, chaosOverrides, chaosRunOptions } from './lab/chaos.ts';
import type { LocalRunOptions, PublishRoute } from './lab/run-options.ts';
import { formatHtmlReport, formatReport, formatRetrySchedule } from './report/format-report.ts';
import { createProgressView } from './report/progress-view.ts';
import type { LocalRunReport } from './report/run-report.ts';
import { runIsolationScenario } from './isolation.ts';
import { runLocalPipeline, type KeptRuntime } from './run-pipeline.ts';

/**
 * A commander parser of an integer option from `min` to `max`.
 *
 * @example
 * new Command('local').option('--changes <n>', 'changes to publish', integer(1, 1_000_000));
 */
export const integer = (min: number, max: number) => (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return parsed;
};

interface LocalFlags {
  readonly chaos: boolean;
  readonly explain: boolean;
  readonly changes?: number;
  readonly rate?: number;
  readonly ids?: number;
  readonly seed: number;
  readonly malformed?: number;
  readonly html: string;
  readonly log: string;
  readonly redrive: boolean;
  readonly plainRedrive: boolean;
  readonly keepRunning: boolean;
  readonly scenario?: 'isolation';
  readonly rotateSecretsAt?: number[];
  readonly via?: PublishRoute;
  readonly useDeployed: boolean;
}

/** The report as JSON: invariant verdicts as booleans (for `jq .invariants`), details beside them, no timeline. */
export const reportJson = (report: LocalRunReport): Record<string, unknown> => {
  const { timeline: _timeline, ...rest } = report;
  return {
    ...rest,
    invariants: Object.fromEntries(Object.entries(report.invariants).map(([name, check]) => [name, check.ok])),
    invariantDetails: report.invariants,
  };
};

/**
 * `sync-pipeline local`: the whole pipeline on this machine (embedded SQS and DynamoDB, or an
 * endpoint), a fake external API, the real consumer behind pollers that act like the Lambda event
 * source, and a demo stream; ends with a report and the invariants (exit 1 if one fails).
 *
 * @example
 * await runCli(['local', '--chaos', '--json'], io, [localCommand]);
 */
export const localCommand: CommandFactory = (context) =>
  new Command('local')
    .description(
      'run the whole pipeline on this machine: embedded SQS and DynamoDB (or --endpoint), a fake external API, the real consumer behind pollers that act like ' +
        'the Lambda event source, and a demo stream with duplicates, reordering and malformed messages; ends with a report and the invariants (exit 1 if one fails)',
    )
    .option(
      '--chaos',
      `inject every failure we know of (429 with Retry-After, 503, 409, timeouts before and after the write, resets, 400s, late writes, crashes, concurrent copies, ` +
        `same-version twins); shortens the destinations' timings and prints what it overrides; defaults to ${CHAOS_SIZE.changes} changes over ${CHAOS_SIZE.ids} records, unthrottled`,
      false,
    )
    .option('--explain', "print each destination's retry schedule (from its retry horizon) and exit", false)
    .addOption(
      new Option(
        '--scenario <name>',
        'run a scenario instead of the demo: isolation = three destinations (one down for a while, one slow and rate-limited, one healthy) against a baseline of three healthy ones, judging I5',
      ).choices(['isolation']),
    )
    .option('--changes <n>', 'changes to publish (default 500)', integer(1, 1_000_000))
    .option('--rate <r>', 'changes per second, 0 for unthrottled (default 250)', integer(0, 100_000))
    .option('--ids <n>', 'distinct records (default changes / 5)', integer(1, 1_000_000))
    .option('--seed <n>', 'random seed of the demo stream', integer(0, 2 ** 31 - 1), 1)
    .option('--malformed <n>', 'malformed messages mixed into the stream (default 3; 20 with --chaos)', integer(0, 10_000))
    .option('--redrive', 'once drained, heal the destination, redrive every DLQ as `sync-pipeline dlq redrive` does, drain again and check the invariants over both', false)
    .option('--plain-redrive', 'the same, moving every dead letter untouched (bad input too), as StartMessageMoveTask would', false)
    .option(
      '--keep-running',
      'after the report, keep the runtime up (destination healed, consumers polling) so the other commands can be tried on it; prints the endpoints; Ctrl-C stops it',
      false,
    )
    .option(
      '--rotate-secrets-at <ms>',
      "give every destination's auth secret a new value this many ms into the run (repeatable); the fake API then requires the new one",
      (value: string, previous: number[] = []) => [...previous, integer(1, 3_600_000)(value)],
    )
    .addOption(
      new Option(
        '--via <route>',
        'how the demo publisher sends the changes: eventbridge = PutEvents to a local EventBridge bus whose rules (the stack\'s patterns) route them to the queues; ' +
          'sqs = straight to each destination\'s queue. Malformed messages go straight to the queue either way (PutEvents refuses them). Default eventbridge; with --endpoint only sqs',
      ).choices(['eventbridge', 'sqs']),
    )
    .option(
      '--use-deployed',
      "with --endpoint: use the deployed stack's queues and table, found by the config's names, never reconfigured or purged (refused if one is missing); " +
        'without it the run creates its own, named local-<name>-… and tagged sync-pipeline:owner=local, and touches no other',
      false,
    )
    .option('--html <file>', 'where to write the HTML report', 'reports/local-run.html')
    .option('--log <file>', "where the consumers' JSON log lines go", 'reports/local-run.log')
    .action(async (flags: LocalFlags) => {
      const ctx = context();
      const { io, globals } = ctx;
      const config = ctx.config();
      const chaos = flags.chaos;
      const changes = flags.changes ?? (chaos ? CHAOS_SIZE.changes : 500);
      const ids = flags.ids ?? (chaos ? Math.max(CHAOS_SIZE.ids, Math.round(changes / 10)) : Math.max(10, Math.round(changes / 5)));
      const chaotic = chaos ? chaosRunOptions(config, { changes, ids, seed: flags.seed }) : undefined;
      if (flags.explain) {
        io.stderr.write(`${formatRetrySchedule(chaotic?.config ?? config)}\n`);
        return;
      }
      if (flags.scenario === 'isolation') {
        const scenario = await runIsolationScenario(
          { changes: flags.changes ?? 200, ids: flags.ids ?? 40, seed: flags.seed },
          { onRun: (label) => io.stderr.write(`${label}\n`), ...(io.signal === undefined ? {} : { signal: io.signal }) },
        );
        const { isolatedReport, ...summary } = scenario;
        mkdirSync(dirname(flags.html), { recursive: true });
        writeFileSync(flags.html, formatHtmlReport(isolatedReport));
        io.stderr.write(`${scenario.verdicts.map((v) => `${v.ok ? 'PASS' : 'FAIL'}  ${v.check}: ${v.detail}`).join('\n')}\n\nHTML report of the isolated run: ${flags.html}\n`);
        if (globals.json) io.stdout.write(`${JSON.stringify({ ...summary, invariants: Object.fromEntries(Object.entries(isolatedReport.invariants).map(([name, check]) => [name, check.ok])) })}\n`);
        if (!scenario.ok) ctx.exitCode = ExitCode.UNHEALTHY;
        return;
      }
      const endpoint = globals.endpoint ?? (io.env.AWS_ENDPOINT_URL || undefined);
      if (flags.useDeployed && endpoint === undefined) throw new UsageError('--use-deployed needs --endpoint URL (or AWS_ENDPOINT_URL): the embedded emulators hold no deployed stack');
      if (endpoint !== undefined && flags.via === 'eventbridge') {
        throw new UsageError(
          "--via eventbridge is not offered with --endpoint: the local run follows every message by its SQS MessageId, which the endpoint's EventBridge does not give the publisher " +
            "(and moto ignores a rule target's InputPath); npm run e2e publishes through a deployed bus. Use --via sqs",
        );
      }
      if (endpoint !== undefined && flags.via === undefined) io.stderr.write(`--endpoint ${endpoint}: publishing straight to the queues (--via sqs); the local EventBridge bus runs only with the embedded emulators\n`);
      const progress = createProgressView({ stream: io.stderr });
      let kept = false;
      // Ctrl-C (the CLI's signal) ends the run with a partial report; a second one quits at once.
      io.signal?.addEventListener('abort', () => {
        progress.stop();
        io.stderr.write(kept ? 'stopping the kept runtime\n' : 'interrupted: stopping the publisher and the pollers, then reporting what happened so far (Ctrl-C again quits now)\n');
      });
      const options: LocalRunOptions = {
        ...(chaotic ?? { config, changes, ids, seed: flags.seed }),
        rate: flags.rate ?? (chaos ? 0 : 250),
        ...(flags.malformed === undefined ? {} : { malformed: flags.malformed }),
        ...(endpoint === undefined ? {} : { endpoint }),
        ...(flags.via === undefined ? {} : { via: flags.via }),
        ...(flags.useDeployed ? { useDeployed: true } : {}),
        ...(flags.redrive || flags.plainRedrive ? { redrive: { plain: flags.plainRedrive } } : {}),
        ...(flags.rotateSecretsAt === undefined ? {} : { secretRotationsAtMs: flags.rotateSecretsAt }),
        logFile: flags.log,
        onProgress: (snapshot) => progress.update(snapshot),
        ...(io.signal === undefined ? {} : { signal: io.signal }),
      };
      if (chaotic !== undefined) io.stderr.write(`chaos overrides:\n${chaosOverrides(config, options).map((line) => `  ${line}`).join('\n')}\n`);
      const finish = (report: LocalRunReport): void => {
        progress.stop();
        mkdirSync(dirname(flags.html), { recursive: true });
        writeFileSync(flags.html, formatHtmlReport(report));
        io.stderr.write(`${formatReport(report)}\n\nHTML report: ${flags.html}; consumer logs: ${report.logFile}\n`);
        if (globals.json) io.stdout.write(`${JSON.stringify(reportJson(report))}\n`);
      };
      if (flags.keepRunning && io.signal === undefined) throw new UsageError('--keep-running needs a way to stop (Ctrl-C)');
      const keep = async (runtime: KeptRuntime): Promise<void> => {
        kept = true;
        finish(runtime.report);
        io.stderr.write(
          `\nThe runtime keeps running, the destination healed and the consumers polling; Ctrl-C stops it. In another terminal:\n` +
            `  export AWS_ENDPOINT_URL_SQS=${runtime.sqsEndpoint} AWS_ENDPOINT_URL_DYNAMODB=${runtime.dynamodbEndpoint}\n` +
            `  npm run -s sync-pipeline -- status; npm run -s sync-pipeline -- dlq inspect ${config.destinations[0]?.name ?? '<destination>'}\n`,
        );
        await new Promise<void>((resolve) => (io.signal!.aborted ? resolve() : io.signal!.addEventListener('abort', () => resolve(), { once: true })));
      };
      const report = await runLocalPipeline({ ...options, ...(flags.keepRunning ? { keepRunning: keep } : {}) }).finally(() => progress.stop());
      if (!flags.keepRunning) finish(report);
      const ok = report.drained && Object.values(report.invariants).every((check) => check.ok);
      // 130: ended by SIGINT before the report, as a shell reports it (a kept runtime ends on Ctrl-C after it).
      if (report.interrupted) ctx.exitCode = ExitCode.INTERRUPTED;
      else if (!ok) ctx.exitCode = ExitCode.UNHEALTHY;
    });
