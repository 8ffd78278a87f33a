import { CreateEventBusCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countCommands } from '../../lib/local/bench/bench-subjects.ts';
import { awsClientConfig } from '../../lib/local/sim/emulators.ts';
import { CHANGE_DETAIL_TYPE, publishChanges } from '../../lib/publish/index.ts';
import { changeEvent } from '../helpers/factories.ts';
import { startMotoServer, type MotoServer } from '../../lib/local/sim/moto-server.ts';

/**
 * The EventBridge route against moto (a third-party AWS emulator, Python): PutEvents to a custom bus,
 * a rule on `detail.resourceType`, an SQS target. Moto matches event patterns and delivers to SQS
 * targets as EventBridge does (the whole event lands in the queue); it does not refuse entries
 * under load, so partial PutEvents failures are covered by the unit tests.
 */
let moto: MotoServer;
let eventBridge: EventBridgeClient;
let sqs: SQSClient;

beforeAll(async () => {
  moto = await startMotoServer();
  eventBridge = new EventBridgeClient(awsClientConfig(moto.endpoint));
  sqs = new SQSClient(awsClientConfig(moto.endpoint));
});

afterAll(async () => {
  eventBridge?.destroy();
  sqs?.destroy();
  await moto?.stop();
});

/** A bus with one rule, `{"detail":{"resourceType":["contact"]}}`, whose target is a fresh queue. */
const busRoutingContactsToQueue = async (name: string): Promise<{ readonly eventBusName: string; readonly queueUrl: string }> => {
  const eventBusName = `${name}-${Date.now()}`;
  await eventBridge.send(new CreateEventBusCommand({ Name: eventBusName }));
  const { QueueUrl: queueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: eventBusName }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  await eventBridge.send(new PutRuleCommand({ Name: 'contacts', EventBusName: eventBusName, EventPattern: JSON.stringify({ detail: { resourceType: ['contact'] } }) }));
  await eventBridge.send(new PutTargetsCommand({ Rule: 'contacts', EventBusName: eventBusName, Targets: [{ Id: 'queue', Arn: Attributes?.QueueArn }] }));
  return { eventBusName, queueUrl };
};

const drain = async (queueUrl: string): Promise<Message[]> => {
  const messages: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60 }));
    if (Messages.length === 0) return messages;
    messages.push(...Messages);
  }
};

describe('Function: publishChanges (EventBridge on moto)', () => {
  it('puts changes on the bus, where the rule routes the contact ones to its queue and none other', async () => {
    // Prepare
    const { eventBusName, queueUrl } = await busRoutingContactsToQueue('publish-route');
    const contacts = [1, 2, 3].map((version) => changeEvent({ resourceType: 'contact', id: 'müller/客户 🚀', version }));
    const companies = [1, 2].map((version) => changeEvent({ resourceType: 'company', id: 'acme', version }));

    // Act
    const results = await publishChanges([contacts[0], companies[0], contacts[1], companies[1], contacts[2]], { via: 'eventbridge', client: eventBridge, eventBusName, source: 'crm-service' });
    const received = await drain(queueUrl);

    // Assess
    expect(results.map((result) => result.status)).toEqual(['sent', 'sent', 'sent', 'sent', 'sent']);
    expect(results.every((result) => typeof result.id === 'string' && result.id !== '')).toBe(true);
    const events = received.map((message) => JSON.parse(message.Body ?? '') as { source: string; 'detail-type': string; time: string; detail: unknown });
    expect(events.map((event) => event.detail)).toEqual(expect.arrayContaining(contacts));
    expect(events).toHaveLength(3);
    expect(events.every((event) => event.source === 'crm-service' && event['detail-type'] === CHANGE_DETAIL_TYPE)).toBe(true);
  });

  it('refuses a change over 256 KB and an invalid one without sending them', async () => {
    // Prepare
    const { eventBusName, queueUrl } = await busRoutingContactsToQueue('publish-refuse');
    const calls = countCommands(eventBridge);

    // Act
    const results = await publishChanges([changeEvent({ version: 1, payload: { blob: '客'.repeat(90_000) } }), { ...changeEvent({ version: 2 }), version: '2' }, changeEvent({ version: 3 })], {
      via: 'eventbridge',
      client: eventBridge,
      eventBusName,
    });
    calls.detach();
    const received = await drain(queueUrl);

    // Assess
    expect(results.map((result) => result.status)).toEqual(['too-large', 'invalid', 'sent']);
    expect(results[0]?.error).toMatch(/^change 0 \(resourceType "contact", id "c-1", version 1\) is 270\d{3} bytes as a PutEvents entry .*over the limit of 262144 bytes/);
    expect(results[1]?.error).toBe('change 1 (resourceType "contact", id "c-1", version "2") is invalid: version: expected a non-negative integer version, got "2"');
    expect(calls.snapshot().commands.PutEventsCommand).toBe(1);
    expect(received.map((message) => (JSON.parse(message.Body ?? '') as { detail: { version: number } }).detail.version)).toEqual([3]);
  });

  it('publishes 10,000 changes in at most 1,000 PutEvents calls', async () => {
    // Prepare: companies, which the rule does not route, so moto's time goes to PutEvents alone.
    const { eventBusName } = await busRoutingContactsToQueue('publish-10k');
    const changes = Array.from({ length: 10_000 }, (_, index) => changeEvent({ resourceType: 'company', id: `acme-${index % 700}`, version: index + 1 }));
    const calls = countCommands(eventBridge);

    // Act
    const results = await publishChanges(changes, { via: 'eventbridge', client: eventBridge, eventBusName });
    calls.detach();

    // Assess
    expect(results.filter((result) => result.status === 'sent')).toHaveLength(10_000);
    expect(calls.snapshot().commands.PutEventsCommand).toBeLessThanOrEqual(1_000);
    expect(calls.snapshot().total).toBe(1_000);
  });
});
