// `npx node scripts/publish-count.ts [--changes N]`: publishes N changes (default 10,000) through
// the publisher library to the embedded SQS, counts the SendMessageBatch calls the SDK client makes
// (middleware on the client, independent of the library's own bookkeeping) and prints them with the
// entries per call; then the same through the local EventBridge bus (PutEvents calls). Exits 1 if a
// route needs more than one call per 10 changes or does not send every change.
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { loadPipelineConfig, type PipelineConfig } from '../lib/config/pipeline-config.ts';
import { countCommands } from '../lib/local/bench/bench-subjects.ts';
import { awsClientConfig, connectAws } from '../lib/local/sim/emulators.ts';
import { startLocalEventBus } from '../lib/local/sim/event-bus.ts';
import { createLocalResources } from '../lib/local/sim/local-resources.ts';
import { publishChanges, type ChangeEvent, type PublishOptions } from '../lib/publish/index.ts';

/** What one route took: calls counted on the SDK client, and the entries each call carried. */
interface RouteCount {
  readonly route: string;
  readonly command: string;
  readonly calls: number;
  readonly entriesPerCall: readonly number[];
  readonly changes: number;
  readonly sent: number;
  readonly elapsedMs: number;
}

/** The issue's target: at most one call per 10 changes (10,000 changes in at most 1,000 calls). */
const withinTarget = (count: RouteCount): boolean => count.calls * 10 <= count.changes;

const parseChangeCount = (argv: readonly string[]): number => {
  const at = argv.indexOf('--changes');
  if (at < 0) return 10_000;
  const value = Number(argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`Expected \`--changes\` to be a positive integer, got \`${argv[at + 1] ?? ''}\``);
  return value;
};

/** Changes of the first resource type the first destination subscribes to, several versions per record. */
const makeChanges = (config: PipelineConfig, count: number): ChangeEvent[] => {
  const resourceType = config.destinations[0]?.resourceTypes[0] ?? 'contact';
  const occurredAt = new Date().toISOString();
  return Array.from({ length: count }, (_, index) => ({
    resourceType,
    id: `r-${index % 1000}`,
    version: Math.floor(index / 1000) + 1,
    occurredAt,
    op: 'upsert' as const,
    payload: { name: `Record ${index}`, city: 'Zürich' },
  }));
};

/** Publishes through the library and counts `command` on the client that carries it. */
const countRoute = async (
  route: string,
  command: string,
  changes: readonly ChangeEvent[],
  options: PublishOptions,
): Promise<RouteCount> => {
  const counter = countCommands(options.client);
  const entriesPerCall: number[] = [];
  const started = performance.now();
  const results = await publishChanges(changes, { ...options, onBatch: (batch) => entriesPerCall.push(batch.entries) });
  const elapsedMs = performance.now() - started;
  counter.detach();
  return { route, command, calls: counter.snapshot().commands[command] ?? 0, entriesPerCall, changes: changes.length, sent: results.filter((result) => result.status === 'sent').length, elapsedMs };
};

/**
 * The same through the local EventBridge bus, which routes by the stack's rule patterns into the
 * destination queues: PutEvents calls counted on the client, and what the bus delivered per queue.
 */
const countThroughLocalBus = async (context: {
  readonly config: PipelineConfig;
  readonly sqs: SQSClient;
  readonly queueUrls: Readonly<Record<string, string>>;
  readonly changes: readonly ChangeEvent[];
}): Promise<RouteCount & { readonly delivered: Readonly<Record<string, number>> }> => {
  const bus = await startLocalEventBus({ config: context.config, sqs: context.sqs, queueUrls: context.queueUrls });
  const eventBridge = new EventBridgeClient(awsClientConfig(bus.endpoint));
  try {
    const count = await countRoute('local bus', 'PutEventsCommand', context.changes, { via: 'eventbridge', client: eventBridge, eventBusName: bus.eventBusName });
    return { ...count, delivered: bus.stats().deliveredByDestination };
  } finally {
    eventBridge.destroy();
    await bus.stop();
  }
};

const describeCount = (count: RouteCount): string => {
  const largest = Math.max(...count.entriesPerCall);
  const smallest = Math.min(...count.entriesPerCall);
  const mean = count.entriesPerCall.reduce((sum, entries) => sum + entries, 0) / Math.max(1, count.entriesPerCall.length);
  const verdict = withinTarget(count) ? 'within' : 'OVER';
  return (
    `${count.route}: ${count.sent} of ${count.changes} changes sent in ${count.calls} ${count.command.replace(/Command$/, '')} calls ` +
    `(entries per call: mean ${mean.toFixed(2)}, min ${smallest}, max ${largest}; ${verdict} the target of <= 1 call per 10 changes) in ${(count.elapsedMs / 1000).toFixed(1)} s`
  );
};

const changeCount = parseChangeCount(process.argv.slice(2));
const config = loadPipelineConfig();
const aws = await connectAws();
try {
  const resources = await createLocalResources({ config, sqs: aws.sqs, dynamodb: aws.dynamodb });
  const queueUrls = Object.fromEntries(Object.entries(resources.destinations).map(([name, queues]) => [name, queues.queueUrl]));
  const firstDestination = config.destinations[0]?.name ?? '';
  const queueUrl = queueUrls[firstDestination];
  if (queueUrl === undefined) throw new Error(`Expected a queue for destination ${JSON.stringify(firstDestination)}, got none`);
  const changes = makeChanges(config, changeCount);

  const direct = await countRoute(`embedded SQS (queue of ${firstDestination})`, 'SendMessageBatchCommand', changes, { via: 'sqs', client: aws.sqs, queueUrl });
  console.log(describeCount(direct));
  const viaBus = await countThroughLocalBus({ config, sqs: aws.sqs, queueUrls, changes });
  console.log(`${describeCount(viaBus)}; delivered by the rules: ${Object.entries(viaBus.delivered).map(([name, n]) => `${name} ${n}`).join(', ')}`);
  process.exitCode = [direct, viaBus].every((count) => withinTarget(count) && count.sent === count.changes) ? 0 : 1;
} finally {
  await aws.stop();
}
