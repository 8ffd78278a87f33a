import { PutEventsCommand, type EventBridgeClient, type PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import { GetQueueAttributesCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { CHANGE_DETAIL_TYPE, MAX_CHANGE_EVENT_BYTES, serializeChangeEvent, type ChangeEvent } from '../../lib/contract/change-event.ts';
import { ValidationError } from '../../lib/contract/validation.ts';
import { EventBridgeLimits, planBatches, putEventsEntryBytes, utf8Bytes } from '../../lib/core/publish-batches.ts';
import { DEFAULT_PUBLISH_SOURCE, publishChanges } from '../../lib/publish/index.ts';
import { changeEvent } from '../helpers/factories.ts';

type BatchEntry = { readonly Id: string; readonly MessageBody: string };
type SqsAnswer = { Successful?: Array<{ Id: string; MessageId: string }>; Failed?: Array<{ Id: string; Code: string; Message: string; SenderFault: boolean }> };

/** SQS stand-in: records each SendMessageBatch and answers with `answer(entries, call)`; answers GetQueueAttributes with `maxMessageSize`. */
const stubSqs = (options: { answer?: (entries: readonly BatchEntry[], call: number) => SqsAnswer; maxMessageSize?: string | Error } = {}) => {
  const batches: BatchEntry[][] = [];
  let attributeReads = 0;
  const acceptAll = (entries: readonly BatchEntry[]): SqsAnswer => ({ Successful: entries.map((entry) => ({ Id: entry.Id, MessageId: `m-${batches.length}-${entry.Id}` })) });
  const client = {
    send: async (command: object) => {
      if (command instanceof GetQueueAttributesCommand) {
        attributeReads += 1;
        if (options.maxMessageSize instanceof Error) throw options.maxMessageSize;
        return { Attributes: { MaximumMessageSize: options.maxMessageSize ?? '262144' } };
      }
      if (!(command instanceof SendMessageBatchCommand)) throw new Error(`unexpected command ${command.constructor.name}`);
      const entries = (command.input.Entries ?? []) as BatchEntry[];
      batches.push(entries);
      return (options.answer ?? acceptAll)(entries, batches.length);
    },
  } as unknown as SQSClient;
  return { client, batches, attributeReads: () => attributeReads };
};

type PutEntry = { readonly Source: string; readonly DetailType: string; readonly Detail: string; readonly Time?: Date; readonly EventBusName: string };

/** EventBridge stand-in: records each PutEvents request and answers per entry with `answer(entry, call)` (an error code, or undefined for accepted). */
const stubEventBridge = (answer: (entry: PutEntry, call: number) => string | undefined = () => undefined) => {
  const requests: PutEntry[][] = [];
  const client = {
    send: async (command: object) => {
      if (!(command instanceof PutEventsCommand)) throw new Error(`unexpected command ${command.constructor.name}`);
      const entries = (command.input.Entries ?? []) as PutEntry[];
      requests.push(entries);
      const answers = entries.map((entry, index): PutEventsResultEntry => {
        const code = answer(entry, requests.length);
        return code === undefined ? { EventId: `e-${requests.length}-${index}` } : { ErrorCode: code, ErrorMessage: `refused: ${code}` };
      });
      return { FailedEntryCount: answers.filter((entry) => entry.ErrorCode !== undefined).length, Entries: answers };
    },
  } as unknown as EventBridgeClient;
  return { client, requests };
};

/** A change whose SQS body is exactly `bytes` bytes of UTF-8, padded with `filler` (1 or 2 bytes per character). */
const changeOfBodyBytes = (bytes: number, version: number, filler: 'x' | 'é' = 'x'): ChangeEvent => {
  const empty = changeEvent({ version, occurredAt: '2026-11-27T10:00:00Z', payload: { note: '' } });
  const missing = bytes - utf8Bytes(serializeChangeEvent(empty));
  const fillerBytes = utf8Bytes(filler);
  const note = filler.repeat(Math.floor(missing / fillerBytes)) + 'x'.repeat(missing % fillerBytes);
  const change = changeEvent({ version, occurredAt: '2026-11-27T10:00:00Z', payload: { note } });
  expect(utf8Bytes(serializeChangeEvent(change))).toBe(bytes);
  return change;
};

const fastRetry = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } as const;

describe('Function: utf8Bytes', () => {
  it.each([
    ['ascii', 'abc', 3],
    ['two-byte', 'é', 2],
    ['three-byte', '客', 3],
    ['astral (two UTF-16 units)', '🚀', 4],
    ['mixed', 'müller/客户 🚀', 19],
  ])('counts %s text in UTF-8 bytes', (_name, text, expected) => {
    // Act
    const bytes = utf8Bytes(text);

    // Assess
    expect(bytes).toBe(expected);
  });
});

describe('Function: putEventsEntryBytes', () => {
  it('counts 14 bytes for a Time and the UTF-8 bytes of Source, DetailType, Detail and Resources, not EventBusName', () => {
    // Prepare
    const entry = { EventBusName: 'a-long-bus-name-that-does-not-count', Time: new Date(), Source: 'ördérs', DetailType: 'change', Detail: '{"n":"客🚀"}', Resources: ['arn:é'] };

    // Act
    const bytes = putEventsEntryBytes(entry);

    // Assess: Time 14 + Source 8 + DetailType 6 + Detail 15 + Resources 6.
    expect(bytes).toBe(14 + 8 + 6 + 15 + 6);
    expect(putEventsEntryBytes({ Source: 'a', DetailType: 'b' })).toBe(2);
  });
});

describe('Function: planBatches', () => {
  it.each([
    ['exactly 10 entries in one batch', Array(10).fill(1), [10]],
    ['the 11th entry in a new batch', Array(11).fill(1), [10, 1]],
    ['entries summing to exactly the byte limit in one batch', [40, 60], [2]],
    ['one byte over the limit in a new batch', [40, 61], [1, 1]],
    ['an entry of exactly the limit alone', [1, 100, 1], [1, 1, 1]],
    ['nothing', [], []],
  ])('puts %s', (_name, sizes, expected) => {
    // Act
    const batches = planBatches(sizes, { maxEntries: 10, maxBytes: 100 });

    // Assess
    expect(batches.map((batch) => batch.length)).toEqual(expected);
    expect(batches.flat()).toEqual(sizes.map((_size, index) => index));
  });

  it('refuses an item larger than a whole batch', () => {
    // Act
    const plan = () => planBatches([10, 101], { maxEntries: 10, maxBytes: 100 });

    // Assess
    expect(plan).toThrow('Expected every item to be at most 100 bytes, got 101 bytes at index 1');
  });
});

describe('Function: publishChanges', () => {
  it('sends 25 changes to SQS in batches of 10, 10 and 5, in order, with a result per change', async () => {
    // Prepare
    const sqs = stubSqs();
    const changes = Array.from({ length: 25 }, (_, index) => changeEvent({ version: index + 1 }));
    const seen: number[] = [];

    // Act
    const results = await publishChanges(changes, { via: 'sqs', client: sqs.client, queueUrl: 'q', onBatch: (batch) => seen.push(batch.entries) });

    // Assess
    expect(sqs.batches.map((batch) => batch.length)).toEqual([10, 10, 5]);
    expect(seen).toEqual([10, 10, 5]);
    expect(results.map((result) => [result.index, result.status, result.attempts])).toEqual(changes.map((_change, index) => [index, 'sent', 1]));
    expect(results[12]?.id).toBe('m-2-2');
    expect(sqs.batches.flat().map((entry) => JSON.parse(entry.MessageBody).version)).toEqual(changes.map((change) => change.version));
  });

  it('fills a batch up to exactly the queue size in bytes of UTF-8, not characters', async () => {
    // Prepare: each body is 1024 bytes but only about 530 characters ('é' is 2 bytes).
    const sqs = stubSqs();
    const changes = [1, 2, 3, 4].map((version) => changeOfBodyBytes(1024, version, 'é'));

    // Act
    const results = await publishChanges(changes, { via: 'sqs', client: sqs.client, queueUrl: 'q', maxMessageBytes: 2048 });

    // Assess: two bodies make exactly 2048 bytes; a third would not fit.
    expect(results.every((result) => result.status === 'sent')).toBe(true);
    expect(sqs.batches.map((batch) => batch.length)).toEqual([2, 2]);
  });

  it('refuses a change one byte over the queue size as too-large, and sends one of exactly that size', async () => {
    // Prepare
    const sqs = stubSqs();
    const changes = [changeOfBodyBytes(2048, 1, 'é'), changeOfBodyBytes(2049, 2, 'é')];

    // Act
    const results = await publishChanges(changes, { via: 'sqs', client: sqs.client, queueUrl: 'q', maxMessageBytes: 2048 });

    // Assess
    expect(results.map((result) => result.status)).toEqual(['sent', 'too-large']);
    expect(results[1]?.error).toBe(
      `change 1 (resourceType "contact", id "c-1", version 2) is 2049 bytes as an SQS message body (UTF-8), over the limit of 2048 bytes (the queue's MaximumMessageSize); not sent`,
    );
    expect(results[1]?.attempts).toBe(0);
    expect(sqs.batches.flat()).toHaveLength(1);
  });

  it("refuses an SQS body over the contract's 256 KiB on a queue that takes 1 MiB", async () => {
    // Prepare
    const sqs = stubSqs({ maxMessageSize: '1048576' });

    // Act
    const [result] = await publishChanges([changeOfBodyBytes(MAX_CHANGE_EVENT_BYTES + 1, 1)], { via: 'sqs', client: sqs.client, queueUrl: 'q' });

    // Assess
    expect(result?.status).toBe('too-large');
    expect(result?.error).toContain(`is ${MAX_CHANGE_EVENT_BYTES + 1} bytes as an SQS message body (UTF-8), over the limit of ${MAX_CHANGE_EVENT_BYTES} bytes (the contract's MAX_CHANGE_EVENT_BYTES`);
    expect(sqs.batches).toHaveLength(0);
  });

  it('reads the queue size once per client and queue, and falls back to 262144 when not allowed to', async () => {
    // Prepare
    const sqs = stubSqs({ maxMessageSize: '4096' });
    const denied = stubSqs({ maxMessageSize: Object.assign(new Error('not authorized'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }) });

    // Act
    for (let round = 0; round < 3; round += 1) await publishChanges([changeEvent()], { via: 'sqs', client: sqs.client, queueUrl: 'q' });
    const [big] = await publishChanges([changeOfBodyBytes(5000, 1)], { via: 'sqs', client: sqs.client, queueUrl: 'q' });
    await publishChanges([changeEvent()], { via: 'sqs', client: denied.client, queueUrl: 'q' });
    const [fallback] = await publishChanges([changeOfBodyBytes(5000, 1)], { via: 'sqs', client: denied.client, queueUrl: 'q' });

    // Assess
    expect(sqs.attributeReads()).toBe(1);
    expect(big?.error).toContain('over the limit of 4096 bytes');
    expect(denied.attributeReads()).toBe(1);
    expect(fallback?.status).toBe('sent');
  });

  it('sizes EventBridge entries as AWS counts them: an entry of exactly 256 KB is sent alone, one byte more is refused', async () => {
    // Prepare: Time (14) + Source + DetailType + Detail make the entry's size.
    const eventBridge = stubEventBridge();
    const overhead = EventBridgeLimits.TIME_BYTES + utf8Bytes(DEFAULT_PUBLISH_SOURCE) + utf8Bytes(CHANGE_DETAIL_TYPE);
    const exact = changeOfBodyBytes(EventBridgeLimits.MAX_REQUEST_BYTES - overhead, 1, 'é');
    const over = changeOfBodyBytes(EventBridgeLimits.MAX_REQUEST_BYTES - overhead + 1, 2, 'é');

    // Act
    const results = await publishChanges([changeEvent({ version: 3 }), exact, over, changeEvent({ version: 4 })], {
      via: 'eventbridge',
      client: eventBridge.client,
      eventBusName: 'bus',
    });

    // Assess
    expect(results.map((result) => result.status)).toEqual(['sent', 'sent', 'too-large', 'sent']);
    expect(eventBridge.requests.map((request) => request.length)).toEqual([1, 1, 1]);
    expect(results[2]?.error).toContain(`is ${EventBridgeLimits.MAX_REQUEST_BYTES + 1} bytes as a PutEvents entry`);
    expect(results[2]?.error).toContain(`over the limit of ${EventBridgeLimits.MAX_REQUEST_BYTES} bytes`);
    const [entry] = eventBridge.requests[0] ?? [];
    expect(entry).toMatchObject({ EventBusName: 'bus', Source: DEFAULT_PUBLISH_SOURCE, DetailType: CHANGE_DETAIL_TYPE });
    expect(JSON.parse(entry?.Detail ?? '')).toEqual(changeEvent({ version: 3, occurredAt: results[0]?.change?.occurredAt }));
  });

  it.each([
    ['a bad resourceType', { resourceType: '9lives' }, 'resourceType: expected 1 to 64 letters'],
    ['a bad id', { id: '' }, 'id: expected a non-empty string id, got ""'],
    ['a bad version', { version: 1.5 }, 'version: expected a non-negative integer version, got 1.5'],
    ['a bad occurredAt', { occurredAt: '2026-11-27 10:00' }, 'occurredAt: expected an ISO 8601 timestamp'],
    ['a bad op', { op: 'merge' }, 'op: expected "upsert" or "delete", got "merge"'],
    ['a bad payload', { payload: { secret: Number.NaN } }, 'payload.secret: expected a finite number, got a number'],
    ['an unknown field', { extra: 1 }, '(root): unknown field(s) "extra"'],
  ])('refuses a change with %s, naming the change and the field, and sends nothing', async (_field, override, reason) => {
    // Prepare
    const sqs = stubSqs();
    const bad = { ...changeEvent({ version: 7 }), ...override };

    // Act
    const [result] = await publishChanges([bad], { via: 'sqs', client: sqs.client, queueUrl: 'q' });

    // Assess
    expect(result?.status).toBe('invalid');
    expect(result?.error).toMatch(/^change 0 \(resourceType "[^"]*", id "[^"]*", version [\d.]+\) is invalid: /);
    expect(result?.error).toContain(reason);
    expect(result?.change).toBeUndefined();
    expect(sqs.batches).toHaveLength(0);
  });

  it('names a change that is not an object by its position alone, and never shows payload values', async () => {
    // Prepare
    const sqs = stubSqs();

    // Act
    const results = await publishChanges([null, 'x', { ...changeEvent(), payload: { password: 'hunter2', n: Number.POSITIVE_INFINITY } }], { via: 'sqs', client: sqs.client, queueUrl: 'q' });

    // Assess
    expect(results.map((result) => result.error)).toEqual([
      'change 0 is invalid: (root): expected a JSON object, got null',
      'change 1 is invalid: (root): expected a JSON object, got "x"',
      'change 2 (resourceType "contact", id "c-1", version 1) is invalid: payload.n: expected a finite number, got a number',
    ]);
  });

  it('sets occurredAt from now() when it is left out, keeps a given one, and leaves the caller objects alone', async () => {
    // Prepare
    const sqs = stubSqs();
    const now = Date.parse('2026-12-01T12:00:00.000Z');
    const { occurredAt: _omitted, ...withoutTime } = changeEvent({ version: 1 });
    const given = changeEvent({ version: 2, occurredAt: '2026-12-01T11:00:00Z' });

    // Act
    const results = await publishChanges([withoutTime, given], { via: 'sqs', client: sqs.client, queueUrl: 'q', now: () => now });

    // Assess
    expect(results.map((result) => result.change?.occurredAt)).toEqual(['2026-12-01T12:00:00.000Z', '2026-12-01T11:00:00Z']);
    expect(JSON.parse(sqs.batches[0]?.[0]?.MessageBody ?? '').occurredAt).toBe('2026-12-01T12:00:00.000Z');
    expect('occurredAt' in withoutTime).toBe(false);
  });

  it('re-sends only the SQS entries refused with SenderFault false, and fails those with SenderFault true at once', async () => {
    // Prepare: entry 1 is refused by SQS's own fault on the first call, entry 2 always as the sender's fault.
    const sqs = stubSqs({
      answer: (entries, call) => ({
        Successful: entries.filter((entry) => !(call === 1 && entry.Id === '1') && !entry.MessageBody.includes('"version":3')).map((entry) => ({ Id: entry.Id, MessageId: `m-${call}-${entry.Id}` })),
        Failed: entries.flatMap((entry): NonNullable<SqsAnswer['Failed']> => {
          if (entry.MessageBody.includes('"version":3')) return [{ Id: entry.Id, Code: 'InvalidMessageContents', Message: 'bad characters', SenderFault: true }];
          return call === 1 && entry.Id === '1' ? [{ Id: entry.Id, Code: 'InternalError', Message: 'try again', SenderFault: false }] : [];
        }),
      }),
    });
    const changes = [1, 2, 3].map((version) => changeEvent({ version }));

    // Act
    const results = await publishChanges(changes, { via: 'sqs', client: sqs.client, queueUrl: 'q', retry: fastRetry });

    // Assess
    expect(sqs.batches.map((batch) => batch.length)).toEqual([3, 1]);
    expect(results.map((result) => [result.status, result.attempts])).toEqual([['sent', 1], ['sent', 2], ['failed', 1]]);
    expect(results[1]?.id).toBe('m-2-0');
    expect(results[2]?.error).toBe('InvalidMessageContents: bad characters (1 attempt)');
  });

  it('gives up after the attempts with the last code and message', async () => {
    // Prepare
    const eventBridge = stubEventBridge((entry) => (entry.Detail.includes('"version":2') ? 'ThrottlingException' : undefined));
    const attempts: number[] = [];

    // Act
    const results = await publishChanges([changeEvent({ version: 1 }), changeEvent({ version: 2 })], {
      via: 'eventbridge',
      client: eventBridge.client,
      eventBusName: 'bus',
      retry: fastRetry,
      onBatch: (batch) => attempts.push(batch.attempt),
    });

    // Assess
    expect(eventBridge.requests.map((request) => request.length)).toEqual([2, 1, 1]);
    expect(attempts).toEqual([1, 2, 3]);
    expect(results[0]?.status).toBe('sent');
    expect(results[1]).toMatchObject({ status: 'failed', attempts: 3, error: 'ThrottlingException: refused: ThrottlingException (3 attempts)' });
  });

  it.each([
    ['InternalFailure', 'sent', 2],
    ['AccessDeniedException', 'failed', 1],
    ['MalformedDetail', 'failed', 1],
  ])('treats a PutEvents entry refused with %s as %s after %i call(s)', async (code, status, calls) => {
    // Prepare
    const eventBridge = stubEventBridge((_entry, call) => (call === 1 ? code : undefined));

    // Act
    const [result] = await publishChanges([changeEvent()], { via: 'eventbridge', client: eventBridge.client, eventBusName: 'bus', retry: fastRetry });

    // Assess
    expect(result?.status).toBe(status);
    expect(eventBridge.requests).toHaveLength(calls);
  });

  it('retries a whole call that was throttled, and fails every entry of a call refused for good', async () => {
    // Prepare
    let calls = 0;
    const flaky = {
      send: async (command: SendMessageBatchCommand) => {
        calls += 1;
        if (calls === 1) throw Object.assign(new Error('Rate exceeded'), { name: 'RequestThrottled', $fault: 'client', $metadata: { httpStatusCode: 400 } });
        return { Successful: (command.input.Entries ?? []).map((entry) => ({ Id: entry.Id, MessageId: `m-${entry.Id}` })) };
      },
    } as unknown as SQSClient;
    const missing = {
      send: async () => {
        throw Object.assign(new Error('The specified queue does not exist.'), { name: 'QueueDoesNotExist', $fault: 'client', $metadata: { httpStatusCode: 400 } });
      },
    } as unknown as SQSClient;

    // Act
    const retried = await publishChanges([changeEvent(), changeEvent({ version: 2 })], { via: 'sqs', client: flaky, queueUrl: 'q', maxMessageBytes: 262_144, retry: fastRetry });
    const refused = await publishChanges([changeEvent(), changeEvent({ version: 2 })], { via: 'sqs', client: missing, queueUrl: 'q', maxMessageBytes: 262_144, retry: fastRetry });

    // Assess
    expect(retried.map((result) => [result.status, result.attempts])).toEqual([['sent', 2], ['sent', 2]]);
    expect(refused.map((result) => result.error)).toEqual(Array(2).fill('QueueDoesNotExist: The specified queue does not exist. (1 attempt)'));
  });

  it('sends nothing once aborted and says so per change', async () => {
    // Prepare
    const sqs = stubSqs();
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));

    // Act
    const results = await publishChanges([changeEvent()], { via: 'sqs', client: sqs.client, queueUrl: 'q', signal: controller.signal });

    // Assess
    expect(results[0]).toMatchObject({ status: 'failed', attempts: 0, error: 'AbortError: Error: shutting down (0 attempts)' });
    expect(sqs.batches).toHaveLength(0);
  });

  it.each([
    ['an unknown route', { via: 'kafka' }, 'via: expected "eventbridge" or "sqs", got "kafka"'],
    ['an empty queue URL', { via: 'sqs', queueUrl: '' }, 'queueUrl: expected a queue URL, got ""'],
    ['a missing bus', { via: 'eventbridge' }, 'eventBusName: expected the name or ARN of an event bus, got nothing'],
    ['a field of the other route', { via: 'eventbridge', eventBusName: 'bus', queueUrl: 'q' }, '(root): unknown field(s) "queueUrl"'],
    ['zero attempts', { via: 'sqs', queueUrl: 'q', retry: { attempts: 0 } }, 'retry.attempts: expected an integer from 1 to 100, got 0'],
    ['a tiny queue size', { via: 'sqs', queueUrl: 'q', maxMessageBytes: 10 }, 'maxMessageBytes: expected an integer from 1024 to 1048576, got 10'],
  ])('throws a ValidationError naming the field for %s', async (_name, options, message) => {
    // Prepare
    const sqs = stubSqs();

    // Act
    const publish = publishChanges([changeEvent()], { client: sqs.client, ...options } as never);

    // Assess
    await expect(publish).rejects.toThrow(ValidationError);
    await expect(publish).rejects.toThrow(`Invalid publishChanges options:\n  - ${message}`);
    expect(sqs.batches).toHaveLength(0);
  });

  it('throws for a client that is not an SDK client and for changes that are not a list', async () => {
    // Act
    const noClient = publishChanges([], { via: 'sqs', client: {} as SQSClient, queueUrl: 'q' });
    const noList = publishChanges('x' as never, { via: 'sqs', client: stubSqs().client, queueUrl: 'q' });

    // Assess
    await expect(noClient).rejects.toThrow('client: expected an AWS SDK v3 client (an object with send)');
    await expect(noList).rejects.toThrow('(root): expected an array of changes, got "x"');
  });
});
