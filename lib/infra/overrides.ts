import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Tracing } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';
import { describeValue, ValidationError } from '../contract/validation.ts';

/** Lambda's range for a function's memory, in MB. */
const MEMORY_SIZE_RANGE = { min: 128, max: 10_240 } as const;

/**
 * What a CDK user may change on the consumer functions beyond the config: the settings that depend
 * on the account they deploy to (network, tracing, log retention) or on its cost trade-offs
 * (memory). Named as on `FunctionProps`. Everything that decides delivery (timeouts, batching,
 * concurrency, retries) stays in the config, which the local runtime reads too.
 *
 * @example
 * const overrides: ConsumerFunctionOverrides = { memorySize: 1024, tracing: Tracing.ACTIVE, logRetention: RetentionDays.THREE_MONTHS };
 */
export interface ConsumerFunctionOverrides {
  /**
   * The function's memory in MB (128 to 10,240), and so its CPU share and its price per millisecond.
   *
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * X-Ray tracing. `Tracing.ACTIVE` lets the function write traces: CDK adds
   * `xray:PutTraceSegments` and `xray:PutTelemetryRecords` on `*` to its role (X-Ray has no
   * resource-level permission; the cdk-nag finding is acknowledged on that role for this reason).
   *
   * @default - no tracing (Lambda's PassThrough)
   */
  readonly tracing?: Tracing;
  /**
   * How long the function's own log group keeps its logs.
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * The VPC to run the function in, for a destination reachable only from there. The function then
   * reaches SQS, DynamoDB, CloudWatch and (with `auth`) Secrets Manager through the VPC: give its
   * subnets a NAT gateway or VPC endpoints for them. Its role gets the EC2 network-interface
   * actions Lambda needs to attach it (those of `AWSLambdaVPCAccessExecutionRole`, without that
   * managed policy's right to write to every log group).
   *
   * @default - not in a VPC
   */
  readonly vpc?: IVpc;
  /**
   * Where in `vpc` the function runs.
   *
   * @default - the VPC's private subnets (CDK's default for a function)
   */
  readonly vpcSubnets?: SubnetSelection;
  /**
   * The function's security groups in `vpc`.
   *
   * @default - a new security group per function, all outbound traffic allowed, no inbound
   */
  readonly securityGroups?: ISecurityGroup[];
}

/**
 * What a CDK user may change on a destination's queue and its DLQ beyond the config.
 *
 * @example
 * const overrides: QueueOverrides = { encryptionKey: Key.fromKeyArn(stack, 'QueueKey', queueKeyArn) };
 */
export interface QueueOverrides {
  /**
   * A customer-managed KMS key for the queue and its DLQ. It takes the place of the config's
   * `kmsKeyArn` for the queues (the ledger table and the alarm topic keep the config's key). Its
   * key policy must let EventBridge (`events.amazonaws.com`) use it: the routing rule writes to
   * the queue. The consumer and {@link SyncPipeline.grantPublish} are granted its use.
   *
   * @default - the config's `kmsKeyArn`, else SQS-managed encryption
   */
  readonly encryptionKey?: IKey;
}

/**
 * The overrides of one destination, each field on top of the same field for all destinations.
 *
 * @example
 * const overrides: Record<string, DestinationOverrides> = { erp: { consumerFunctionProps: { vpc }, queueProps: { encryptionKey } } };
 */
export interface DestinationOverrides {
  /** @default - the overrides for all destinations (`SyncPipelineProps.consumerFunctionProps`) */
  readonly consumerFunctionProps?: ConsumerFunctionOverrides;
  /** @default - the overrides for all destinations (`SyncPipelineProps.queueProps`) */
  readonly queueProps?: QueueOverrides;
}

/** The overrides a construct takes for all destinations and per destination name. */
export interface OverrideProps {
  readonly consumerFunctionProps?: ConsumerFunctionOverrides;
  readonly queueProps?: QueueOverrides;
  readonly destinationOverrides?: Readonly<Record<string, DestinationOverrides>>;
}

/** `{ ...base, ...over }` without letting a field `over` leaves undefined hide the one in `base`. */
const layered = <T extends object>(base: T | undefined, over: T | undefined): T => {
  const defined = Object.entries(over ?? {}).filter(([, value]) => value !== undefined);
  return { ...base, ...Object.fromEntries(defined) } as T;
};

/** The problems of one set of function overrides, each `path: expected …, got …`. */
const functionOverrideIssues = (path: string, overrides: ConsumerFunctionOverrides | undefined): string[] => {
  const memorySize = overrides?.memorySize;
  if (memorySize === undefined || (Number.isInteger(memorySize) && memorySize >= MEMORY_SIZE_RANGE.min && memorySize <= MEMORY_SIZE_RANGE.max)) return [];
  return [`${path}.memorySize: expected an integer from ${MEMORY_SIZE_RANGE.min} to ${MEMORY_SIZE_RANGE.max}, got ${describeValue(memorySize)}`];
};

/**
 * Checks the overrides against the config, then returns, per destination, its overrides layered on
 * those for all destinations. An override for a destination the config does not have is a mistake
 * (a typo, or a destination removed from the config): it fails, naming it.
 *
 * @throws {ValidationError} listing every problem, e.g.
 *   `destinationOverrides.billing: expected one of the config's destinations (crm, erp), got "billing"`
 *
 * @example
 * const overridesOf = resolveOverrides(config, { consumerFunctionProps: { memorySize: 1024 }, destinationOverrides: { erp: { consumerFunctionProps: { vpc } } } });
 * overridesOf(config.destinations[1]).consumerFunctionProps; // { memorySize: 1024, vpc }
 */
export const resolveOverrides = (
  config: PipelineConfig,
  props: OverrideProps,
): ((destination: Pick<DestinationConfig, 'name'>) => Required<DestinationOverrides>) => {
  const names = config.destinations.map((destination) => destination.name);
  const perDestination = props.destinationOverrides ?? {};
  const issues = [
    ...functionOverrideIssues('consumerFunctionProps', props.consumerFunctionProps),
    ...Object.entries(perDestination).flatMap(([name, overrides]) =>
      names.includes(name)
        ? functionOverrideIssues(`destinationOverrides.${name}.consumerFunctionProps`, overrides.consumerFunctionProps)
        : [`destinationOverrides.${name}: expected one of the config's destinations (${names.join(', ')}), got ${describeValue(name)}`],
    ),
  ];
  if (issues.length > 0) throw new ValidationError('SyncPipeline props', issues);
  return (destination) => {
    const own = perDestination[destination.name];
    return {
      consumerFunctionProps: layered(props.consumerFunctionProps, own?.consumerFunctionProps),
      queueProps: layered(props.queueProps, own?.queueProps),
    };
  };
};
