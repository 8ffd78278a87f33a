import { Command } from 'commander';
import { parseBenchArguments } from './bench-cli.ts';
import { ExitCode, type CliIo } from '../../ops/cli.ts';
import { table } from '../../ops/format.ts';
import { integer } from '../local-command.ts';
import type { BenchRunResult, CeilingRunResult, RateRunResult, TargetVerdict } from './bench-results.ts';
import { RATE_LIMIT_BENCH_TARGETS } from './bench-verdicts.ts';
import { QUICK_RATE_LIMIT_BENCH, runRateLimitBench, type RateLayerScenario, type RateLimitBenchOptions, type RateLimitBenchReport } from './rate-limit-bench.ts';

interface BenchFlags {
  readonly json: boolean;
  readonly quick: boolean;
  readonly records?: number;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const fixed = (value: number | null, digits: number): string => (value === null ? '-' : value.toFixed(digits));
const percent = (share: number): string => `${(share * 100).toFixed(1)} %`;

/** One line per finished run, for stderr while the bench goes on. */
const describeRun = (run: BenchRunResult): string => {
  if (run.scenario === 'backlog') return `${run.label}: ${run.calls} calls for ${run.records} records (${run.callsPerRecord.toFixed(2)} per record), ${seconds(run.durationMs)}`;
  const control = run.scenario === 'rate' && run.controlRequestsPerCall !== undefined ? `, ${run.controlRequestsPerCall.toFixed(3)} control requests per call` : '';
  const rate = run.scenario === 'rate' ? `rate/R ${fixed(run.rateShare, 2)}, ${percent(run.throttledShare)} answered 429${control}` : `${fixed(run.sustainedPerSecond, 1)} writes/s`;
  return `${run.label}: ${run.accepted} accepted of ${run.calls} calls, ${rate}, ${seconds(run.durationMs)}`;
};

/** A run's verdicts in a word: ok, the targets it missed, or the ones that did not apply. */
const verdictCell = (label: string, verdicts: readonly TargetVerdict[]): string => {
  const own = verdicts.filter((verdict) => verdict.label === label);
  const missed = own.filter((verdict) => verdict.status === 'missed').map((verdict) => verdict.target);
  if (missed.length > 0) return `FAIL ${missed.join(', ')}`;
  const notApplicable = own.filter((verdict) => verdict.status === 'n/a').map((verdict) => verdict.target);
  return notApplicable.length > 0 ? `ok, ${notApplicable.join(', ')} n/a` : 'ok';
};

const RUN_COLUMNS = ['run', 'records', 'calls', 'accepted', '429s', '429 share', 'writes/s', 'rate/R', 'control req/call', 'time', 'drained', 'verdict'] as const;

const runRow = (run: RateRunResult | CeilingRunResult, verdict: string): string[] => [
  run.label,
  String(run.records),
  String(run.calls),
  String(run.accepted),
  String(run.throttled),
  run.scenario === 'rate' ? percent(run.throttledShare) : '-',
  fixed(run.sustainedPerSecond, 1),
  run.scenario === 'rate' ? fixed(run.rateShare, 2) : '-',
  run.scenario === 'rate' ? fixed(run.controlRequestsPerCall ?? null, 3) : '-',
  seconds(run.durationMs),
  run.drained ? 'yes' : 'NO',
  verdict,
];

const recordsPerRun = (scenario: RateLayerScenario): string => `min(R x ${scenario.drainSeconds}, ${scenario.maxRecords}) distinct records a run`;

/** The settings every run shares, and what rate/R means. */
const settingsLines = (report: RateLimitBenchReport): string[] => {
  const { apiBurstSeconds, destination } = report.settings;
  return [
    `rate-limit bench, every figure from the fake API's own counters: it takes R writes/s from all consumers together (a token bucket holding ${apiBurstSeconds} s of R; ` +
      `a write that finds it empty gets 429); the destination's rateLimit is perSecond R, burst ${destination.rateLimitBurst} (real APIs allow short bursts; it absorbs a consumer's brief stall); ` +
      `batch ${destination.batchSize}, retry backoff ${destination.retry.baseDelaySeconds}-${destination.retry.maxDelaySeconds} s`,
    'rate/R: accepted writes per second after the first second (the bucket starts full), over R; above 1 when a client spent the saved burst later',
  ];
};

const limiterLines = (report: RateLimitBenchReport): string[] => {
  const { limiter } = report.settings;
  if (limiter === null) return [];
  return [
    '',
    "limiter layer (the Must-show figures): the consumers' rate limiter alone, a new SendGate per simulated invocation of one batch, every consumer's gates sharing one " +
      'control item on the embedded DynamoDB emulator, the HTTP adapter, the fake API; the emulator and the fake API on a thread of their own; no SQS, no ledger; ' +
      recordsPerRun(limiter),
    table(RUN_COLUMNS, report.limiterRuns.map((run) => runRow(run, verdictCell(run.label, report.verdicts)))),
  ];
};

const pipelineLines = (report: RateLimitBenchReport): string[] => {
  const { pipeline, ceiling } = report.settings;
  if (pipeline === null && ceiling === null) return [];
  const rows = [...(report.ceiling === null ? [] : [runRow(report.ceiling, 'measured')]), ...report.pipelineRuns.map((run) => runRow(run, verdictCell(run.label, report.verdicts)))];
  const ceilingRule =
    `its rate is judged only where its own ceiling (no rate limit${ceiling === null ? ', not measured here' : `, ${ceiling.records} records, ${ceiling.consumers} consumer${ceiling.consumers === 1 ? '' : 's'}`}) ` +
    `is at least ${RATE_LIMIT_BENCH_TARGETS.minCeilingOverRate} x R`;
  return [
    '',
    'pipeline layer: the whole local pipeline in one process (runLocalPipeline: SQS, the ledger, the real consumer behind pollers), coalescing off (one version per record); ' +
      `${pipeline === null ? 'no rate runs' : recordsPerRun(pipeline)}; ${ceilingRule}`,
    table(RUN_COLUMNS, rows),
  ];
};

const backlogLines = (report: RateLimitBenchReport): string[] => {
  const { backlog } = report;
  if (backlog === null) return [];
  const { backlogAgeSeconds, holdSeconds } = report.settings.destination.backlogCoalescing;
  return [
    '',
    `${backlog.label}: ${backlog.records * backlog.versions} changes queued before the consumers started, no rate limit, coalescing backlogAgeSeconds ${backlogAgeSeconds} ` +
      `and holdSeconds ${holdSeconds} (a backlog here is a few seconds old; in production it is what waited longer than the default 10 s); ` +
      `${backlog.calls} destination calls, ${backlog.callsPerRecord.toFixed(2)} per record (ideal 1.00), ${seconds(backlog.durationMs)}${backlog.drained ? '' : ', NOT drained'}`,
  ];
};

/**
 * The bench's report for people: the settings, a table per layer (the pipeline's ceiling first in
 * its own), the backlog, then every missed and not applicable target and the total.
 *
 * @example
 * io.stdout.write(`${formatRateLimitBench(report)}\n`);
 */
export const formatRateLimitBench = (report: RateLimitBenchReport): string => {
  const missed = report.verdicts.filter((verdict) => verdict.status === 'missed');
  const notApplicable = report.verdicts.filter((verdict) => verdict.status === 'n/a');
  const lines = [
    ...settingsLines(report),
    ...limiterLines(report),
    ...pipelineLines(report),
    ...backlogLines(report),
    '',
    ...missed.map((verdict) => `FAIL  ${verdict.label}: ${verdict.target}: ${verdict.detail}`),
    ...notApplicable.map((verdict) => `n/a   ${verdict.label}: ${verdict.target}: ${verdict.detail}`),
  ];
  if (report.interrupted) lines.push('INTERRUPTED: the runs left out were not measured');
  const targets =
    `rate/R >= ${RATE_LIMIT_BENCH_TARGETS.minRateShare}, 429 share <= ${RATE_LIMIT_BENCH_TARGETS.maxThrottledShare * 100} %, drained, ` +
    `backlog <= ${RATE_LIMIT_BENCH_TARGETS.maxCallsPerRecord} calls per record`;
  const met = report.verdicts.length - missed.length - notApplicable.length;
  lines.push(`${met} of ${report.verdicts.length} targets met, ${missed.length} missed, ${notApplicable.length} n/a (${targets}); total ${seconds(report.durationMs)}`);
  return lines.join('\n');
};

/**
 * `npm run bench:ratelimit`: runs {@link runRateLimitBench} and prints its report, as tables on
 * stdout or, with `--json`, as one JSON object and nothing else there (progress goes to stderr).
 * Resolves with the exit code: 0 when no target was missed, 1 when one was, 2 for a usage error,
 * 130 when interrupted.
 *
 * @example
 * process.exitCode = await runRateLimitBenchCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
export const runRateLimitBenchCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const program = new Command('bench:ratelimit')
    .description(
      'measure per-destination rate limiting in two layers: the rate limiter alone (R 20, 100, 500 with 1 and 4 consumers) and the whole local pipeline ' +
        '(R 20 and 100, beside its own ceiling without a limit), each the sustained accepted rate against R and the share of calls answered 429; then the ' +
        'destination calls of 200 records x 10 versions queued before the consumers start',
    )
    .option('--json', 'write the report as one JSON object to stdout (progress still goes to stderr)', false)
    .option('--records <n>', 'most records a rate run sends, in either layer (by default 6000 for the limiter, 1000 for the pipeline)', integer(1, 1_000_000))
    .option('--quick', 'a smoke run of about a minute: 3 s of records a rate run, a ceiling of 300 records, a backlog of 50 records x 10 versions', false);
  const stop = parseBenchArguments(program, argv, io);
  if (stop !== undefined) return stop;
  const flags = program.opts<BenchFlags>();
  const preset: RateLimitBenchOptions = flags.quick ? QUICK_RATE_LIMIT_BENCH : {};
  const cap = flags.records === undefined ? {} : { maxRecords: flags.records };
  const options: RateLimitBenchOptions = {
    ...preset,
    limiter: { ...preset.limiter, ...cap },
    pipeline: { ...preset.pipeline, ...cap },
    onRun: (run) => io.stderr.write(`${describeRun(run)}\n`),
    ...(io.signal === undefined ? {} : { signal: io.signal }),
  };
  io.stderr.write(`rate-limit bench${flags.quick ? ' (quick)' : ''}: one run at a time, the limiter layer first\n`);
  const report = await runRateLimitBench(options);
  io.stderr.write(`consumer logs of the pipeline runs: ${report.settings.logDir}\n`);
  io.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${formatRateLimitBench(report)}\n`);
  if (report.interrupted) return ExitCode.INTERRUPTED;
  return report.ok ? ExitCode.OK : ExitCode.UNHEALTHY;
};
