import { parseArgs } from 'node:util';
import { ConfigFileError, DEFAULT_CONFIG_PATH, loadPipelineConfig } from '../lib/config/pipeline-config.ts';
import { ValidationError } from '../lib/contract/validation.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  CHAOS_CONCURRENT_COPY_RATE,
  CHAOS_CRASH_RATE,
  CHAOS_FAILURES,
  CHAOS_SETTLE_SECONDS,
  CHAOS_SIZE,
  CHAOS_TWIN_RATE,
  chaosRunOptions,
} from '../lib/local/lab/chaos.ts';
import { formatHtmlReport, formatReport, formatRetrySchedule } from '../lib/local/report/format-report.ts';
import { createProgressView } from '../lib/local/report/progress-view.ts';
import { runLocalPipeline } from '../lib/local/run-pipeline.ts';

const USAGE = `Usage: npm run local -- [options]

Runs the whole pipeline on this machine: embedded SQS and DynamoDB emulators (or --endpoint),
a fake external API, the real consumer behind pollers that act like the Lambda event source,
and a demo stream with duplicates, out-of-order versions and malformed messages. Ends with a
report and a check of the invariants; exits 1 if one fails.

Options:
  --chaos          inject every failure we know of: 429 with Retry-After, 503, 409, timeouts
                   (before and after the write), connection resets, 400s, writes that land
                   after the lease, consumer crashes, messages SQS hands to two consumers at
                   once, and same-version twins with another payload; settle window
                   ${CHAOS_SETTLE_SECONDS} s; defaults to ${CHAOS_SIZE.changes} changes over ${CHAOS_SIZE.ids} records, unthrottled
  --explain        print each destination's retry schedule (from its retry horizon) and exit
  --changes N      changes to publish (default 500)
  --rate R         changes per second, 0 for unthrottled (default 250)
  --ids N          distinct records (default changes / 5)
  --seed N         random seed for the demo stream (default 1)
  --config FILE    pipeline config (default ${DEFAULT_CONFIG_PATH}, or SYNC_PIPELINE_CONFIG)
  --endpoint URL   use this SQS/DynamoDB endpoint (LocalStack) instead of the embedded emulators;
                   AWS_ENDPOINT_URL does the same
  --json           print the final report as one JSON object on the last line of stdout
  --html FILE      where to write the HTML report (default reports/local-run.html)
  -h, --help       show this help`;

const fail = (message: string): never => {
  process.stderr.write(`error: ${message}\n\n${USAGE}\n`);
  process.exit(2);
};

const integerFlag = (name: string, value: string | undefined, fallback: number, min: number, max: number): number => {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    fail(`--${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return parsed;
};

const main = async (): Promise<void> => {
  let values: ReturnType<typeof parseArgs<{ options: Record<string, { type: 'string' | 'boolean'; short?: string }> }>>['values'];
  try {
    ({ values } = parseArgs({
      options: {
        changes: { type: 'string' },
        rate: { type: 'string' },
        ids: { type: 'string' },
        seed: { type: 'string' },
        config: { type: 'string' },
        endpoint: { type: 'string' },
        json: { type: 'boolean' },
        chaos: { type: 'boolean' },
        explain: { type: 'boolean' },
        html: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return fail((error as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const chaos = values.chaos === true;
  const changes = integerFlag('changes', values.changes as string | undefined, chaos ? CHAOS_SIZE.changes : 500, 1, 1_000_000);
  const rate = integerFlag('rate', values.rate as string | undefined, chaos ? 0 : 250, 0, 100_000);
  const ids = integerFlag('ids', values.ids as string | undefined, chaos ? Math.max(CHAOS_SIZE.ids, Math.round(changes / 10)) : Math.max(10, Math.round(changes / 5)), 1, 1_000_000);
  const seed = integerFlag('seed', values.seed as string | undefined, 1, 0, 2 ** 31 - 1);
  const endpoint = (values.endpoint as string | undefined) ?? process.env.AWS_ENDPOINT_URL;
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(endpoint)) fail(`--endpoint: expected an http(s) URL, got ${JSON.stringify(endpoint)}`);
  const json = values.json === true;

  let config;
  try {
    config = loadPipelineConfig((values.config as string | undefined) ?? process.env.SYNC_PIPELINE_CONFIG ?? DEFAULT_CONFIG_PATH);
  } catch (error) {
    if (error instanceof ConfigFileError || error instanceof ValidationError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  if (values.explain === true) {
    process.stdout.write(`${formatRetrySchedule(chaos ? chaosRunOptions(config, { changes, ids, seed }).config : config)}\n`);
    return;
  }

  const base = chaos ? chaosRunOptions(config, { changes, ids, seed }) : { config, changes, ids, seed, rate };
  if (chaos) {
    process.stderr.write(
      `chaos: ${changes} changes over ${ids} records; fake API failure rates ${Object.entries(CHAOS_FAILURES)
        .map(([kind, value]) => `${kind} ${value}`)
        .join(', ')}; 409 while a key is in flight; consumer crash rate ${CHAOS_CRASH_RATE}; concurrent copy rate ${CHAOS_CONCURRENT_COPY_RATE}; ` +
        `same-version twin rate ${CHAOS_TWIN_RATE}; settle window ${CHAOS_SETTLE_SECONDS} s\n`,
    );
  }
  const progress = createProgressView({ stream: process.stderr });
  // Ctrl-C ends the run with a partial report; a second one (the default handler again) quits at once.
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    progress.stop();
    process.stderr.write('interrupted: stopping the publisher and the pollers, then reporting what happened so far (Ctrl-C again quits now)\n');
    interrupt.abort();
  });
  const report = await runLocalPipeline({
    ...base,
    rate,
    ...(endpoint === undefined ? {} : { endpoint }),
    onProgress: (snapshot) => progress.update(snapshot),
    signal: interrupt.signal,
  }).finally(() => progress.stop());

  const htmlPath = (values.html as string | undefined) ?? 'reports/local-run.html';
  mkdirSync(dirname(htmlPath), { recursive: true });
  writeFileSync(htmlPath, formatHtmlReport(report));
  process.stdout.write(`${formatReport(report)}\n\nHTML report: ${htmlPath}; consumer logs: ${report.logFile}\n`);
  if (json) {
    const { timeline: _timeline, ...rest } = report;
    process.stdout.write(
      `${JSON.stringify({ ...rest, invariants: Object.fromEntries(Object.entries(report.invariants).map(([name, check]) => [name, check.ok])), invariantDetails: report.invariants })}\n`,
    );
  }
  const ok = report.drained && Object.values(report.invariants).every((check) => check.ok);
  // 130: ended by SIGINT, as a shell reports it.
  process.exitCode = report.interrupted ? 130 : ok ? 0 : 1;
};

main().catch((error: unknown) => {
  process.stderr.write(`local run failed: ${error instanceof Error ? error.message : String(error)}\n`);
  if (process.env.DEBUG !== undefined && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
