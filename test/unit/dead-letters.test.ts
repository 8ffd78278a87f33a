import type { Message } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { serializeChangeEvent } from '../../lib/contract/change-event.ts';
import { buildDeadLetterEnvelope, DEAD_LETTER_REASON_ATTRIBUTE, serializeDeadLetterEnvelope, type DeadLetterReason } from '../../lib/core/dead-letter.ts';
import { groupDeadLetters, REDRIVEN_REASON } from '../../lib/ops/dead-letters.ts';
import { changeEvent } from '../helpers/factories.ts';

/** A dead letter as the consumer writes it: the envelope as body, its reason as attribute. */
const consumerDeadLetter = (options: { reason: DeadLetterReason; sourceMessageId: string; body: string; invocationId?: string; attribute?: string }): Message => ({
  MessageId: `dlq-${options.sourceMessageId}-${options.invocationId ?? ''}`,
  Body: serializeDeadLetterEnvelope(
    buildDeadLetterEnvelope({
      reason: options.reason,
      message: 'why',
      destination: 'crm',
      messageId: options.sourceMessageId,
      attempts: 1,
      firstAttemptAt: 0,
      lastAttemptAt: 0,
      body: options.body,
      attributes: {},
      ...(options.invocationId === undefined ? {} : { invocationId: options.invocationId }),
    }),
  ),
  MessageAttributes: { [DEAD_LETTER_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: options.attribute ?? options.reason } },
});

describe('Function: groupDeadLetters', () => {
  it('says why each message is there, with the change it carried', () => {
    // Prepare
    const body = serializeChangeEvent(changeEvent({ id: 'c-7', version: 3 }));

    // Act
    const letters = groupDeadLetters([consumerDeadLetter({ reason: 'rejected', sourceMessageId: 'm-1', body, invocationId: 'req-1' })], 'crm');

    // Assess
    expect(letters).toEqual([
      { destination: 'crm', reason: 'rejected', messageId: 'm-1', invocationIds: ['req-1'], change: { resourceType: 'contact', id: 'c-7', version: 3 } },
    ]);
  });

  it('folds the envelopes of one source message written by two invocations into one dead letter', () => {
    // Prepare
    const messages = [
      consumerDeadLetter({ reason: 'invalid-json', sourceMessageId: 'm-1', body: '{', invocationId: 'req-lost' }),
      consumerDeadLetter({ reason: 'invalid-json', sourceMessageId: 'm-1', body: '{', invocationId: 'req-2' }),
    ];

    // Act
    const letters = groupDeadLetters(messages, 'crm');

    // Assess
    expect(letters).toEqual([{ destination: 'crm', reason: 'invalid-json', messageId: 'm-1', invocationIds: ['req-lost', 'req-2'] }]);
  });

  it('names a message SQS moved by redrive (no envelope, no attribute) as such, with its own message id', () => {
    // Prepare
    const redriven: Message = { MessageId: 'm-9', Body: serializeChangeEvent(changeEvent({ id: 'c-9', version: 1 })) };

    // Act
    const letters = groupDeadLetters([redriven], 'crm');

    // Assess
    expect(letters).toEqual([{ destination: 'crm', reason: REDRIVEN_REASON, messageId: 'm-9', invocationIds: [], change: { resourceType: 'contact', id: 'c-9', version: 1 } }]);
  });

  it('gives no reason when the attribute and the envelope disagree (I6: it would say nothing reliable)', () => {
    // Act
    const letters = groupDeadLetters([consumerDeadLetter({ reason: 'rejected', sourceMessageId: 'm-1', body: '{}', attribute: 'auth' })], 'crm');

    // Assess
    expect(letters.map((letter) => letter.reason)).toEqual(['']);
  });
});
