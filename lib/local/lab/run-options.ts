import type { PipelineConfig } from '../../config/pipeline-config.ts';
import type { ChangeEvent } from '../../contract/change-event.ts';
import type { Destination } from '../../core/destination.ts';
import type { LedgerStore } from '../../core/ledger.ts';
import type { FailureRates, FakeApiOptions } from './fake-api.ts';
import type { DestinationAccounting } from './invariants.ts';

/** How a local run publishes: through the EventBridge bus or straight to the queues. */
export const PublishRoute = { EVENTBRIDGE: 'eventbridge', SQS: 'sqs' } as const;
export type PublishRoute = (typeof PublishRoute)[keyof typeof PublishRoute];

/** What a local run does: the workload, the faults to inject and the stand-ins to use. */
export interface LocalRunOptions {
  readonly config: PipelineConfig;
  /** How many changes the demo publisher sends (before routing). */
  readonly changes: number;
  /** Changes per second; 0 means as fast as SQS takes them. */
  readonly rate: number;
  /** Distinct records the changes spread over. @default max(10, changes / 5) */
  readonly ids?: number;
  /** Malformed messages mixed into the stream, to show the dead-letter path. @default 3 */
  readonly malformed?: number;
  readonly seed?: number;
  /** LocalStack (or any SQS/DynamoDB endpoint) instead of the embedded emulators. */
  readonly endpoint?: string;
  /**
   * How the demo publisher sends the changes: `eventbridge` through the local bus (PutEvents, the
   * stack's rules route them to the queues), or `sqs` straight to each destination's queue. The
   * malformed messages of the stream go straight to the queues either way: PutEvents refuses a
   * Detail that is not JSON. Against an endpoint only `sqs` is offered (see `publishRouteFor`).
   * @default 'eventbridge' (embedded), 'sqs' (endpoint)
   */
  readonly via?: PublishRoute;
  /**
   * Against an endpoint, use the deployed stack's queues and table (found by the config's names,
   * never reconfigured, never purged) instead of the local runtime's own (`local-<name>-…`, tagged
   * `sync-pipeline:owner=local`). @default false
   */
  readonly useDeployed?: boolean;
  /** The fake external API: latency and failure injection. @default no latency, no failures */
  readonly fakeApi?: FakeApiOptions;
  /**
   * Failure rates the fake API switches to at given times after the run starts, per destination:
   * an outage and its end (the isolation scenario). @default none
   */
  readonly faultSchedule?: ReadonlyArray<{ readonly atMs: number; readonly destination: string; readonly failures: FailureRates }>;
  /** Publish exactly these changes instead of a generated demo stream. */
  readonly events?: readonly ChangeEvent[];
  /** Concurrent pollers per destination. @default min(maxConcurrency, 4) */
  readonly pollers?: number;
  /**
   * Publish the whole workload before any poller starts, so the consumers find a backlog, as after
   * an outage or a paused event source mapping. @default false: the pollers run while it is published
   */
  readonly startConsumersAfterPublish?: boolean;
  /**
   * With `startConsumersAfterPublish`, how long the queued workload waits after its last change is
   * published before the first poller starts: the whole backlog is at least this old when first
   * received (backlog coalescing goes by that age). @default 0
   */
  readonly consumerStartDelayMs?: number;
  /** Source queue visibility timeout for the run. @default 5 */
  readonly visibilityTimeoutSeconds?: number;
  /**
   * Share of successful destination calls after which the invocation "dies": it stops right after
   * the write, before the commit and the deletes, and never reports back (its EMF is lost, as in
   * Lambda). The poller times it out; its messages come back after the visibility timeout.
   * @default 0
   */
  readonly crashRate?: number;
  /**
   * Chance, from 0 to 1, that SQS hands a received message at the same time to a second consumer
   * (another poller, so another execution environment) as an invocation of its own, as its
   * at-least-once delivery may; see `createConcurrentCopies` for what this leaves out of real SQS.
   * @default 0
   */
  readonly concurrentCopyRate?: number;
  /**
   * How the local EventBridge bus delivers (`--via eventbridge`): EventBridge delivers at least once
   * and in no set order, so a harsh run has the bus send some events twice (as new messages) and
   * shuffle each call's deliveries. @default each event once, in order
   */
  readonly busDelivery?: { readonly duplicateRate?: number; readonly reorder?: boolean };
  /**
   * Share of the generated changes published a second time with the same version and another
   * payload (a publisher bug); see `DemoStreamOptions.twinRate`. Ignored with `events`. @default 0
   */
  readonly twinRate?: number;
  /**
   * Replaces each destination's ledger (experiments and tests, e.g. a variant without the lease);
   * called once per destination, so every execution environment of it shares the result.
   */
  readonly wrapLedger?: (ledger: LedgerStore) => LedgerStore;
  /**
   * Wraps each destination adapter (experiments and tests, e.g. one that calls twice); the crash
   * injection wraps the result.
   */
  readonly decorateDestination?: (destination: Destination) => Destination;
  /**
   * Once the run has drained, heal the destination (no injected failures, no crashes), move every
   * destination's dead letters back to its queue and drain again; the invariants are then checked
   * over both phases. `plain` moves every message's body and attributes untouched, bad input
   * included, as SQS's StartMessageMoveTask would; otherwise the `sync-pipeline dlq redrive` default
   * (bad input stays). @default no redrive
   */
  readonly redrive?: { readonly plain?: boolean };
  /** Where the consumers' JSON log lines go. @default reports/local-run.log */
  readonly logFile?: string;
  /**
   * When, in ms from the start, every destination's `auth` secret gets a new value (and the fake
   * API requires the new one): a rotation the consumers must pick up without a restart.
   * @default none
   */
  readonly secretRotationsAtMs?: readonly number[];
  /** Given, once the run's secrets exist, a way to read every value they had (tests search outputs for them). */
  readonly onSecrets?: (values: () => readonly string[]) => void;
  /** Gives up when nothing was accounted for this long. @default 60000 */
  readonly stallTimeoutMs?: number;
  readonly onProgress?: (progress: LocalRunProgress) => void;
  /**
   * Stops the run early (Ctrl-C): publishing stops, the pollers finish what they hold and stop,
   * and the run resolves with a report of what happened so far, marked `interrupted`.
   */
  readonly signal?: AbortSignal;
}

export interface DestinationProgress extends DestinationAccounting {
  /** Messages the workload sends this destination (after fan-out); fixed before the first is sent. */
  readonly planned: number;
  readonly retried: number;
  /** Sent back to the queue as new messages (a 429, an open breaker); counted in `published` too. */
  readonly deferred: number;
}

/** A snapshot of a run, as `onProgress` receives it every few hundred milliseconds. */
export interface LocalRunProgress {
  readonly elapsedMs: number;
  /** Valid changes the workload publishes, before fan-out. */
  readonly plannedChanges: number;
  /** Malformed messages mixed in; each goes to one destination. */
  readonly plannedMalformed: number;
  readonly publishedTotal: number;
  /** Messages to publish after fan-out, every destination: the run's fixed denominator. */
  readonly plannedTotal: number;
  readonly destinations: readonly DestinationProgress[];
}
