import { parseArgs } from 'node:util';
import { ConfigFileError, DEFAULT_CONFIG_PATH, loadPipelineConfig } from '../lib/config/pipeline-config.ts';
import { ValidationError } from '../lib/config/validation.ts';
import { formatProgress, formatReport } from '../lib/local/format-report.ts';
import { runLocalPipeline } from '../lib/local/run-pipeline.ts';

const USAGE = `Usage: npm run local -- [options]

Runs the whole pipeline on this machine: embedded SQS and DynamoDB emulators (or --endpoint),
a fake external API, the real consumer behind pollers that act like the Lambda event source,
and a demo stream with duplicates, out-of-order versions and malformed messages. Ends with a
report and a check of the invariants; exits 1 if one fails.

Options:
  --changes N      changes to publish (default 500)
  --rate R         changes per second, 0 for unthrottled (default 250)
  --ids N          distinct records (default changes / 5)
  --seed N         random seed for the demo stream (default 1)
  --config FILE    pipeline config (default ${DEFAULT_CONFIG_PATH}, or SYNC_PIPELINE_CONFIG)
  --endpoint URL   use this SQS/DynamoDB endpoint (LocalStack) instead of the embedded emulators;
                   AWS_ENDPOINT_URL does the same
  --json           print the final report as one JSON object on the last line of stdout
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
  const changes = integerFlag('changes', values.changes as string | undefined, 500, 1, 1_000_000);
  const rate = integerFlag('rate', values.rate as string | undefined, 250, 0, 100_000);
  const ids = integerFlag('ids', values.ids as string | undefined, Math.max(10, Math.round(changes / 5)), 1, 1_000_000);
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

  const interactive = process.stderr.isTTY === true;
  let drawnLines = 0;
  let lastPrintedAt = 0;
  const report = await runLocalPipeline({
    config,
    changes,
    rate,
    ids,
    seed,
    ...(endpoint === undefined ? {} : { endpoint }),
    onProgress: (progress) => {
      const lines = formatProgress(progress);
      if (interactive) {
        // Redraw the progress block in place.
        process.stderr.write(`${drawnLines > 0 ? `\x1b[${drawnLines}F` : ''}${lines.map((line) => `\x1b[2K${line}`).join('\n')}\n`);
        drawnLines = lines.length;
      } else if (Date.now() - lastPrintedAt >= 2000) {
        lastPrintedAt = Date.now();
        process.stderr.write(`${lines.join('\n')}\n`);
      }
    },
  });

  process.stdout.write(`${formatReport(report)}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ ...report, invariants: Object.fromEntries(Object.entries(report.invariants).map(([name, check]) => [name, check.ok])), invariantDetails: report.invariants })}\n`);
  const ok = report.drained && Object.values(report.invariants).every((check) => check.ok);
  process.exitCode = ok ? 0 : 1;
};

main().catch((error: unknown) => {
  process.stderr.write(`local run failed: ${error instanceof Error ? error.message : String(error)}\n`);
  if (process.env.DEBUG !== undefined && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
