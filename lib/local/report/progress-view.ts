import { Writable } from 'node:stream';
import { MultiBar, type GenericFormatter, type Params, type SingleBar } from 'cli-progress';
import type { DestinationProgress, LocalRunProgress } from '../lab/run-options.ts';

/**
 * @example
 * const options: ProgressViewOptions = { stream: process.stderr };
 */
export interface ProgressViewOptions {
  /** Where the progress goes (stderr in the CLI); the view writes nowhere else. */
  readonly stream: NodeJS.WritableStream;
  /**
   * Redraw the lines in place (a terminal), or print them as plain lines every `plainIntervalMs`
   * with no control sequences (a pipe, a file, CI).
   *
   * @default stream.isTTY === true
   */
  readonly isTTY?: boolean;
  /**
   * Width every line is fitted to. @default stream.columns, read at each redraw so a resized
   * terminal is followed; 80 for a terminal that does not say, 120 for plain output
   */
  readonly columns?: number;
  /** How often plain output prints the whole state. @default 2000 */
  readonly plainIntervalMs?: number;
}

/**
 * Live progress of a local run. See {@link createProgressView}.
 *
 * @example
 * const view: ProgressView = createProgressView({ stream: process.stderr });
 */
export interface ProgressView {
  /** Takes the run's latest snapshot; it is drawn at the next redraw (10 a second on a terminal). */
  update(progress: LocalRunProgress): void;
  /** Draws the last snapshot once more, as the final state, and releases the terminal. Safe to call twice. */
  stop(): void;
}

const DEFAULT_TTY_COLUMNS = 80;
const DEFAULT_PLAIN_COLUMNS = 120;
const BAR = { min: 10, max: 24, complete: '█', incomplete: '░' } as const;
const LABEL_MAX = 16;
/** Updates the ETA is averaged over (one per snapshot, a few per second). */
const ETA_SAMPLES = 40;

/** Cuts `text` to `width` characters, marking the cut. Every character the view draws is one column wide. */
const truncate = (text: string, width: number): string => (text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`);

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** cli-progress's ETA: seconds, or 'NULL' / 'INF' while the rate is unknown or zero. */
const formatEta = (params: Params): string => {
  if (params.value >= params.total) return 'done';
  const eta: unknown = params.eta;
  if (typeof eta !== 'number' || !Number.isFinite(eta)) return 'ETA –';
  return eta >= 120 ? `ETA ${Math.round(eta / 60)} min` : `ETA ${eta} s`;
};

/**
 * One line: the label, a bar (when at least `BAR.min` cells fit beside the main text), the main
 * text, then as many of `extras` as fit, in order; never wider than `width`.
 */
const layout = (width: number, label: string, share: number | undefined, main: string, extras: readonly string[]): string => {
  const barSize = Math.min(BAR.max, width - label.length - main.length - 4);
  const filled = Math.round(Math.min(1, Math.max(0, share ?? 0)) * barSize);
  const bar = share !== undefined && barSize >= BAR.min ? ` ▕${BAR.complete.repeat(filled)}${BAR.incomplete.repeat(barSize - filled)}▏` : '';
  let line = `${label}${bar} ${main}`;
  for (const extra of extras) {
    if (line.length + 3 + extra.length > width) break;
    line += ` · ${extra}`;
  }
  return truncate(line, width);
};

/** applied + skipped + dead-lettered: every outcome that ends a delivery. */
const endedOf = (d: DestinationProgress): number => d.applied + d.skipped + d.deadLettered;

/**
 * The headline, fixed for the run: what the denominators count.
 *
 * @example
 * describePlan(progress); // '500 changes + 3 malformed → 664 messages after fan-out to 2 destinations'
 */
export const describePlan = (progress: LocalRunProgress): string => {
  const destinations = progress.destinations.length;
  const malformed = progress.plannedMalformed > 0 ? ` + ${progress.plannedMalformed} malformed` : '';
  return `${progress.plannedChanges} changes${malformed} → ${progress.plannedTotal} messages after fan-out to ${destinations} destination${destinations === 1 ? '' : 's'}`;
};

/** The bars of one run: the headline, every destination together, then one per destination. */
interface Rows {
  readonly headline: SingleBar;
  readonly all: SingleBar;
  readonly destinations: ReadonlyMap<string, SingleBar>;
}

/**
 * Live progress of a local run on `stream`, drawn with cli-progress: a headline saying what is
 * counted ("500 changes → 664 messages after fan-out to 2 destinations"), a bar of every message
 * ended out of every message planned with the publishing count and an ETA, and a bar per destination
 * of its messages ended (applied + skipped + dead-lettered) out of those planned for it, with the
 * counts by outcome. The denominators are the plan's, after fan-out, so they never move during the
 * run; a bar only grows. On a terminal the lines are redrawn in place and each is fitted to the
 * width (the bar shrinks, then the counts go, then the line is cut), so nothing wraps at any
 * width; elsewhere the lines are printed, plain, every `plainIntervalMs`, and once more by `stop()`.
 *
 * @example
 * const view = createProgressView({ stream: process.stderr });
 * const report = await runLocalPipeline({ ...options, onProgress: (progress) => view.update(progress) });
 * view.stop();
 */
export const createProgressView = (options: ProgressViewOptions): ProgressView => {
  const { stream } = options;
  const isTTY = options.isTTY ?? (stream as { isTTY?: boolean }).isTTY === true;
  const columns = (): number =>
    options.columns ?? (stream as { columns?: number }).columns ?? (isTTY ? DEFAULT_TTY_COLUMNS : DEFAULT_PLAIN_COLUMNS);
  // cli-progress reads isTTY and columns off its stream: this one says what the caller decided and
  // forwards every write, so the view writes to `stream` only.
  const terminal = new Writable({
    decodeStrings: false,
    write: (chunk: string | Buffer, _encoding, done) => {
      stream.write(chunk);
      done();
    },
  });
  Object.defineProperties(terminal, { isTTY: { value: isTTY }, columns: { get: columns } });
  const bars = new MultiBar({
    stream: terminal,
    noTTYOutput: true,
    notTTYSchedule: options.plainIntervalMs ?? 2000,
    fps: 10,
    // Keep the terminal's own wrapping, and cut every line to the width (cli-progress's fallback)
    // on top of the fitting below.
    linewrap: true,
    etaBuffer: ETA_SAMPLES,
    // The CLI owns Ctrl-C (it stops the run and then the view).
    gracefulExit: false,
    hideCursor: false,
  });

  let latest: LocalRunProgress | undefined;
  let rows: Rows | undefined;
  let stopped = false;
  // One column short on a terminal: a line filling the last column leaves the cursor pending a wrap.
  const widthOf = (params: Params): number => Math.max(1, (isTTY ? params.maxWidth - 1 : params.maxWidth));
  const labelWidth = (progress: LocalRunProgress): number => Math.min(LABEL_MAX, Math.max(3, ...progress.destinations.map((d) => d.destination.length)));
  const label = (name: string, progress: LocalRunProgress): string => truncate(name, labelWidth(progress)).padEnd(labelWidth(progress));

  const headlineFormat: GenericFormatter = (_options, params) => (latest === undefined ? '' : truncate(describePlan(latest), widthOf(params)));
  const allFormat: GenericFormatter = (_options, params) => {
    if (latest === undefined) return '';
    const main = `${params.value}/${params.total} ended`;
    const extras = [`published ${latest.publishedTotal}/${latest.plannedTotal}`, seconds(latest.elapsedMs), formatEta(params)];
    return layout(widthOf(params), label('all', latest), params.total === 0 ? 1 : params.value / params.total, main, extras);
  };
  const destinationFormat =
    (name: string): GenericFormatter =>
    (_options, params) => {
      const d = latest?.destinations.find((row) => row.destination === name);
      if (latest === undefined || d === undefined) return '';
      const main = `${params.value}/${params.total} ended`;
      const extras = [`applied ${d.applied}`, `skipped ${d.skipped}`, `dead-lettered ${d.deadLettered}`, `retried ${d.retried}`, `published ${d.published}`];
      return layout(widthOf(params), label(name, latest), params.total === 0 ? 1 : params.value / params.total, main, extras);
    };

  const create = (progress: LocalRunProgress): Rows => ({
    headline: bars.create(1, 0, {}, { format: headlineFormat }),
    all: bars.create(progress.plannedTotal, 0, {}, { format: allFormat }),
    destinations: new Map(progress.destinations.map((d) => [d.destination, bars.create(d.planned, 0, {}, { format: destinationFormat(d.destination) })])),
  });

  /** Ended, capped at the planned count: a concurrent copy's extra outcome must not overfill a bar. */
  const advance = (bar: SingleBar, planned: number, ended: number): void => {
    // The plan is fixed before the first message is sent; should a larger one arrive, the total grows, never shrinks.
    if (planned > bar.getTotal()) bar.setTotal(planned);
    bar.update(Math.min(ended, bar.getTotal()));
  };

  return {
    update: (progress) => {
      if (stopped) return;
      latest = progress;
      rows ??= create(progress);
      advance(rows.all, progress.plannedTotal, progress.destinations.reduce((sum, d) => sum + Math.min(endedOf(d), d.planned), 0));
      for (const d of progress.destinations) {
        const bar = rows.destinations.get(d.destination);
        if (bar !== undefined) advance(bar, d.planned, endedOf(d));
      }
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (rows !== undefined) bars.stop();
    },
  };
};
