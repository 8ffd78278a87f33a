import { describe, expect, it } from 'vitest';
import { checkInvariants, MAX_OFFENDING_RECORDS } from '../../lib/local/lab/invariants.ts';
import { invariantInputOf, writeLogEntry } from '../helpers/run-report.ts';

describe('Function: checkInvariants', () => {
  it('names no offending record when nothing went backwards or was repeated', () => {
    // Act
    const report = checkInvariants(invariantInputOf([writeLogEntry({ seq: 1, version: 1 }), writeLogEntry({ seq: 2, version: 2, previousVersion: 1 })]));

    // Assess
    expect(report.noRegression).toEqual({ ok: true, detail: '2 writes, none went backwards' });
    expect(report.effectOnce.offendingRecords).toBeUndefined();
  });

  it.each([
    ['the client received only the second answer (the first came after its timeout)', 1, true],
    ['the client received both answers', 2, false],
  ])('judges a version applied twice by the answers the client received: %s', (_case, received, ok) => {
    // Prepare: the destination answered both requests for v2
    const log = [writeLogEntry({ seq: 1, version: 2 }), writeLogEntry({ seq: 2, version: 2, previousVersion: 2 })];

    // Act
    const { effectOnce } = checkInvariants({ ...invariantInputOf(log), receivedAnswers: new Map([['crm:contact:c-1:2', received]]) });

    // Assess
    expect(effectOnce.ok).toBe(ok);
  });

  it('gives a failed noRegression the write sequence of the record, the write that went backwards flagged, the detail text kept', () => {
    // Prepare: c-1 gets v1, v3, then v2; c-2 is fine
    const log = [
      writeLogEntry({ seq: 1, version: 1 }),
      writeLogEntry({ seq: 2, id: 'c-2', version: 1 }),
      writeLogEntry({ seq: 3, version: 3, previousVersion: 1 }),
      writeLogEntry({ seq: 4, version: 2, previousVersion: 3, answered: false }),
    ];

    // Act
    const { noRegression } = checkInvariants(invariantInputOf(log));

    // Assess
    expect(noRegression.ok).toBe(false);
    expect(noRegression.detail).toBe('crm contact/c-1: v3 -> v2');
    expect(noRegression.offendingRecords).toEqual([
      {
        destination: 'crm',
        resourceType: 'contact',
        id: 'c-1',
        flaggedSeqs: [4],
        writes: [
          { seq: 1, version: 1, op: 'upsert', at: log[0]!.at, previousVersion: null, answered: true, replayed: false, idempotencyKey: 'crm:contact:c-1:1' },
          { seq: 3, version: 3, op: 'upsert', at: log[2]!.at, previousVersion: 1, answered: true, replayed: false, idempotencyKey: 'crm:contact:c-1:3' },
          { seq: 4, version: 2, op: 'upsert', at: log[3]!.at, previousVersion: 3, answered: false, replayed: false, idempotencyKey: 'crm:contact:c-1:2' },
        ],
      },
    ]);
  });

  it('gives a failed effectOnce the write sequence of the record, the repeats after a used answer flagged', () => {
    // Prepare: v2 answered at seq 1, then sent again twice
    const log = [writeLogEntry({ seq: 1, version: 2 }), writeLogEntry({ seq: 2, version: 2, previousVersion: 2 }), writeLogEntry({ seq: 3, version: 2, previousVersion: 2 })];

    // Act
    const { effectOnce } = checkInvariants(invariantInputOf(log));

    // Assess
    expect(effectOnce.ok).toBe(false);
    expect(effectOnce.detail).toMatch(/^crm contact\/c-1 v2 reached the destination 3 times \(seq 1, 2, 3\)/);
    expect(effectOnce.offendingRecords?.map((record) => [record.id, record.flaggedSeqs, record.writes.map((write) => write.seq)])).toEqual([['c-1', [2, 3], [1, 2, 3]]]);
  });

  it(`names at most ${MAX_OFFENDING_RECORDS} offending records`, () => {
    // Prepare: 15 records, each written v2 then v1
    const log = Array.from({ length: 15 }, (_, index) => [
      writeLogEntry({ seq: index * 2 + 1, id: `c-${index}`, version: 2 }),
      writeLogEntry({ seq: index * 2 + 2, id: `c-${index}`, version: 1, previousVersion: 2 }),
    ]).flat();

    // Act
    const { noRegression } = checkInvariants(invariantInputOf(log));

    // Assess
    expect(noRegression.offendingRecords).toHaveLength(MAX_OFFENDING_RECORDS);
    expect(noRegression.detail).toMatch(/\(\+12 more\)$/);
  });
});
