import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { connectAws, type AwsClients } from '../../lib/local/sim/emulators.ts';
import { receiveAll } from '../../lib/ops/dead-letters.ts';
import { sendBodies as publishBodies } from '../../lib/publish/publisher.ts';
import {
  createConcurrentCopies,
  createExecutionEnvironments,
  type EventSourcePoller,
  type EventSourcePollerOptions,
  type InvocationSummary,
  type SqsBatchHandler,
  startEventSourcePoller,
} from '../../lib/local/sim/event-source-poller.ts';
import { createLocalResources, type LocalDestinationQueues } from '../../lib/local/sim/local-resources.ts';

/** Short enough that a failed message is back within a second; every redelivery below waits for it. */
const VISIBILITY_TIMEOUT_SECONDS = 1;

let aws: AwsClients;
let sqs: SQSClient;
let dynamodb: DynamoDBClient;
let queueCount = 0;
const running: EventSourcePoller[] = [];

/** Resolves once `condition` holds; fails naming `what` after `timeoutMs`. */
const waitFor = async (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 6_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
};

/** A fresh source queue and DLQ per test, created as the local runtime creates them. */
const createQueues = async (maxReceiveCount = 5): Promise<LocalDestinationQueues> => {
  queueCount += 1;
  const config = parsePipelineConfig({
    name: `poller-${queueCount}`,
    destinations: [
      { name: 'dest', kind: 'http', baseUrl: 'https://dest.example.com', resourceTypes: ['contact'], retry: { maxReceiveCount } },
    ],
  });
  const resources = await createLocalResources({ config, sqs, dynamodb, visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS });
  const queues = resources.destinations['dest'];
  if (queues === undefined) throw new Error('createLocalResources returned no queues for "dest"');
  return queues;
};

/** Sends through the publisher's batch send, which throws when SQS refuses any entry. */
const sendBodies = async (queueUrl: string, bodies: readonly string[]): Promise<void> => {
  await publishBodies(sqs, queueUrl, bodies);
};

/**
 * Starts a poller that afterEach stops even when the test fails. Short polling by default: stop()
 * lets a long poll finish, which would add up to a second to every test (the stop test long-polls).
 */
const startPoller = (queues: LocalDestinationQueues, options: Partial<EventSourcePollerOptions> & Pick<EventSourcePollerOptions, 'handler'>): EventSourcePoller => {
  const poller = startEventSourcePoller({
    sqs,
    queueUrl: queues.queueUrl,
    queueArn: queues.queueArn,
    functionName: 'sync-pipeline-dest',
    batchSize: 10,
    visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
    waitTimeSeconds: 0,
    ...options,
  });
  running.push(poller);
  return poller;
};

beforeAll(async () => {
  aws = await connectAws();
  ({ sqs, dynamodb } = aws);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((poller) => poller.stop()));
});

afterAll(async () => {
  await aws.stop();
});

describe('Function: startEventSourcePoller', { timeout: 15_000 }, () => {
  it('builds records and a context in the shape Lambda delivers', async () => {
    // Prepare
    const queues = await createQueues();
    const seen: Array<{ record: SQSRecord; context: Context; remainingMs: number }> = [];
    startPoller(queues, {
      functionTimeoutMs: 5_000,
      handler: async (event, context) => {
        for (const record of event.Records) seen.push({ record, context, remainingMs: context.getRemainingTimeInMillis() });
      },
    });

    // Act
    const body = JSON.stringify({ id: 'c-1', version: 3 });
    const { MessageId } = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queues.queueUrl,
        MessageBody: body,
        MessageAttributes: {
          source: { DataType: 'String', StringValue: 'crm' },
          blob: { DataType: 'Binary', BinaryValue: Buffer.from('bytes') },
        },
      }),
    );
    await waitFor('the message to be handled', () => seen.length === 1);

    // Assess
    const [{ record, context, remainingMs }] = seen as [(typeof seen)[number]];
    expect(record).toMatchObject({
      messageId: MessageId,
      body,
      md5OfBody: createHash('md5').update(body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: queues.queueArn,
      awsRegion: 'us-east-1',
      attributes: { ApproximateReceiveCount: '1', SenderId: expect.any(String) },
      messageAttributes: {
        source: { stringValue: 'crm', stringListValues: [], binaryListValues: [], dataType: 'String' },
        blob: { binaryValue: Buffer.from('bytes').toString('base64'), stringListValues: [], binaryListValues: [], dataType: 'Binary' },
      },
    });
    expect(record.receiptHandle).not.toBe('');
    expect(Number(record.attributes.SentTimestamp)).toBeGreaterThan(0);
    expect(Number(record.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(Number(record.attributes.SentTimestamp));
    expect(context).toMatchObject({
      functionName: 'sync-pipeline-dest',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sync-pipeline-dest',
      memoryLimitInMB: '1024',
      awsRequestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(remainingMs).toBeGreaterThan(4_000);
    expect(remainingMs).toBeLessThanOrEqual(5_000);
  });

  it('deletes the messages not reported as failed and redelivers the reported ones', async () => {
    // Prepare: the odd messages fail on their first delivery only
    const queues = await createQueues();
    const bodies = ['m-0', 'm-1', 'm-2', 'm-3', 'm-4', 'm-5'];
    const deliveries: Array<{ body: string; receiveCount: string }> = [];
    const poller = startPoller(queues, {
      handler: async (event): Promise<SQSBatchResponse> => {
        for (const record of event.Records) deliveries.push({ body: record.body, receiveCount: record.attributes.ApproximateReceiveCount });
        const failed = event.Records.filter((record) => Number(record.body.slice(2)) % 2 === 1 && record.attributes.ApproximateReceiveCount === '1');
        return { batchItemFailures: failed.map((record) => ({ itemIdentifier: record.messageId })) };
      },
    });

    // Act
    await sendBodies(queues.queueUrl, bodies);
    await waitFor('every message to be deleted', () => poller.stats().deleted === bodies.length);
    // A message that was not deleted would be back after the visibility timeout: give it the time.
    await sleep(VISIBILITY_TIMEOUT_SECONDS * 1000 + 500);

    // Assess
    const timesSeen = (body: string): number => deliveries.filter((delivery) => delivery.body === body).length;
    expect(bodies.map(timesSeen)).toEqual([1, 2, 1, 2, 1, 2]);
    expect(deliveries.filter((delivery) => delivery.receiveCount === '2').map((delivery) => delivery.body).sort()).toEqual(['m-1', 'm-3', 'm-5']);
    expect(poller.stats()).toMatchObject({ received: 9, deleted: 6, failedItems: 3, handlerErrors: 0, pollerErrors: 0 });
  });

  it('redelivers the whole batch while the handler throws, with ApproximateReceiveCount increasing', async () => {
    // Prepare
    const queues = await createQueues();
    const receiveCounts: string[] = [];
    const poller = startPoller(queues, {
      handler: async (event) => {
        const count = event.Records[0]?.attributes.ApproximateReceiveCount ?? '';
        receiveCounts.push(count);
        if (count !== '3') throw new Error('destination unavailable');
      },
    });

    // Act
    await sendBodies(queues.queueUrl, ['only']);
    await waitFor('the third delivery to succeed', () => poller.stats().deleted === 1);

    // Assess
    expect(receiveCounts).toEqual(['1', '2', '3']);
    expect(poller.stats()).toMatchObject({ invocations: 3, handlerErrors: 2, deleted: 1 });
  });

  it('leaves a message to the redrive policy, which moves it to the DLQ after maxReceiveCount deliveries', async () => {
    // Prepare
    const maxReceiveCount = 2;
    const queues = await createQueues(maxReceiveCount);
    const receiveCounts: string[] = [];
    startPoller(queues, {
      handler: async (event) => {
        receiveCounts.push(...event.Records.map((record) => record.attributes.ApproximateReceiveCount));
        throw new Error('always failing');
      },
    });

    // Act
    await sendBodies(queues.queueUrl, ['poison']);
    const deadLettered: string[] = [];
    await waitFor(
      'the message to reach the DLQ',
      async () => {
        const Messages = await receiveAll(sqs, queues.deadLetterQueueUrl);
        deadLettered.push(...Messages.map((message) => message.Body ?? ''));
        return deadLettered.length > 0;
      },
      8_000,
    );

    // Assess
    expect(deadLettered).toEqual(['poison']);
    expect(receiveCounts).toEqual(['1', '2']);
  });

  it('delivers each message to one invocation at a time across several pollers', async () => {
    // Prepare
    const queues = await createQueues();
    const sent = Array.from({ length: 60 }, (_, index) => `m-${index}`);
    const inFlight = new Set<string>();
    const handled: string[] = [];
    const overlaps: string[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const poller = startPoller(queues, {
      pollers: 4,
      batchSize: 5,
      handler: async (event) => {
        concurrent += 1;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        for (const record of event.Records) {
          if (inFlight.has(record.messageId)) overlaps.push(record.body);
          inFlight.add(record.messageId);
        }
        await sleep(15);
        for (const record of event.Records) {
          inFlight.delete(record.messageId);
          handled.push(record.body);
        }
        concurrent -= 1;
      },
    });

    // Act
    await sendBodies(queues.queueUrl, sent);
    await waitFor('every message to be deleted', () => poller.stats().deleted === sent.length);

    // Assess
    expect(overlaps).toEqual([]);
    expect(handled).toHaveLength(sent.length);
    expect(new Set(handled)).toEqual(new Set(sent));
    expect(maxConcurrent).toBeGreaterThan(1);
    expect(maxConcurrent).toBeLessThanOrEqual(4);
    expect(poller.stats()).toMatchObject({ received: sent.length, handlerErrors: 0, failedItems: 0 });
  });

  it('deletes nothing and redelivers when the invocation crashes before its deletes', async () => {
    // Prepare
    const queues = await createQueues();
    const receiveCounts: string[] = [];
    let crashes = 0;
    const poller = startPoller(queues, {
      handler: async (event) => {
        receiveCounts.push(...event.Records.map((record) => record.attributes.ApproximateReceiveCount));
      },
      beforeDelete: () => {
        if (crashes > 0) return 'proceed';
        crashes += 1;
        return 'crash';
      },
    });

    // Act
    await sendBodies(queues.queueUrl, ['work-done-twice']);
    await waitFor('the redelivered message to be deleted', () => poller.stats().deleted === 1);

    // Assess
    expect(receiveCounts).toEqual(['1', '2']);
    expect(poller.stats()).toMatchObject({ invocations: 2, deleted: 1, handlerErrors: 0 });
  });

  it.each([
    {
      outcome: 'invalid-response',
      handler: async (): Promise<SQSBatchResponse> => ({ batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] }),
    },
    {
      outcome: 'timeout',
      handler: async (event: SQSEvent): Promise<void> => {
        if (event.Records[0]?.attributes.ApproximateReceiveCount === '1') await sleep(400);
      },
    },
  ])('deletes nothing when an invocation ends with $outcome', async ({ outcome, handler }) => {
    // Prepare
    const queues = await createQueues();
    const summaries: InvocationSummary[] = [];
    const poller = startPoller(queues, {
      functionTimeoutMs: 200,
      handler: async (event) => {
        // Only the first delivery misbehaves; the redelivery succeeds.
        if (event.Records[0]?.attributes.ApproximateReceiveCount === '1') return handler(event);
        return undefined;
      },
      onInvocation: (summary) => summaries.push(summary),
    });

    // Act
    await sendBodies(queues.queueUrl, ['once-failed']);
    await waitFor('the redelivered message to be deleted', () => poller.stats().deleted === 1);

    // Assess
    expect(summaries.map((summary) => [summary.outcome, summary.deleted])).toEqual([
      [outcome, 0],
      ['success', 1],
    ]);
    expect(summaries[0]?.error).toBeInstanceOf(Error);
    expect(poller.stats()).toMatchObject({ invocations: 2, handlerErrors: 1, deleted: 1 });
  });

  it('deletes an in-flight batch before stop() resolves, and receives nothing after', async () => {
    // Prepare: a handler that holds its invocation open until released
    const queues = await createQueues();
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let invocations = 0;
    const poller = startPoller(queues, {
      waitTimeSeconds: 1,
      handler: async () => {
        invocations += 1;
        await released;
      },
    });
    await sendBodies(queues.queueUrl, ['in-flight']);
    await waitFor('the invocation to start', () => invocations === 1);

    // Act
    let stopResolved = false;
    const stopping = poller.stop().then(() => {
      stopResolved = true;
    });
    await sleep(100);
    const resolvedBeforeRelease = stopResolved;
    release();
    const stopStarted = Date.now();
    await stopping;
    const stopMs = Date.now() - stopStarted;
    await sendBodies(queues.queueUrl, ['after-stop']);

    // Assess: stop waited for the invocation and the last long poll (1 s) and nothing polls any more:
    // the message sent afterwards was never received (a receive would have raised its count).
    expect(resolvedBeforeRelease).toBe(false);
    expect(stopMs).toBeLessThan(3_000);
    expect(poller.stats()).toMatchObject({ invocations: 1, deleted: 1, pollerErrors: 0 });
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queues.queueUrl, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
    );
    expect(Messages.map((message) => [message.Body, message.Attributes?.ApproximateReceiveCount])).toEqual([['after-stop', '1']]);
    expect(invocations).toBe(1);
  });

  it('rejects a batch size above 10 without a batching window', () => {
    // Prepare
    const options = { sqs, queueUrl: 'http://127.0.0.1/000000000000/q', queueArn: 'arn:aws:sqs:us-east-1:000000000000:q', functionName: 'f' };

    // Act
    const start = (): EventSourcePoller => startEventSourcePoller({ ...options, batchSize: 50, handler: async () => undefined });

    // Assess
    expect(start).toThrow('batchSize: expected at most 10 unless maxBatchingWindowMs is at least 1 (an SQS event source rule), got 50');
  });

  it('gathers several receives into one batch of up to batchSize within the batching window', async () => {
    // Prepare
    const queues = await createQueues();
    const batchSizes: number[] = [];
    const poller = startPoller(queues, {
      pollers: 1,
      batchSize: 25,
      maxBatchingWindowMs: 500,
      handler: async (event) => {
        batchSizes.push(event.Records.length);
      },
    });

    // Act
    await sendBodies(queues.queueUrl, Array.from({ length: 30 }, (_, index) => `m-${index}`));
    await waitFor('every message to be deleted', () => poller.stats().deleted === 30);

    // Assess
    expect(batchSizes.reduce((sum, size) => sum + size, 0)).toBe(30);
    expect(Math.max(...batchSizes)).toBe(25);
  });
});

describe('Function: createConcurrentCopies', { timeout: 15_000 }, () => {
  it('hands every message, with rate 1, to another poller at once: both invocations run concurrently on the same message', async () => {
    // Prepare: each invocation waits at a gate until every original and every copy has arrived, so
    // the run only gets past it if the copies are delivered while the originals are still in flight.
    const queues = await createQueues();
    const sent = Array.from({ length: 6 }, (_, index) => `m-${index}`);
    let openGate = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const inFlight = new Map<string, number>();
    const overlapping = new Set<string>();
    const seen: Array<{ messageId: string; receiptHandle: string; body: string; receiveCount: string; functionRequestId: string }> = [];
    const summaries: InvocationSummary[] = [];
    const copies = createConcurrentCopies({ rate: 1, seed: 3 });
    const handler: SqsBatchHandler = async (event, context) => {
      for (const record of event.Records) {
        if ((inFlight.get(record.messageId) ?? 0) > 0) overlapping.add(record.messageId);
        inFlight.set(record.messageId, (inFlight.get(record.messageId) ?? 0) + 1);
        seen.push({
          messageId: record.messageId,
          receiptHandle: record.receiptHandle,
          body: record.body,
          receiveCount: record.attributes.ApproximateReceiveCount,
          functionRequestId: context.awsRequestId,
        });
      }
      await gate;
      for (const record of event.Records) inFlight.set(record.messageId, inFlight.get(record.messageId)! - 1);
    };
    // As many loops as messages, so no message can be left unreceived behind loops held at the gate.
    const pollers = [0, 1].map(() => startPoller(queues, { pollers: 3, handler, copies, onInvocation: (summary) => summaries.push(summary) }));

    // Act
    await sendBodies(queues.queueUrl, sent);
    await waitFor('every message and its copy to be in flight', () => seen.length === sent.length * 2);
    openGate();
    await waitFor('every message to be deleted', () => pollers.reduce((sum, poller) => sum + poller.stats().deleted, 0) >= sent.length);
    await Promise.all(pollers.map((poller) => poller.stop()));

    // Assess: two deliveries of each message, identical, in two invocations, at the same time
    expect(overlapping.size).toBe(sent.length);
    const byId = Map.groupBy(seen, (delivery) => delivery.messageId);
    expect(byId.size).toBe(sent.length);
    for (const [messageId, deliveries] of byId) {
      expect(deliveries, messageId).toHaveLength(2);
      const [original, copy] = deliveries as [(typeof deliveries)[0], (typeof deliveries)[0]];
      expect(copy.receiptHandle).toBe(original.receiptHandle);
      expect([copy.body, copy.receiveCount]).toEqual([original.body, original.receiveCount]);
      expect(copy.functionRequestId).not.toBe(original.functionRequestId);
    }
    expect(new Set(seen.map((delivery) => delivery.body))).toEqual(new Set(sent));
    expect(copies.delivered()).toBe(sent.length);
    // Copies are counted apart from receives, and each copy invocation says it is one.
    expect(pollers.reduce((sum, poller) => sum + poller.stats().received, 0)).toBe(sent.length);
    expect(pollers.reduce((sum, poller) => sum + poller.stats().copies, 0)).toBe(sent.length);
    const copied = summaries.filter((summary) => summary.copy).flatMap((summary) => summary.messageIds);
    expect(copied.sort()).toEqual([...byId.keys()].sort());
    expect(summaries.every((summary) => summary.outcome === 'success')).toBe(true);
  });

  it('makes no copies with rate 0, and rejects a rate outside 0 to 1', async () => {
    // Prepare
    const queues = await createQueues();
    const copies = createConcurrentCopies({ rate: 0 });
    const handled: string[] = [];
    const pollers = [0, 1].map(() =>
      startPoller(queues, {
        pollers: 1,
        copies,
        handler: async (event) => {
          handled.push(...event.Records.map((record) => record.body));
        },
      }),
    );

    // Act
    await sendBodies(queues.queueUrl, ['a', 'b', 'c']);
    await waitFor('every message to be deleted', () => pollers.reduce((sum, poller) => sum + poller.stats().deleted, 0) === 3);

    // Assess
    expect(handled.sort()).toEqual(['a', 'b', 'c']);
    expect(copies.delivered()).toBe(0);
    expect(() => createConcurrentCopies({ rate: 1.5 })).toThrow('Expected `rate` to be a number from 0 to 1, got `1.5`');
  });
});

describe('Function: createExecutionEnvironments', () => {
  const context = {} as Context;
  const event: SQSEvent = { Records: [] };

  it('runs concurrent invocations in environments of their own and reuses an idle one', async () => {
    // Prepare: each environment records whether it was ever entered while busy
    const sharedWhileBusy: number[] = [];
    const releases: Array<() => void> = [];
    const environments = createExecutionEnvironments(() => {
      const id = environments.created();
      let busy = false;
      return async () => {
        if (busy) sharedWhileBusy.push(id);
        busy = true;
        await new Promise<void>((resolve) => releases.push(resolve));
        busy = false;
      };
    });

    // Act: three at once, then one more after they ended
    const first = [0, 1, 2].map(() => environments.handler(event, context));
    await waitFor('three invocations to start', () => releases.length === 3);
    for (const release of releases.splice(0)) release();
    await Promise.all(first);
    const createdAfterBurst = environments.created();
    const later = environments.handler(event, context);
    await waitFor('the fourth invocation to start', () => releases.length === 1);
    releases.splice(0)[0]!();
    await later;

    // Assess
    expect(sharedWhileBusy).toEqual([]);
    expect(createdAfterBurst).toBe(3);
    expect(environments.created()).toBe(3);
  });

  it('never hands out again an environment whose invocation did not settle', async () => {
    // Prepare: the first environment hangs forever, as a crashed invocation does
    let calls = 0;
    const environments = createExecutionEnvironments(() => {
      const hangs = environments.created() === 0;
      return async () => {
        calls += 1;
        if (hangs) await new Promise<never>(() => undefined);
      };
    });

    // Act
    void environments.handler(event, context);
    await environments.handler(event, context);
    await environments.handler(event, context);

    // Assess: the hung one stays out; the second is created once and reused
    expect(calls).toBe(3);
    expect(environments.created()).toBe(2);
  });
});
