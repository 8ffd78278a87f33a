import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import type { PipelineConfig } from '../config/pipeline-config.ts';
import { consumerServiceName, leaseDurationMsFor } from '../config/resources.ts';
import { serializeChangeEvent, type ChangeEvent } from '../contract/change-event.ts';
import { readDeadLetters, REDRIVEN_REASON, type DeadLetter } from '../ops/dead-letters.ts';
import { createQueuePublisher, routeChange } from '../publish/publisher.ts';
import { wireConsumerHandler } from '../consumer/wiring.ts';
import { MetricDimension, MetricName } from '../core/metrics.ts';
import { EmfStore, percentile } from './sim/emf.ts';
import { captureJsonOutput } from './sim/output-capture.ts';
import { describeStream, generateDemoStream } from './lab/demo-stream.ts';
import { connectAws } from './sim/emulators.ts';
import {
  createConcurrentCopies,
  createExecutionEnvironments,
  startEventSourcePoller,
  type ConcurrentCopies,
  type EventSourcePoller,
  type ExecutionEnvironments,
  type InvocationSummary,
} from './sim/event-source-poller.ts';
import { startFakeApi, type FakeApiOptions } from './lab/fake-api.ts';
import { DynamoDbLedgerStore } from '../adapters/dynamodb-ledger.ts';
import type { Destination } from '../core/destination.ts';
import { toHeaderValue } from '../adapters/http-destination.ts';
import { createRandom } from '../core/random.ts';
import { buildTimeline, type Timeline } from './report/timeline.ts';
import type { LedgerStore } from '../core/ledger.ts';
import type { DestinationProgress, LocalRunOptions, LocalRunProgress } from './lab/run-options.ts';
import type { LocalRunReport } from './report/run-report.ts';
import { checkInvariants, type AppliedRecord, type DestinationAccounting } from './lab/invariants.ts';
import { createLocalResources } from './sim/local-resources.ts';
import { recordKey } from '../core/record-key.ts';
import { sleep } from '../core/sleep.ts';
import { SqsLimits } from '../core/sqs-limits.ts';

export type { DestinationProgress, LocalRunOptions, LocalRunProgress } from './lab/run-options.ts';
export type { DestinationReport, LocalRunReport } from './report/run-report.ts';

/** The malformed bodies the demo mixes in; each must reach the DLQ with a reason (I6). */
const MALFORMED_SAMPLES: readonly string[] = [
  '{"resourceType":"contact","id":',
  JSON.stringify({ resourceType: 'contact', version: 1, occurredAt: new Date(0).toISOString(), op: 'upsert', payload: {} }),
  JSON.stringify({ resourceType: 'contact', id: 'bad-version', version: 'seven', occurredAt: new Date(0).toISOString(), op: 'upsert', payload: {} }),
];

/**
 * Runs the whole pipeline in this process: emulators (or an endpoint), the same queues and table the
 * stack defines, a fake external API, pollers that behave like the Lambda event source invoking the
 * real consumer, and a publisher of a demo stream with duplicates, reordering and malformed input.
 * Resolves with the report once every published message is accounted for (or progress stalls).
 *
 * @example
 * const report = await runLocalPipeline({ config, changes: 500, rate: 250 });
 * Object.values(report.invariants).every((check) => check.ok);
 */
export const runLocalPipeline = async (options: LocalRunOptions): Promise<LocalRunReport> => {
  const startedAt = Date.now();
  const runId = randomUUID().slice(0, 8);
  const logFile = options.logFile ?? 'reports/local-run.log';
  mkdirSync(dirname(logFile), { recursive: true });
  writeFileSync(logFile, '');

  const aws = await connectAws(options.endpoint === undefined ? {} : { endpoint: options.endpoint });
  const { sqs, dynamodb } = aws;
  const fakeApi = await startFakeApi({ seed: options.seed ?? 1, ...options.fakeApi });
  const emf = new EmfStore();
  const pollers: EventSourcePoller[] = [];
  const pendingLog: string[] = [];
  // Applied records by request id, from the consumers' log lines: an invocation that dies never
  // publishes its metrics, but its log lines (like CloudWatch Logs) survive.
  const appliedRecords: Array<AppliedRecord & { readonly requestId: string }> = [];
  const lostRequests = new Set<string>();
  const capture = captureJsonOutput((line) => {
    if (emf.ingestLine(line)) return;
    pendingLog.push(line);
    if (!line.includes('"record applied"')) return;
    const entry = JSON.parse(line) as Partial<AppliedRecord> & { function_request_id?: string };
    if (entry.destination === undefined || entry.resourceType === undefined || entry.id === undefined || entry.version === undefined) return;
    appliedRecords.push({
      destination: entry.destination,
      resourceType: entry.resourceType,
      id: entry.id,
      version: entry.version,
      requestId: entry.function_request_id ?? '',
    });
  });
  const crashRandom = createRandom((options.seed ?? 1) + 1);
  const hangForever = new Promise<never>(() => undefined);
  // Both maps are keyed by the idempotency key as the fake API logs it: the HTTP adapter's header
  // value, which percent-encodes what is not visible ASCII (ids such as `müller-客户`).
  /** Per idempotency key, the answered calls a crash swallowed (their repeat is excused, I4). */
  const lostAnswers = new Map<string, number>();
  /** Per idempotency key, when each destination call started (to time late writes). */
  const callStarts = new Map<string, number[]>();
  const crashRate = options.crashRate ?? 0;
  const instrument = (destination: Destination): Destination => {
    const inner = options.decorateDestination?.(destination) ?? destination;
    return {
      apply: async (write) => {
        const wireKey = toHeaderValue(write.idempotencyKey);
        callStarts.set(wireKey, [...(callStarts.get(wireKey) ?? []), Date.now()]);
        const result = await inner.apply(write);
        if (crashRate > 0 && crashRandom.next() < crashRate) {
          // The answer arrived and dies with the invocation: nothing commits it.
          lostAnswers.set(wireKey, (lostAnswers.get(wireKey) ?? 0) + 1);
          await hangForever;
        }
        return result;
      },
    };
  };
  const flushLog = () => {
    if (pendingLog.length > 0) appendFileSync(logFile, `${pendingLog.splice(0).join('\n')}\n`);
  };

  try {
    // The same config, with every destination pointed at the fake API.
    const config: PipelineConfig = {
      ...options.config,
      // Every HTTP destination points at the fake API; its path names the destination.
      destinations: options.config.destinations.map((destination) => (destination.kind === 'http' ? { ...destination, baseUrl: fakeApi.baseUrl(destination.name) } : destination)),
    };
    const resources = await createLocalResources({ config, sqs, dynamodb, visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 5 });
    const ledger = new DynamoDbLedgerStore({ client: dynamodb, tableName: resources.tableName });
    if (options.endpoint !== undefined) {
      // A reused endpoint may hold messages from an earlier run; start from empty queues.
      for (const queues of Object.values(resources.destinations)) {
        for (const url of [queues.queueUrl, queues.deadLetterQueueUrl]) await sqs.send(new PurgeQueueCommand({ QueueUrl: url })).catch(() => undefined);
      }
    }

    const environmentsOf = new Map<string, ExecutionEnvironments>();
    const copiesOf = new Map<string, ConcurrentCopies>();
    /** Per destination and message id, the deliveries that ended (resolved, not listed as failed). */
    const terminalOf = new Map<string, Map<string, number>>(config.destinations.map((d) => [d.name, new Map()]));
    const recordTerminal = (destination: string, summary: InvocationSummary): void => {
      if (summary.outcome !== 'success' && summary.outcome !== 'partial') return;
      const failed = new Set(summary.failedMessageIds);
      const terminal = terminalOf.get(destination)!;
      for (const messageId of summary.messageIds) if (!failed.has(messageId)) terminal.set(messageId, (terminal.get(messageId) ?? 0) + 1);
    };
    for (const [index, destination] of config.destinations.entries()) {
      const queues = resources.destinations[destination.name]!;
      const destinationLedger = options.wrapLedger?.(ledger);
      // Each invocation runs in an execution environment of its own, as in Lambda: module state
      // (logger context, metrics buffer) is never shared by two invocations at once, and a
      // concurrent copy finds another environment (or a new one) beside the original's.
      const environments = createExecutionEnvironments(() =>
        wireConsumerHandler({
          destination,
          tableName: resources.tableName,
          queueUrl: queues.queueUrl,
          deadLetterQueueUrl: queues.deadLetterQueueUrl,
          metricsNamespace: config.metricsNamespace,
          serviceName: consumerServiceName(config, destination),
          logLevel: config.logLevel,
          dynamodb,
          sqs,
          decorateDestination: instrument,
          ...(destinationLedger === undefined ? {} : { overrides: { ledger: destinationLedger } }),
        }),
      );
      environmentsOf.set(destination.name, environments);
      const copies = createConcurrentCopies({ rate: options.concurrentCopyRate ?? 0, seed: (options.seed ?? 1) * 31 + index });
      copiesOf.set(destination.name, copies);
      const concurrentPollers = options.pollers ?? Math.min(destination.maxConcurrency, 4);
      for (let poller = 0; poller < concurrentPollers; poller += 1) {
        pollers.push(
          startEventSourcePoller({
            sqs,
            queueUrl: queues.queueUrl,
            queueArn: queues.queueArn,
            handler: environments.handler,
            functionName: `${config.name}-${destination.name}-consumer`,
            batchSize: Math.min(destination.batchSize, SqsLimits.MAX_BATCH_ENTRIES),
            pollers: 1,
            functionTimeoutMs: destination.functionTimeoutSeconds * 1000,
            waitTimeSeconds: 1,
            copies,
            onInvocation: (summary) => {
              recordTerminal(destination.name, summary);
              if (summary.outcome === 'timeout') lostRequests.add(summary.awsRequestId);
              if (summary.outcome === 'error' || summary.outcome === 'timeout' || summary.outcome === 'invalid-response') {
                pendingLog.push(JSON.stringify({ level: 'ERROR', message: `invocation ${summary.outcome}`, destination: destination.name, error: String(summary.error) }));
              }
            },
          }),
        );
      }
    }

    // Record ids carry the run id, so a rerun against a persistent endpoint starts from fresh records.
    const resourceTypes = [...new Set(config.destinations.flatMap((d) => d.resourceTypes))];
    const events = (
      options.events ??
      generateDemoStream({
        changes: options.changes,
        ids: options.ids ?? Math.max(10, Math.round(options.changes / 5)),
        resourceTypes,
        seed: options.seed ?? 1,
        ...(options.twinRate === undefined ? {} : { twinRate: options.twinRate }),
      })
    ).map((event): ChangeEvent => ({ ...event, id: `${runId}-${event.id}` }));
    const malformedCount = options.malformed ?? 3;
    const messages: Array<ChangeEvent | string> = [...events];
    for (let i = 0; i < malformedCount; i += 1) {
      messages.splice(Math.floor(((i + 1) * messages.length) / (malformedCount + 1)), 0, MALFORMED_SAMPLES[i % MALFORMED_SAMPLES.length]!);
    }

    // Route every message exactly as the EventBridge rules do; malformed input cannot be routed by
    // type, so the demo sends it to the first destination.
    const routed = new Map<string, ChangeEvent[]>(config.destinations.map((d) => [d.name, []]));
    const plan = messages.map((message) => {
      const targets =
        typeof message === 'string' ? [config.destinations[0]!.name] : routeChange(config, message);
      if (typeof message !== 'string') for (const target of targets) routed.get(target)!.push(message);
      return { message, targets };
    });
    // A change happens when it is first published, so lag measures the pipeline, not the pacing of
    // the demo; a duplicate or late re-send carries the time of its original.
    const occurredAt = new Map<string, string>();
    const bodyOf = (message: ChangeEvent | string): string => {
      if (typeof message === 'string') return message;
      const key = recordKey(message.resourceType, message.id, message.version);
      const stamp = occurredAt.get(key) ?? new Date().toISOString();
      occurredAt.set(key, stamp);
      return serializeChangeEvent({ ...message, occurredAt: stamp });
    };
    const plannedTotal = plan.reduce((sum, step) => sum + step.targets.length, 0);
    const published = new Map<string, number>(config.destinations.map((d) => [d.name, 0]));
    /** Per destination, the SQS message ids of everything published to its queue. */
    const publishedIds = new Map<string, string[]>(config.destinations.map((d) => [d.name, []]));
    const namespace = config.metricsNamespace;
    const count = (name: string, destination: string) => emf.sum(namespace, name, { [MetricDimension.DESTINATION]: destination });
    const progress = (): LocalRunProgress => ({
      elapsedMs: Date.now() - startedAt,
      publishedTotal: [...published.values()].reduce((a, b) => a + b, 0),
      plannedTotal,
      destinations: config.destinations.map((d) => ({
        destination: d.name,
        published: published.get(d.name) ?? 0,
        applied: count(MetricName.RECORDS_APPLIED, d.name),
        skipped: count(MetricName.RECORDS_SKIPPED, d.name),
        deadLettered: count(MetricName.RECORDS_DEAD_LETTERED, d.name),
        retried: count(MetricName.RECORDS_RETRIED, d.name),
      })),
    });

    // Publish, paced to the rate, routing each change exactly as the EventBridge rules do.
    const publisher = createQueuePublisher({
      config,
      sqs,
      queueUrls: Object.fromEntries(config.destinations.map((d) => [d.name, resources.destinations[d.name]!.queueUrl])),
      onSent: (destination, messageIds) => {
        published.set(destination, (published.get(destination) ?? 0) + messageIds.length);
        publishedIds.get(destination)!.push(...messageIds);
      },
    });
    let lastProgressAt = 0;
    for (const [index, { message, targets }] of plan.entries()) {
      const body = bodyOf(message);
      for (const target of targets) await publisher.enqueue(target, body);
      if (options.rate > 0) {
        const dueAt = startedAt + ((index + 1) / options.rate) * 1000;
        const wait = dueAt - Date.now();
        if (wait > 0) await sleep(wait);
      }
      if (Date.now() - lastProgressAt > 250) {
        lastProgressAt = Date.now();
        options.onProgress?.(progress());
        flushLog();
      }
    }
    await publisher.flush();

    // Wait until every published message has ended at least once (a copy's outcome counts too, so
    // the metrics alone could reach the published count early), or nothing moves for too long.
    const unterminated = (destination: string): string[] => {
      const terminal = terminalOf.get(destination)!;
      return publishedIds.get(destination)!.filter((id) => (terminal.get(id) ?? 0) === 0);
    };
    const stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
    let lastAccounted = -1;
    let lastMoveAt = Date.now();
    let drained = false;
    while (!drained && Date.now() - lastMoveAt < stallTimeoutMs) {
      const snapshot = progress();
      options.onProgress?.(snapshot);
      flushLog();
      const accounted =
        snapshot.destinations.reduce((sum, d) => sum + d.applied + d.skipped + d.deadLettered, 0) +
        [...terminalOf.values()].reduce((sum, terminal) => sum + terminal.size, 0);
      drained = config.destinations.every((d) => unterminated(d.name).length === 0);
      if (accounted !== lastAccounted) {
        lastAccounted = accounted;
        lastMoveAt = Date.now();
      }
      if (!drained) await sleep(100);
    }
    // Also waits for the copies still in flight: their outcomes count below.
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));

    const deadLetters: DeadLetter[] = [];
    for (const destination of config.destinations) {
      deadLetters.push(...(await readDeadLetters(sqs, resources.destinations[destination.name]!.deadLetterQueueUrl, destination.name)));
    }
    // Messages that exhausted their retries were moved by SQS, not by the consumer: add them.
    const final = progress();
    const appliedUnreported = (destination: string): number =>
      appliedRecords.filter((r) => r.destination === destination && lostRequests.has(r.requestId)).length;
    const accounting: Array<DestinationProgress & Required<Pick<DestinationAccounting, 'extraTerminalOutcomes' | 'unterminated'>>> = final.destinations.map((row) => {
      // Only SQS redrive puts a message in the DLQ without the consumer counting it: one terminal
      // outcome each, not seen by the pollers.
      const redriven = new Set(deadLetters.flatMap((l) => (l.destination === row.destination && l.reason === REDRIVEN_REASON && l.messageId !== undefined ? [l.messageId] : [])));
      const neverEnded = unterminated(row.destination).filter((id) => !redriven.has(id));
      const terminalOutcomes = [...terminalOf.get(row.destination)!.values()].reduce((sum, n) => sum + n, 0) + redriven.size;
      return {
        ...row,
        deadLettered: row.deadLettered + redriven.size,
        appliedUnreported: appliedUnreported(row.destination),
        extraTerminalOutcomes: terminalOutcomes - (row.published - neverEnded.length),
        unterminated: neverEnded,
      };
    });
    drained ||= accounting.every((row) => row.unterminated.length === 0);
    const writeLog = fakeApi.writeLog();
    const invariants = checkInvariants({
      accounting,
      routed,
      writeLog,
      finalRecord: (destination, resourceType, id) => fakeApi.record(destination, resourceType, id),
      deadLetters,
      destinationReads: fakeApi.stats().reads,
      deleteMisses: fakeApi.deleteMisses(),
      appliedRecords,
      lostAnswers,
    });
    // A write whose answer never reached a waiting client, landing more than one lease after its
    // call started: the lease was over before it landed (it is taken before the call).
    const leaseOf = new Map(config.destinations.map((d) => [d.name, leaseDurationMsFor(d)]));
    const lateWritesAfterLease = writeLog.filter((entry) => {
      if (entry.answered) return false;
      const started = (callStarts.get(entry.idempotencyKey) ?? []).filter((at) => at <= entry.at).at(-1);
      return started !== undefined && entry.at - started > (leaseOf.get(entry.destination) ?? Number.POSITIVE_INFINITY);
    }).length;
    const apiStats = fakeApi.stats();
    const description = describeStream(events);
    return {
      runId,
      endpoint: options.endpoint ?? 'embedded',
      durationMs: Date.now() - startedAt,
      stream: {
        changes: events.length,
        malformed: malformedCount,
        duplicates: description.duplicates,
        twins: description.twins,
        outOfOrder: description.outOfOrder,
        records: description.records,
      },
      destinations: accounting.map(({ unterminated: _unterminated, ...row }) => {
        const lag = emf.values(namespace, MetricName.END_TO_END_LAG, { [MetricDimension.DESTINATION]: row.destination });
        const byReason = (name: string) =>
          Object.fromEntries(emf.dimensionValues(namespace, name, MetricDimension.REASON, { [MetricDimension.DESTINATION]: row.destination }));
        return {
          ...row,
          skippedByReason: byReason(MetricName.RECORDS_SKIPPED),
          retriedByReason: byReason(MetricName.RECORDS_RETRIED),
          deadLetteredByReason: Object.fromEntries(
            deadLetters
              .filter((l) => l.destination === row.destination)
              .reduce((m, l) => m.set(l.reason, (m.get(l.reason) ?? 0) + 1), new Map<string, number>()),
          ),
          lagMs: { p50: percentile(lag, 50) ?? null, p99: percentile(lag, 99) ?? null },
          destinationWrites: writeLog.filter((entry) => entry.destination === row.destination).length,
          replays: apiStats.byDestination[row.destination]?.replays ?? 0,
          copiesDelivered: copiesOf.get(row.destination)?.delivered() ?? 0,
          deadLettersFromLostInvocations: deadLetters.filter(
            (l) => l.destination === row.destination && (l.invocationIds ?? []).length > 0 && l.invocationIds!.every((id) => lostRequests.has(id)),
          ).length,
          deadLettersRepeated: deadLetters
            .filter((l) => l.destination === row.destination)
            .reduce((sum, l) => sum + Math.max(0, (l.invocationIds ?? []).filter((id) => !lostRequests.has(id)).length - 1), 0),
        };
      }),
      invariants,
      drained,
      faults: {
        injected: apiStats.injected,
        replays: apiStats.replays,
        conflictsInFlight: apiStats.conflicts,
        crashedInvocations: lostRequests.size,
        answersLostToCrashes: [...lostAnswers.values()].reduce((sum, n) => sum + n, 0),
        copiesDelivered: [...copiesOf.values()].reduce((sum, copies) => sum + copies.delivered(), 0),
        lateWritesAfterLease,
        environments: [...environmentsOf.values()].reduce((sum, environments) => sum + environments.created(), 0),
      },
      timeline: buildTimeline(emf, { namespace, destinations: config.destinations.map((d) => d.name), startedAt }),
    };
  } finally {
    await Promise.all(pollers.map((poller) => poller.stop()));
    capture.restore();
    flushLog();
    await fakeApi.stop();
    await aws.stop();
  }
};
