import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { endpointFor, serviceClientConfig, type EndpointSettings } from '../adapters/aws-endpoint.ts';
import { DynamoDbDestinationControl } from '../adapters/dynamodb-destination-control.ts';
import { DynamoDbLedgerStore } from '../adapters/dynamodb-ledger.ts';
import { ConfigFileError, DEFAULT_CONFIG_PATH, loadPipelineConfig, type PipelineConfig } from '../config/pipeline-config.ts';
import { ledgerTableName } from '../config/resources.ts';
import { ValidationError } from '../contract/validation.ts';
import { inspectDeadLetters, redriveDeadLetters, type DeadLetterFilter, type RedriveProgress } from './dlq.ts';
import { replayChanges, resourceTypeFor, resyncRecord } from './records.ts';
import { destinationStatus } from './status.ts';
import { findDestination, resolveQueues, UsageError } from './targets.ts';
import { formatInspection, formatRedrive, formatReplay, formatResync, formatStatus } from './format.ts';

/** The exit codes every command keeps. */
export const ExitCode = { OK: 0, UNHEALTHY: 1, USAGE: 2, INTERRUPTED: 130 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Where a command writes: JSON (only) to `stdout`, everything for people to `stderr`. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C: long commands stop cleanly. */
  readonly signal?: AbortSignal;
}

/** The options every command takes. */
export interface GlobalOptions {
  readonly config: string;
  /** The deployed pipeline's name when it is not the config's (a stack deployed with `-c stackName`). */
  readonly name?: string;
  readonly endpoint?: string;
  readonly sqsEndpoint?: string;
  readonly dynamodbEndpoint?: string;
  readonly region?: string;
  readonly json: boolean;
}

/** What a command's action gets: its options with the globals, the io, and a way to say the exit code. */
export interface CommandContext {
  readonly io: CliIo;
  readonly globals: GlobalOptions;
  /** The config, loaded and validated once (a bad one is a usage error, exit 2). */
  readonly config: () => PipelineConfig;
  /** Writes the result as JSON to stdout with --json, else `human(result)` to stderr. */
  readonly print: <T>(result: T, human: (result: T) => string) => void;
  exitCode: ExitCode;
}

/** A command contributed from another room (the local runner), registered on the same program. */
export type CommandFactory = (context: () => CommandContext) => Command;

const integer = (name: string, min: number) => (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) throw new InvalidArgumentError(`expected an integer of at least ${min}, got ${JSON.stringify(value)}`);
  return parsed;
};

const instant = (value: string): number => {
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new InvalidArgumentError(`expected an ISO 8601 time such as 2026-12-01T10:00:00Z, got ${JSON.stringify(value)}`);
  return parsed;
};

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const endpointUrl = (value: string): string => {
  if (!/^https?:\/\/[^/\s]+/.test(value)) throw new InvalidArgumentError(`expected an http(s) URL, got ${JSON.stringify(value)}`);
  return value;
};

/** The filter flags `dlq inspect` and `dlq redrive` share. */
const withFilterOptions = (command: Command): Command =>
  command
    .option('--reason <reason>', 'only dead letters with this reason (repeatable)', collect)
    .option('--type <resourceType>', 'only this resource type')
    .option('--id <id>', 'only this record id')
    .option('--version <version>', 'only this version', integer('version', 0))
    .option('--since <time>', 'only dead letters last tried at or after this time (ISO 8601)', instant)
    .option('--until <time>', 'only dead letters last tried at or before this time (ISO 8601)', instant);

const filterFrom = (options: { reason?: string[]; type?: string; id?: string; version?: number; since?: number; until?: number }): DeadLetterFilter => ({
  ...(options.reason === undefined ? {} : { reasons: options.reason }),
  ...(options.type === undefined ? {} : { resourceType: options.type }),
  ...(options.id === undefined ? {} : { id: options.id }),
  ...(options.version === undefined ? {} : { version: options.version }),
  ...(options.since === undefined ? {} : { since: options.since }),
  ...(options.until === undefined ? {} : { until: options.until }),
});

const EXIT_CODES_HELP = `
Exit codes: 0 ok; 1 unhealthy, an invariant failed or an operation failed; 2 usage or config error;
130 a local run stopped by Ctrl-C (its report is partial).
Endpoints: --endpoint (or AWS_ENDPOINT_URL) reaches LocalStack or moto; --sqs-endpoint and
--dynamodb-endpoint (or AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_DYNAMODB) reach services on ports of
their own, as the embedded runtime serves them. With none, the AWS SDK's usual chain picks AWS.`;

/** SDK clients for the endpoint settings, destroyed after the command. */
const clientsFor = (globals: GlobalOptions, env: NodeJS.ProcessEnv) => {
  const settings: EndpointSettings = {
    ...(globals.endpoint === undefined ? {} : { endpoint: globals.endpoint }),
    ...(globals.sqsEndpoint === undefined ? {} : { sqsEndpoint: globals.sqsEndpoint }),
    ...(globals.dynamodbEndpoint === undefined ? {} : { dynamodbEndpoint: globals.dynamodbEndpoint }),
    ...(globals.region === undefined ? {} : { region: globals.region }),
  };
  const sqs = new SQSClient(serviceClientConfig('sqs', settings, env));
  const dynamodb = new DynamoDBClient(serviceClientConfig('dynamodb', settings, env));
  const cloudwatchEndpoint = endpointFor('cloudwatch', settings, env);
  // The embedded runtime has no CloudWatch: with only per-service endpoints, none is asked.
  const cloudwatch =
    cloudwatchEndpoint === undefined && endpointFor('sqs', settings, env) !== undefined ? undefined : new CloudWatchClient(serviceClientConfig('cloudwatch', settings, env));
  const where = endpointFor('sqs', settings, env) ?? `AWS (${globals.region ?? env.AWS_REGION ?? 'default region'})`;
  return {
    sqs,
    dynamodb,
    cloudwatch,
    where,
    destroy: () => {
      sqs.destroy();
      dynamodb.destroy();
      cloudwatch?.destroy();
    },
  };
};

/** A progress line on stderr, at most every half second and once at the end; nothing with --json on a pipe. */
const progressPrinter = (io: CliIo, label: string) => {
  let lastAt = 0;
  return (progress: RedriveProgress): void => {
    if (Date.now() - lastAt < 500) return;
    lastAt = Date.now();
    io.stderr.write(`${label}: moved ${progress.moved} of ${progress.total} in the DLQ\n`);
  };
};

/**
 * Builds the `sync-pipeline` program: `status`, `dlq inspect`, `dlq redrive`, `replay`, `resync`,
 * and the commands other rooms contribute (`local`). Help is generated, unknown commands and flags
 * get a "did you mean", and every error ends in a one-line message and exit code 2.
 *
 * @example
 * const code = await runCli(['status', '--json'], { stdout: process.stdout, stderr: process.stderr, env: process.env }, [localCommand]);
 */
export const buildCli = (io: CliIo, extra: readonly CommandFactory[] = []): { program: Command; context: () => CommandContext } => {
  let current: CommandContext | undefined;
  const program = new Command('sync-pipeline');
  const context = (): CommandContext => {
    if (current !== undefined) return current;
    const globals = program.opts<GlobalOptions>();
    let config: PipelineConfig | undefined;
    const made: CommandContext = {
      io,
      globals,
      config: () => {
        try {
          config ??= loadPipelineConfig(globals.config, { name: globals.name });
        } catch (error) {
          if (error instanceof ConfigFileError || error instanceof ValidationError) throw new UsageError(error.message, { cause: error });
          throw error;
        }
        return config;
      },
      print: (result, human) => {
        if (globals.json) io.stdout.write(`${JSON.stringify(result)}\n`);
        else io.stderr.write(`${human(result)}\n`);
      },
      exitCode: ExitCode.OK,
    };
    current = made;
    return made;
  };

  program
    .description('Keeps external systems in sync with published record changes: see what is stuck, redrive it, replay and resync records, or run it all locally.')
    .addOption(new Option('-c, --config <file>', 'pipeline config').default(DEFAULT_CONFIG_PATH).env('SYNC_PIPELINE_CONFIG'))
    .addOption(new Option('--name <name>', "the deployed pipeline's name, when not the config's (a stack deployed with -c stackName)").env('SYNC_PIPELINE_NAME'))
    .addOption(new Option('--endpoint <url>', 'one endpoint for every AWS service (LocalStack, moto)').argParser(endpointUrl))
    .addOption(new Option('--sqs-endpoint <url>', 'the SQS endpoint alone').argParser(endpointUrl))
    .addOption(new Option('--dynamodb-endpoint <url>', 'the DynamoDB endpoint alone').argParser(endpointUrl))
    .addOption(new Option('--region <region>', 'AWS region').env('AWS_REGION'))
    .option('--json', 'write only JSON to stdout (human output and progress go to stderr)', false)
    .showSuggestionAfterError(true)
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .addHelpText('after', EXIT_CODES_HELP);

  /** Runs a command that talks to AWS, with clients made from the global settings. */
  const withAws =
    <A extends unknown[]>(run: (ctx: CommandContext, aws: ReturnType<typeof clientsFor>, ...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      const ctx = context();
      const aws = clientsFor(ctx.globals, io.env);
      try {
        await run(ctx, aws, ...args);
      } finally {
        aws.destroy();
      }
    };

  program
    .command('status')
    .description("each destination's queue depth, in flight, DLQ depth, age of oldest message, last applied time, breaker state and rate in force; exit 1 if any is unhealthy")
    .argument('[destinations...]', 'destinations to show (default: all)')
    .action(
      withAws(async (ctx, aws, names: string[]) => {
        const config = ctx.config();
        const destinations = names.length === 0 ? config.destinations : names.map((name) => findDestination(config, name));
        const statuses = [];
        for (const destination of destinations) {
          const queues = await resolveQueues(aws.sqs, config, destination, aws.where);
          const control = new DynamoDbDestinationControl({ client: aws.dynamodb, tableName: ledgerTableName(config) });
          statuses.push(await destinationStatus({ sqs: aws.sqs, control, ...(aws.cloudwatch === undefined ? {} : { cloudwatch: aws.cloudwatch }) }, config, destination, queues));
        }
        const result = { endpoint: aws.where, healthy: statuses.every((s) => s.healthy), destinations: statuses };
        ctx.print(result, formatStatus);
        if (!result.healthy) ctx.exitCode = ExitCode.UNHEALTHY;
      }),
    );

  const dlq = program.command('dlq').description("read and redrive a destination's dead-letter queue");
  withFilterOptions(
    dlq
      .command('inspect')
      .description('read the DLQ without consuming it (every message returns at once), grouped by reason with counts and examples; never shows payloads')
      .argument('<destination>')
      .option('--examples <n>', 'examples per reason', integer('examples', 0), 3),
  ).action(
    withAws(async (ctx, aws, name: string, options: Parameters<typeof filterFrom>[0] & { examples: number }) => {
      const config = ctx.config();
      const queues = await resolveQueues(aws.sqs, config, findDestination(config, name), aws.where);
      ctx.print(await inspectDeadLetters(aws.sqs, queues, filterFrom(options), { examples: options.examples }), formatInspection);
    }),
  );
  withFilterOptions(
    dlq
      .command('redrive')
      .description(
        'move dead letters back to the source queue: StartMessageMoveTask where the service has it and the whole DLQ can go, else receive / send / delete. ' +
          'A message is deleted from the DLQ only after it was sent, so an interruption loses nothing; one sent twice is skipped by the consumer as a duplicate. ' +
          'Bad input (invalid-json, invalid-schema, too-large, not-routed) stays unless --all or --reason names it.',
      )
      .argument('<destination>')
      .option('--limit <n>', 'move at most n messages', integer('limit', 1))
      .option('--dry-run', 'count what would move, move nothing', false)
      .option('--all', 'move bad input too (it is refused again unless its cause was fixed)', false),
  ).action(
    withAws(async (ctx, aws, name: string, options: Parameters<typeof filterFrom>[0] & { limit?: number; dryRun: boolean; all: boolean }) => {
      const config = ctx.config();
      const queues = await resolveQueues(aws.sqs, config, findDestination(config, name), aws.where);
      const result = await redriveDeadLetters(aws.sqs, queues, {
        filter: filterFrom(options),
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        dryRun: options.dryRun,
        includeBadInput: options.all,
        onProgress: progressPrinter(io, `redrive ${name}`),
        ...(io.signal === undefined ? {} : { signal: io.signal }),
      });
      ctx.print(result, formatRedrive);
      if (result.failed > 0 || result.interrupted) ctx.exitCode = ExitCode.UNHEALTHY;
    }),
  );

  program
    .command('replay')
    .description("send chosen changes to one destination's queue again: a record's dead letters (--id), or changes from a file (--file, one JSON change per line)")
    .argument('<destination>')
    .option('--id <id>', 'the record whose dead letters to send again')
    .option('--version <version>', 'only this version of it', integer('version', 0))
    .option('--type <resourceType>', 'its resource type, when the destination takes several')
    .option('--file <changes.ndjson>', 'changes to send, checked against the schema first')
    .action(
      withAws(async (ctx, aws, name: string, options: { id?: string; version?: number; type?: string; file?: string }) => {
        if ((options.id === undefined) === (options.file === undefined)) throw new UsageError('replay: give either --id ID or --file FILE');
        if (options.file !== undefined && (options.version !== undefined || options.type !== undefined)) throw new UsageError('replay: --version and --type go with --id');
        const config = ctx.config();
        const destination = findDestination(config, name);
        const queues = await resolveQueues(aws.sqs, config, destination, aws.where);
        const result = await replayChanges(
          aws.sqs,
          queues,
          destination,
          options.file !== undefined
            ? { file: options.file }
            : { id: options.id!, ...(options.version === undefined ? {} : { version: options.version }), ...(options.type === undefined ? {} : { resourceType: options.type }) },
        );
        ctx.print(result, formatReplay);
        if (result.source === 'dlq' && (result.moved === 0 || result.failed > 0)) ctx.exitCode = ExitCode.UNHEALTHY;
      }),
    );

  program
    .command('resync')
    .description("show what the ledger holds for a record (applied and claimed version, lease, settle window, when); with --from-file, push the record's current state again")
    .argument('<destination>')
    .requiredOption('--id <id>', 'the record id')
    .option('--type <resourceType>', 'its resource type, when the destination takes several')
    .option('--from-file <change.json>', "the record's current state as one change event; the applied version itself is sent once more")
    .action(
      withAws(async (ctx, aws, name: string, options: { id: string; type?: string; fromFile?: string }) => {
        const config = ctx.config();
        const destination = findDestination(config, name);
        const resourceType = resourceTypeFor(destination, options.type);
        const queues = await resolveQueues(aws.sqs, config, destination, aws.where);
        const ledger = new DynamoDbLedgerStore({ client: aws.dynamodb, tableName: ledgerTableName(config) });
        const result = await resyncRecord({ sqs: aws.sqs, ledger }, queues, destination, {
          resourceType,
          id: options.id,
          ...(options.fromFile === undefined ? {} : { fromFile: options.fromFile }),
        });
        ctx.print(result, formatResync);
      }),
    );

  // Commands made elsewhere take the same output, exit and suggestion settings as those made here.
  for (const factory of extra) program.addCommand(factory(context).copyInheritedSettings(program));
  return { program, context };
};

/**
 * Parses `argv` (without node and the script) and runs the command; resolves with the exit code.
 * Never throws: a usage or config problem prints one line and gives 2, any other failure one line
 * (the stack only with DEBUG set) and 1.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
export const runCli = async (argv: readonly string[], io: CliIo, extra: readonly CommandFactory[] = []): Promise<number> => {
  const { program, context } = buildCli(io, extra);
  if (argv.length === 0) {
    program.outputHelp();
    return ExitCode.USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return context().exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with code 0; every other parse error (a missing subcommand too) is a usage error.
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`error: ${error.message}\n`);
      return ExitCode.USAGE;
    }
    // The SDK's own words for a missing setting, said in ours.
    if (error instanceof Error && error.message === 'Region is missing') {
      io.stderr.write('error: no AWS region: pass --region, set AWS_REGION, or give an emulator with --endpoint\n');
      return ExitCode.USAGE;
    }
    if (error instanceof Error && error.name === 'CredentialsProviderError') {
      io.stderr.write(`error: no AWS credentials found (${error.message}): configure them, or give an emulator with --endpoint\n`);
      return ExitCode.UNHEALTHY;
    }
    io.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (io.env.DEBUG !== undefined && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    return ExitCode.UNHEALTHY;
  }
};
