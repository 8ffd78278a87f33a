import { Command, CommanderError } from 'commander';
import { ExitCode, type CliIo } from '../../ops/cli.ts';
import { table } from '../../ops/format.ts';
import { integer } from '../local-command.ts';
import {
  QUICK_RATE_LIMIT_BENCH,
  RATE_LIMIT_BENCH_TARGETS,
  runRateLimitBench,
  type BenchRunResult,
  type RateLimitBenchOptions,
  type RateLimitBenchReport,
} from './rate-limit-bench.ts';

interface BenchFlags {
  readonly json: boolean;
  readonly quick: boolean;
  readonly records?: number;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const fixed = (value: number | null, digits: number): string => (value === null ? '-' : value.toFixed(digits));

/** One line per finished run, for stderr while the bench goes on. */
const describeRun = (run: BenchRunResult): string =>
  run.scenario === 'rate'
    ? `${run.label}: ${run.accepted} accepted of ${run.calls} calls, rate/R ${fixed(run.rateShare, 2)}, ${(run.throttledShare * 100).toFixed(1)} % answered 429, ${seconds(run.durationMs)}`
    : `${run.label}: ${run.calls} calls for ${run.records} records (${run.callsPerRecord.toFixed(2)} per record), ${seconds(run.durationMs)}`;

/**
 * The bench's report for people: how it was run, a row per rate run, the backlog, then every
 * missed target and the total.
 *
 * @example
 * io.stdout.write(`${formatRateLimitBench(report)}\n`);
 */
export const formatRateLimitBench = (report: RateLimitBenchReport): string => {
  const { settings } = report;
  const lines = [
    `rate-limit bench: the fake API takes R writes/s from all consumers together (a token bucket holding ${settings.apiBurstSeconds} s of R), ` +
      `the destination's rateLimit.perSecond is R; each rate run publishes min(R x ${settings.drainSeconds}, ${settings.maxRecords}) distinct records at full speed; ` +
      `batch ${settings.destination.batchSize}, retry backoff ${settings.destination.retry.baseDelaySeconds}-${settings.destination.retry.maxDelaySeconds} s`,
    "rate/R: accepted writes per second after the first second (the bucket starts full), over R; above 1 when a client spent the saved burst later; counts are the fake API's own",
    '',
    table(
      ['run', 'records', 'calls', 'accepted', '429s', '429 share', 'writes/s', 'rate/R', 'time', 'drained'],
      report.rateRuns.map((run) => [
        run.label,
        String(run.records),
        String(run.calls),
        String(run.accepted),
        String(run.throttled),
        `${(run.throttledShare * 100).toFixed(1)} %`,
        fixed(run.sustainedPerSecond, 1),
        fixed(run.rateShare, 2),
        seconds(run.durationMs),
        run.drained ? 'yes' : 'NO',
      ]),
    ),
  ];
  const { backlog } = report;
  if (backlog !== null) {
    lines.push(
      '',
      `${backlog.label}: ${backlog.records * backlog.versions} changes queued before the consumers started, no rate limit; ` +
        `${backlog.calls} destination calls, ${backlog.callsPerRecord.toFixed(2)} per record (ideal 1.00), ${seconds(backlog.durationMs)}${backlog.drained ? '' : ', NOT drained'}`,
    );
  }
  const missed = report.verdicts.filter((verdict) => !verdict.ok);
  lines.push('', ...missed.map((verdict) => `FAIL  ${verdict.label}: ${verdict.target}: ${verdict.detail}`));
  if (report.interrupted) lines.push('INTERRUPTED: the runs left out were not measured');
  const targets = `rate/R >= ${RATE_LIMIT_BENCH_TARGETS.minRateShare}, 429 share <= ${RATE_LIMIT_BENCH_TARGETS.maxThrottledShare * 100} %, backlog <= ${RATE_LIMIT_BENCH_TARGETS.maxCallsPerRecord} calls per record`;
  lines.push(`${report.verdicts.length - missed.length} of ${report.verdicts.length} targets met (${targets}); total ${seconds(report.durationMs)}`);
  return lines.join('\n');
};

/**
 * `npm run bench:ratelimit`: runs {@link runRateLimitBench} and prints its report, as a table on
 * stdout or, with `--json`, as one JSON object and nothing else there (progress goes to stderr).
 * Resolves with the exit code: 0 when every target was met, 1 when one was missed, 2 for a usage
 * error, 130 when interrupted.
 *
 * @example
 * process.exitCode = await runRateLimitBenchCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
export const runRateLimitBenchCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const program = new Command('bench:ratelimit')
    .description(
      'measure per-destination rate limiting and backlog coalescing on the local pipeline: for R in 20, 100, 500 and 1 or 4 consumers, the sustained ' +
        'accepted rate against R and the share of calls answered 429; then the destination calls of 200 records x 10 versions queued before the consumers start',
    )
    .option('--json', 'write the report as one JSON object to stdout (progress still goes to stderr)', false)
    .option('--records <n>', 'most records a rate run publishes: each publishes min(R x 12, N)', integer(1, 1_000_000))
    .option('--quick', 'a smoke run of about 25 s: R 20 and 100, a 3 s drain each, a backlog of 50 records x 10 versions', false)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    throw error;
  }
  const flags = program.opts<BenchFlags>();
  const options: RateLimitBenchOptions = {
    ...(flags.quick ? QUICK_RATE_LIMIT_BENCH : {}),
    ...(flags.records === undefined ? {} : { maxRecords: flags.records }),
    onRun: (run) => io.stderr.write(`${describeRun(run)}\n`),
    ...(io.signal === undefined ? {} : { signal: io.signal }),
  };
  io.stderr.write(`rate-limit bench${flags.quick ? ' (quick)' : ''}: one run at a time on the embedded emulators\n`);
  const report = await runRateLimitBench(options);
  io.stderr.write(`consumer logs: ${report.settings.logDir}\n`);
  io.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${formatRateLimitBench(report)}\n`);
  if (report.interrupted) return ExitCode.INTERRUPTED;
  return report.ok ? ExitCode.OK : ExitCode.UNHEALTHY;
};
