import { CreateEventBusCommand, EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineConfig, type PipelineConfig } from '../../lib/config/pipeline-config.ts';
import { eventBusName } from '../../lib/config/resources.ts';
import { matchesEventPattern, type EventPattern } from '../../lib/core/event-pattern.ts';
import { EventBridgeLimits } from '../../lib/core/publish-batches.ts';
import { SyncPipelineStack } from '../../lib/infra/index.ts';
import { startLocalEventBus, type LocalEventBus } from '../../lib/local/sim/event-bus.ts';
import { awsClientConfig, connectAws, type AwsClients } from '../../lib/local/sim/emulators.ts';
import { createLocalResources } from '../../lib/local/sim/local-resources.ts';
import { newApp, pipelineTemplates } from '../helpers/infra.ts';
import { startMotoServer, type MotoServer } from '../../lib/local/sim/moto-server.ts';

const defaultConfig = loadPipelineConfig('config/sync-pipeline.json');

/** The routing table: each event's `detail.resourceType` (absent when undefined) and where it must go, written out. */
const ROUTING_CASES: ReadonlyArray<{ readonly label: string; readonly resourceType?: unknown; readonly expected: readonly string[] }> = [
  { label: 'contact', resourceType: 'contact', expected: ['crm', 'erp'] },
  { label: 'company', resourceType: 'company', expected: ['crm'] },
  { label: 'order', resourceType: 'order', expected: ['erp'] },
  { label: 'invoice', resourceType: 'invoice', expected: ['erp'] },
  { label: 'unknown type', resourceType: 'ticket', expected: [] },
  { label: 'missing resourceType', expected: [] },
  { label: 'resourceType as array', resourceType: ['order', 'company'], expected: ['crm', 'erp'] },
  { label: 'resourceType as array, none subscribed', resourceType: ['ticket', 'lead'], expected: [] },
  { label: 'wrong case', resourceType: 'Contact', expected: [] },
  { label: 'upper case', resourceType: 'ORDER', expected: [] },
  { label: 'trailing space', resourceType: 'invoice ', expected: [] },
  { label: 'a number', resourceType: 7, expected: [] },
  { label: 'null', resourceType: null, expected: [] },
  { label: 'an object', resourceType: { type: 'contact' }, expected: [] },
];

const detailOf = (label: string, resourceType: unknown): Record<string, unknown> => ({
  ...(resourceType === undefined ? {} : { resourceType }),
  id: label,
  version: 1,
  occurredAt: '2026-12-01T00:00:00.000Z',
  op: 'upsert',
  payload: {},
});

const entry = (bus: string, detail: unknown): PutEventsRequestEntry => ({ EventBusName: bus, Source: 'sync-pipeline.test', DetailType: 'change', Detail: JSON.stringify(detail) });

/** Receives (and deletes) everything in a queue, each message's body parsed. */
const drainQueue = async (sqs: SQSClient, queueUrl: string): Promise<Array<Record<string, unknown>>> => {
  const bodies: Array<Record<string, unknown>> = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60 }));
    if (Messages.length === 0) return bodies;
    bodies.push(...Messages.map((m) => JSON.parse(m.Body ?? '{}') as Record<string, unknown>));
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
  }
};

/** Per case label, the destinations that received it. */
const receivedBy = async (sqs: SQSClient, queueUrls: Readonly<Record<string, string>>, unwrap: (body: Record<string, unknown>) => Record<string, unknown>) => {
  const got = new Map<string, string[]>();
  for (const [destination, url] of Object.entries(queueUrls)) {
    for (const body of await drainQueue(sqs, url)) {
      const id = String(unwrap(body).id);
      got.set(id, [...(got.get(id) ?? []), destination].sort());
    }
  }
  return got;
};

/** The EventPattern of each destination's routing rule, as the synthesized nested templates hold them. */
const synthesizedPatterns = (config: PipelineConfig): Map<string, EventPattern> => {
  const templates = pipelineTemplates(new SyncPipelineStack(newApp(), 'LocalBusCheck', { config }));
  return new Map(
    config.destinations.map((d) => {
      const rules = Object.values(templates.destination(d.name).findResources('AWS::Events::Rule')).filter((rule) => rule.Properties?.EventPattern !== undefined);
      expect(rules, `routing rules of ${d.name}`).toHaveLength(1);
      return [d.name, rules[0]!.Properties.EventPattern as EventPattern];
    }),
  );
};

let aws: AwsClients;
let patterns: Map<string, EventPattern>;

beforeAll(async () => {
  aws = await connectAws();
  patterns = synthesizedPatterns(defaultConfig);
});

afterAll(async () => {
  await aws.stop();
});

/** A bus on the embedded SQS for a config of its own name (queues are not shared between tests). */
const startBus = async (name: string, input: { archive?: boolean; archiveRetentionDays?: number } = {}, now?: () => number) => {
  const config: PipelineConfig = { ...defaultConfig, name, eventBus: { ...defaultConfig.eventBus, ...input } };
  const resources = await createLocalResources({ config, sqs: aws.sqs, dynamodb: aws.dynamodb });
  const queueUrls = Object.fromEntries(config.destinations.map((d) => [d.name, resources.destinations[d.name]!.queueUrl]));
  const delivered: Array<[string, string]> = [];
  const bus = await startLocalEventBus({ config, sqs: aws.sqs, queueUrls, onDelivered: (destination, id) => delivered.push([destination, id]), ...(now === undefined ? {} : { now }) });
  const events = new EventBridgeClient({ ...awsClientConfig(bus.endpoint), maxAttempts: 1 });
  return { config, bus, events, queueUrls, delivered };
};

const stopBus = async (started: { bus: LocalEventBus; events: EventBridgeClient }) => {
  started.events.destroy();
  await started.bus.stop();
};

describe('Local routing and the synthesized patterns agree (config/sync-pipeline.json)', () => {
  it('reads one routing rule per destination from the synthesized nested stacks, on the bus the config names', () => {
    // Assess: what the stack deploys, written out
    expect(Object.fromEntries(patterns)).toEqual({
      crm: { detail: { resourceType: ['contact', 'company'] } },
      erp: { detail: { resourceType: ['order', 'invoice', 'contact'] } },
    });
  });

  it('delivers each event of the table to exactly the destinations the synthesized patterns select, and to no other', async () => {
    // Prepare
    const started = await startBus('leb-routing');
    try {
      // Act: one PutEvents of each case, as a publisher would send them
      for (const { label, resourceType } of ROUTING_CASES) {
        const answer = await started.events.send(new PutEventsCommand({ Entries: [entry(started.bus.eventBusName, detailOf(label, resourceType))] }));
        expect(answer.FailedEntryCount).toBe(0);
      }
      const got = await receivedBy(aws.sqs, started.queueUrls, (body) => body);

      // Assess
      for (const { label, resourceType, expected } of ROUTING_CASES) {
        const event = { version: '0', source: 'sync-pipeline.test', 'detail-type': 'change', detail: detailOf(label, resourceType) };
        const selected = [...patterns].filter(([, pattern]) => matchesEventPattern(pattern, event)).map(([name]) => name).sort();
        expect(got.get(label) ?? [], label).toEqual(expected);
        expect(selected, `${label}: synthesized patterns`).toEqual(expected);
      }
      // A destination receives only types it subscribes to; the body is the change event (InputPath $.detail).
      expect(started.bus.stats().deliveredByDestination).toEqual({ crm: 3, erp: 4 });
      expect(started.delivered).toHaveLength(7);
      expect(new Set(started.delivered.map(([, id]) => id)).size).toBe(7);
    } finally {
      await stopBus(started);
    }
  });
});

describe('Function: startLocalEventBus', () => {
  it('refuses a request of more than 10 entries whole, as PutEvents does', async () => {
    // Prepare
    const started = await startBus('leb-eleven');
    try {
      const entries = Array.from({ length: EventBridgeLimits.MAX_BATCH_ENTRIES + 1 }, (_, i) => entry(started.bus.eventBusName, detailOf(`e${i}`, 'contact')));

      // Act
      const refused = await started.events.send(new PutEventsCommand({ Entries: entries })).then(() => undefined, (error: Error) => error);

      // Assess
      expect(refused?.name).toBe('ValidationException');
      expect(refused?.message).toContain('Member must have length less than or equal to 10');
      expect(started.bus.stats()).toEqual({ putEventsCalls: 1, entries: 0, failedEntries: 0, deliveredByDestination: { crm: 0, erp: 0 } });
    } finally {
      await stopBus(started);
    }
  });

  it('counts the size by the entry-size rule (UTF-8 bytes): a request at 256 KB passes, one byte more is refused whole', async () => {
    // Prepare: Source 17 bytes + DetailType 6 bytes + Detail; "é" is 2 bytes in UTF-8
    const started = await startBus('leb-size');
    try {
      const fixed = 'sync-pipeline.test'.length + 'change'.length;
      const detailOfBytes = (bytes: number, char: 'a' | 'é') => {
        const frame = JSON.stringify({ ...detailOf('big', 'order'), pad: '' }).length;
        const room = bytes - frame;
        return JSON.stringify({ ...detailOf('big', 'order'), pad: char === 'a' ? 'a'.repeat(room) : 'é'.repeat(room / 2) });
      };
      const atLimit = { ...entry(started.bus.eventBusName, {}), Detail: detailOfBytes(EventBridgeLimits.MAX_REQUEST_BYTES - fixed, 'a') };
      // Under the limit in UTF-16 code units, over it in UTF-8 bytes.
      const overInBytes = { ...entry(started.bus.eventBusName, {}), Detail: detailOfBytes(EventBridgeLimits.MAX_REQUEST_BYTES - fixed + 2, 'é') };
      expect(overInBytes.Detail.length).toBeLessThan(EventBridgeLimits.MAX_REQUEST_BYTES - fixed);

      // Act
      const accepted = await started.events.send(new PutEventsCommand({ Entries: [atLimit] }));
      const refused = await started.events.send(new PutEventsCommand({ Entries: [overInBytes] })).then(() => undefined, (error: Error) => error);
      const withTime = await started.events.send(new PutEventsCommand({ Entries: [{ ...atLimit, Time: new Date() }] })).then(() => undefined, (error: Error) => error);

      // Assess
      expect(accepted.FailedEntryCount).toBe(0);
      expect(refused?.name).toBe('ValidationException');
      expect(refused?.message).toBe('Total size of the entries in the request is over the limit.');
      // Time counts 14 bytes.
      expect(withTime?.name).toBe('ValidationException');
      expect(started.bus.stats().deliveredByDestination).toEqual({ crm: 0, erp: 1 });
    } finally {
      await stopBus(started);
    }
  });

  it('fails the bad entries of a request with the codes and messages EventBridge uses, delivering the others', async () => {
    // Prepare
    const started = await startBus('leb-failed');
    try {
      const good = (id: string) => entry(started.bus.eventBusName, detailOf(id, 'company'));
      const entries: PutEventsRequestEntry[] = [
        good('first'),
        { ...good('x'), Source: undefined },
        { ...good('x'), DetailType: '' },
        { ...good('x'), Detail: undefined },
        { ...good('x'), Detail: '{"resourceType":"company",' },
        { ...good('x'), Detail: '[{"resourceType":"company"}]' },
        { ...good('x'), Detail: '"company"' },
        good('last'),
      ];

      // Act
      const answer = await started.events.send(new PutEventsCommand({ Entries: entries }));

      // Assess
      expect(answer.FailedEntryCount).toBe(6);
      expect(answer.Entries?.map((e) => e.ErrorCode ?? 'ok')).toEqual(['ok', 'InvalidArgument', 'InvalidArgument', 'InvalidArgument', 'MalformedDetail', 'MalformedDetail', 'MalformedDetail', 'ok']);
      expect(answer.Entries?.[1]?.ErrorMessage).toBe('Parameter Source is not valid. Reason: Source is a required argument.');
      expect(answer.Entries?.[2]?.ErrorMessage).toBe('Parameter DetailType is not valid. Reason: DetailType is a required argument.');
      expect(answer.Entries?.[3]?.ErrorMessage).toBe('Parameter Detail is not valid. Reason: Detail is a required argument.');
      expect(answer.Entries?.[4]?.ErrorMessage).toBe('Detail is malformed.');
      expect(answer.Entries?.[0]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
      const got = await receivedBy(aws.sqs, started.queueUrls, (body) => body);
      expect(Object.fromEntries(got)).toEqual({ first: ['crm'], last: ['crm'] });
      expect(started.bus.stats()).toMatchObject({ putEventsCalls: 1, entries: 8, failedEntries: 6 });
    } finally {
      await stopBus(started);
    }
  });

  it('answers ResourceNotFoundException for a bus it does not have, accepts its own ARN, and routes nothing sent to the default bus', async () => {
    // Prepare
    const started = await startBus('leb-unknown');
    try {
      const named = (bus: string) => ({ ...entry(bus, detailOf('u', 'contact')) });

      // Act
      const unknown = await started.events.send(new PutEventsCommand({ Entries: [named('sync-pipeline-changes-typo')] })).then(() => undefined, (error: Error) => error);
      const own = await started.events.send(new PutEventsCommand({ Entries: [named(`arn:aws:events:us-east-1:000000000000:event-bus/${eventBusName(started.config)}`)] }));

      // An entry without EventBusName goes to the account's default bus, as in AWS: accepted, and no rule of the pipeline sees it.
      const toDefault = await started.events.send(new PutEventsCommand({ Entries: [{ ...named('x'), EventBusName: undefined }] }));

      // Assess
      expect(toDefault.FailedEntryCount).toBe(0);
      expect(unknown?.name).toBe('ResourceNotFoundException');
      expect(unknown?.message).toBe('Event bus sync-pipeline-changes-typo does not exist.');
      expect(own.FailedEntryCount).toBe(0);
      expect(started.bus.stats().deliveredByDestination).toEqual({ crm: 1, erp: 1 });
    } finally {
      await stopBus(started);
    }
  });

  it('archives every accepted event and replays those in the window through the rules again; expired ones are dropped', async () => {
    // Prepare: a clock the test moves; events on day 0 and day 2 of a 3-day retention
    let clock = Date.parse('2026-12-01T00:00:00Z');
    const started = await startBus('leb-archive', { archive: true, archiveRetentionDays: 3 }, () => clock);
    try {
      const put = (id: string, type: string) => started.events.send(new PutEventsCommand({ Entries: [entry(started.bus.eventBusName, detailOf(id, type))] }));
      await put('day0-contact', 'contact');
      await put('day0-ticket', 'ticket');
      clock += 2 * 86_400_000;
      await put('day2-order', 'order');
      await receivedBy(aws.sqs, started.queueUrls, (body) => body);

      // Act
      const fromDay1 = await started.bus.replay({ from: new Date(clock - 86_400_000) });
      const replayedDay2 = await receivedBy(aws.sqs, started.queueUrls, (body) => body);
      const all = await started.bus.replay();
      const replayedAll = await receivedBy(aws.sqs, started.queueUrls, (body) => body);
      clock += 2 * 86_400_000;
      const afterRetention = await started.bus.replay();

      // Assess: an unrouted event is archived (and replayed) too, and still reaches no destination
      expect(fromDay1).toBe(1);
      expect(Object.fromEntries(replayedDay2)).toEqual({ 'day2-order': ['erp'] });
      expect(all).toBe(3);
      expect(Object.fromEntries(replayedAll)).toEqual({ 'day0-contact': ['crm', 'erp'], 'day2-order': ['erp'] });
      // Day 0 is past the 3-day retention on day 4; day 2 is kept.
      expect(afterRetention).toBe(1);
      expect(started.delivered).toHaveLength(3 + 1 + 3 + 1);
    } finally {
      await stopBus(started);
    }
  });

  it('duplicates and reorders deliveries when asked, as the service may (at least once, no order promised)', async () => {
    // Prepare
    const config: PipelineConfig = { ...defaultConfig, name: 'leb-unordered' };
    const resources = await createLocalResources({ config, sqs: aws.sqs, dynamodb: aws.dynamodb });
    const queueUrls = Object.fromEntries(config.destinations.map((d) => [d.name, resources.destinations[d.name]!.queueUrl]));
    const bus = await startLocalEventBus({ config, sqs: aws.sqs, queueUrls, delivery: { duplicateRate: 0.5, reorder: true, seed: 3 } });
    const events = new EventBridgeClient({ ...awsClientConfig(bus.endpoint), maxAttempts: 1 });
    try {
      const ids = Array.from({ length: 10 }, (_, i) => `o${i}`);

      // Act
      await events.send(new PutEventsCommand({ Entries: ids.map((id) => entry(bus.eventBusName, detailOf(id, 'order'))) }));
      const bodies = await drainQueue(aws.sqs, queueUrls.erp!);

      // Assess: every change at least once, some twice, not in the order sent
      const received = bodies.map((body) => String(body.id));
      expect(new Set(received)).toEqual(new Set(ids));
      expect(received.length).toBeGreaterThan(ids.length);
      expect(bus.stats().deliveredByDestination.erp).toBe(received.length);
      expect([...new Set(received)]).not.toEqual(ids);
    } finally {
      events.destroy();
      await bus.stop();
    }
  });

  it('refuses a duplicateRate outside 0 to 1', async () => {
    await expect(startLocalEventBus({ config: defaultConfig, sqs: aws.sqs, queueUrls: {}, delivery: { duplicateRate: 2 } })).rejects.toThrow('Expected `delivery.duplicateRate` to be a number from 0 to 1, got 2');
  });

  it('refuses to replay without an archive, naming the setting', async () => {
    // Prepare
    const started = await startBus('leb-no-archive', { archive: false });
    try {
      // Act & Assess
      await expect(started.bus.replay()).rejects.toThrow('set eventBus.archive to true in the config to replay');
    } finally {
      await stopBus(started);
    }
  });

  it('takes 10,000 changes in at most 1,000 PutEvents calls and delivers each to every subscribed destination once', { timeout: 120_000 }, async () => {
    // Prepare: the four resource types in turn, contact going to both destinations
    const started = await startBus('leb-bulk');
    try {
      const types = ['contact', 'company', 'order', 'invoice'];
      const changes = Array.from({ length: 10_000 }, (_, i) => detailOf(`bulk-${i}`, types[i % types.length]));

      // Act: raw PutEvents batches of 10
      for (let i = 0; i < changes.length; i += EventBridgeLimits.MAX_BATCH_ENTRIES) {
        const answer = await started.events.send(new PutEventsCommand({ Entries: changes.slice(i, i + EventBridgeLimits.MAX_BATCH_ENTRIES).map((c) => entry(started.bus.eventBusName, c)) }));
        expect(answer.FailedEntryCount).toBe(0);
      }

      // Assess
      const stats = started.bus.stats();
      console.log(`10,000 changes through the local bus: ${stats.putEventsCalls} PutEvents calls, delivered ${JSON.stringify(stats.deliveredByDestination)}`);
      expect(stats.putEventsCalls).toBeLessThanOrEqual(1_000);
      expect(stats).toEqual({ putEventsCalls: 1_000, entries: 10_000, failedEntries: 0, deliveredByDestination: { crm: 5_000, erp: 7_500 } });
      expect(new Set(started.delivered.map(([, id]) => id)).size).toBe(12_500);
      const { Attributes } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: started.queueUrls.erp, AttributeNames: ['ApproximateNumberOfMessages'] }));
      expect(Number(Attributes?.ApproximateNumberOfMessages)).toBeGreaterThan(0);
    } finally {
      await stopBus(started);
    }
  });
});

/**
 * The same table on moto's EventBridge (another implementation of the service's matching), with the
 * rules made from the synthesized templates' patterns. moto 5.2.1's TestEventPattern API is a stub
 * (it answers nothing), so the check goes through real rules and SQS targets; moto also ignores
 * the target's InputPath, so its queues hold whole events and the test reads their `detail`.
 */
describe('The table on moto (rules from the synthesized patterns, SQS targets)', () => {
  let moto: MotoServer;
  let sqs: SQSClient;
  let events: EventBridgeClient;

  beforeAll(async () => {
    moto = await startMotoServer();
    sqs = new SQSClient(awsClientConfig(moto.endpoint));
    events = new EventBridgeClient(awsClientConfig(moto.endpoint));
  }, 30_000);

  afterAll(async () => {
    sqs?.destroy();
    events?.destroy();
    await moto?.stop();
  });

  it('delivers each event to the same destinations as the local bus (written out in the table)', async () => {
    // Prepare
    const bus = eventBusName(defaultConfig);
    await events.send(new CreateEventBusCommand({ Name: bus }));
    const queueUrls: Record<string, string> = {};
    for (const [destination, pattern] of patterns) {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `moto-${destination}` }));
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      await events.send(new PutRuleCommand({ Name: `${destination}-routing`, EventBusName: bus, EventPattern: JSON.stringify(pattern) }));
      await events.send(new PutTargetsCommand({ Rule: `${destination}-routing`, EventBusName: bus, Targets: [{ Id: 'queue', Arn: Attributes!.QueueArn!, InputPath: '$.detail' }] }));
      queueUrls[destination] = QueueUrl!;
    }

    // Act
    for (const { label, resourceType } of ROUTING_CASES) {
      const answer = await events.send(new PutEventsCommand({ Entries: [entry(bus, detailOf(label, resourceType))] }));
      expect(answer.FailedEntryCount).toBe(0);
    }
    const got = await receivedBy(sqs, queueUrls, (body) => (typeof body.detail === 'object' && body.detail !== null ? (body.detail as Record<string, unknown>) : body));

    // Assess
    for (const { label, expected } of ROUTING_CASES) expect(got.get(label) ?? [], label).toEqual(expected);
  });
});
