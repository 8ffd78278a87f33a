import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { toSqsMessageAttributes } from '../../lib/adapters/sqs-attributes.ts';
import { serializeChangeEvent } from '../../lib/contract/change-event.ts';
import { buildDeadLetter, type DeadLetterReason } from '../../lib/core/dead-letter.ts';
import { redriveDeadLetters } from '../../lib/ops/dlq.ts';
import { changeEvent } from '../helpers/factories.ts';

const queues = {
  destination: 'crm',
  queueName: 'p-crm',
  queueUrl: 'https://sqs/p-crm',
  queueArn: 'arn:aws:sqs:eu-west-1:1:p-crm',
  deadLetterQueueName: 'p-crm-dlq',
  deadLetterQueueUrl: 'https://sqs/p-crm-dlq',
  deadLetterQueueArn: 'arn:aws:sqs:eu-west-1:1:p-crm-dlq',
};

const deadLetter = (reason: DeadLetterReason, index: number): Message => {
  const letter = buildDeadLetter({
    reason,
    message: 'why',
    destination: 'crm',
    messageId: `m-${index}`,
    attempts: 1,
    firstAttemptAt: 0,
    lastAttemptAt: 0,
    body: serializeChangeEvent(changeEvent({ id: `c-${index}` })),
    attributes: {},
  });
  return { MessageId: `d-${index}`, ReceiptHandle: `rh-${index}`, Body: letter.body, MessageAttributes: toSqsMessageAttributes(letter.attributes) };
};

/**
 * An SQS client that answers what the redrive asks, as a service with StartMessageMoveTask does: the
 * DLQ's messages on the first receive, a move task that runs for one check and then completes. This
 * unit test covers the path no emulator here implements; every other path runs on fauxqs and moto.
 */
const serviceWithMoveTasks = (messages: readonly Message[], options: { startFails?: string } = {}) => {
  const calls: Array<{ name: string; input: Record<string, unknown> }> = [];
  let received = false;
  let checks = 0;
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const name = command.constructor.name;
      calls.push({ name, input: command.input });
      switch (name) {
        case 'ReceiveMessageCommand': {
          const answer = received || command.input.QueueUrl !== queues.deadLetterQueueUrl ? [] : messages;
          received = true;
          return { Messages: answer };
        }
        case 'StartMessageMoveTaskCommand':
          if (options.startFails !== undefined) throw Object.assign(new Error('not here'), { name: options.startFails });
          return { TaskHandle: 'task-1' };
        case 'ListMessageMoveTasksCommand':
          checks += 1;
          return {
            Results: [
              checks === 1
                ? { Status: 'RUNNING', ApproximateNumberOfMessagesMoved: 1, ApproximateNumberOfMessagesToMove: messages.length }
                : { Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: messages.length, ApproximateNumberOfMessagesToMove: messages.length },
            ],
          };
        default:
          return { Successful: [], Failed: [] };
      }
    },
  } as unknown as SQSClient;
  return { client, calls };
};

describe('Function: redriveDeadLetters', () => {
  it('moves a whole DLQ that can all be sent again with StartMessageMoveTask to its source queue, and follows the task to the end', async () => {
    // Prepare
    const { client, calls } = serviceWithMoveTasks([deadLetter('rejected', 1), deadLetter('retries-exhausted', 2)]);
    const progress: number[] = [];

    // Act
    const result = await redriveDeadLetters(client, queues, { pollIntervalMs: 0, onProgress: (p) => progress.push(p.moved) });

    // Assess
    expect(result).toMatchObject({ method: 'StartMessageMoveTask', moved: 2, failed: 0, interrupted: false });
    expect(calls.find((c) => c.name === 'StartMessageMoveTaskCommand')?.input).toEqual({ SourceArn: queues.deadLetterQueueArn, DestinationArn: queues.queueArn });
    expect(calls.some((c) => c.name === 'SendMessageBatchCommand' || c.name === 'DeleteMessageBatchCommand')).toBe(false);
    expect(progress).toEqual([1, 2]);
  });

  it.each([
    ['bad input is in the DLQ', [deadLetter('rejected', 1), deadLetter('invalid-json', 2)], {}],
    ['a filter is given', [deadLetter('rejected', 1)], { filter: { reasons: ['rejected'] } }],
    ['a limit is given', [deadLetter('rejected', 1)], { limit: 1 }],
  ])('moves by receive / send / delete when %s', async (_why, messages, options) => {
    // Prepare
    const { client, calls } = serviceWithMoveTasks(messages);

    // Act
    const result = await redriveDeadLetters(client, queues, { pollIntervalMs: 0, ...options });

    // Assess
    expect(result.method).toBe('receive-send-delete');
    expect(calls.some((c) => c.name === 'StartMessageMoveTaskCommand')).toBe(false);
  });

  it('falls back to receive / send / delete, saying why, when the service lacks StartMessageMoveTask', async () => {
    // Prepare
    const { client } = serviceWithMoveTasks([deadLetter('rejected', 1)], { startFails: 'InvalidAction' });

    // Act
    const result = await redriveDeadLetters(client, queues, { pollIntervalMs: 0 });

    // Assess
    expect(result).toMatchObject({ method: 'receive-send-delete', fallbackReason: 'StartMessageMoveTask is not available here (InvalidAction: not here)' });
  });
});
