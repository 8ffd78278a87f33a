import { createHash } from 'node:crypto';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { readDeadLetter, receiveAll, type ReadDeadLetter } from '../../lib/ops/dead-letters.ts';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeOp, serializeChangeEvent, type ChangeEvent } from '../../lib/contract/change-event.ts';
import { findDuplicateEffects } from '../../lib/local/lab/oracles.ts';
import { createRandom } from '../../lib/core/random.ts';
import { EmfStore } from '../../lib/local/sim/emf.ts';
import { MetricName } from '../../lib/core/metrics.ts';
import { DEAD_LETTER_REASON_ATTRIBUTE, MAX_MESSAGE_BYTES } from '../../lib/core/dead-letter.ts';
import { startEmulatedConsumer, type EmulatedConsumer } from '../helpers/emulated-consumer.ts';
import { lambdaContext, sqsEvent, sqsRecord } from '../helpers/factories.ts';
import { edgeCaseChanges, hostileMessages, type EdgeCaseChange, type HostileMessage } from '../helpers/hostile-messages.ts';

const NAMESPACE = 'BadInputTest';
const BATCH_SIZE = 10;
const SEED = 20261127;
const ORDINARY_CHANGES = 60;

const sha256 = (body: string): string => createHash('sha256').update(Buffer.from(body, 'utf8')).digest('hex');

/**
 * The DLQ holds the body byte for byte, or (the one exception) a prefix of it, marked truncated, when
 * body and facts would not fit one SQS message.
 */
const bodyProblems = (letter: ReadDeadLetter, message: Message, body: string): string[] => {
  const bytes = Buffer.byteLength(message.Body ?? '', 'utf8');
  if (bytes > MAX_MESSAGE_BYTES) return [`dead letter of ${bytes} bytes`];
  if (!letter.truncated) return letter.originalBody === body ? [] : ['body not the original'];
  return body.startsWith(letter.originalBody) && letter.originalBody.length < body.length ? [] : ['truncated body'];
};

/** Plain changes with seeded payloads, some with `constructor` and `prototype` fields. */
const ordinaryChanges = (now: number, count: number): EdgeCaseChange[] => {
  const random = createRandom(SEED);
  return Array.from({ length: count }, (_, index) => {
    const payload: Record<string, unknown> = {
      name: random.pick(['Ada Lovelace', 'Łukasz Żółkiewski', '李雷', 'Søren Kierkegård', 'Mårten Berg 🚀']),
      amount: Math.round(random.next() * 100_000) / 100,
      tags: Array.from({ length: random.int(4) }, (__, tag) => `tag-${tag}`),
    };
    if (index % 5 === 0) payload['constructor'] = { prototype: { polluted: 'yes' } };
    if (index % 7 === 0) payload['prototype'] = 'a plain field';
    const event = {
      resourceType: 'contact',
      id: `ok-${String(index).padStart(3, '0')}`,
      version: 1 + random.int(50),
      occurredAt: new Date(now - random.int(600_000)).toISOString(),
      op: ChangeOp.UPSERT,
      payload,
    } as ChangeEvent;
    return { label: `ordinary change ${index}`, event, body: serializeChangeEvent(event) };
  });
};

const drainQueue = (sqs: SQSClient, queueUrl: string): Promise<Message[]> => receiveAll(sqs, queueUrl, { visibilityTimeoutSeconds: 600 });

describe('Bad input against embedded SQS, DynamoDB and the fake API', () => {
  let consumer: EmulatedConsumer;
  const emf = new EmfStore();
  const logLines: string[] = [];

  /** Invokes the real handler; its Powertools output goes to the EMF store and the log lines. */
  const invoke = (records: SQSRecord[]): Promise<SQSBatchResponse> => consumer.handler(sqsEvent(records), lambdaContext());

  beforeAll(async () => {
    // Every valid edge case is routed, the unusual resource types too (routing has its own test).
    const resourceTypes = [...new Set(edgeCaseChanges({ now: Date.now() }).map((change) => change.event.resourceType))];
    consumer = await startEmulatedConsumer({
      metricsNamespace: NAMESPACE,
      resourceTypes,
      onOutput: (line) => {
        if (!emf.ingestLine(line)) logLines.push(line);
      },
    });
  });

  afterAll(async () => {
    await consumer.stop();
  });

  it('dead-letters every hostile message at once with its reason, applies every valid neighbour exactly, and never throws', async () => {
    // Prepare: >= 200 hostile bodies and >= 100 valid changes, shuffled into batches of 10
    const startedAt = Date.now();
    const prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
    const arrayPrototypeNames = Object.getOwnPropertyNames(Array.prototype).sort();
    const hostile = hostileMessages({ now: startedAt });
    const valid = [...edgeCaseChanges({ now: startedAt }), ...ordinaryChanges(startedAt, ORDINARY_CHANGES)];
    // A delete is only visible at the destination if the record existed: upsert version 1 first.
    const seeds = valid
      .filter((change) => change.event.op === ChangeOp.DELETE)
      .map((change) => serializeChangeEvent({ ...change.event, op: ChangeOp.UPSERT, version: change.event.version - 1, payload: { seeded: true } }));
    const seedResponse = await invoke(seeds.map((body) => sqsRecord(body)));

    const hostileById = new Map<string, HostileMessage>();
    const validById = new Map<string, EdgeCaseChange>();
    const records = [
      ...hostile.map((message) => {
        const record = sqsRecord(message.body);
        hostileById.set(record.messageId, message);
        return record;
      }),
      ...valid.map((change) => {
        const record = sqsRecord(change.body);
        validById.set(record.messageId, change);
        return record;
      }),
    ];
    createRandom(SEED).shuffle(records);

    // Act
    const failures: string[] = [];
    const thrown: unknown[] = [];
    for (let start = 0; start < records.length; start += BATCH_SIZE) {
      try {
        const response = await invoke(records.slice(start, start + BATCH_SIZE));
        failures.push(...response.batchItemFailures.map((failure) => failure.itemIdentifier));
      } catch (error) {
        thrown.push(error);
      }
    }
    const deadLetters = await drainQueue(consumer.sqs, consumer.deadLetterQueueUrl);
    const elapsedMs = Date.now() - startedAt;

    // Assess: the handler never threw and never asked for a retry
    expect(seedResponse.batchItemFailures).toEqual([]);
    expect(thrown).toEqual([]);
    expect(failures.map((id) => hostileById.get(id)?.label ?? validById.get(id)?.label)).toEqual([]);
    expect(hostile.length).toBeGreaterThanOrEqual(200);
    expect(valid.length).toBeGreaterThanOrEqual(100);

    // Assess: exactly one dead letter per hostile message, none for a valid one, each with its reason
    const letters = deadLetters.map((message) => ({
      message,
      letter: readDeadLetter(message, 'crm'),
      reasonAttribute: message.MessageAttributes?.[DEAD_LETTER_REASON_ATTRIBUTE]?.StringValue,
    }));
    const lettersById = Map.groupBy(letters, ({ letter }) => letter.messageId ?? '');
    expect([...lettersById.keys()].filter((id) => !hostileById.has(id))).toEqual([]);
    expect([...hostileById.keys()].filter((id) => lettersById.get(id)?.length !== 1).map((id) => hostileById.get(id)?.label)).toEqual([]);
    const wrong = [...hostileById].flatMap(([messageId, hostileMessage]) => {
      const { letter, message, reasonAttribute } = lettersById.get(messageId)![0]!;
      const expected = { reason: hostileMessage.reason, destination: 'crm', messageId, attempts: 1 };
      const detail = letter.message ?? '';
      const problems = [
        ...Object.entries(expected).flatMap(([field, value]) => (letter[field as keyof ReadDeadLetter] === value ? [] : [field])),
        ...bodyProblems(letter, message, hostileMessage.body),
        ...(reasonAttribute === hostileMessage.reason ? [] : [`reason attribute ${String(reasonAttribute)}`]),
        ...(detail.startsWith(`${hostileMessage.field}: `) || detail.includes(`; ${hostileMessage.field}: `) ? [] : [`message ${detail.slice(0, 120)}`]),
        ...(Date.parse(letter.firstAttemptAt ?? '') <= Date.parse(letter.lastAttemptAt ?? '') && Date.parse(letter.lastAttemptAt ?? '') >= startedAt ? [] : ['attempt times']),
      ];
      return problems.length === 0 ? [] : [`${hostileMessage.category} / ${hostileMessage.label}: ${problems.join(', ')}`];
    });
    expect(wrong).toEqual([]);

    // Assess: every valid change is at the destination exactly as published, once
    const notApplied = valid.flatMap(({ label, event }) => {
      const held = consumer.fakeApi.record('crm', event.resourceType, event.id);
      const expected =
        event.op === ChangeOp.DELETE ? { version: event.version, deleted: true, payload: null } : { version: event.version, deleted: false, payload: event.payload };
      return held !== undefined && held.version === expected.version && held.deleted === expected.deleted && JSON.stringify(held.payload) === JSON.stringify(expected.payload)
        ? []
        : [label];
    });
    expect(notApplied).toEqual([]);
    // Deeply, own `constructor` keys included (toStrictEqual would compare them as constructors).
    for (const { event } of valid.filter((change) => change.event.op === ChangeOp.UPSERT)) {
      expect(consumer.fakeApi.record('crm', event.resourceType, event.id)?.payload).toEqual(event.payload);
    }
    const log = consumer.fakeApi.writeLog();
    expect(log).toHaveLength(seeds.length + valid.length);
    expect(findDuplicateEffects(log)).toEqual([]);
    expect(consumer.fakeApi.stats().rejected).toBe(0);

    // Assess: the metrics count the same
    const reasons = Map.groupBy(hostile, (message) => message.reason);
    expect(emf.dimensionValues(NAMESPACE, MetricName.RECORDS_DEAD_LETTERED, 'Reason')).toEqual(
      new Map([...reasons].map(([reason, messages]) => [reason, messages.length])),
    );
    expect(emf.sum(NAMESPACE, MetricName.RECORDS_APPLIED, { Destination: 'crm' })).toBe(seeds.length + valid.length);
    expect(emf.sum(NAMESPACE, MetricName.RECORDS_RETRIED, { Destination: 'crm' })).toBe(0);
    const logged = logLines.map((line) => JSON.parse(line) as { message?: string; messageId?: string; reason?: string });
    const deadLetterLogs = logged.filter((line) => line.message === 'record dead-lettered');
    expect(deadLetterLogs.map((line) => [line.messageId, line.reason]).sort()).toEqual(
      [...hostileById].map(([messageId, message]) => [messageId, message.reason]).sort(),
    );

    // Assess: nothing reached a prototype
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
    expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(arrayPrototypeNames);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);

    process.stderr.write(
      `bad input: ${hostile.length} hostile and ${valid.length} valid messages in ${Math.ceil(records.length / BATCH_SIZE)} batches, ` +
        `${deadLetters.length} dead letters, ${log.length - seeds.length} applied, ${elapsedMs} ms\n`,
    );
  });
});
