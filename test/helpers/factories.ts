import { randomUUID } from 'node:crypto';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ChangeEvent } from '../../lib/contract/change-event.ts';
import { DestinationError } from '../../lib/core/errors.ts';

/** A valid change event; override any field. */
export const changeEvent = (overrides: Partial<ChangeEvent> = {}): ChangeEvent =>
  ({
    resourceType: 'contact',
    id: 'c-1',
    version: 1,
    occurredAt: new Date(Date.now() - 1000).toISOString(),
    op: 'upsert',
    payload: { name: 'Ada Lovelace', email: 'ada@example.com' },
    ...overrides,
  }) as ChangeEvent;

/** An SQS record as the Lambda event source delivers it. */
export const sqsRecord = (body: string, options: { receiveCount?: number; messageId?: string } = {}): SQSRecord => {
  const now = Date.now();
  return {
    messageId: options.messageId ?? randomUUID(),
    receiptHandle: `rh-${randomUUID()}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(now - 500),
      SenderId: 'AIDATEST',
      ApproximateFirstReceiveTimestamp: String(now - 400),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:sync-pipeline-crm',
    awsRegion: 'us-east-1',
  };
};

export const sqsEvent = (records: SQSRecord[]): SQSEvent => ({ Records: records });

/** A Lambda context with a remaining-time clock. */
export const lambdaContext = (timeoutMs = 30_000): Context => {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'sync-pipeline-crm-consumer',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sync-pipeline-crm-consumer',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/sync-pipeline-crm-consumer',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
};

/** The DestinationError a call rejects with; fails the test when it resolves or throws anything else. */
export const failureOf = async (promise: Promise<unknown>): Promise<DestinationError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DestinationError) return error;
    throw error;
  }
  throw new Error('expected a DestinationError');
};
