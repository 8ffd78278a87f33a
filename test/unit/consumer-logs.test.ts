import { describe, expect, it } from 'vitest';
import { DestinationError } from '../../lib/core/errors.ts';
import { inMemoryConsumer } from '../helpers/consumer.ts';
import { changeEvent, lambdaContext, sqsEvent, sqsRecord } from '../helpers/factories.ts';

const SECRET = 'SECRET-4111-1111-1111-1111';
const secretPayload = { name: 'Ada', card: SECRET, nested: { note: `call ${SECRET}` } };

describe('Function: createConsumerHandler (logs)', () => {
  it('never logs a payload, on any path, and tags every record line with its identity and correlation id', async () => {
    // Prepare: one record per outcome, each carrying the secret somewhere in its body
    const { handler, destination, output } = inMemoryConsumer({ maxReceiveCount: 3 });
    destination.respond = async (write) => {
      if (write.event.id === 'rejected') throw new DestinationError('PUT answered 400', { errorClass: 'client', status: 400 });
      if (write.event.id === 'flaky') throw new DestinationError('PUT answered 503', { errorClass: 'server', status: 503 });
    };
    const body = (overrides: Record<string, unknown>) => JSON.stringify({ ...changeEvent({ payload: secretPayload }), ...overrides });
    const records = [
      sqsRecord(body({ id: 'applied', version: 2 })),
      sqsRecord(body({ id: 'rejected' })),
      sqsRecord(body({ id: 'flaky' })),
      sqsRecord(body({ id: 'bad-version', version: 'two' })),
      sqsRecord(body({ id: 'bad-payload', payload: SECRET })),
      sqsRecord(`{"resourceType":"contact","payload":{"card": ${SECRET}}}`),
      sqsRecord(`${SECRET} is not JSON`),
    ];
    records[0]!.messageAttributes = { correlationId: { stringValue: 'corr-42', dataType: 'String', stringListValues: [], binaryListValues: [] } };

    // Act
    await handler(sqsEvent(records), lambdaContext());
    await handler(sqsEvent([sqsRecord(body({ id: 'applied', version: 2 })), sqsRecord(body({ id: 'applied', version: 1 }))]), lambdaContext());

    // Assess
    const logLines = output.filter((line) => !line.includes('"_aws"'));
    expect(logLines.length).toBeGreaterThanOrEqual(records.length + 2);
    expect(output.filter((line) => line.includes(SECRET))).toEqual([]);
    const recordLines = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => typeof entry.outcome === 'string');
    expect(new Set(recordLines.map((entry) => entry.outcome))).toEqual(new Set(['applied', 'dead-lettered', 'retry', 'skipped']));
    for (const entry of recordLines) {
      expect(entry).toMatchObject({ destination: 'crm', messageId: expect.any(String), correlationId: expect.any(String), level: expect.any(String) });
    }
    expect(recordLines.find((entry) => entry.messageId === records[0]!.messageId)).toMatchObject({
      correlationId: 'corr-42',
      resourceType: 'contact',
      id: 'applied',
      version: 2,
    });
  });
});
