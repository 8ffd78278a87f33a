import { emptyFakeApiCounters, type FakeApiCounters, type FakeApiStats, type WriteLogEntry } from '../../lib/local/lab/fake-api.ts';
import type { InvariantInput, InvariantReport } from '../../lib/local/lab/invariants.ts';
import type { RunSettings } from '../../lib/local/lab/run-settings.ts';
import type { DestinationReport, LocalRunReport } from '../../lib/local/report/run-report.ts';

/** One write log entry of crm contact/c-1; override any field. */
export const writeLogEntry = (overrides: Partial<WriteLogEntry> = {}): WriteLogEntry => ({
  seq: 1,
  destination: 'crm',
  resourceType: 'contact',
  id: 'c-1',
  version: 1,
  op: 'upsert',
  idempotencyKey: `crm:contact:c-1:${overrides.version ?? 1}`,
  at: Date.UTC(2026, 10, 27, 10, 0, 1),
  previousVersion: null,
  occurredAt: null,
  replayed: false,
  answered: true,
  ...overrides,
});

/** The invariants' input of a run that published nothing but reached the destination with `writeLog`. */
export const invariantInputOf = (writeLog: readonly WriteLogEntry[]): InvariantInput => ({
  accounting: [],
  routed: new Map(),
  writeLog,
  finalRecord: () => undefined,
  deadLetters: [],
  destinationReads: 0,
  deleteMisses: [],
  appliedRecords: [],
});

/** The settings of a default run of 500 changes on one destination. */
export const runSettings = (overrides: Partial<RunSettings> = {}): RunSettings => ({
  changes: 500,
  source: 'demo-stream',
  ids: 100,
  rate: 250,
  seed: 1,
  malformed: 3,
  visibilityTimeoutSeconds: 5,
  stallTimeoutMs: 60_000,
  via: 'eventbridge',
  resources: 'embedded',
  crashRate: 0,
  concurrentCopyRate: 0,
  twinRate: 0,
  fakeApi: { failures: {}, latencyMs: 0, deduplicate: false, conflictWhileInFlight: false },
  wrapped: [],
  destinations: [
    {
      destination: 'crm',
      resourceTypes: ['contact'],
      pollers: 4,
      batchSize: 10,
      maxConcurrency: 5,
      requestTimeoutMs: 5_000,
      functionTimeoutSeconds: 30,
      settleSeconds: 120,
      leaseMs: 11_000,
      retry: { maxReceiveCount: 201, baseDelaySeconds: 2, maxDelaySeconds: 900, horizonMinutes: 1440 },
    },
  ],
  ...overrides,
});

const passing = (detail: string) => ({ ok: true, detail });

/** crm's row of a drained run: 292 published, all ended. */
export const destinationReport = (overrides: Partial<DestinationReport> = {}): DestinationReport => ({
  destination: 'crm',
  planned: 292,
  published: 292,
  applied: 153,
  skipped: 136,
  deadLettered: 3,
  retried: 0,
  deferred: 0,
  extraTerminalOutcomes: 0,
  skippedByReason: { stale: 118, duplicate: 18 },
  retriedByReason: {},
  errorsByClass: {},
  deadLetteredByReason: { 'invalid-json': 1, 'invalid-schema': 2 },
  lagMs: { p50: 1_100, p99: 2_000 },
  destinationWrites: 153,
  replays: 0,
  copiesDelivered: 0,
  deadLettersFromLostInvocations: 0,
  deadLettersRepeated: 0,
  ...overrides,
});

/** The fake API's counters of `writes` accepted writes, one a second from 10:00:01 on; override any field. */
export const fakeApiCounters = (writes: number, overrides: Partial<FakeApiCounters> = {}): FakeApiCounters => {
  const firstWriteAt = Date.UTC(2026, 10, 27, 10, 0, 1);
  return {
    ...emptyFakeApiCounters(),
    requests: writes,
    writes,
    firstWriteAt: writes === 0 ? null : firstWriteAt,
    lastWriteAt: writes === 0 ? null : firstWriteAt + (writes - 1) * 1_000,
    writesPerSecond: Array.from({ length: writes }, () => 1),
    ...overrides,
  };
};

/** The fake API's stats of a run whose only destination, crm, took 153 writes. */
export const fakeApiStats = (overrides: Partial<FakeApiStats> = {}): FakeApiStats => ({
  ...fakeApiCounters(153),
  hanging: 0,
  byDestination: { crm: fakeApiCounters(153) },
  ...overrides,
});

/** A drained run of one destination where every invariant holds; override any field. */
export const localRunReport = (overrides: Partial<LocalRunReport> = {}): LocalRunReport => {
  const invariants: InvariantReport = {
    noRegression: passing('153 writes, none went backwards'),
    convergence: passing('every record holds its highest version (or it is in the DLQ)'),
    accounting: passing('every published message ended'),
    effectOnce: passing('153 requests reached the destination, 0 repeated a version'),
    deadLettersHaveReasons: passing('3 dead letters, 0 without a reason'),
    noDestinationReads: passing('0 reads of the external API'),
  };
  return {
    runId: '3f9c2a1e',
    interrupted: false,
    logFile: 'reports/local-run.log',
    endpoint: 'embedded',
    durationMs: 5_300,
    stream: { changes: 500, malformed: 3, duplicates: 100, twins: 0, outOfOrder: 150, records: 100 },
    destinations: [destinationReport()],
    invariants,
    drained: true,
    settings: runSettings(),
    deadLetters: [{ destination: 'crm', reason: 'invalid-json', messageId: 'm-1' }],
    faults: {
      injected: {},
      replays: 0,
      conflictsInFlight: 0,
      crashedInvocations: 0,
      answersLostToCrashes: 0,
      copiesDelivered: 0,
      lateWritesAfterLease: 0,
      environments: 4,
    },
    timeline: { bucketMs: 1000, buckets: [], deadLetterReasons: { crm: { 'invalid-json': 1 } } },
    fakeApiStats: fakeApiStats(),
    ...overrides,
  };
};
