import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InMemoryLedgerStore } from '../../lib/adapters/in-memory-ledger.ts';
import { scheduleArbitrary, simulate, violations, type CallPlan, type MessagePlan, type Schedule, type SimOptions } from '../helpers/interleaving-sim.ts';
import { keyedLeaseLedger } from '../helpers/keyed-lease-ledger.ts';

const schedule = scheduleArbitrary();

const setSystemTime = (at: number) => vi.setSystemTime(at);

/** The invariants broken by one schedule under these options. */
const broken = async (plan: Schedule, options: SimOptions): Promise<string[]> => violations(plan, await simulate(plan, options, setSystemTime));

/** Every schedule keeps the invariants (or only those matching `only`). */
const property = (options: SimOptions, only?: RegExp) => fc.asyncProperty(schedule, async (plan) => {
  const found = (await broken(plan, options)).filter((violation) => only === undefined || only.test(violation));
  if (found.length > 0) throw new Error(found.join('; '));
});

const RUNS = 10_000;

describe('Interleavings of attempts on one record (model-based, the real processRecord over a virtual clock)', () => {
  beforeAll(() => {
    // One clock for the consumer, Powertools and the simulation.
    vi.useFakeTimers({ toFake: ['Date'] });
  });
  afterAll(() => {
    vi.useRealTimers();
  });

  it(`keeps I1, I4 and I2 at a destination that does not deduplicate, over ${RUNS} schedules`, { timeout: 300_000 }, async () => {
    // Act & Assess
    await fc.assert(property({ ledger: () => new InMemoryLedgerStore() }), { numRuns: RUNS });
  });

  it('keeps them at a destination that deduplicates by Idempotency-Key, replays counted as requests', { timeout: 120_000 }, async () => {
    await fc.assert(property({ ledger: () => new InMemoryLedgerStore(), api: 'dedup' }), { numRuns: 1_000 });
  });

  it('keeps them with no time bound on late requests where the destination checks a version precondition', { timeout: 120_000 }, async () => {
    await fc.assert(property({ ledger: () => new InMemoryLedgerStore(), api: 'precondition', landingBoundMs: undefined }), { numRuns: 2_000 });
  });

  it('reaches the cases that matter: crashes, late landings after the lease, concurrent holders, fences', { timeout: 120_000 }, async () => {
    // Prepare
    const totals = { schedules: 0, crashes: 0, lateLandings: 0, landingsAfterLease: 0, busy: 0, fenced: 0, outcomeUnknown: 0, duplicates: 0, stale: 0 };
    const add = (key: keyof typeof totals, n: number | undefined) => {
      if ((n ?? 0) > 0) totals[key] += 1;
    };

    // Act
    await fc.assert(
      fc.asyncProperty(schedule, async (plan) => {
        const { seen } = await simulate(plan, { ledger: () => new InMemoryLedgerStore() }, setSystemTime);
        totals.schedules += 1;
        add('crashes', seen.crashes);
        add('lateLandings', seen.lateLandings);
        add('landingsAfterLease', seen.landingsAfterLease);
        add('busy', seen.retries.busy);
        add('fenced', seen.retries.fenced);
        add('outcomeUnknown', seen.retries['outcome-unknown']);
        add('duplicates', seen.skipped.duplicate);
        add('stale', seen.skipped.stale);
      }),
      { numRuns: 1_000 },
    );

    // Assess: each case shows up in a fair share of schedules (a generator that drifted would not reach them)
    process.stderr.write(`interleaving coverage over ${totals.schedules} schedules: ${JSON.stringify(totals)}\n`);
    for (const key of ['crashes', 'lateLandings', 'landingsAfterLease', 'busy', 'fenced', 'outcomeUnknown', 'duplicates', 'stale'] as const) {
      expect(totals[key], key).toBeGreaterThan(totals.schedules * 0.05);
    }
  });

  describe('the counterexamples that were found, as named schedules', () => {
    const message = (overrides: Partial<MessagePlan>): MessagePlan => ({
      version: 1, op: 'upsert', twin: false, startAt: 0, copies: 1, copyLagMs: 0, crashAtStep: undefined, ...overrides,
    });
    const call = (overrides: Partial<CallPlan>): CallPlan => ({ answer: 'ok', latencyMs: 10, lands: true, landingDelayMs: 5, ...overrides });
    const named: Array<[string, Schedule, SimOptions]> = [
      [
        // Two copies of v1 at once; the second, holding the same key, gets a 409 and releases while
        // the first's slow call is in flight; v2 goes and the first request lands after it.
        'a concurrent copy with the same key answered 409 does not free the record under the first copy\'s call',
        {
          messages: [message({ version: 1, copies: 2, copyLagMs: 5 }), message({ version: 2, startAt: 60 })],
          calls: [call({ latencyMs: 900, landingDelayMs: 880 }), call({ answer: 'conflict' }), call({})],
          opDelays: [],
          seed: 1,
        },
        { ledger: keyedLeaseLedger },
      ],
      [
        // A same-version twin (another payload, same key) arrives while v1's call is in flight.
        'a same-version twin cannot take the live lease of the first',
        {
          messages: [message({ version: 1 }), message({ version: 1, twin: true, startAt: 20 }), message({ version: 2, startAt: 60 })],
          calls: [call({ latencyMs: 900, landingDelayMs: 880 }), call({ answer: 'throttled' }), call({})],
          opDelays: [],
          seed: 1,
        },
        { ledger: keyedLeaseLedger },
      ],
      [
        // v1 times out; the request is still on its way and lands after the lease, inside the window.
        'a request that lands after the lease, inside the settle window, lands before anything newer is sent',
        {
          messages: [message({ version: 1 }), message({ version: 2, startAt: 3_500 })],
          calls: [call({ answer: 'timeout', landingDelayMs: 4_500 })],
          opDelays: [],
          seed: 1,
        },
        { ledger: () => new InMemoryLedgerStore(), settleMs: 0 },
      ],
      [
        // A reset after sending (in doubt), then, before the fix, a quick retry answered 429 released the record.
        'a call in doubt is never followed by a release, whatever later calls answer',
        {
          messages: [message({ version: 1 }), message({ version: 2, startAt: 400 })],
          calls: [call({ answer: 'reset-after-send', latencyMs: 50, landingDelayMs: 2_500 }), call({ answer: 'throttled' }), call({})],
          opDelays: [],
          seed: 1,
        },
        { ledger: () => new InMemoryLedgerStore(), settleMs: 0 },
      ],
    ];

    it('ends a long run of calls in doubt on two copies of one version: applied once, nothing lost', async () => {
      // Found with a seed of its own: ten calls in doubt in a row, each fencing the record and
      // costing both messages deliveries; it must still end, applied once.
      const inDoubt = call({ latencyMs: 1_000, lands: false, landingDelayMs: 0 });
      const plan: Schedule = {
        messages: [message({ version: 1, crashAtStep: 1 }), message({ version: 1 })],
        calls: [inDoubt, inDoubt, inDoubt, inDoubt, inDoubt, inDoubt, call({ answer: 'timeout' }), call({ answer: 'server-error' }), call({ answer: 'bad-gateway' }), inDoubt],
        opDelays: [],
        seed: 1,
      };

      // Act
      const result = await simulate(plan, { ledger: () => new InMemoryLedgerStore() }, setSystemTime);

      // Assess
      expect(violations(plan, result)).toEqual([]);
      expect(result.held?.version).toBe(1);
    });

    it.each(named)('%s', async (_name, plan, broken_) => {
      // Act
      const kept = await broken(plan, { ledger: () => new InMemoryLedgerStore() });
      const withoutSafeguard = await broken(plan, broken_);

      // Assess: holds with the lease per attempt and the settle window; fails without the safeguard
      expect(kept).toEqual([]);
      expect(withoutSafeguard.join('; ')).toMatch(/I1|I4/);
    });
  });

  describe('negative controls: the same test fails when a safeguard is taken away', () => {
    it.each<[string, RegExp]>([
      ['moves a record backwards (I1)', /^I1/],
      ['applies a version twice (I4)', /^I4/],
    ])('fails when the lease is keyed by the idempotency key again: it %s', { timeout: 120_000 }, async (_name, only) => {
      // Act
      const result = await fc.check(property({ ledger: keyedLeaseLedger }, only), { numRuns: RUNS });

      // Assess
      expect(result.failed).toBe(true);
      expect((result.errorInstance as Error).message).toMatch(only);
    });

    it('fails without a settle window (late requests land after the lease and move the record backwards)', { timeout: 120_000 }, async () => {
      const result = await fc.check(property({ ledger: () => new InMemoryLedgerStore(), settleMs: 0 }, /^I1/), { numRuns: RUNS });

      expect(result.failed).toBe(true);
      expect((result.errorInstance as Error).message).toMatch(/^I1/);
    });

    it('fails when requests may land after the settle window and the destination has no precondition (the bound is real)', { timeout: 120_000 }, async () => {
      const result = await fc.check(property({ ledger: () => new InMemoryLedgerStore(), landingBoundMs: undefined }, /^I1/), { numRuns: RUNS });

      expect(result.failed).toBe(true);
      expect((result.errorInstance as Error).message).toMatch(/^I1/);
    });
  });
});
