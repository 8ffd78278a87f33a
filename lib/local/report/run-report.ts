import type { FakeApiStats } from '../lab/fake-api.ts';
import type { DestinationProgress } from '../lab/run-options.ts';
import type { InvariantReport } from '../lab/invariants.ts';
import type { RunSettings } from '../lab/run-settings.ts';
import type { Timeline } from './timeline.ts';

/**
 * One dead letter as the reports show it: never its body or payload.
 *
 * @example
 * const detail: DeadLetterDetail = { destination: 'crm', reason: 'invalid-json' };
 */
export interface DeadLetterDetail {
  readonly destination: string;
  readonly reason: string;
  /** What went wrong, in words, when the dead letter says. */
  readonly message?: string;
  /** The change it carried, when its body was a readable change event. */
  readonly record?: { readonly resourceType: string; readonly id: string; readonly version: number };
  readonly attempts?: number;
  readonly firstAttemptAt?: string;
  readonly lastAttemptAt?: string;
  /** The destination's HTTP status of the last attempt. */
  readonly status?: number;
  /** The source queue's message id. */
  readonly messageId?: string;
  /** Invocations that wrote an envelope for it (more than one: a crash or a concurrent copy). */
  readonly invocations?: number;
}

/** What a local run found, per destination and overall; the text and HTML reports render it. */
export interface DestinationReport extends DestinationProgress {
  readonly skippedByReason: Readonly<Record<string, number>>;
  /** RecordsRetried by its `Reason` dimension (busy, fenced, transient, outcome-unknown, …). */
  readonly retriedByReason: Readonly<Record<string, number>>;
  /** DestinationErrors by its `ErrorClass` dimension (throttled, server, timeout, …). */
  readonly errorsByClass: Readonly<Record<string, number>>;
  readonly deadLetteredByReason: Readonly<Record<string, number>>;
  readonly lagMs: { readonly p50: number | null; readonly p99: number | null };
  readonly destinationWrites: number;
  /**
   * Requests that reached the destination with an idempotency key it had seen before (the fake
   * API's `replays`): 0 when the pipeline never repeats a call that landed.
   */
  readonly replays: number;
  /** Messages SQS handed to a second consumer at once (concurrent copies). */
  readonly copiesDelivered: number;
  /**
   * Dead letters written only by invocations that died before deleting their message; the message
   * was then processed again (and counted there). Harmless to redrive: it is a duplicate by then.
   */
  readonly deadLettersFromLostInvocations: number;
  /**
   * Dead letters written again for a message already dead-lettered, by invocations that did not die
   * (a concurrent copy rejected too): each is a dead-lettered outcome in the metrics, but the DLQ is
   * counted once per source message. So the DLQ's messages by reason add up to `deadLettered +
   * deadLettersFromLostInvocations - deadLettersRepeated`.
   */
  readonly deadLettersRepeated: number;
}

/** What the redrive phase of a run did, per destination. */
export interface RedrivePhaseReport {
  readonly plain: boolean;
  readonly destinations: ReadonlyArray<{
    readonly destination: string;
    /** Dead letters by reason before the move. */
    readonly before: Readonly<Record<string, number>>;
    readonly moved: number;
    readonly method: string;
    /** Left in the DLQ by the move itself (bad input, truncated originals). */
    readonly kept: Readonly<Record<string, number>>;
    /** Dead letters once the moved messages had drained. */
    readonly after: number;
  }>;
}

/** Said first by every report of an interrupted run, text and HTML alike. */
export const INTERRUPTED_MARKER = 'INTERRUPTED — partial';

export interface LocalRunReport {
  readonly runId: string;
  /**
   * The run was stopped by its signal before it drained: the counts are what happened until then,
   * the stream is the part that was published, and the invariants were checked on that partial
   * state (messages still in flight count as not ended).
   */
  readonly interrupted: boolean;
  /** Where the consumers' log lines went; its first line names `runId`. */
  readonly logFile: string;
  readonly endpoint: string;
  readonly durationMs: number;
  readonly stream: {
    readonly changes: number;
    readonly malformed: number;
    readonly duplicates: number;
    /** Duplicates with the same version and another payload (counted in `duplicates`). */
    readonly twins: number;
    readonly outOfOrder: number;
    readonly records: number;
  };
  readonly destinations: readonly DestinationReport[];
  readonly invariants: InvariantReport;
  readonly drained: boolean;
  /** Every setting the run used, defaults resolved, per destination as its consumers ran. */
  readonly settings: RunSettings;
  /** What the local EventBridge bus took and delivered, when the run published through it. */
  readonly bus?: {
    readonly putEventsCalls: number;
    readonly entries: number;
    readonly failedEntries: number;
    readonly deliveredByDestination: Readonly<Record<string, number>>;
  };
  /** Every dead letter of every destination, once per source message. */
  readonly deadLetters: readonly DeadLetterDetail[];
  /** What went wrong on purpose: failures the fake API injected and invocations that died. */
  readonly faults: {
    readonly injected: Readonly<Record<string, number>>;
    /** Requests that reached the fake API with an idempotency key it had seen (every destination). */
    readonly replays: number;
    /** Writes the fake API answered 409 because a request with the same key was in flight. */
    readonly conflictsInFlight: number;
    readonly crashedInvocations: number;
    /** Answered destination calls whose invocation then died before committing (excused repeats, I4). */
    readonly answersLostToCrashes: number;
    /** Messages SQS handed to a second consumer at once (every destination). */
    readonly copiesDelivered: number;
    /** Writes whose client had given up that landed later than one lease after their call started. */
    readonly lateWritesAfterLease: number;
    /** Execution environments created (cold starts), every destination. */
    readonly environments: number;
  };
  /**
   * The fake API's own counters at the end of the run, in total and per destination: requests,
   * writes and their times, 429s of its rate limits, injected failures. What reached the
   * destination, as the destination saw it rather than as the consumers' metrics say.
   */
  readonly fakeApiStats: FakeApiStats;
  /** The redrive phase, when the run had one. */
  readonly redrive?: RedrivePhaseReport;
  /** Per-second metrics of the run, for the HTML report. */
  readonly timeline: Timeline;
}
