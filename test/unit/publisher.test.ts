import type { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { createQueuePublisher, PublishError, routeChange, sendBodies } from '../../lib/publish/publisher.ts';
import { changeEvent } from '../helpers/factories.ts';

type BatchInput = NonNullable<SendMessageBatchCommand['input']>;

/** An SQS client stand-in that records each SendMessageBatch and answers with `answer`. */
const recordingSqs = (answer: (input: BatchInput) => { Successful?: Array<{ Id: string; MessageId: string }>; Failed?: Array<{ Id: string; Code: string; Message: string }> }) => {
  const batches: BatchInput[] = [];
  const client = {
    send: async (command: SendMessageBatchCommand) => {
      batches.push(command.input);
      return answer(command.input);
    },
  } as unknown as SQSClient;
  return { client, batches };
};

const acceptAll = (input: BatchInput) => ({ Successful: (input.Entries ?? []).map((entry) => ({ Id: entry.Id!, MessageId: `m-${entry.MessageBody}` })) });

const config = parsePipelineConfig({
  destinations: [
    { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact', 'company'] },
    { name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['company'] },
  ],
});

describe('Function: sendBodies', () => {
  it('sends batches of at most 10 in order and returns every message id', async () => {
    // Prepare
    const sqs = recordingSqs(acceptAll);
    const bodies = Array.from({ length: 23 }, (_, index) => String(index));

    // Act
    const messageIds = await sendBodies(sqs.client, 'q', bodies);

    // Assess
    expect(sqs.batches.map((batch) => batch.Entries?.length)).toEqual([10, 10, 3]);
    expect(messageIds).toEqual(bodies.map((body) => `m-${body}`));
  });

  it('throws a PublishError naming every refused entry instead of dropping it', async () => {
    // Prepare
    const sqs = recordingSqs(() => ({ Successful: [{ Id: '0', MessageId: 'm-0' }], Failed: [{ Id: '1', Code: 'InvalidMessageContents', Message: 'bad' }] }));

    // Act
    const send = sendBodies(sqs.client, 'q', ['a', 'b']);

    // Assess
    await expect(send).rejects.toThrow(PublishError);
    await expect(send).rejects.toThrow('SQS refused 1 of 2 messages for q: InvalidMessageContents: bad');
  });
});

describe('Function: routeChange', () => {
  it.each([
    ['contact', ['crm']],
    ['company', ['crm', 'erp']],
    ['invoice', []],
  ])('routes a %s change as the EventBridge rules do', (resourceType, expected) => {
    // Act
    const targets = routeChange(config, { resourceType });

    // Assess
    expect(targets).toEqual(expected);
  });
});

describe('Function: createQueuePublisher', () => {
  it('batches per destination queue and sends the rest on flush', async () => {
    // Prepare
    const sqs = recordingSqs(acceptAll);
    const sent: Array<[string, number]> = [];
    const publisher = createQueuePublisher({
      config,
      sqs: sqs.client,
      queueUrls: { crm: 'crm-q', erp: 'erp-q' },
      onSent: (destination, messageIds) => sent.push([destination, messageIds.length]),
    });

    // Act
    for (let version = 1; version <= 12; version += 1) await publisher.publish(changeEvent({ resourceType: 'company', version }));
    const beforeFlush = [...sent];
    await publisher.flush();

    // Assess
    expect(beforeFlush).toEqual([['crm', 10], ['erp', 10]]);
    expect(sent).toEqual([['crm', 10], ['erp', 10], ['crm', 2], ['erp', 2]]);
    expect(sqs.batches.map((batch) => batch.QueueUrl)).toEqual(['crm-q', 'erp-q', 'crm-q', 'erp-q']);
  });
});
