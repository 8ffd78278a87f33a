import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { PipelineConfig } from '../../config/pipeline-config.ts';
import { createSeedBaselineHandler, httpSeedClient, SeedBaselineEnv } from './seed-baseline.ts';

/**
 * Lambda entry point of the seed baseline, as a function of its own would deploy it: configured by
 * the environment variables of {@link SeedBaselineEnv}, its clients and Powertools utilities built
 * at module load (the cold start pays for them, as it does for the consumer's). The benchmark
 * bundles it with the consumer's bundling settings (lib/infra/consumer-bundling.ts) and compares
 * size and cold start with `lambdas/consumer/handler.ts`.
 */
const required = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`Environment variable ${name} is not set`);
  return value;
};

const serviceName = required(SeedBaselineEnv.SERVICE_NAME);
const deadLetterQueueUrl = required(SeedBaselineEnv.DEAD_LETTER_QUEUE_URL);
const sqs = new SQSClient({});

export const handler = createSeedBaselineHandler({
  persistenceStore: new DynamoDBPersistenceLayer({
    tableName: required(SeedBaselineEnv.IDEMPOTENCY_TABLE_NAME),
    awsSdkV3Client: new DynamoDBClient({}),
  }),
  client: httpSeedClient(required(SeedBaselineEnv.DESTINATION_BASE_URL)),
  logger: new Logger({ serviceName, logLevel: (process.env[SeedBaselineEnv.LOG_LEVEL] ?? 'INFO') as PipelineConfig['logLevel'] }),
  metrics: new Metrics({ namespace: required(SeedBaselineEnv.METRICS_NAMESPACE), serviceName }),
  deadLetter: async (body, reason) => {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: deadLetterQueueUrl,
        MessageBody: body,
        // An error message, cut short: SQS counts attributes in the message size, and refuses an empty value.
        MessageAttributes: { reason: { DataType: 'String', StringValue: reason.slice(0, 1_000) || 'unknown' } },
      }),
    );
  },
});
