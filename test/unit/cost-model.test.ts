import { describe, expect, it } from 'vitest';
import { costPerMillionApplied, Feed, US_EAST_1_PRICES, type ConsumerUsage } from '../../lib/local/bench/cost-model.ts';

// 2000 changes of which 1000 applied: 2500 write units, 400 read units, 200 receives and 200
// deletes, 200 publisher batches, 200 invocations of 100 ms at 512 MB, 1 MB of output.
const usage: ConsumerUsage = {
  changes: 2000,
  applied: 1000,
  dynamodbWriteUnits: 2500,
  dynamodbReadUnits: 400,
  sqsConsumerRequests: 400,
  sqsPublisherRequests: 200,
  lambdaInvocations: 200,
  lambdaBilledMs: 200 * 100,
  lambdaMemoryMb: 512,
  logBytes: 1024 ** 2,
};

describe('Function: costPerMillionApplied', () => {
  it('prices a stream fed through SQS per million applied records, line by line', () => {
    // Act
    const cost = costPerMillionApplied(usage, Feed.SQS);

    // Assess: 2.5 WRU and 0.4 RRU, 0.6 SQS requests, 0.2 invocations, 0.2 x 0.1 s x 0.5 GB, 1 MiB over 1000 applied records
    expect(cost.dynamodb).toBeCloseTo(2.5 * 0.625 + 0.4 * 0.125, 10);
    expect(cost.sqs).toBeCloseTo(0.6 * 0.4, 10);
    expect(cost.lambdaRequests).toBeCloseTo(0.2 * 0.2, 10);
    expect(cost.lambdaDuration).toBeCloseTo(0.2 * 0.1 * 0.5 * 0.0000133334 * 1e6, 10);
    expect(cost.logs).toBeCloseTo((1024 ** 2 / 1000 / 1024 ** 3) * 0.5 * 1e6, 10);
    expect(cost.eventBridge).toBe(0);
    expect(cost.total).toBeCloseTo(cost.dynamodb + cost.sqs + cost.lambdaRequests + cost.lambdaDuration + cost.logs, 10);
  });

  it('charges an EventBridge feed one event and one SendMessage per change instead of the publisher batches', () => {
    // Act
    const viaSqs = costPerMillionApplied(usage, Feed.SQS);
    const viaBus = costPerMillionApplied(usage, Feed.EVENTBRIDGE);

    // Assess: 2 changes per applied record
    expect(viaBus.eventBridge).toBeCloseTo(2 * US_EAST_1_PRICES.eventBridgePerMillionEvents, 10);
    expect(viaBus.sqs).toBeCloseTo((0.4 + 2) * 0.4, 10);
    expect(viaBus.total - viaSqs.total).toBeCloseTo(2 + (2 - 0.2) * 0.4, 10);
  });

  it('refuses a stream with nothing applied', () => {
    // Act & Assess
    expect(() => costPerMillionApplied({ ...usage, applied: 0 }, Feed.SQS)).toThrow('Expected a stream with applied records, got 0');
  });
});
