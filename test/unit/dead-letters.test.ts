import type { Message } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { serializeChangeEvent } from '../../lib/contract/change-event.ts';
import { toSqsMessageAttributes } from '../../lib/adapters/sqs-attributes.ts';
import {
  buildDeadLetter,
  buildDeadLetterEnvelope,
  DEAD_LETTER_FACTS_ATTRIBUTE,
  DEAD_LETTER_REASON_ATTRIBUTE,
  MAX_MESSAGE_ATTRIBUTES,
  MAX_MESSAGE_BYTES,
  messageBytes,
  readDeadLetterFacts,
  serializeDeadLetterEnvelope,
  type DeadLetterInput,
  type DeadLetterReason,
  type MessageAttribute,
} from '../../lib/core/dead-letter.ts';
import { readChangeMessage } from '../../lib/core/message-body.ts';
import { EVENTBRIDGE_REASON, groupDeadLetters, readDeadLetter, REDRIVEN_REASON } from '../../lib/ops/dead-letters.ts';
import { changeEvent } from '../helpers/factories.ts';

const BODY = serializeChangeEvent(changeEvent({ id: 'c-7', version: 3 }));

const input = (overrides: Partial<DeadLetterInput> = {}): DeadLetterInput => ({
  reason: 'rejected',
  message: 'HTTP 400 from crm',
  destination: 'crm',
  messageId: 'm-1',
  attempts: 2,
  firstAttemptAt: Date.parse('2026-12-01T10:00:00Z'),
  lastAttemptAt: Date.parse('2026-12-01T10:00:05Z'),
  body: BODY,
  attributes: {},
  ...overrides,
});

/** A dead letter as SQS hands it back: the built message's body and attributes. */
const asReceived = (options: Partial<DeadLetterInput> & { invocationId?: string }, dlqMessageId = `dlq-${options.messageId ?? 'm-1'}-${options.invocationId ?? ''}`): Message => {
  const letter = buildDeadLetter(input(options));
  return { MessageId: dlqMessageId, Body: letter.body, MessageAttributes: toSqsMessageAttributes(letter.attributes) };
};

/** A dead letter in the legacy shape: the envelope as body, its reason as attribute. */
const legacyDeadLetter = (options: { reason: DeadLetterReason; sourceMessageId: string; body: string; invocationId?: string; attribute?: string }): Message => ({
  MessageId: `dlq-${options.sourceMessageId}-${options.invocationId ?? ''}`,
  Body: serializeDeadLetterEnvelope(
    buildDeadLetterEnvelope(
      input({ reason: options.reason, message: 'why', messageId: options.sourceMessageId, body: options.body, ...(options.invocationId === undefined ? {} : { invocationId: options.invocationId }) }),
    ),
  ),
  MessageAttributes: { [DEAD_LETTER_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: options.attribute ?? options.reason } },
});

describe('Function: buildDeadLetter', () => {
  it('keeps the original body byte for byte and its attributes, with the facts beside them as attributes', () => {
    // Prepare
    const body = '{"resourceType":"contact","id":"ü-🚀"} trailing';
    const attributes: Record<string, MessageAttribute> = {
      correlationId: { dataType: 'String', stringValue: 'corr-1' },
      blob: { dataType: 'Binary', binaryValue: Buffer.from([0, 255, 1]).toString('base64') },
    };

    // Act
    const letter = buildDeadLetter(input({ body, attributes, status: 400, invocationId: 'req-1' }));

    // Assess
    expect(letter.body).toBe(body);
    expect(Object.keys(letter.attributes).sort()).toEqual(['blob', 'correlationId', DEAD_LETTER_FACTS_ATTRIBUTE, DEAD_LETTER_REASON_ATTRIBUTE]);
    expect(letter.attributes.blob).toEqual(attributes.blob);
    expect(letter.attributes[DEAD_LETTER_REASON_ATTRIBUTE]?.stringValue).toBe('rejected');
    expect(readDeadLetterFacts(letter.attributes[DEAD_LETTER_FACTS_ATTRIBUTE]?.stringValue)).toEqual({
      reason: 'rejected',
      message: 'HTTP 400 from crm',
      destination: 'crm',
      messageId: 'm-1',
      attempts: 2,
      firstAttemptAt: '2026-12-01T10:00:00.000Z',
      lastAttemptAt: '2026-12-01T10:00:05.000Z',
      status: 400,
      invocationId: 'req-1',
    });
  });

  it('replaces the attributes of an earlier dead letter (a redriven message that failed again) instead of repeating them', () => {
    // Prepare
    const first = buildDeadLetter(input({ reason: 'rejected', attributes: { correlationId: { dataType: 'String', stringValue: 'corr-1' } } }));

    // Act
    const second = buildDeadLetter(input({ reason: 'auth', attributes: first.attributes }));

    // Assess
    expect(Object.keys(second.attributes).sort()).toEqual(['correlationId', DEAD_LETTER_FACTS_ATTRIBUTE, DEAD_LETTER_REASON_ATTRIBUTE]);
    expect(second.attributes[DEAD_LETTER_REASON_ATTRIBUTE]?.stringValue).toBe('auth');
  });

  it('carries at most ten attributes: the originals beyond eight travel inside the facts', () => {
    // Prepare
    const attributes = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`a${i}`, { dataType: 'String', stringValue: `v${i}` }]));

    // Act
    const letter = buildDeadLetter(input({ attributes }));

    // Assess
    expect(Object.keys(letter.attributes)).toHaveLength(MAX_MESSAGE_ATTRIBUTES);
    expect(Object.keys(letter.facts.overflowAttributes ?? {})).toEqual(['a8', 'a9']);
  });

  it('wraps only a body too large to carry beside its facts, cut to fit, and says so', () => {
    // Prepare
    const body = 'x'.repeat(MAX_MESSAGE_BYTES - 100);

    // Act
    const letter = buildDeadLetter(input({ reason: 'too-large', body }));

    // Assess
    expect(letter.facts.bodyIsEnvelope).toBe('too-large');
    expect(messageBytes(letter.body, letter.attributes)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(JSON.parse(letter.body)).toMatchObject({ reason: 'too-large', originalBodyTruncated: true });
  });

  it.each([
    ['empty', ''],
    ['a NUL', '{"id":"a"}\u0000'],
    ['a lone surrogate', '{"id":"\ud800"}'],
  ])('wraps a body SQS could never have delivered (%s) in an envelope, escaped, and says so', (_name, body) => {
    // Act
    const letter = buildDeadLetter(input({ reason: 'invalid-json', body }));

    // Assess
    expect(letter.facts.bodyIsEnvelope).toBe('unsendable');
    expect(JSON.parse(letter.body)).toMatchObject({ originalBody: body, originalBodyTruncated: false });
  });
});

describe('Function: readChangeMessage', () => {
  const event = changeEvent({ id: 'c-3', version: 4 });

  it.each([
    ['as published', serializeChangeEvent(event), 'none'],
    ['inside an EventBridge event (its own dead letters)', JSON.stringify({ version: '0', id: 'e-1', 'detail-type': 'contact changed', source: 'svc', detail: event }), 'eventbridge'],
    ['inside a legacy dead-letter envelope', serializeDeadLetterEnvelope(buildDeadLetterEnvelope(input({ body: serializeChangeEvent(event) }))), 'dead-letter-envelope'],
  ])('reads a change %s', (_name, body, wrapping) => {
    // Act
    const read = readChangeMessage(body);

    // Assess
    expect(read).toMatchObject({ ok: true, wrapping, event: { resourceType: 'contact', id: 'c-3', version: 4 } });
  });

  it('refuses a legacy envelope whose original was cut to fit, as too large, naming the hash', () => {
    // Prepare
    const envelope = { ...buildDeadLetterEnvelope(input()), originalBodyTruncated: true };

    // Act
    const read = readChangeMessage(JSON.stringify(envelope));

    // Assess
    expect(read).toMatchObject({ ok: false, rejection: { reason: 'too-large' }, wrapping: 'dead-letter-envelope' });
    expect(read.ok ? '' : read.rejection.detail).toContain(envelope.originalBodySha256);
  });

  it('does not unwrap an EventBridge event whose text repeats a key (parsers would disagree on the change)', () => {
    // Act
    const read = readChangeMessage(`{"detail-type":"x","source":"s","detail":${serializeChangeEvent(event)},"detail":{}}`);

    // Assess
    expect(read).toMatchObject({ ok: false, rejection: { reason: 'invalid-json' } });
  });
});

describe('Function: readDeadLetter', () => {
  it('reads a dead letter the consumer wrote: reason, facts, record, and the body to send again', () => {
    // Act
    const letter = readDeadLetter(asReceived({ status: 400, invocationId: 'req-1' }), 'crm');

    // Assess
    expect(letter).toMatchObject({
      reason: 'rejected',
      messageId: 'm-1',
      attempts: 2,
      status: 400,
      firstAttemptAt: '2026-12-01T10:00:00.000Z',
      change: { resourceType: 'contact', id: 'c-7', version: 3 },
      originalBody: BODY,
      truncated: false,
      shape: 'original-body',
    });
  });

  it('reads an event EventBridge could not deliver, with its error', () => {
    // Prepare
    const body = JSON.stringify({ 'detail-type': 'contact changed', source: 'svc', detail: changeEvent({ id: 'c-8', version: 2 }) });
    const message: Message = {
      MessageId: 'eb-1',
      Body: body,
      MessageAttributes: { ERROR_CODE: { DataType: 'String', StringValue: 'SQS_THROTTLED' }, ERROR_MESSAGE: { DataType: 'String', StringValue: 'slow down' } },
    };

    // Act
    const letter = readDeadLetter(message, 'crm');

    // Assess
    expect(letter).toMatchObject({ reason: EVENTBRIDGE_REASON, message: 'SQS_THROTTLED: slow down', change: { id: 'c-8', version: 2 }, originalBody: body, shape: 'eventbridge' });
  });
});

describe('Function: groupDeadLetters', () => {
  it('says why each message is there, with the change it carried and never its body', () => {
    // Act
    const letters = groupDeadLetters([asReceived({ invocationId: 'req-1' })], 'crm');

    // Assess
    expect(letters).toEqual([
      {
        destination: 'crm',
        reason: 'rejected',
        messageId: 'm-1',
        invocationIds: ['req-1'],
        message: 'HTTP 400 from crm',
        attempts: 2,
        firstAttemptAt: '2026-12-01T10:00:00.000Z',
        lastAttemptAt: '2026-12-01T10:00:05.000Z',
        change: { resourceType: 'contact', id: 'c-7', version: 3 },
      },
    ]);
  });

  it('folds the dead letters of one source message written by two invocations into one', () => {
    // Prepare
    const messages = [asReceived({ reason: 'invalid-json', body: '{', invocationId: 'req-lost' }), asReceived({ reason: 'invalid-json', body: '{', invocationId: 'req-2' })];

    // Act
    const letters = groupDeadLetters(messages, 'crm');

    // Assess
    expect(letters).toMatchObject([{ reason: 'invalid-json', messageId: 'm-1', invocationIds: ['req-lost', 'req-2'] }]);
    expect(letters[0]?.change).toBeUndefined();
  });

  it('still reads dead letters written in the legacy envelope shape', () => {
    // Prepare
    const body = serializeChangeEvent(changeEvent({ id: 'c-7', version: 3 }));

    // Act
    const letters = groupDeadLetters([legacyDeadLetter({ reason: 'rejected', sourceMessageId: 'm-1', body, invocationId: 'req-1' })], 'crm');

    // Assess
    expect(letters).toMatchObject([{ destination: 'crm', reason: 'rejected', messageId: 'm-1', invocationIds: ['req-1'], change: { id: 'c-7', version: 3 } }]);
  });

  it('names a message SQS moved by redrive (nothing of ours on it) as such, with its own message id', () => {
    // Prepare
    const redriven: Message = { MessageId: 'm-9', Body: serializeChangeEvent(changeEvent({ id: 'c-9', version: 1 })) };

    // Act
    const letters = groupDeadLetters([redriven], 'crm');

    // Assess
    expect(letters).toEqual([{ destination: 'crm', reason: REDRIVEN_REASON, messageId: 'm-9', invocationIds: [], change: { resourceType: 'contact', id: 'c-9', version: 1 } }]);
  });

  it.each([
    ['new shape', { ...asReceived({ reason: 'rejected' }), MessageAttributes: { ...asReceived({}).MessageAttributes, [DEAD_LETTER_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: 'auth' } } }],
    ['legacy envelope', legacyDeadLetter({ reason: 'rejected', sourceMessageId: 'm-1', body: '{}', attribute: 'auth' })],
  ])('gives no reason when the attribute and the facts disagree (%s; I6: it would say nothing reliable)', (_shape, message) => {
    // Act
    const letters = groupDeadLetters([message], 'crm');

    // Assess
    expect(letters.map((letter) => letter.reason)).toEqual(['']);
  });
});
