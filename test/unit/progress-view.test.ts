import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DestinationProgress, LocalRunProgress } from '../../lib/local/lab/run-options.ts';
import { createProgressView, describePlan } from '../../lib/local/report/progress-view.ts';
import { createTerminalScreen } from '../helpers/terminal-screen.ts';

/** A destination's row: `ended` split evenly between applied and skipped. */
const destinationRow = (destination: string, planned: number, ended: number, extra: Partial<DestinationProgress> = {}): DestinationProgress => ({
  destination,
  planned,
  published: planned,
  applied: Math.ceil(ended / 2),
  skipped: Math.floor(ended / 2),
  deadLettered: 0,
  retried: 0,
  deferred: 0,
  ...extra,
});

/** 500 changes + 3 malformed fanned out to crm (292) and erp (372). */
const progressOf = (crmEnded: number, erpEnded: number, overrides: Partial<LocalRunProgress> = {}): LocalRunProgress => ({
  elapsedMs: 1_500,
  plannedChanges: 500,
  plannedMalformed: 3,
  publishedTotal: 664,
  plannedTotal: 664,
  destinations: [destinationRow('crm', 292, crmEnded), destinationRow('erp', 372, erpEnded)],
  ...overrides,
});

/** A non-terminal stream that keeps what it is given. */
const collector = (): { stream: Writable; text: () => string } => {
  let text = '';
  const stream = new Writable({
    decodeStrings: false,
    write: (chunk: string | Buffer, _encoding, done) => {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
};

afterEach(() => {
  vi.useRealTimers();
});

describe('Function: describePlan', () => {
  it.each([
    [progressOf(0, 0), '500 changes + 3 malformed → 664 messages after fan-out to 2 destinations'],
    [progressOf(0, 0, { plannedMalformed: 0, plannedTotal: 661 }), '500 changes → 661 messages after fan-out to 2 destinations'],
    [{ ...progressOf(0, 0), destinations: [destinationRow('crm', 292, 0)], plannedTotal: 292 }, '500 changes + 3 malformed → 292 messages after fan-out to 1 destination'],
  ])('says what the denominators count (%#)', (progress, headline) => {
    // Act
    const text = describePlan(progress);

    // Assess
    expect(text).toBe(headline);
  });
});

describe('Function: createProgressView', () => {
  it('prints plain lines with no control sequence when the stream is not a terminal, ending with the final state', () => {
    // Prepare
    const { stream, text } = collector();
    const view = createProgressView({ stream, isTTY: false, columns: 200 });

    // Act
    view.update(progressOf(10, 20));
    view.update(progressOf(120, 200, { publishedTotal: 600 }));
    view.stop();

    // Assess
    expect(text()).not.toMatch(/\x1b/);
    const lines = text().split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('500 changes + 3 malformed → 664 messages after fan-out to 2 destinations');
    expect(lines[1]).toMatch(/^all .* 320\/664 ended · published 600\/664 · 1\.5 s · ETA/);
    expect(lines[2]).toMatch(/^crm .* 120\/292 ended · applied 60 · skipped 60 · dead-lettered 0 · retried 0 · published 292$/);
    expect(lines[3]).toMatch(/^erp .* 200\/372 ended · applied 100 · skipped 100/);
  });

  it('prints the whole state again every plainIntervalMs, as plain lines', () => {
    // Prepare
    vi.useFakeTimers();
    const { stream, text } = collector();
    const view = createProgressView({ stream, isTTY: false, plainIntervalMs: 2_000 });
    view.update(progressOf(10, 20));

    // Act
    vi.advanceTimersByTime(2_000);
    view.update(progressOf(100, 150));
    vi.advanceTimersByTime(2_000);

    // Assess
    const blocks = text().split('\n\n').filter((block) => block !== '');
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toMatch(/crm .* 10\/292 ended/);
    expect(blocks[1]).toMatch(/crm .* 100\/292 ended/);
    expect(text()).not.toMatch(/\x1b/);
    view.stop();
  });

  it('writes nothing before the first snapshot, nor after stop()', () => {
    // Prepare
    const { stream, text } = collector();
    const view = createProgressView({ stream, isTTY: false });

    // Act
    view.stop();
    view.update(progressOf(10, 20));

    // Assess
    expect(text()).toBe('');
  });

  it.each([40, 60, 99])('fits every line to a %i-column terminal: nothing wraps, every redraw lands on its own line', (columns) => {
    // Prepare: long names, big numbers, redraws while the numbers grow
    vi.useFakeTimers();
    const screen = createTerminalScreen(columns);
    const view = createProgressView({ stream: screen.stream, isTTY: true, columns });
    const longNames = (ended: number): LocalRunProgress => ({
      ...progressOf(0, 0, { plannedChanges: 120_000, plannedTotal: 180_000, publishedTotal: ended }),
      destinations: [
        destinationRow('crm-eu-central-1-primary', 90_000, ended, { deadLettered: 12, retried: 4_321 }),
        destinationRow('erp', 90_000, ended * 2),
      ],
    });

    // Act
    for (const ended of [0, 1_000, 20_000, 45_000]) {
      view.update(longNames(ended));
      vi.advanceTimersByTime(100);
    }
    view.stop();

    // Assess
    expect(screen.wraps()).toBe(0);
    const lines = screen.lines();
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(columns);
    expect(lines[0]).toMatch(/^120000 changes/);
    expect(lines[1]).toMatch(/^all/);
    expect(lines[2]).toMatch(/^crm-eu-central-… /);
    expect(lines[3]).toMatch(/^erp/);
    expect(lines[2]).toMatch(/ 45012\/90000 ended/);
  });

  it('counts each destination against its planned messages: the total never moves, copies do not overfill it', () => {
    // Prepare: early on, crm has published 10 of 292; later concurrent copies end 5 more than planned
    const { stream, text } = collector();
    const view = createProgressView({ stream, isTTY: false, columns: 200 });
    const early = progressOf(4, 0, { publishedTotal: 10 });

    // Act
    view.update({ ...early, destinations: [destinationRow('crm', 292, 4, { published: 10 }), destinationRow('erp', 372, 0, { published: 0 })] });
    view.update(progressOf(297, 372));
    view.stop();

    // Assess
    const lines = text().split('\n').filter((line) => line !== '');
    expect(lines[1]).toMatch(/ 664\/664 ended .* done$/);
    expect(lines[2]).toMatch(/^crm .* 292\/292 ended · applied 149 · skipped 148/);
  });
});
