import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EmfStore } from './emf.ts';
import { isStoppedInvocation } from './invocation-scope.ts';
import { captureJsonOutput } from './output-capture.ts';

/** Powertools Logger's levels, least first. */
const LEVEL_ORDER = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'];

/** A JSON line's level, as its index in {@link LEVEL_ORDER}; a line without one counts as INFO. */
const levelOf = (line: string): number => {
  const level = /"level":"([A-Z]+)"/.exec(line)?.[1];
  const index = level === undefined ? -1 : LEVEL_ORDER.indexOf(level);
  return index < 0 ? LEVEL_ORDER.indexOf('INFO') : index;
};

/** A record version the consumer logged as applied, with the invocation that applied it. */
export interface LoggedApply {
  readonly destination: string;
  readonly resourceType: string;
  readonly id: string;
  readonly version: number;
  readonly requestId: string;
}

/** The consumers' output of a local run, as CloudWatch would keep it. */
export interface ConsumerOutput {
  /**
   * Applied records from the consumers' log lines: an invocation that dies never publishes its
   * metrics, but its log lines (like CloudWatch Logs) survive.
   */
  readonly appliedRecords: readonly LoggedApply[];
  /** Per destination, the new messages deferrals sent (from the consumers' log lines): published by the consumer itself. */
  readonly deferredAs: ReadonlyMap<string, readonly string[]>;
  /**
   * Called with each message a breaker's probe ended (the probe deletes it itself, not the event
   * source), from the consumers' log lines, so the run counts its outcome like any other.
   */
  onProbeEnded?: (destination: string, messageId: string) => void;
  /** Adds a line of the run's own to the log file. */
  log(line: string): void;
  /** Writes the pending log lines to the log file. */
  flush(): void;
  /** Stops capturing and writes what is pending. */
  restore(): void;
}

/**
 * Captures the JSON lines the consumers print, as Lambda's runtime and CloudWatch do: EMF lines feed
 * `emf`, every other line goes to `logFile` (emptied first).
 *
 * @example
 * const output = captureConsumerOutput({ emf, logFile: 'reports/local-run.log' });
 * // ... run consumers ...
 * output.restore();
 */
export const captureConsumerOutput = (options: {
  readonly emf: EmfStore;
  readonly logFile: string;
  /** The least level a line needs to reach the log file; the oracles read every line. @default every line */
  readonly fileLevel?: string;
}): ConsumerOutput => {
  const least = LEVEL_ORDER.indexOf((options.fileLevel ?? 'TRACE').toUpperCase());
  mkdirSync(dirname(options.logFile), { recursive: true });
  writeFileSync(options.logFile, '');
  const pending: string[] = [];
  const appliedRecords: LoggedApply[] = [];
  const deferredAs = new Map<string, string[]>();
  const capture = captureJsonOutput((line) => {
    // Lambda stopped that invocation: nothing it writes after reaches CloudWatch.
    if (isStoppedInvocation()) return;
    if (options.emf.ingestLine(line)) return;
    if (least <= 0 || levelOf(line) >= least) pending.push(line);
    if (line.includes('"probe":true')) {
      const entry = JSON.parse(line) as { destination?: string; messageId?: string; outcome?: string };
      // A probe's retry stays on the queue; every other outcome ended the message.
      if (entry.destination !== undefined && entry.messageId !== undefined && entry.outcome !== 'retry') output.onProbeEnded?.(entry.destination, entry.messageId);
    }
    if (line.includes('"record deferred"')) {
      const entry = JSON.parse(line) as { destination?: string; deferredAs?: string };
      if (entry.destination !== undefined && entry.deferredAs !== undefined) deferredAs.set(entry.destination, [...(deferredAs.get(entry.destination) ?? []), entry.deferredAs]);
      return;
    }
    if (!line.includes('"record applied"')) return;
    const entry = JSON.parse(line) as Partial<Omit<LoggedApply, 'requestId'>> & { function_request_id?: string };
    if (entry.destination === undefined || entry.resourceType === undefined || entry.id === undefined || entry.version === undefined) return;
    appliedRecords.push({ destination: entry.destination, resourceType: entry.resourceType, id: entry.id, version: entry.version, requestId: entry.function_request_id ?? '' });
  });
  const flush = () => {
    if (pending.length > 0) appendFileSync(options.logFile, `${pending.splice(0).join('\n')}\n`);
  };
  const output: ConsumerOutput = {
    appliedRecords,
    deferredAs,
    log: (line) => pending.push(line),
    flush,
    restore: () => {
      capture.restore();
      flush();
    },
  };
  return output;
};
