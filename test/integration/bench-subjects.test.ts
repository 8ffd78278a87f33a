import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeOp } from '../../lib/contract/change-event.ts';
import { capacityOf } from '../../lib/local/bench/bench-subjects.ts';
import { measureRequestCounts, type RequestCountsResult, type SubjectRequestCounts } from '../../lib/local/bench/request-counts.ts';
import { httpSeedClient } from '../../lib/local/bench/seed-baseline.ts';
import { runThroughputTrial } from '../../lib/local/bench/throughput.ts';
import { startFakeApi, type FakeApi } from '../../lib/local/lab/fake-api.ts';

/** DynamoDB write requests of a phase (each is 1 WRU: items under 1 KB). */
const WRITE_COMMANDS = ['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand'] as const;
const writesPerRecord = (commands: Readonly<Record<string, number>>): number => WRITE_COMMANDS.reduce((sum, name) => sum + (commands[name] ?? 0), 0);

describe('Function: measureRequestCounts', () => {
  let result: RequestCountsResult;
  const subject = (name: SubjectRequestCounts['subject']): SubjectRequestCounts => {
    const found = result.subjects.find((s) => s.subject === name);
    if (found === undefined) throw new Error(`no ${name} in the result`);
    return found;
  };

  beforeAll(async () => {
    // Act: 10 records per phase (one batch), both subjects on emulators of their own
    result = await measureRequestCounts({ records: 10 });
  });

  it('runs both subjects, ours first, through every phase with its records', () => {
    // Assess
    expect(result.subjects.map((s) => s.subject)).toEqual(['ours', 'baseline']);
    for (const counts of result.subjects) {
      for (const phase of [counts.applied, counts.duplicate, counts.stale]) {
        expect(phase.records).toBe(10);
        expect(phase.invocations).toBe(1);
      }
    }
  });

  it('ours calls the destination once per applied record and never reads it', () => {
    // Assess
    const ours = subject('ours');
    expect(ours.applied.perRecord.destination).toEqual({ gets: 0, writes: 1 });
    expect(ours.applied.reported.applied).toBe(10);
    expect(ours.stale.perRecord.destination).toEqual({ gets: 0, writes: 0 });
  });

  it('the baseline reads the destination before every write, and for every stale record', () => {
    // Assess
    const baseline = subject('baseline');
    expect(baseline.applied.perRecord.destination).toEqual({ gets: 1, writes: 1 });
    expect(baseline.stale.perRecord.destination).toEqual({ gets: 1, writes: 0 });
  });

  it('skips duplicates in both subjects with one DynamoDB write each and no destination write', () => {
    // Assess
    for (const counts of result.subjects) {
      expect(counts.duplicate.destination.writes).toBe(0);
      expect(writesPerRecord(counts.duplicate.perRecord.dynamodb.commands)).toBe(1);
      expect(counts.duplicate.perRecord.dynamodb.writeUnits).toBe(1);
    }
    // The seed's Powertools idempotency returns a duplicate's first outcome: it reports it applied again.
    expect(subject('ours').duplicate.reported).toMatchObject({ applied: 0, skipped: 10 });
    expect(subject('baseline').duplicate.reported).toMatchObject({ applied: 10, skipped: 0 });
  });

  it('leaves out of the AWS figures exactly the reads the emulator causes after a failed conditional write', () => {
    // Assess: dynalite returns no item with ReturnValuesOnConditionCheckFailure, so each caller reads it once
    for (const counts of result.subjects) {
      const { dynamodb } = counts.duplicate;
      expect(dynamodb.emulatorOnlyReads).toBe(10);
      expect(dynamodb.aws.total).toBe(dynamodb.total - 10);
      expect(dynamodb.aws.readUnits).toBe(dynamodb.readUnits - 10);
    }
  });
});

describe('Function: runThroughputTrial', () => {
  it('drains a small stream through the pollers and converges for ours, with every request counted', { timeout: 30_000 }, async () => {
    // Prepare: 100 changes at 200/s (10 batches), 20 ms per destination request

    // Act
    const trial = await runThroughputTrial('ours', { changes: 100, offeredPerSecond: 200, latencyMs: 20, seed: 3 });

    // Assess
    expect(trial.drained).toBe(true);
    expect(trial.convergence).toMatchObject({ converged: true, notConverged: 0 });
    expect(trial.regressions).toBe(0);
    expect(trial.applied).toBeGreaterThan(0);
    expect(trial.reportedApplied).toBe(trial.applied);
    expect(trial.usage.destination.gets).toBe(0);
    expect(trial.usage.sqs.publisher.commands).toEqual({ SendMessageBatchCommand: 10 });
    expect(trial.usage.sqs.eventSource.commands.ReceiveMessageCommand).toBeGreaterThan(0);
    expect(trial.usage.lambda.invocations).toBeGreaterThanOrEqual(10);
    expect(trial.usage.dynamodb.total).toBeGreaterThan(0);
    // At least one EMF blob per invocation (breakdowns by reason are blobs of their own)
    expect(trial.usage.logs.emfLines).toBeGreaterThanOrEqual(trial.usage.lambda.invocations);
    expect(trial.usage.logs.loggerBytes).toBeGreaterThan(0);
    expect(trial.lagMs.samples).toBe(trial.destinationWrites);
    expect(trial.lagMs.p99).toBeGreaterThanOrEqual(trial.lagMs.p50);
    expect(trial.perApplied.destinationWrites).toBeCloseTo(trial.usage.destination.writes / trial.applied, 10);
  });
});

describe('Function: httpSeedClient', () => {
  let fakeApi: FakeApi;

  beforeAll(async () => {
    fakeApi = await startFakeApi();
  });

  afterAll(async () => {
    await fakeApi.stop();
  });

  it('sends a key fetch would refuse as a header value (a non-Latin-1 id)', async () => {
    // Prepare
    const client = httpSeedClient(fakeApi.baseUrl('crm'));
    const event = { resourceType: 'contact', id: 'c-00057-müller-客户', version: 2, occurredAt: new Date().toISOString(), op: ChangeOp.UPSERT, payload: { name: 'Ada' } } as const;

    // Act
    await client.upsert(event, `contact:${event.id}:2`);

    // Assess
    expect(await client.get('contact', event.id)).toEqual({ version: 2 });
    expect(fakeApi.writeLog()[0]?.idempotencyKey).toBe('contact:c-00057-m%C3%BCller-%E5%AE%A2%E6%88%B7:2');
  });
});

describe('Function: capacityOf', () => {
  it('prices writes at 1 WRU and reads by their consistency', () => {
    // Act & Assess
    expect(capacityOf('UpdateItemCommand', {})).toEqual({ writeUnits: 1, readUnits: 0, unpriced: 0 });
    expect(capacityOf('GetItemCommand', { ConsistentRead: true }).readUnits).toBe(1);
    expect(capacityOf('GetItemCommand', {}).readUnits).toBe(0.5);
    expect(capacityOf('TransactWriteItemsCommand', { TransactItems: [{}, {}] }).writeUnits).toBe(4);
    expect(capacityOf('BatchWriteItemCommand', { RequestItems: { t: [{}, {}, {}] } }).writeUnits).toBe(3);
    expect(capacityOf('QueryCommand', {}).unpriced).toBe(1);
    expect(capacityOf('CreateTableCommand', {})).toEqual({ writeUnits: 0, readUnits: 0, unpriced: 0 });
  });
});
