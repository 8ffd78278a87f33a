/**
 * What moto 5.2.1 lacks of what the stack uses, found by deploying it (see TOOLCHAIN.md), and the
 * words the e2e prints for each workaround: every one is printed on a run that meets it, never
 * applied silently.
 */

/**
 * moto parses a type it has no CloudFormation model for into nothing, and DescribeStackResource then
 * fails (HTTP 500) for every resource of that stack, so such types are left out too.
 */
const noModel = (type: string, consequence: string): [string, string] => [type, `moto has no CloudFormation model for ${type}: ${consequence}`];

/** Resource types left out of what is sent to moto's CreateStack, and why. */
export const MOTO_UNSUPPORTED_TYPES: ReadonlyMap<string, string> = new Map([
  noModel('AWS::CloudWatch::Alarm', 'CreateStack fails on a reference to one; the alarms are not exercised on moto'),
  noModel('AWS::SQS::QueuePolicy', 'moto does not enforce queue policies either (EventBridge delivers without one)'),
  noModel('AWS::SNS::TopicPolicy', 'moto does not enforce topic policies either'),
  noModel('AWS::Lambda::EventInvokeConfig', "the probe's asynchronous-invocation settings are not exercised on moto"),
  noModel('AWS::CDK::Metadata', 'CDK\'s own metadata, nothing the pipeline uses'),
  [
    'AWS::Lambda::EventSourceMapping',
    'moto would invoke the function itself (in Docker, which is not here) on every message sent to the queue, receiving it first; the e2e\'s pollers stand in for the event source mapping',
  ],
]);

/** The workarounds, by the gap they answer. */
export const MotoGap = {
  nestedStacks: (count: number) =>
    `moto reports the root stack CREATE_COMPLETE but creates none of its ${count} nested stacks (DescribeStackResource on them answers HTTP 500): each nested template is deployed as a stack of its own, its parameters resolved from the root's resources`,
  physicalId: (logicalId: string, type: string, used: string) =>
    `moto's DescribeStackResource gives no physical id for ${logicalId} (${type}): its name from the template is used (${used})`,
  queueUrl: (variables: readonly string[], deployed: string, used: string) =>
    `moto's CloudFormation gives a queue's Ref as the AWS URL (${deployed}), and the SDK sends to a QueueUrl's own host: ${variables.join(' and ')} are given the URL moto's GetQueueUrl answers for the same queue (${used})`,
  inputPath: (destination: string, wrapped: number, inputPath: string) =>
    `moto ignores the rule target's InputPath (${inputPath}): ${wrapped} messages reached ${destination}'s queue as the whole EventBridge event; the pollers applied the deployed InputPath to them before invoking the consumer, as EventBridge would have before delivering`,
  lambda: 'moto cannot invoke Lambda (it needs Docker): the deployed function (its asset in cdk.out, its environment from the template) runs in local execution-environment processes fed by the e2e\'s pollers',
  dynamodb: (endpoint: string) =>
    `moto's DynamoDB conditional writes are not atomic under concurrent requests (it would falsify I1 with several consumers): the consumers use the embedded DynamoDB emulator (dynalite, ${endpoint}) through AWS_ENDPOINT_URL_DYNAMODB, its ledger table created from the deployed template's definition`,
  eventBridgeCost: (viaEventBridge: number, total: number) =>
    `moto's EventBridge spends about half a second of CPU per event a rule delivers to SQS with an InputPath (it builds a JSONPath parser eight times an event): ${viaEventBridge} of the ${total} changes go via EventBridge, spread through the stream, the rest straight to the queues`,
  outputs: 'moto returns no stack outputs: queue URLs are looked up by the names the config gives (GetQueueUrl)',
} as const;

/** The account moto serves when MOTO_ACCOUNT_ID is not set (the moto the e2e starts has it). */
export const MOTO_DEFAULT_ACCOUNT = '123456789012';
