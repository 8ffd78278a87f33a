import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parsePipelineConfig, type PipelineConfig } from '../../lib/config/pipeline-config.ts';
import { wireConsumerHandler } from '../../lib/consumer/wiring.ts';
import { connectAws } from '../../lib/local/sim/emulators.ts';
import { startFakeApi, type FakeApi, type FakeApiOptions } from '../../lib/local/lab/fake-api.ts';
import { createLocalResources } from '../../lib/local/sim/local-resources.ts';
import { captureJsonOutput } from '../../lib/local/sim/output-capture.ts';

export interface EmulatedConsumer {
  /** The real consumer for destination `crm`, its Powertools output captured (see `onOutput`). */
  readonly handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
  readonly fakeApi: FakeApi;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /** The version ledger's table. */
  readonly tableName: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  stop(): Promise<void>;
}

/**
 * One destination (`crm`, type `contact`) on the embedded emulators and the fake API, with the
 * real consumer handler wired as the Lambda entry point wires it.
 */
export const startEmulatedConsumer = async (
  options: {
    readonly metricsNamespace?: string;
    readonly logLevel?: PipelineConfig['logLevel'];
    /** Each JSON line the handler prints (logs and EMF). */
    readonly onOutput?: (line: string) => void;
    /** Each DynamoDB command the consumer sends, by name. */
    readonly onDynamoDbCommand?: (name: string) => void;
    /** The types routed to `crm`. @default ['contact'] */
    readonly resourceTypes?: readonly string[];
    /** Options of the fake API. @default none */
    readonly fakeApi?: FakeApiOptions;
    /** More fields of the `crm` destination's config (timeouts, settleSeconds, versionPrecondition). */
    readonly destination?: Readonly<Record<string, unknown>>;
  } = {},
): Promise<EmulatedConsumer> => {
  const aws = await connectAws();
  const fakeApi = await startFakeApi(options.fakeApi);
  const { sqs, dynamodb } = aws;
  const config = parsePipelineConfig({
    logLevel: options.logLevel ?? 'INFO',
    destinations: [{ name: 'crm', kind: 'http', baseUrl: fakeApi.baseUrl('crm'), resourceTypes: [...(options.resourceTypes ?? ['contact'])], ...options.destination }],
  });
  const destination = config.destinations[0]!;
  const resources = await createLocalResources({ config, sqs, dynamodb });
  const queues = resources.destinations.crm!;
  const { onDynamoDbCommand } = options;
  if (onDynamoDbCommand !== undefined) {
    // Installed after the setup, so only the consumer's own requests are counted.
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        onDynamoDbCommand(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'countCommands' },
    );
  }
  const inner = wireConsumerHandler({
    destination,
    tableName: resources.tableName,
    queueUrl: queues.queueUrl,
    deadLetterQueueUrl: queues.deadLetterQueueUrl,
    metricsNamespace: options.metricsNamespace ?? 'Test',
    serviceName: 'test',
    logLevel: config.logLevel,
    dynamodb,
    sqs,
  });
  const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const capture = captureJsonOutput((line) => options.onOutput?.(line));
    try {
      return await inner(event, context);
    } finally {
      capture.restore();
    }
  };
  return {
    handler,
    fakeApi,
    sqs,
    dynamodb,
    tableName: resources.tableName,
    queueUrl: queues.queueUrl,
    deadLetterQueueUrl: queues.deadLetterQueueUrl,
    stop: async () => {
      await fakeApi.stop();
      await aws.stop();
    },
  };
};
