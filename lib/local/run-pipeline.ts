import { randomUUID } from 'node:crypto';
import { setTimeout as pause } from 'node:timers/promises';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLedgerStore } from '../adapters/dynamodb-ledger.ts';
import type { PipelineConfig } from '../config/pipeline-config.ts';
import { consumerServiceName, leaseDurationMsFor } from '../config/resources.ts';
import { MetricDimension, MetricName } from '../core/metrics.ts';
import { SqsLimits } from '../core/sqs-limits.ts';
import type { SQSEvent } from 'aws-lambda';
import { PROBE_EVENT } from '../config/probe-event.ts';
import { wireConsumerHandler } from '../consumer/wiring.ts';
import { groupDeadLetters, peekMessages, readDeadLetters, REDRIVEN_REASON, type DeadLetter } from '../ops/dead-letters.ts';
import { redriveDeadLetters } from '../ops/dlq.ts';
import { createQueuePublisher, PublishError } from '../publish/publisher.ts';
import { publishChanges } from '../publish/publish-changes.ts';
import type { ChangeEvent } from '../contract/change-event.ts';
import { EventBridgeLimits } from '../core/publish-batches.ts';
import { createCallFaults, type CallFaults } from './lab/call-faults.ts';
import { describeStream } from './lab/demo-stream.ts';
import { startFakeApi, type FakeApi } from './lab/fake-api.ts';
import { provisionLocalSecrets, type LocalSecrets } from './sim/local-secrets.ts';
import { loadDestinationPlugins } from '../adapters/plugin-loader.ts';
import { SecretsManagerReader, type SecretReader } from '../adapters/secrets.ts';
import type { DestinationPlugins } from '../core/plugins.ts';
import { checkInvariants, type DestinationAccounting } from './lab/invariants.ts';
import { PublishRoute, type DestinationProgress, type LocalRunOptions, type LocalRunProgress } from './lab/run-options.ts';
import { describeRunSettings, LOCAL_RUN_DEFAULTS, pollersFor, publishRouteFor, type RunSettings } from './lab/run-settings.ts';
import { buildWorkload, createBodyStamper, createOccurredAtStamper, publishedPart, type Workload } from './lab/workload.ts';
import { buildDestinationReports, describeDeadLetters } from './report/destination-report.ts';
import type { LocalRunReport, RedrivePhaseReport } from './report/run-report.ts';
import { buildTimeline } from './report/timeline.ts';
import { captureConsumerOutput, type ConsumerOutput } from './sim/consumer-output.ts';
import { EmfStore } from './sim/emf.ts';
import { awsClientConfig, connectAws } from './sim/emulators.ts';
import { startLocalEventBus, type LocalEventBus } from './sim/event-bus.ts';
import { isStoppedInvocation, never } from './sim/invocation-scope.ts';
import {
  createConcurrentCopies,
  createContext,
  createExecutionEnvironments,
  startEventSourcePoller,
  type ConcurrentCopies,
  type EventSourcePoller,
  type ExecutionEnvironments,
  type InvocationSummary,
} from './sim/event-source-poller.ts';
import { createLocalResources, localResourceName, purgeOwnQueues, ResourceOwnership, type LocalResources } from './sim/local-resources.ts';
import { startQueueSampler, type QueueObservations, type QueueSampler } from './sim/queue-sampler.ts';

export type { DestinationProgress, LocalRunOptions, LocalRunProgress } from './lab/run-options.ts';

/** What a kept runtime offers the operator's tools: where its services listen, and the run's report. */
export interface KeptRuntime {
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  readonly report: LocalRunReport;
}

/** How a run ends. */
export interface RunEnding {
  /**
   * Once the report is ready, keep the runtime up for the operator's tools: the destination healed
   * (no injected failures, no crashes), new pollers consuming, the emulators and the fake API
   * listening. The teardown waits for the promise this returns (the CLI resolves it on Ctrl-C).
   * @default tear down at once
   */
  readonly keepRunning?: (runtime: KeptRuntime) => Promise<void>;
}
export type { DestinationReport, LocalRunReport } from './report/run-report.ts';

/** The consumers of a run: pollers invoking the real handler, and what the pollers saw. */
interface RunningConsumers {
  readonly pollers: EventSourcePoller[];
  readonly environmentsOf: Map<string, ExecutionEnvironments>;
  readonly copiesOf: Map<string, ConcurrentCopies>;
  /** Per destination and message id, the deliveries that ended (resolved, not listed as failed). */
  readonly terminalOf: Map<string, Map<string, number>>;
  /** Request ids of the invocations that died (timed out by the poller). */
  readonly lostRequests: Set<string>;
  /** The breakers' probes, one timer per destination, as the stack's schedule runs them. */
  readonly probes: { stop(): Promise<void> };
}

interface ConsumerSetup {
  readonly config: PipelineConfig;
  readonly options: LocalRunOptions;
  readonly resources: LocalResources;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  readonly faults: CallFaults;
  readonly output: ConsumerOutput;
  /** Told what each receive of a destination's pollers returned. */
  readonly onReceive: (destination: string, messages: readonly Message[]) => void;
  /** Each destination's user code (transform, module), loaded as the Lambda bundles it. */
  readonly plugins: ReadonlyMap<string, DestinationPlugins>;
  /** Where the consumers read their `auth` secrets. */
  readonly secrets?: SecretReader;
}

/**
 * Starts, per destination, pollers that behave like the Lambda event source. Each invocation runs
 * in an execution environment of its own, as in Lambda: module state (logger context, metrics
 * buffer) is never shared by two invocations at once, and a concurrent copy finds another
 * environment (or a new one) beside the original's.
 */
const startConsumers = ({ config, options, resources, sqs, dynamodb, faults, output, onReceive, plugins, secrets }: ConsumerSetup): RunningConsumers => {
  const timers: NodeJS.Timeout[] = [];
  const probing = new Set<Promise<unknown>>();
  const probes = {
    stop: async () => {
      for (const timer of timers.splice(0)) clearInterval(timer);
      await Promise.all([...probing]);
    },
  };
  const running: RunningConsumers = { pollers: [], environmentsOf: new Map(), copiesOf: new Map(), terminalOf: new Map(), lostRequests: new Set(), probes };
  // The probe deletes what it ends itself: its outcomes are terminal like the pollers'.
  output.onProbeEnded = (destination, messageId) => {
    const terminal = running.terminalOf.get(destination);
    terminal?.set(messageId, (terminal.get(messageId) ?? 0) + 1);
  };
  const ledger = new DynamoDbLedgerStore({ client: dynamodb, tableName: resources.tableName });
  for (const [index, destination] of config.destinations.entries()) {
    const queues = resources.destinations[destination.name]!;
    const destinationLedger = options.wrapLedger?.(ledger);
    // The event source mapping, locally: the breaker pauses and resumes this destination's pollers.
    const pollersOfDestination: EventSourcePoller[] = [];
    const eventSource = {
      setEnabled: async (enabled: boolean) => {
        for (const poller of pollersOfDestination) (enabled ? poller.resume : poller.pause)();
      },
    };
    const functionName = `${config.name}-${destination.name}-consumer`;
    const environments = createExecutionEnvironments(() =>
      wireConsumerHandler({
        destination,
        tableName: resources.tableName,
        queueUrl: queues.queueUrl,
        deadLetterQueueUrl: queues.deadLetterQueueUrl,
        metricsNamespace: config.metricsNamespace,
        serviceName: consumerServiceName(config, destination),
        // Every record's line, as the oracles need (an invocation that dies never publishes its
        // metrics, but its lines survive); the log file keeps only those at the config's level.
        logLevel: 'DEBUG',
        dynamodb,
        sqs,
        plugins: plugins.get(destination.name) ?? {},
        ...(secrets === undefined ? {} : { secrets }),
        decorateDestination: faults.instrument,
        eventSource,
        ...(destinationLedger === undefined ? {} : { overrides: { ledger: destinationLedger } }),
      }),
    );
    timers.push(
      setInterval(() => {
        const context = createContext(functionName, 'us-east-1', '000000000000', 1024, Date.now() + destination.functionTimeoutSeconds * 1000);
        const probe: Promise<unknown> = environments
          .handler(PROBE_EVENT as unknown as SQSEvent, context)
          .catch((error: unknown) => output.log(JSON.stringify({ level: 'ERROR', message: 'probe failed', destination: destination.name, error: String(error) })))
          .finally(() => probing.delete(probe));
        probing.add(probe);
      }, destination.breaker.probeIntervalSeconds * 1000),
    );
    const copies = createConcurrentCopies({ rate: options.concurrentCopyRate ?? 0, seed: (options.seed ?? LOCAL_RUN_DEFAULTS.seed) * 31 + index });
    const terminal = new Map<string, number>();
    running.environmentsOf.set(destination.name, environments);
    running.copiesOf.set(destination.name, copies);
    running.terminalOf.set(destination.name, terminal);
    const onInvocation = (summary: InvocationSummary): void => {
      if (summary.outcome === 'success' || summary.outcome === 'partial') {
        const failed = new Set(summary.failedMessageIds);
        for (const messageId of summary.messageIds) if (!failed.has(messageId)) terminal.set(messageId, (terminal.get(messageId) ?? 0) + 1);
      }
      if (summary.outcome === 'timeout') running.lostRequests.add(summary.awsRequestId);
      if (summary.outcome === 'error' || summary.outcome === 'timeout' || summary.outcome === 'invalid-response') {
        output.log(JSON.stringify({ level: 'ERROR', message: `invocation ${summary.outcome}`, destination: destination.name, error: String(summary.error) }));
      }
    };
    const concurrentPollers = pollersFor(options, destination);
    for (let poller = 0; poller < concurrentPollers; poller += 1) {
      const started = startEventSourcePoller({
          sqs,
          queueUrl: queues.queueUrl,
          queueArn: queues.queueArn,
          handler: environments.handler,
          functionName,
          batchSize: Math.min(destination.batchSize, SqsLimits.MAX_BATCH_ENTRIES),
          pollers: 1,
          functionTimeoutMs: destination.functionTimeoutSeconds * 1000,
          waitTimeSeconds: 1,
          copies,
          onInvocation,
          onReceive: (messages) => onReceive(destination.name, messages),
        });
      running.pollers.push(started);
      pollersOfDestination.push(started);
    }
  }
  return running;
};

/** What was published, per destination. */
interface Published {
  readonly counts: Map<string, number>;
  /** The SQS message ids of everything published to each destination's queue. */
  readonly messageIds: Map<string, string[]>;
}

/** A publisher of change events through the bus. */
interface BusPublisher {
  publish(event: ChangeEvent): Promise<void>;
  flush(): Promise<void>;
}

/**
 * Publishes change events through EventBridge with the publisher library, ten at a time (one
 * PutEvents call each unless their size says two), and refuses silent loss: a change the library
 * did not get sent throws, with every reason.
 */
const createBusPublisher = (events: EventBridgeClient, eventBusName: string): BusPublisher => {
  let pending: ChangeEvent[] = [];
  const send = async (): Promise<void> => {
    if (pending.length === 0) return;
    const changes = pending;
    pending = [];
    const results = await publishChanges(changes, { via: 'eventbridge', client: events, eventBusName });
    const failures = results.flatMap((result) => (result.status === 'sent' ? [] : [result.error ?? result.status]));
    if (failures.length > 0) throw new PublishError(`Bus ${eventBusName} took ${results.length - failures.length} of ${results.length} changes: ${failures.join('; ')}`, failures);
  };
  return {
    publish: async (event) => {
      pending.push(event);
      if (pending.length === EventBridgeLimits.MAX_BATCH_ENTRIES) await send();
    },
    flush: send,
  };
};

/**
 * Publishes the workload, paced to `rate`, reporting progress as it goes; stops early once `signal`
 * is aborted. Changes go through `bus` when given (its rules route them), otherwise straight to the
 * queues; malformed messages always go straight to their queue, as a misbehaving SQS publisher
 * would send them (PutEvents refuses a Detail that is not JSON). Resolves with how many steps of the
 * plan were sent.
 */
const publishWorkload = async (
  setup: {
    readonly config: PipelineConfig;
    readonly sqs: SQSClient;
    readonly resources: LocalResources;
    readonly bus: BusPublisher | undefined;
    readonly rate: number;
    readonly startedAt: number;
    readonly signal: AbortSignal | undefined;
  },
  workload: Workload,
  published: Published,
  onTick: () => void,
): Promise<number> => {
  const { config, bus } = setup;
  const publisher = createQueuePublisher({
    config,
    sqs: setup.sqs,
    queueUrls: Object.fromEntries(config.destinations.map((d) => [d.name, setup.resources.destinations[d.name]!.queueUrl])),
    onSent: (destination, messageIds) => recordPublished(published, destination, messageIds),
  });
  const bodyOf = createBodyStamper();
  const stamp = createOccurredAtStamper();
  let lastTickAt = 0;
  let sent = 0;
  for (const [index, { message, targets }] of workload.plan.entries()) {
    if (setup.signal?.aborted === true) break;
    if (bus !== undefined && typeof message !== 'string') await bus.publish(stamp(message));
    else for (const target of targets) await publisher.enqueue(target, bodyOf(message));
    sent = index + 1;
    if (setup.rate > 0) {
      const wait = setup.startedAt + ((index + 1) / setup.rate) * 1000 - Date.now();
      if (wait > 0) await pause(wait, undefined, { signal: setup.signal }).catch(() => undefined);
    }
    if (Date.now() - lastTickAt > 250) {
      lastTickAt = Date.now();
      onTick();
    }
  }
  // What was enqueued before an abort is sent too: the report counts it as published.
  await Promise.all([publisher.flush(), bus?.flush()]);
  return sent;
};

/** Counts messages that reached a destination's queue, by their SQS message ids. */
const recordPublished = (published: Published, destination: string, messageIds: readonly string[]): void => {
  published.counts.set(destination, (published.counts.get(destination) ?? 0) + messageIds.length);
  published.messageIds.get(destination)!.push(...messageIds);
};

/**
 * Settles each destination's accounting once the queues have drained: only SQS redrive puts a
 * message in the DLQ without the consumer counting it (one terminal outcome each, not seen by the
 * pollers), and applies of invocations that died come from their log lines.
 */
const settleAccounting = (
  final: LocalRunProgress,
  consumers: RunningConsumers,
  deadLetters: readonly DeadLetter[],
  unterminated: (destination: string) => string[],
  output: ConsumerOutput,
): Array<DestinationProgress & Required<Pick<DestinationAccounting, 'extraTerminalOutcomes' | 'unterminated'>>> =>
  final.destinations.map((row) => {
    // Every DLQ read of the run counts: a redrive phase moves the first read's messages back out.
    const redriven = new Set(
      deadLetters.flatMap((l) => (l.destination === row.destination && l.reason === REDRIVEN_REASON && l.messageId !== undefined ? [l.messageId] : [])),
    );
    const neverEnded = unterminated(row.destination).filter((id) => !redriven.has(id));
    const terminalOutcomes = [...consumers.terminalOf.get(row.destination)!.values()].reduce((sum, n) => sum + n, 0) + redriven.size;
    return {
      ...row,
      deadLettered: row.deadLettered + redriven.size,
      appliedUnreported: output.appliedRecords.filter((r) => r.destination === row.destination && consumers.lostRequests.has(r.requestId)).length,
      extraTerminalOutcomes: terminalOutcomes - (row.published - neverEnded.length),
      unterminated: neverEnded,
    };
  });

/**
 * Polls until every published message has ended, nothing was accounted for `stallTimeoutMs`, or
 * `signal` is aborted. Resolves with whether it drained.
 */
const waitUntilDrained = async (watch: {
  readonly tick: () => LocalRunProgress;
  readonly ended: () => boolean;
  readonly terminalOutcomes: () => number;
  readonly stallTimeoutMs: number;
  readonly signal: AbortSignal | undefined;
}): Promise<boolean> => {
  let lastAccounted = -1;
  let lastMoveAt = Date.now();
  let drained = false;
  while (!drained && Date.now() - lastMoveAt < watch.stallTimeoutMs && watch.signal?.aborted !== true) {
    const snapshot = watch.tick();
    const accounted = snapshot.destinations.reduce((sum, d) => sum + d.applied + d.skipped + d.deadLettered, 0) + watch.terminalOutcomes();
    drained = watch.ended();
    if (accounted !== lastAccounted) {
      lastAccounted = accounted;
      lastMoveAt = Date.now();
    }
    if (!drained) await pause(100, undefined, { signal: watch.signal }).catch(() => undefined);
  }
  return drained;
};

/** A healthy destination from now on: no injected failures, no crashes (SQS's own concurrent copies go on). */
const heal = (config: PipelineConfig, fakeApi: FakeApi, faults: CallFaults): void => {
  fakeApi.setDefaultFailures({});
  for (const destination of config.destinations) fakeApi.setFailures(destination.name, {});
  faults.stopCrashing();
};

/**
 * The redrive phase: heals the destination (no injected failures, no crashes; SQS's own concurrent
 * copies go on), then moves each destination's dead letters back to its queue with the same code as
 * `sync-pipeline dlq redrive`, counting what it sends as published. Returns the messages SQS had
 * moved by redrive (their outcome was counted in the first phase) and what each move did.
 */
const redrivePhase = async (phase: {
  readonly config: PipelineConfig;
  readonly sqs: SQSClient;
  readonly resources: LocalResources;
  readonly fakeApi: FakeApi;
  readonly faults: CallFaults;
  readonly published: Published;
  readonly plain: boolean;
}): Promise<{ movedBySqs: DeadLetter[]; destinations: Array<RedrivePhaseReport['destinations'][number]> }> => {
  heal(phase.config, phase.fakeApi, phase.faults);
  const movedBySqs: DeadLetter[] = [];
  const destinations: Array<RedrivePhaseReport['destinations'][number]> = [];
  for (const destination of phase.config.destinations) {
    const local = phase.resources.destinations[destination.name]!;
    const letters = groupDeadLetters(await peekMessages(phase.sqs, local.deadLetterQueueUrl), destination.name);
    movedBySqs.push(...letters.filter((letter) => letter.reason === REDRIVEN_REASON));
    const result = await redriveDeadLetters(
      phase.sqs,
      { destination: destination.name, ...local, queueName: '', deadLetterQueueName: '' },
      phase.plain ? { includeBadInput: true, forceFallback: true } : {},
    );
    recordPublished(phase.published, destination.name, result.sentMessageIds ?? []);
    destinations.push({
      destination: destination.name,
      before: Object.fromEntries([...Map.groupBy(letters, (letter) => letter.reason)].map(([reason, group]) => [reason, group.length])),
      moved: result.moved,
      method: result.method,
      kept: { ...result.kept, ...(result.truncated > 0 ? { truncated: result.truncated } : {}) },
      after: 0,
    });
  }
  return { movedBySqs, destinations };
};

/** What the report is built from, once the run has drained. */
interface ReportInput {
  readonly runId: string;
  readonly startedAt: number;
  readonly endpoint: string;
  readonly config: PipelineConfig;
  readonly workload: Workload;
  readonly accounting: ReturnType<typeof settleAccounting>;
  readonly deadLetters: readonly DeadLetter[];
  readonly drained: boolean;
  /** The run was stopped by its signal: what follows is what happened until then. */
  readonly interrupted: boolean;
  readonly logFile: string;
  readonly consumers: RunningConsumers;
  readonly faults: CallFaults;
  readonly output: ConsumerOutput;
  readonly fakeApi: FakeApi;
  readonly emf: EmfStore;
  readonly settings: RunSettings;
  readonly queues: QueueObservations;
}

/** Checks the invariants against the fake API's log and state, and assembles the run's report. */
const assembleReport = (input: ReportInput): LocalRunReport => {
  const { config, workload, accounting, deadLetters, drained, interrupted, faults, output, fakeApi, emf, startedAt, runId } = input;
  const running = input.consumers;
  const namespace = config.metricsNamespace;
  const writeLog = fakeApi.writeLog();
  const invariants = checkInvariants({
    accounting,
    routed: workload.routed,
    writeLog,
    finalRecord: (destination, resourceType, id) => fakeApi.record(destination, resourceType, id),
    deadLetters,
    destinationReads: fakeApi.stats().reads,
    deleteMisses: fakeApi.deleteMisses(),
    appliedRecords: output.appliedRecords,
    lostAnswers: faults.lostAnswers,
    receivedAnswers: faults.receivedAnswers,
  });
  const leaseOf = new Map(config.destinations.map((d) => [d.name, leaseDurationMsFor(d)]));
  const apiStats = fakeApi.stats();
  const description = describeStream(workload.events);
  return {
    runId,
    interrupted,
    logFile: input.logFile,
    endpoint: input.endpoint,
    durationMs: Date.now() - startedAt,
    stream: {
      changes: workload.events.length,
      malformed: workload.malformed,
      duplicates: description.duplicates,
      twins: description.twins,
      outOfOrder: description.outOfOrder,
      records: description.records,
    },
    destinations: buildDestinationReports({
      accounting: accounting.map(({ unterminated: _unterminated, ...row }) => row),
      emf,
      namespace,
      deadLetters,
      writeLog,
      apiStats,
      copiesDelivered: (destination) => running.copiesOf.get(destination)?.delivered() ?? 0,
      lostRequests: running.lostRequests,
    }),
    invariants,
    drained,
    settings: input.settings,
    deadLetters: describeDeadLetters(deadLetters),
    faults: {
      injected: apiStats.injected,
      replays: apiStats.replays,
      conflictsInFlight: apiStats.conflicts,
      crashedInvocations: running.lostRequests.size,
      answersLostToCrashes: [...faults.lostAnswers.values()].reduce((sum, n) => sum + n, 0),
      copiesDelivered: [...running.copiesOf.values()].reduce((sum, copies) => sum + copies.delivered(), 0),
      lateWritesAfterLease: faults.lateWritesAfterLease(writeLog, (destination) => leaseOf.get(destination)),
      environments: [...running.environmentsOf.values()].reduce((sum, environments) => sum + environments.created(), 0),
    },
    fakeApiStats: apiStats,
    timeline: buildTimeline(emf, { namespace, destinations: config.destinations.map((d) => d.name), startedAt, queues: input.queues }),
  };
};

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
export const runLocalPipeline = async (options: LocalRunOptions & RunEnding): Promise<LocalRunReport> => {
  const startedAt = Date.now();
  const runId = randomUUID().slice(0, 8);
  const aws = await connectAws(options.endpoint === undefined ? {} : { endpoint: options.endpoint });
  const { sqs, dynamodb } = aws;
  // A timed-out invocation's I/O never returns, as after Lambda's kill; the runtime's own goes through.
  const freeze = { step: 'initialize', name: 'freezeStoppedInvocations' } as const;
  sqs.middlewareStack.add((next) => async (args) => (isStoppedInvocation() ? never : next(args)), freeze);
  dynamodb.middlewareStack.add((next) => async (args) => (isStoppedInvocation() ? never : next(args)), freeze);
  const fakeApi = await startFakeApi({ seed: options.seed ?? LOCAL_RUN_DEFAULTS.seed, ...options.fakeApi });
  const faultTimers = (options.faultSchedule ?? []).map((change) => setTimeout(() => fakeApi.setFailures(change.destination, change.failures), change.atMs));
  const emf = new EmfStore();
  const logFile = options.logFile ?? 'reports/local-run.log';
  const output = captureConsumerOutput({ emf, logFile, fileLevel: options.config.logLevel });
  // The first line names the run, so the log and the HTML report can be told to belong together.
  output.log(JSON.stringify({ level: 'INFO', message: 'local run started', runId, startedAt: new Date(startedAt).toISOString() }));
  const faults = createCallFaults({
    seed: (options.seed ?? LOCAL_RUN_DEFAULTS.seed) + 1,
    ...(options.crashRate === undefined ? {} : { crashRate: options.crashRate }),
    ...(options.decorateDestination === undefined ? {} : { decorate: options.decorateDestination }),
  });
  let consumers: RunningConsumers | undefined;
  let sampler: QueueSampler | undefined;
  let secrets: LocalSecrets | undefined;
  let bus: LocalEventBus | undefined;
  let events: EventBridgeClient | undefined;
  const rotationTimers: NodeJS.Timeout[] = [];

  try {
    // The same config, with every HTTP destination pointed at the fake API (its path names the destination).
    // Against an endpoint, the runtime's own resources go under `local-<name>`, so they never take
    // a deployed stack's names; the embedded emulators start empty in this process, so the stack's
    // own names are kept there (nothing else can live in them).
    const ownership = options.useDeployed === true ? ResourceOwnership.DEPLOYED : ResourceOwnership.OWN;
    if (options.useDeployed === true && options.endpoint === undefined) throw new Error('Expected an endpoint with useDeployed (--use-deployed --endpoint URL): the embedded emulators hold no deployed stack');
    const via = publishRouteFor(options);
    const config: PipelineConfig = {
      ...options.config,
      name: options.endpoint !== undefined && ownership === ResourceOwnership.OWN ? localResourceName(options.config) : options.config.name,
      destinations: options.config.destinations.map((d) => (d.kind === 'http' ? { ...d, baseUrl: fakeApi.baseUrl(d.name) } : d)),
    };
    // Each destination's secret, made up for the run and required by the fake API; user code loaded
    // from the directory the run starts in, as `cdk synth` bundles it.
    secrets = await provisionLocalSecrets({ config, fakeApi, ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }) });
    options.onSecrets?.(secrets?.values ?? (() => []));
    const withAuth = config.destinations.filter((d) => d.auth !== undefined).map((d) => d.name);
    for (const atMs of options.secretRotationsAtMs ?? []) {
      rotationTimers.push(setTimeout(() => void Promise.all(withAuth.map((name) => secrets?.rotate(name))).catch((error: unknown) => output.log(JSON.stringify({ level: 'ERROR', message: 'secret rotation failed', error: String(error) }))), atMs));
    }
    const plugins = new Map(await Promise.all(config.destinations.map(async (d) => [d.name, await loadDestinationPlugins(d, { baseDir: process.cwd() })] as const)));
    const userCode = { plugins, ...(secrets === undefined ? {} : { secrets: new SecretsManagerReader(secrets.client) }) };
    const resources = await createLocalResources({ config, sqs, dynamodb, ownership, visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? LOCAL_RUN_DEFAULTS.visibilityTimeoutSeconds });
    // The runtime's own queues on a reused endpoint may hold an earlier run's messages; a deployed stack's are never purged.
    if (options.endpoint !== undefined && ownership === ResourceOwnership.OWN) await purgeOwnQueues(sqs, resources);
    sampler = startQueueSampler({ sqs, queueUrls: Object.fromEntries(config.destinations.map((d) => [d.name, resources.destinations[d.name]!.queueUrl])) });
    const queues = sampler;
    const launchConsumers = (): RunningConsumers =>
      startConsumers({ config, options, resources, sqs, dynamodb, faults, output, onReceive: (destination, messages) => queues.received(destination, messages), ...userCode });
    if (options.startConsumersAfterPublish !== true) consumers = launchConsumers();

    const workload = buildWorkload(config, options, runId);
    const published: Published = {
      counts: new Map(config.destinations.map((d) => [d.name, 0])),
      messageIds: new Map(config.destinations.map((d) => [d.name, []])),
    };
    const namespace = config.metricsNamespace;
    const count = (name: string, destination: string) => emf.sum(namespace, name, { [MetricDimension.DESTINATION]: destination });
    const progress = (): LocalRunProgress => ({
      elapsedMs: Date.now() - startedAt,
      plannedChanges: workload.events.length,
      plannedMalformed: workload.malformed,
      publishedTotal: [...published.counts.values()].reduce((a, b) => a + b, 0),
      plannedTotal: workload.plannedTotal,
      destinations: config.destinations.map((d) => ({
        destination: d.name,
        planned: workload.plannedByDestination.get(d.name) ?? 0,
        // A deferral is a message the consumer itself published (and the deferred one ended).
        published: (published.counts.get(d.name) ?? 0) + (output.deferredAs.get(d.name)?.length ?? 0),
        applied: count(MetricName.RECORDS_APPLIED, d.name),
        skipped: count(MetricName.RECORDS_SKIPPED, d.name),
        deadLettered: count(MetricName.RECORDS_DEAD_LETTERED, d.name),
        retried: count(MetricName.RECORDS_RETRIED, d.name),
        deferred: count(MetricName.RECORDS_DEFERRED, d.name),
      })),
    });
    const tick = (): LocalRunProgress => {
      const snapshot = progress();
      options.onProgress?.(snapshot);
      output.flush();
      return snapshot;
    };

    const { signal } = options;
    if (via === PublishRoute.EVENTBRIDGE) {
      bus = await startLocalEventBus({
        config,
        sqs,
        queueUrls: Object.fromEntries(config.destinations.map((d) => [d.name, resources.destinations[d.name]!.queueUrl])),
        onDelivered: (destination, messageId) => recordPublished(published, destination, [messageId]),
        ...(options.busDelivery === undefined ? {} : { delivery: { ...options.busDelivery, seed: options.seed ?? LOCAL_RUN_DEFAULTS.seed } }),
      });
      events = new EventBridgeClient(awsClientConfig(bus.endpoint));
    }
    const busPublisher = bus === undefined || events === undefined ? undefined : createBusPublisher(events, bus.eventBusName);
    const sentSteps = await publishWorkload({ config, sqs, resources, bus: busPublisher, rate: options.rate, startedAt, signal }, workload, published, tick);
    // Started only now with startConsumersAfterPublish: the pollers find the whole workload queued,
    // at least consumerStartDelayMs old.
    const startDelayMs = consumers === undefined ? (options.consumerStartDelayMs ?? 0) : 0;
    if (startDelayMs > 0) await pause(startDelayMs, undefined, signal === undefined ? {} : { signal }).catch(() => undefined);
    consumers ??= launchConsumers();
    const running = consumers;

    // Wait until every published message has ended at least once (a copy's outcome counts too, so
    // the metrics alone could reach the published count early), or nothing moves for too long.
    const unterminated = (destination: string): string[] => {
      const terminal = running.terminalOf.get(destination)!;
      return [...published.messageIds.get(destination)!, ...(output.deferredAs.get(destination) ?? [])].filter((id) => (terminal.get(id) ?? 0) === 0);
    };
    const drain = () =>
      waitUntilDrained({
        tick,
        ended: () => config.destinations.every((d) => unterminated(d.name).length === 0),
        terminalOutcomes: () => [...running.terminalOf.values()].reduce((sum, terminal) => sum + terminal.size, 0),
        stallTimeoutMs: options.stallTimeoutMs ?? LOCAL_RUN_DEFAULTS.stallTimeoutMs,
        signal,
      });
    let drained = await drain();
    // Aborted once everything was published and had ended, the run is whole: not interrupted.
    let interrupted = signal?.aborted === true && !(drained && sentSteps === workload.plan.length);
    if (interrupted) output.log(JSON.stringify({ level: 'WARN', message: 'local run interrupted', runId, publishedSteps: sentSteps, plannedSteps: workload.plan.length }));
    // Messages SQS moved to a DLQ after maxReceiveCount, seen by any DLQ read of the run.
    const movedBySqs: DeadLetter[] = [];
    let redrive: RedrivePhaseReport | undefined;
    if (options.redrive !== undefined && drained && !interrupted) {
      const phase = await redrivePhase({ config, sqs, resources, fakeApi, faults, published, plain: options.redrive.plain === true });
      movedBySqs.push(...phase.movedBySqs);
      drained = await drain();
      interrupted = signal?.aborted === true && !drained;
      redrive = { plain: options.redrive.plain === true, destinations: phase.destinations };
    }
    // Also waits for the copies still in flight: their outcomes count below.
    await Promise.all([...running.pollers.splice(0).map((poller) => poller.stop()), running.probes.stop()]);
    await queues.stop();

    const deadLetters: DeadLetter[] = [];
    for (const destination of config.destinations) {
      deadLetters.push(...(await readDeadLetters(sqs, resources.destinations[destination.name]!.deadLetterQueueUrl, destination.name)));
    }
    if (redrive !== undefined) {
      const after = Map.groupBy(deadLetters, (letter) => letter.destination);
      redrive = { ...redrive, destinations: redrive.destinations.map((row) => ({ ...row, after: after.get(row.destination)?.length ?? 0 })) };
    }
    const accounting = settleAccounting(progress(), running, [...deadLetters, ...movedBySqs], unterminated, output);
    drained ||= accounting.every((row) => row.unterminated.length === 0);
    // An interrupted run is judged on what it published: the changes it never sent cannot converge.
    const judged = interrupted ? publishedPart(workload, sentSteps) : workload;
    const settings = describeRunSettings(config, options);
    const observed = queues.observations();
    const report = assembleReport({ runId, startedAt, endpoint: aws.endpoint, config, workload: judged, accounting, deadLetters, drained, interrupted, logFile, consumers: running, faults, output, fakeApi, emf, settings, queues: observed });
    const ended: LocalRunReport = { ...report, ...(redrive === undefined ? {} : { redrive }), ...(bus === undefined ? {} : { bus: bus.stats() }) };
    if (options.keepRunning !== undefined) {
      heal(config, fakeApi, faults);
      consumers = startConsumers({ config, options, resources, sqs, dynamodb, faults, output, onReceive: () => undefined, ...userCode });
      // No progress ticks any more: the consumers' log lines still reach the file every second.
      const flushing = setInterval(() => output.flush(), 1_000);
      try {
        await options.keepRunning({ sqsEndpoint: aws.sqsEndpoint, dynamodbEndpoint: aws.dynamodbEndpoint, report: ended });
      } finally {
        clearInterval(flushing);
      }
    }
    return ended;
  } finally {
    for (const timer of [...faultTimers, ...rotationTimers]) clearTimeout(timer);
    await Promise.all([...(consumers?.pollers ?? []).map((poller) => poller.stop()), consumers?.probes.stop()]);
    await sampler?.stop();
    output.restore();
    await fakeApi.stop();
    await secrets?.stop();
    events?.destroy();
    await bus?.stop();
    await aws.stop();
  }
};
