import { Command } from 'commander';
import { parseBenchArguments } from './bench-cli.ts';
import { ExitCode, type CliIo } from '../../ops/cli.ts';
import { table } from '../../ops/format.ts';
import { integer } from '../local-command.ts';
import { formatBundleSizeReport } from './bundle-size.ts';
import { CONSUMER_BENCH_TARGETS, runConsumerBench, type Compared, type ConsumerBenchOptions, type ConsumerBenchReport } from './consumer-bench.ts';
import type { CostBreakdown } from './cost-model.ts';

interface BenchFlags {
  readonly json: boolean;
  readonly quick: boolean;
  readonly latencyMs?: number;
}

const ratio = (figure: Compared): string => (Number.isFinite(figure.ratio) ? figure.ratio.toFixed(2) : '-');
const row = (label: string, figure: Compared, digits: number, unit = ''): string[] => [label, `${figure.ours.toFixed(digits)}${unit}`, `${figure.baseline.toFixed(digits)}${unit}`, ratio(figure)];
const COLUMNS = ['figure', 'ours', 'baseline', 'ours/baseline'] as const;

const requestRows = (report: ConsumerBenchReport): string[][] => {
  const [ours, baseline] = ['ours', 'baseline'].map((subject) => report.requests.subjects.find((s) => s.subject === subject)!);
  return (['applied', 'duplicate', 'stale'] as const).flatMap((phase) => {
    const o = ours![phase].perRecord;
    const b = baseline![phase].perRecord;
    return [
      row(`DynamoDB requests per ${phase} record`, { ours: o.dynamodb.aws.total, baseline: b.dynamodb.aws.total, ratio: o.dynamodb.aws.total / b.dynamodb.aws.total }, 2),
      row(`DynamoDB write units per ${phase} record`, { ours: o.dynamodb.writeUnits, baseline: b.dynamodb.writeUnits, ratio: o.dynamodb.writeUnits / b.dynamodb.writeUnits }, 2),
      row(`destination calls per ${phase} record`, { ours: o.destination.gets + o.destination.writes, baseline: b.destination.gets + b.destination.writes, ratio: (o.destination.gets + o.destination.writes) / (b.destination.gets + b.destination.writes) }, 2),
    ];
  });
};

const costRows = (label: string, cost: { ours: CostBreakdown; baseline: CostBreakdown; ratio: number }): string[][] =>
  (['dynamodb', 'sqs', 'lambdaRequests', 'lambdaDuration', 'logs', 'eventBridge', 'total'] as const).map((item) =>
    row(`${label}: ${item}`, { ours: cost.ours[item], baseline: cost.baseline[item], ratio: item === 'total' ? cost.ratio : cost.ours[item] / cost.baseline[item] }, 3, ' $'),
  );

/**
 * The bench's report for people: what was run, one table of every figure with its ratio, the
 * bundles' largest packages, then the targets.
 *
 * @example
 * io.stdout.write(`${formatConsumerBench(report)}\n`);
 */
export const formatConsumerBench = (report: ConsumerBenchReport): string => {
  const { cpu, throughput, bundle, cost } = report;
  const settings = throughput.settings;
  const lines = [
    `consumer bench: ours against the seed algorithm with stock Powertools (destination GET, compare, upsert), same input, one run; ratios are the result`,
    `CPU: in-memory ports, ${cpu.trials} interleaved trials of ${cpu.records} records per kind, medians; request counts: ${report.requests.records} records per phase on the embedded DynamoDB ` +
      `(${report.requests.capacityModel}); throughput: ${throughput.trials} trial(s) each of ${settings.changes} demo-stream changes (${settings.stream.duplicates} duplicates, ${settings.stream.outOfOrder} out of order) ` +
      `at ${settings.offeredPerSecond}/s through the embedded runtime (${settings.eventSource.pollers} pollers, batch ${settings.eventSource.batchSize}), the fake API answering in ${settings.latencyMs} ms`,
    `cost: ${cost.prices.region} on-demand list prices as of ${cost.prices.asOf}, ${cost.memoryMb} MB arm64 functions, per million applied records (the changes ours applied on the same stream)`,
    table(COLUMNS, [
      ...(['new', 'duplicate', 'stale'] as const).map((kind) => row(`handler CPU per ${kind} record`, cpu.microsPerRecord[kind], 1, ' us')),
      ...(['new', 'duplicate', 'stale'] as const).map((kind) => row(`log and EMF bytes per ${kind} record`, cpu.outputBytesPerRecord[kind], 0)),
      ...requestRows(report),
      row('throughput (changes/s)', throughput.changesPerSecond, 1),
      row('lag p50 (ms)', throughput.lagP50Ms, 0),
      row('lag p99 (ms)', throughput.lagP99Ms, 0),
      ['records not converged / regressions', `${throughput.notConverged.ours} / ${throughput.regressions.ours}`, `${throughput.notConverged.baseline} / ${throughput.regressions.baseline}`, '-'],
      row('bundle raw (bytes)', bundle.rawBytes, 0),
      row('bundle gzip (bytes)', bundle.gzipBytes, 0),
      row('cold init median (ms)', bundle.coldInitMs, 1),
      ...costRows('$ per million applied via SQS', cost.sqs),
      ...costRows('$ per million applied via EventBridge', cost.eventBridge),
    ]),
    '',
    formatBundleSizeReport(bundle, 5),
    '',
    ...report.verdicts.map((verdict) => `${verdict.met ? 'ok  ' : 'FAIL'}  ${verdict.target}: ${verdict.detail}`),
    `${report.verdicts.filter((verdict) => verdict.met).length} of ${report.verdicts.length} targets met; total ${(report.durationMs / 1000).toFixed(1)} s`,
  ];
  return lines.join('\n');
};

/** A quick smoke run: fewer and shorter trials (its ratios are rougher). */
const QUICK: ConsumerBenchOptions = { cpuRecords: 2_000, cpuTrials: 3, changes: 500, throughputTrials: 1, coldStarts: 5 };

/**
 * `npm run bench`: runs {@link runConsumerBench} and prints its report, as tables on stdout or, with
 * `--json`, as one JSON object and nothing else there (progress goes to stderr). Resolves with the
 * exit code: 0 when every target was met, 1 when one was missed, 2 for a usage error.
 *
 * @example
 * process.exitCode = await runConsumerBenchCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
export const runConsumerBenchCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const targets = CONSUMER_BENCH_TARGETS;
  const program = new Command('bench')
    .description(
      'measure the consumer against the seed algorithm with stock Powertools on the same input, as ratios: handler CPU per new, duplicate and stale record ' +
        `(target <= ${targets.maxCpuRatio}), DynamoDB requests and destination calls per record, throughput and lag through the embedded runtime, bundle size ` +
        `(target <= ${targets.maxBundleBytes / 1000} KB) and cold init (target <= the baseline's), and the cost per million applied records (target via SQS <= ${targets.maxSqsCostRatio})`,
    )
    .option('--json', 'write the report as one JSON object to stdout (progress still goes to stderr)', false)
    .option('--latency-ms <ms>', "the fake API's answer time in the throughput trials (default 100)", integer(0, 10_000))
    .option('--quick', 'a smoke run of about a minute (fewer, shorter trials; rougher ratios)', false);
  const stop = parseBenchArguments(program, argv, io);
  if (stop !== undefined) return stop;
  const flags = program.opts<BenchFlags>();
  const report = await runConsumerBench({
    ...(flags.quick ? QUICK : {}),
    ...(flags.latencyMs === undefined ? {} : { latencyMs: flags.latencyMs }),
    onProgress: (line) => io.stderr.write(`${line}\n`),
  });
  io.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${formatConsumerBench(report)}\n`);
  return report.ok ? ExitCode.OK : ExitCode.UNHEALTHY;
};
