import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaEventSourceSwitch } from '../../lib/adapters/lambda-event-source-switch.ts';
import { SecretsManagerReader } from '../../lib/adapters/secrets.ts';
import { defaultSqsClient } from '../../lib/adapters/sqs-record-queue.ts';
import { readDestinationConfig, type PipelineConfig } from '../../lib/config/pipeline-config.ts';
import { ConsumerEnv } from '../../lib/config/consumer-env.ts';
import type { DestinationPlugins } from '../../lib/core/plugins.ts';
import { wireConsumerHandler } from '../../lib/consumer/wiring.ts';

/**
 * The consumer Lambda's handler, configured by environment variables the CDK construct sets.
 * Reading them at cold start, and validating a destination config that is not the one `cdk synth`
 * validated (readDestinationConfig), makes a bad deployment fail loudly on its first invocation
 * with the name of the missing or invalid setting.
 */
const required = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`Environment variable ${name} is not set`);
  return value;
};

/**
 * Builds one destination's consumer handler with the user code its config names. The shared entry
 * (`handler.ts`) passes no plugins; the entry the stack generates for a destination with a
 * `transform` or a `module` imports that module statically (so it is bundled into that function
 * only) and passes what `pluginsFromModule` picks from it.
 *
 * @example
 * export const handler = createLambdaHandler({});
 */
export const createLambdaHandler = (plugins: DestinationPlugins) => {
  const destination = readDestinationConfig(required(ConsumerEnv.DESTINATION), process.env[ConsumerEnv.DESTINATION_SHA256]);
  return wireConsumerHandler({
    destination,
    plugins,
    tableName: required(ConsumerEnv.LEDGER_TABLE_NAME),
    queueUrl: required(ConsumerEnv.QUEUE_URL),
    deadLetterQueueUrl: required(ConsumerEnv.DEAD_LETTER_QUEUE_URL),
    metricsNamespace: required(ConsumerEnv.METRICS_NAMESPACE),
    serviceName: required(ConsumerEnv.SERVICE_NAME),
    logLevel: (process.env[ConsumerEnv.LOG_LEVEL] ?? 'INFO') as PipelineConfig['logLevel'],
    dynamodb: new DynamoDBClient({}),
    // The SQS, Secrets Manager and Lambda clients are loaded at first use, not at init: an
    // invocation whose records all succeed needs none of them.
    sqs: defaultSqsClient,
    // Only a destination with auth reads a secret (its own: the role allows no other).
    ...(destination.auth === undefined ? {} : { secrets: new SecretsManagerReader() }),
    eventSource: new LambdaEventSourceSwitch({
      functionName: required('AWS_LAMBDA_FUNCTION_NAME'),
      queueArn: required(ConsumerEnv.QUEUE_ARN),
    }),
  });
};
