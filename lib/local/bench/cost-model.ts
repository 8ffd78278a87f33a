/**
 * What a stream of changes costs on AWS, from counts measured on the emulators and stated on-demand
 * list prices. Pure: the benchmark measures the counts, this prices them.
 */

/** On-demand list prices in one region, US dollars. */
export interface Prices {
  readonly region: string;
  /** When the prices were taken from AWS's pricing pages. */
  readonly asOf: string;
  /** Per million write request units (one write of up to 1 KB; a failed conditional write costs one too). */
  readonly dynamodbPerMillionWriteUnits: number;
  /** Per million read request units (one strongly consistent read of up to 4 KB; eventually consistent is half). */
  readonly dynamodbPerMillionReadUnits: number;
  /** Standard queue, per million requests (each 64 KB of a request's payload is one request). */
  readonly sqsPerMillionRequests: number;
  /** Per million invocations. */
  readonly lambdaPerMillionRequests: number;
  /** Arm64, first tier. */
  readonly lambdaPerGbSecond: number;
  /** Custom events put on a bus, per million (each 64 KB is one). */
  readonly eventBridgePerMillionEvents: number;
  /** CloudWatch Logs standard ingestion, per GB (EMF metrics arrive as log lines too). */
  readonly logsPerGbIngested: number;
}

/** The list prices of us-east-1 the benchmark states (DynamoDB's are those after its November 2024 cut). */
export const US_EAST_1_PRICES: Prices = {
  region: 'us-east-1',
  asOf: '2026-12-01',
  dynamodbPerMillionWriteUnits: 0.625,
  dynamodbPerMillionReadUnits: 0.125,
  sqsPerMillionRequests: 0.4,
  lambdaPerMillionRequests: 0.2,
  lambdaPerGbSecond: 0.0000133334,
  eventBridgePerMillionEvents: 1.0,
  logsPerGbIngested: 0.5,
};

/** What the consumer side of one destination spent on a stream, in totals. */
export interface ConsumerUsage {
  /** Changes published to the destination (duplicates and old versions included). */
  readonly changes: number;
  /** Changes the destination took (the unit of the result). */
  readonly applied: number;
  readonly dynamodbWriteUnits: number;
  readonly dynamodbReadUnits: number;
  /** SQS requests of the event source (receives, deletes) and of the consumer itself (visibility, DLQ). */
  readonly sqsConsumerRequests: number;
  /** SendMessageBatch requests of a publisher sending straight to the queue. */
  readonly sqsPublisherRequests: number;
  readonly lambdaInvocations: number;
  /** Handler time summed over invocations, in milliseconds (billed by the millisecond). */
  readonly lambdaBilledMs: number;
  readonly lambdaMemoryMb: number;
  /** Bytes the handler printed: log lines and EMF documents, as CloudWatch Logs ingests them. */
  readonly logBytes: number;
}

/** Dollars per million applied records, by line item. */
export interface CostBreakdown {
  readonly dynamodb: number;
  readonly sqs: number;
  readonly lambdaRequests: number;
  readonly lambdaDuration: number;
  readonly logs: number;
  readonly eventBridge: number;
  readonly total: number;
}

/** How changes reach the queue: straight from the publisher, or through a bus rule. */
export const Feed = { SQS: 'sqs', EVENTBRIDGE: 'eventbridge' } as const;
export type Feed = (typeof Feed)[keyof typeof Feed];

const GB = 1024 ** 3;

/**
 * Prices a stream per million applied records. Fed through SQS, the publisher's batches are counted
 * as measured. Fed through EventBridge, every change is one PutEvents event, and the rule delivers
 * each one to the queue with its own SendMessage (EventBridge does not batch to SQS), which the queue
 * is billed for; the publisher sends no SQS requests.
 *
 * @example
 * const cost = costPerMillionApplied(usage, Feed.SQS);
 * cost.total; // e.g. 1.62
 */
export const costPerMillionApplied = (usage: ConsumerUsage, feed: Feed, prices: Prices = US_EAST_1_PRICES): CostBreakdown => {
  if (!(usage.applied > 0)) throw new RangeError(`Expected a stream with applied records, got ${usage.applied}`);
  const perApplied = (value: number) => value / usage.applied;
  const dynamodb =
    perApplied(usage.dynamodbWriteUnits) * prices.dynamodbPerMillionWriteUnits + perApplied(usage.dynamodbReadUnits) * prices.dynamodbPerMillionReadUnits;
  const publisherSqs = feed === Feed.SQS ? usage.sqsPublisherRequests : usage.changes;
  const sqs = perApplied(usage.sqsConsumerRequests + publisherSqs) * prices.sqsPerMillionRequests;
  const lambdaRequests = perApplied(usage.lambdaInvocations) * prices.lambdaPerMillionRequests;
  const gbSeconds = (usage.lambdaBilledMs / 1000) * (usage.lambdaMemoryMb / 1024);
  const lambdaDuration = perApplied(gbSeconds) * prices.lambdaPerGbSecond * 1e6;
  const logs = (perApplied(usage.logBytes) / GB) * prices.logsPerGbIngested * 1e6;
  const eventBridge = feed === Feed.EVENTBRIDGE ? perApplied(usage.changes) * prices.eventBridgePerMillionEvents : 0;
  return { dynamodb, sqs, lambdaRequests, lambdaDuration, logs, eventBridge, total: dynamodb + sqs + lambdaRequests + lambdaDuration + logs + eventBridge };
};
