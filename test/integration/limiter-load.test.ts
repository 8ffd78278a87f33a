import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { runLimiterLoad } from '../../lib/local/bench/limiter-load.ts';
import { benchEvents } from '../../lib/local/bench/rate-limit-bench.ts';

/** The bench's destination, limited to `perSecond` with a burst of one batch. */
const destination = (perSecond: number) =>
  parsePipelineConfig({
    destinations: [{ name: 'bench', kind: 'http', baseUrl: 'https://bench.example.com', resourceTypes: ['contact'], rateLimit: { perSecond, burst: 10 } }],
  }).destinations[0]!;

describe('Function: runLimiterLoad', () => {
  it('sends every event until the fake API accepted it, once each', async () => {
    // Prepare: 3 consumers, 60 events, a limit the fake API also keeps
    const events = benchEvents({ prefix: 'l', records: 60, versions: 1, seed: 1 });

    // Act
    const { counters, delivered, durationMs } = await runLimiterLoad({ destination: destination(40), apiLimit: { perSecond: 40, burst: 40 }, consumers: 3, events, timeoutMs: 30_000 });

    // Assess
    expect(delivered).toBe(true);
    expect(counters.writes).toBe(60);
    expect(counters.requests).toBe(counters.writes + counters.throttledByRateLimit);
    expect(counters.replays).toBe(0);
    expect(durationMs).toBeGreaterThan(0);
  });

  it('costs one control request per healthy batch of 10: the reservation, which carries the breaker count', async () => {
    // Prepare: one consumer, 60 batches, a limit it can keep up with
    const events = benchEvents({ prefix: 'c', records: 600, versions: 1, seed: 1 });

    // Act
    const { counters, delivered, controlRequests } = await runLimiterLoad({ destination: destination(2_000), apiLimit: { perSecond: 2_000, burst: 2_000 }, consumers: 1, events, timeoutMs: 30_000 });

    // Assess: 60 reservations and a few more (the window's first count, a slot handed back); a
    // separate count per batch, or reservations that often guess the schedule wrong, make it 120
    expect(delivered).toBe(true);
    expect(counters.requests).toBe(600);
    expect(controlRequests).toBeGreaterThanOrEqual(60);
    expect(controlRequests).toBeLessThanOrEqual(70);
  });

  it('defers what a 429 stopped and sends it again, until every event is accepted', async () => {
    // Prepare: the destination's limit at 4 x what the fake API takes, so its bucket runs dry
    const events = benchEvents({ prefix: 'l', records: 30, versions: 1, seed: 1 });

    // Act
    const { counters, delivered } = await runLimiterLoad({ destination: destination(80), apiLimit: { perSecond: 20, burst: 5 }, consumers: 2, events, timeoutMs: 30_000 });

    // Assess
    expect(delivered).toBe(true);
    expect(counters.throttledByRateLimit).toBeGreaterThan(0);
    expect(counters.writes).toBe(30);
    expect(counters.requests).toBe(30 + counters.throttledByRateLimit);
    expect(counters.replays).toBe(0);
  });

  it('stops at its timeout with events unsent, and says so', async () => {
    // Prepare: 100 events at 20/s cannot all go within 1 s
    const events = benchEvents({ prefix: 'l', records: 100, versions: 1, seed: 1 });

    // Act
    const { counters, delivered } = await runLimiterLoad({ destination: destination(20), apiLimit: { perSecond: 20 }, consumers: 1, events, timeoutMs: 1_000 });

    // Assess
    expect(delivered).toBe(false);
    expect(counters.writes).toBeLessThan(100);
  });
});
