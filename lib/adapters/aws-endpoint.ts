/** Where the AWS clients go: AWS itself, or an emulator (LocalStack, moto, the embedded runtime). */
export interface EndpointSettings {
  /** One endpoint for every service (LocalStack, moto). */
  readonly endpoint?: string;
  /** Per-service endpoints (the embedded runtime serves SQS and DynamoDB on two ports); each wins over `endpoint`. */
  readonly sqsEndpoint?: string;
  readonly dynamodbEndpoint?: string;
  readonly cloudwatchEndpoint?: string;
  /** @default AWS_REGION, else the SDK's chain; 'us-east-1' on an emulator */
  readonly region?: string;
}

export type AwsService = 'sqs' | 'dynamodb' | 'cloudwatch';

/** What an SDK client constructor takes from the settings. */
export interface ServiceClientConfig {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The SDK's own per-service variables, read here too so that one setting reaches every command. */
const SERVICE_ENDPOINT_ENV: Readonly<Record<AwsService, string>> = {
  sqs: 'AWS_ENDPOINT_URL_SQS',
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  cloudwatch: 'AWS_ENDPOINT_URL_CLOUDWATCH',
};

/**
 * The endpoint a service's client uses: the per-service setting, the shared one, the SDK's
 * `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL` variables, in that order; undefined for AWS.
 *
 * @example
 * endpointFor('sqs', { endpoint: 'http://127.0.0.1:5000' }); // 'http://127.0.0.1:5000'
 */
export const endpointFor = (service: AwsService, settings: EndpointSettings, env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const own = { sqs: settings.sqsEndpoint, dynamodb: settings.dynamodbEndpoint, cloudwatch: settings.cloudwatchEndpoint }[service];
  const chosen = own ?? settings.endpoint ?? env[SERVICE_ENDPOINT_ENV[service]] ?? env.AWS_ENDPOINT_URL;
  return chosen === undefined || chosen === '' ? undefined : chosen;
};

/**
 * SDK client config for one service. On an emulator the region defaults to `us-east-1` and, when no
 * credentials are in the environment, fixed test ones are used (emulators accept any); on AWS the
 * SDK's default chains decide.
 *
 * @example
 * new SQSClient(serviceClientConfig('sqs', { endpoint: 'http://127.0.0.1:4566' })); // LocalStack
 * new SQSClient(serviceClientConfig('sqs', {})); // AWS, default credential chain
 */
export const serviceClientConfig = (service: AwsService, settings: EndpointSettings, env: NodeJS.ProcessEnv = process.env): ServiceClientConfig => {
  const endpoint = endpointFor(service, settings, env);
  const region = settings.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (endpoint === undefined) return region === undefined ? {} : { region };
  const hasCredentials = env.AWS_ACCESS_KEY_ID !== undefined || env.AWS_PROFILE !== undefined;
  return {
    endpoint,
    region: region ?? 'us-east-1',
    ...(hasCredentials ? {} : { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
  };
};
