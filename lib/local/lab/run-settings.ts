import type { DestinationConfig, PipelineConfig } from '../../config/pipeline-config.ts';
import { leaseDurationMsFor } from '../../config/resources.ts';
import type { FailureRates } from './fake-api.ts';
import { PublishRoute, type LocalRunOptions } from './run-options.ts';

/** The defaults of {@link LocalRunOptions}, resolved here and nowhere else. */
export const LOCAL_RUN_DEFAULTS = {
  seed: 1,
  malformed: 3,
  visibilityTimeoutSeconds: 5,
  stallTimeoutMs: 60_000,
  /** Pollers per destination at most, below its maxConcurrency. */
  maxPollers: 4,
} as const;

/**
 * Distinct records a generated stream spreads over. @default max(10, changes / 5)
 *
 * @example
 * idsFor({ changes: 500 }); // 100
 */
export const idsFor = (options: Pick<LocalRunOptions, 'changes' | 'ids'>): number => options.ids ?? Math.max(10, Math.round(options.changes / 5));

/**
 * Concurrent pollers of one destination. @default min(maxConcurrency, 4)
 *
 * @example
 * pollersFor({}, { maxConcurrency: 5 }); // 4
 */
export const pollersFor = (options: Pick<LocalRunOptions, 'pollers'>, destination: Pick<DestinationConfig, 'maxConcurrency'>): number =>
  options.pollers ?? Math.min(destination.maxConcurrency, LOCAL_RUN_DEFAULTS.maxPollers);

/**
 * The route a run publishes by. The embedded runtime defaults to its EventBridge bus. Against an
 * endpoint it publishes to the queues: the run's drain check follows every published message by its
 * SQS MessageId, which the endpoint's EventBridge does not tell the publisher, and moto (the endpoint
 * CI has) ignores a rule target's InputPath, so its queues would get whole events instead of change
 * events. Publishing through a deployed bus is the end-to-end test's part (`npm run e2e`).
 *
 * @throws {Error} for `eventbridge` with an endpoint
 * @example
 * publishRouteFor({}); // 'eventbridge'
 * publishRouteFor({ endpoint: 'http://localhost:4566' }); // 'sqs'
 */
export const publishRouteFor = (options: Pick<LocalRunOptions, 'via' | 'endpoint'>): PublishRoute => {
  if (options.endpoint === undefined) return options.via ?? PublishRoute.EVENTBRIDGE;
  if (options.via === PublishRoute.EVENTBRIDGE) {
    throw new Error(
      `Expected --via sqs with --endpoint ${options.endpoint}, got --via eventbridge: the local run follows each message by its SQS MessageId, which the endpoint's EventBridge does not give the publisher (npm run e2e publishes through a deployed bus)`,
    );
  }
  return PublishRoute.SQS;
};

/** How one destination was run: its consumer's settings as used (after any chaos scaling). */
export interface DestinationRunSettings {
  readonly destination: string;
  readonly resourceTypes: readonly string[];
  readonly pollers: number;
  readonly batchSize: number;
  readonly maxConcurrency: number;
  readonly requestTimeoutMs: number;
  readonly functionTimeoutSeconds: number;
  readonly settleSeconds: number;
  /** The lease on a record while a call is in flight (2 x the request timeout + 1 s). */
  readonly leaseMs: number;
  readonly retry: {
    readonly maxReceiveCount: number;
    readonly baseDelaySeconds: number;
    readonly maxDelaySeconds: number;
    readonly horizonMinutes: number;
  };
}

/** Every setting a local run used, its defaults resolved: the report says what was run. */
export interface RunSettings {
  /** Changes asked for; with `events`, the number given. */
  readonly changes: number;
  /** Where the changes came from: the generated demo stream, or `events` as given. */
  readonly source: 'demo-stream' | 'given-events';
  readonly ids: number;
  /** Changes per second; 0 is as fast as SQS takes them. */
  readonly rate: number;
  readonly seed: number;
  readonly malformed: number;
  readonly visibilityTimeoutSeconds: number;
  readonly stallTimeoutMs: number;
  /** How the changes were published: through the EventBridge bus or straight to the queues. */
  readonly via: PublishRoute;
  /**
   * Whose queues and table the run used: the embedded emulators', its own on an endpoint
   * (`local-<name>-…`, tagged), or the deployed stack's.
   */
  readonly resources: 'embedded' | 'own' | 'deployed';
  readonly crashRate: number;
  readonly concurrentCopyRate: number;
  readonly twinRate: number;
  /** The fake API's injected failure rates and behaviour (none when left out). */
  readonly fakeApi: {
    readonly failures: FailureRates;
    readonly latencyMs: number;
    readonly deduplicate: boolean;
    readonly conflictWhileInFlight: boolean;
  };
  /** Replaced by a test or an experiment: the ledger, the destination adapter. */
  readonly wrapped: readonly string[];
  readonly destinations: readonly DestinationRunSettings[];
}

/**
 * The settings of a run as it is carried out: `config` is the config the consumers run with.
 *
 * @example
 * const settings = describeRunSettings(config, options);
 * settings.destinations[0]?.retry.maxReceiveCount; // 10
 */
export const describeRunSettings = (config: PipelineConfig, options: Omit<LocalRunOptions, 'config'>): RunSettings => ({
  changes: options.events?.length ?? options.changes,
  source: options.events === undefined ? 'demo-stream' : 'given-events',
  ids: idsFor(options),
  rate: options.rate,
  seed: options.seed ?? LOCAL_RUN_DEFAULTS.seed,
  malformed: options.malformed ?? LOCAL_RUN_DEFAULTS.malformed,
  visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? LOCAL_RUN_DEFAULTS.visibilityTimeoutSeconds,
  stallTimeoutMs: options.stallTimeoutMs ?? LOCAL_RUN_DEFAULTS.stallTimeoutMs,
  via: publishRouteFor(options),
  resources: options.endpoint === undefined ? 'embedded' : options.useDeployed === true ? 'deployed' : 'own',
  crashRate: options.crashRate ?? 0,
  concurrentCopyRate: options.concurrentCopyRate ?? 0,
  twinRate: options.twinRate ?? 0,
  fakeApi: {
    failures: { ...options.fakeApi?.failures },
    latencyMs: options.fakeApi?.latencyMs ?? 0,
    deduplicate: options.fakeApi?.deduplicate ?? false,
    conflictWhileInFlight: options.fakeApi?.conflictWhileInFlight ?? false,
  },
  wrapped: [...(options.wrapLedger === undefined ? [] : ['ledger']), ...(options.decorateDestination === undefined ? [] : ['destination adapter'])],
  destinations: config.destinations.map((d) => ({
    destination: d.name,
    resourceTypes: d.resourceTypes,
    pollers: pollersFor(options, d),
    batchSize: d.batchSize,
    maxConcurrency: d.maxConcurrency,
    requestTimeoutMs: d.requestTimeoutMs,
    functionTimeoutSeconds: d.functionTimeoutSeconds,
    settleSeconds: d.settleSeconds,
    leaseMs: leaseDurationMsFor(d),
    retry: {
      maxReceiveCount: d.retry.maxReceiveCount,
      baseDelaySeconds: d.retry.baseDelaySeconds,
      maxDelaySeconds: d.retry.maxDelaySeconds,
      horizonMinutes: d.retry.horizonMinutes,
    },
  })),
});
