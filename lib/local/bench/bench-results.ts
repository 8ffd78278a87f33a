/**
 * Where a figure of the rate-limit bench comes from: `limiter`, the consumers' rate limiter driven
 * alone (the real gates, the DynamoDB control item, the HTTP adapter, the fake API; no SQS, no
 * ledger); `pipeline`, the whole local pipeline (`runLocalPipeline`).
 */
export type BenchLayer = 'limiter' | 'pipeline';

/** What the destination saw in one run, from the fake API's own counters (never the consumers' metrics). */
export interface DestinationCalls {
  /** Every request it received. */
  readonly calls: number;
  /** Writes it accepted and applied. */
  readonly accepted: number;
  /** Calls answered 429, by its rate limit (no failures are injected). */
  readonly throttled: number;
  /** Calls answered anything else (malformed, 404, 409): 0 in a sound run. */
  readonly other: number;
}

/** What every run reports: the destination's view, and how the run went. */
export interface BenchRunFigures extends DestinationCalls {
  readonly layer: BenchLayer;
  /** Names the run in the tables and the verdicts, layer first, e.g. `limiter R=20, 4 consumers`. */
  readonly label: string;
  /** Simulated invocations at once (limiter), pollers of the destination (pipeline). */
  readonly consumers: number;
  /** Distinct records sent. */
  readonly records: number;
  /** How long the run took, from the servers' start to its end. */
  readonly durationMs: number;
  /** Every record ended before the run's timeout: accepted (limiter), or every published change ended (pipeline). */
  readonly drained: boolean;
}

/** Accepted writes per second, read from the fake API's counters. */
export interface WriteRate {
  /** From the first to the last accepted write; null with fewer than two. */
  readonly writeSpanMs: number | null;
  /** As `sustainedWriteRate` measures it; null with fewer than two writes. */
  readonly sustainedPerSecond: number | null;
}

/** One rate run: one destination limited to R, `consumers` at once, distinct records in one version each. */
export interface RateRunResult extends BenchRunFigures, WriteRate {
  readonly scenario: 'rate';
  readonly perSecond: number;
  /** `sustainedPerSecond / perSecond`. */
  readonly rateShare: number | null;
  /** `throttled / calls`; 0 without calls. */
  readonly throttledShare: number;
  /**
   * The limiter's own cost: DynamoDB requests to the control item per destination call (failed
   * conditions included). Limiter layer only: in the pipeline, the ledger's requests share the client.
   */
  readonly controlRequestsPerCall?: number;
}

/** The pipeline's own ceiling: the rate runs' destination without any rate limit, distinct records. */
export interface CeilingRunResult extends BenchRunFigures, WriteRate {
  readonly scenario: 'ceiling';
  readonly layer: 'pipeline';
}

/** The backlog run: every version of every record queued before the first poller starts, no rate limit. */
export interface BacklogRunResult extends BenchRunFigures {
  readonly scenario: 'backlog';
  readonly layer: 'pipeline';
  readonly versions: number;
  /** `calls / records`: 1.0 when only the newest version of each record reached the destination. */
  readonly callsPerRecord: number;
}

export type BenchRunResult = RateRunResult | CeilingRunResult | BacklogRunResult;

/** Every run of a bench, by layer; a run left out is empty or null. */
export interface BenchRuns {
  readonly limiterRuns: readonly RateRunResult[];
  readonly pipelineRuns: readonly RateRunResult[];
  readonly ceiling: CeilingRunResult | null;
  readonly backlog: BacklogRunResult | null;
}

/**
 * `n/a`: the target cannot be judged here (a pipeline rate above the pipeline's own ceiling); only
 * `missed` fails the bench.
 */
export type VerdictStatus = 'met' | 'missed' | 'n/a';

/** One target checked on one run. */
export interface TargetVerdict {
  readonly layer: BenchLayer;
  readonly label: string;
  readonly target: 'drained' | 'rate' | 'throttled' | 'calls-per-record';
  readonly status: VerdictStatus;
  /** The figure, the target, and for a miss what held it back when the counters say. */
  readonly detail: string;
}
