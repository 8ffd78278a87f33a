import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, ListRulesCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { ConsumerEnv } from '../../config/consumer-env.ts';
import { loadPipelineConfig, type PipelineConfig } from '../../config/pipeline-config.ts';
import { destinationResources } from '../../config/resources.ts';
import type { ChangeEvent } from '../../contract/change-event.ts';
import { MetricDimension, MetricName } from '../../core/metrics.ts';
import { readDeadLetters, type DeadLetter } from '../../ops/dead-letters.ts';
import { sendBodies } from '../../adapters/sqs-send.ts';
import { startFakeApi, type FakeApi } from '../lab/fake-api.ts';
import { checkInvariants, type DestinationAccounting, type InvariantCheck } from '../lab/invariants.ts';
import { buildWorkload, createOccurredAtStamper } from '../lab/workload.ts';
import { captureConsumerOutput, type ConsumerOutput } from '../sim/consumer-output.ts';
import { EmfStore } from '../sim/emf.ts';
import { startEmulators, type Emulators } from '../sim/emulators.ts';
import { startEventSourcePoller, type EventSourcePoller, type InvocationSummary } from '../sim/event-source-poller.ts';
import {
  cloudFormationClient,
  createdNestedStacks,
  createStandaloneStack,
  deleteStacks,
  environmentOfStack,
  physicalIdOf,
  planStandaloneStacks,
  readTemplateFile,
  runCdk,
  targetEnvironment,
  type DeployTarget,
  type StandaloneStack,
} from './deploy.ts';
import { startFunctionEnvironments, type FunctionEnvironments } from './deployed-consumer.ts';
import { MOTO_DEFAULT_ACCOUNT, MOTO_UNSUPPORTED_TYPES, MotoGap } from './moto-gaps.ts';
import { startMotoServer, type MotoServer } from '../sim/moto-server.ts';
import { goesViaEventBridge } from './route-split.ts';
import { publishChanges } from '../../publish/publish-changes.ts';
import { checkDeployedRouting, type DeployedRule, type RoutingVerdict } from './routing-check.ts';
import {
  declaredPhysicalId,
  functionsOf,
  handlerModuleOf,
  nestedStacksOf,
  referencesOf,
  resolveEnvironment,
  resourcesOfType,
  stackResolver,
  type ArnEnvironment,
  type CfnTemplate,
  type LeftOutResource,
} from './template.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Where the e2e keeps its scratch config and cloud assembly (gitignored, under the repository so the bundle's external SDK resolves). */
export const E2E_SCRATCH_DIR = join(REPO_ROOT, '.sync-pipeline', 'scratch', 'e2e');

/** @example const options: E2eOptions = { changes: 300, seed: 1 }; */
export interface E2eOptions {
  /** An emulator already running (moto, LocalStack); without it, moto is started on loopback and stopped after. */
  readonly endpoint?: string;
  /** The endpoint is LocalStack: plain `cdklocal deploy` (it has nested stacks), the real Lambda runs there, no pollers. */
  readonly localstack?: boolean;
  /** Leave what was deployed (and a moto started here) running until `signal` aborts. */
  readonly keep?: boolean;
  /** Changes in the workload (duplicates, reordering and twins included). @default 300 */
  readonly changes?: number;
  /** @default 1 */
  readonly seed?: number;
  /** Changes published via EventBridge, spread through the stream; the rest go straight to the queues. @default 60 */
  readonly viaEventBridge?: number;
  /** Malformed bodies sent straight to the first destination's queue. @default 3 */
  readonly malformed?: number;
  /** Concurrent pollers (execution environments) per destination. @default 2 */
  readonly pollers?: number;
  /** The host LocalStack's Lambda containers reach the fake API at. @default 'host.docker.internal' */
  readonly fakeApiHost?: string;
  /** The pipeline config the scratch config is made from. @default 'config/sync-pipeline.json' */
  readonly configPath?: string;
  /** Give up when nothing is accounted for this long. @default 30000 */
  readonly stallTimeoutMs?: number;
  /** Told what the e2e is doing, a line at a time. */
  readonly onProgress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** One check of the e2e: PASS, FAIL, or not judged on this emulator (with the reason). */
export interface E2eCheck {
  readonly name: string;
  readonly status: 'PASS' | 'FAIL' | 'NOT JUDGED';
  readonly detail: string;
}

/** The e2e's report (`--json`, reports/e2e.json). */
export interface E2eReport {
  readonly ok: boolean;
  readonly runId: string;
  readonly emulator: 'moto (started here)' | 'moto' | 'localstack';
  readonly endpoint: string;
  readonly stackName: string;
  readonly durationMs: number;
  readonly phases: ReadonlyArray<{ readonly phase: string; readonly ms: number }>;
  /** Every emulator gap met and how the e2e worked around it. */
  readonly workarounds: readonly string[];
  /** Resources of the template not deployed on the emulator, with the reason. */
  readonly notDeployed: ReadonlyArray<LeftOutResource & { readonly stack: string }>;
  readonly routing: readonly RoutingVerdict[];
  readonly published: {
    readonly changes: number;
    readonly viaEventBridge: number;
    readonly viaSqs: number;
    readonly malformed: number;
    readonly byDestination: Readonly<Record<string, { readonly eventBridge: number; readonly sqs: number }>>;
  };
  readonly destinations: ReadonlyArray<DestinationAccounting & { readonly received: Readonly<Record<string, number>> }>;
  readonly checks: readonly E2eCheck[];
  readonly drained: boolean;
  readonly teardown: readonly string[];
}

const DEFAULTS = { changes: 300, viaEventBridge: 60, seed: 1, malformed: 3, pollers: 2, stallTimeoutMs: 30_000, fakeApiHost: 'host.docker.internal', configPath: 'config/sync-pipeline.json' } as const;

/** A fake access key per endpoint: the CDK caches the account per key. */
const accessKeyFor = (endpoint: string): string => `E2E${Buffer.from(endpoint).toString('hex').slice(-12).toUpperCase()}`;

/**
 * The scratch config: the given one under a pipeline name of the e2e's own, every HTTP destination
 * pointed at the fake API, log level DEBUG (the oracles read each record's line, as the local
 * runtime's do; the template then gives the function DEBUG itself).
 */
export const scratchConfigFor = (raw: Record<string, unknown>, options: { readonly name: string; readonly baseUrl: (destination: string) => string; readonly insecureHttp: boolean }): Record<string, unknown> => ({
  ...raw,
  name: options.name,
  logLevel: 'DEBUG',
  destinations: (raw['destinations'] as Array<Record<string, unknown>>).map((destination) =>
    destination['kind'] === 'http' || destination['kind'] === undefined
      ? { ...destination, baseUrl: options.baseUrl(String(destination['name'])), ...(options.insecureHttp ? { allowInsecureHttp: true } : {}) }
      : destination,
  ),
});

interface DestinationQueues {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
}

const queueArnOf = async (sqs: SQSClient, queueUrl: string): Promise<string> => {
  const answer = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const arn = answer.Attributes?.QueueArn;
  if (arn === undefined) throw new Error(`Expected ${queueUrl} to have a QueueArn`);
  return arn;
};

/** The deployed queues of each destination, found by the names the config gives. */
const findQueues = async (sqs: SQSClient, config: PipelineConfig): Promise<Record<string, DestinationQueues>> => {
  const found: Record<string, DestinationQueues> = {};
  for (const destination of config.destinations) {
    const names = destinationResources(config, destination);
    const url = async (name: string) => {
      const answer = await sqs.send(new GetQueueUrlCommand({ QueueName: name })).catch((error: unknown) => {
        throw new Error(`The deployed queue ${name} of destination ${destination.name} is not there: ${(error as Error).message}`);
      });
      return answer.QueueUrl!;
    };
    const queueUrl = await url(names.queueName);
    found[destination.name] = { queueUrl, queueArn: await queueArnOf(sqs, queueUrl), deadLetterQueueUrl: await url(names.deadLetterQueueName) };
  }
  return found;
};

/** The bus's rules and their targets, as the emulator lists them. */
const listDeployedRules = async (events: EventBridgeClient, eventBusName: string): Promise<DeployedRule[]> => {
  const rules: DeployedRule[] = [];
  let nextToken: string | undefined;
  do {
    const page = await events.send(new ListRulesCommand({ EventBusName: eventBusName, ...(nextToken === undefined ? {} : { NextToken: nextToken }) }));
    for (const rule of page.Rules ?? []) {
      const targets = await events.send(new ListTargetsByRuleCommand({ Rule: rule.Name!, EventBusName: eventBusName }));
      rules.push({
        name: rule.Name!,
        pattern: rule.EventPattern === undefined ? undefined : JSON.parse(rule.EventPattern),
        targets: (targets.Targets ?? []).map((target) => ({ arn: target.Arn!, ...(target.InputPath === undefined ? {} : { inputPath: target.InputPath }) })),
      });
    }
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return rules;
};

/** The ledger table, created on the embedded DynamoDB emulator from the deployed template's definition of it. */
const createLedgerTable = async (dynamodb: DynamoDBClient, root: CfnTemplate): Promise<string> => {
  const [[logicalId, table] = []] = resourcesOfType(root, 'AWS::DynamoDB::Table');
  if (table === undefined) throw new Error('Expected the root template to hold the ledger table (AWS::DynamoDB::Table)');
  const properties = table.Properties ?? {};
  const tableName = properties['TableName'];
  if (typeof tableName !== 'string') throw new Error(`Expected ${logicalId} to have a TableName`);
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: properties['KeySchema'] as CreateTableCommandInput['KeySchema'],
      AttributeDefinitions: properties['AttributeDefinitions'] as CreateTableCommandInput['AttributeDefinitions'],
      BillingMode: (properties['BillingMode'] as CreateTableCommandInput['BillingMode']) ?? 'PAY_PER_REQUEST',
    }),
  );
  return tableName;
};

/** An EventBridge event delivered whole (moto ignores InputPath), recognised by its envelope fields. */
const envelopeDetail = (body: string): unknown => {
  if (!body.startsWith('{') || !body.includes('"detail-type"')) return undefined;
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    return 'detail' in parsed && 'source' in parsed && 'detail-type' in parsed ? parsed['detail'] : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The deployed InputPath, applied by the poller to a message that arrived as the whole event (moto
 * ignores it). Only `$.detail` is what the stack deploys; any other path is refused loudly.
 */
const applyInputPath = (inputPath: string, onWrapped: (messageId: string) => void) => (event: SQSEvent): SQSEvent => {
  if (inputPath !== '$.detail') throw new Error(`The e2e applies only the InputPath $.detail the stack deploys, got ${inputPath}`);
  return {
    Records: event.Records.map((record) => {
      const detail = envelopeDetail(record.body);
      if (detail === undefined) return record;
      onWrapped(record.messageId);
      return { ...record, body: JSON.stringify(detail) };
    }),
  };
};

/** Per destination, what the pollers saw. */
interface Observed {
  /** Message id → deliveries that ended (resolved and not listed as failed). */
  readonly terminal: Map<string, number>;
  /** Distinct message ids received. */
  readonly received: Set<string>;
  /** Distinct message ids that arrived as the whole EventBridge event. */
  readonly wrapped: Set<string>;
  /** Resource type → changes received (parsed from the bodies as invoked). */
  readonly types: Map<string, number>;
}

/**
 * Runs the deployed end-to-end test; see the README's "Deployed end-to-end test". Resolves with the
 * report; `ok` is false when any check failed.
 *
 * @example
 * const report = await runE2e({ changes: 300, onProgress: (line) => console.error(line) });
 * report.checks.filter((check) => check.status === 'FAIL');
 */
export const runE2e = async (options: E2eOptions = {}): Promise<E2eReport> => {
  const startedAt = Date.now();
  const runId = randomBytes(3).toString('hex');
  const tell = options.onProgress ?? (() => undefined);
  const localstack = options.localstack === true;
  const phases: Array<{ phase: string; ms: number }> = [];
  const phase = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const began = Date.now();
    tell(`${name} …`);
    try {
      return await work();
    } finally {
      phases.push({ phase: name, ms: Date.now() - began });
      tell(`${name}: ${((Date.now() - began) / 1000).toFixed(1)} s`);
    }
  };
  const workarounds: string[] = [];
  const workaround = (line: string): void => {
    if (workarounds.includes(line)) return;
    workarounds.push(line);
    tell(`workaround: ${line}`);
  };
  const notDeployed: Array<LeftOutResource & { stack: string }> = [];
  const teardown: string[] = [];
  const checks: E2eCheck[] = [];
  const check = (name: string, ok: boolean, detail: string): void => {
    checks.push({ name, status: ok ? 'PASS' : 'FAIL', detail });
  };

  mkdirSync(E2E_SCRATCH_DIR, { recursive: true });
  mkdirSync(join(REPO_ROOT, 'reports'), { recursive: true });
  const cdkLog = join(REPO_ROOT, 'reports', 'e2e-cdk.log');
  writeFileSync(cdkLog, '');

  let moto: MotoServer | undefined;
  let fakeApi: FakeApi | undefined;
  let embedded: Emulators | undefined;
  let output: ConsumerOutput | undefined;
  const pollers: EventSourcePoller[] = [];
  const environments: FunctionEnvironments[] = [];
  const deployedStacks: string[] = [];
  let cleanup: (() => Promise<void>) | undefined;
  try {
    if (options.endpoint === undefined) moto = await phase('start moto', () => startMotoServer({ logFile: join(REPO_ROOT, 'reports', 'e2e-moto.log') }));
    const endpoint = moto?.endpoint ?? options.endpoint!;
    if (moto === undefined) {
      const answers = await fetch(endpoint, { signal: AbortSignal.timeout(5_000) }).then(() => true, () => false);
      if (!answers) {
        throw new Error(
          `Nothing answers at ${endpoint}${localstack ? ': start LocalStack first (docker compose -f localstack/compose.yml up -d)' : ''}; without --endpoint the e2e starts moto itself`,
        );
      }
    }
    const target: DeployTarget = {
      endpoint,
      cdkEndpoint: moto?.cdkEndpoint ?? endpoint.replace('//127.0.0.1', '//localhost'),
      region: process.env.AWS_REGION ?? 'us-east-1',
      accessKeyId: accessKeyFor(endpoint),
      cli: localstack ? 'cdklocal' : 'cdk',
    };
    const credentials = { accessKeyId: target.accessKeyId, secretAccessKey: 'e2e-secret' };
    const clientConfig = { endpoint, region: target.region, credentials };
    const sqs = new SQSClient(clientConfig);
    const events = new EventBridgeClient(clientConfig);
    const cfn = cloudFormationClient(target);
    const lambda = new LambdaClient(clientConfig);

    // a. The fake API and the scratch config.
    fakeApi = await startFakeApi({ seed: options.seed ?? DEFAULTS.seed, ...(localstack ? { host: '0.0.0.0' } : {}) });
    const port = new URL(fakeApi.url).port;
    const apiHost = localstack ? (options.fakeApiHost ?? DEFAULTS.fakeApiHost) : '127.0.0.1';
    const stackName = `e2e-${runId}`;
    const configPath = join(E2E_SCRATCH_DIR, 'config.json');
    const sourceConfig = options.configPath ?? DEFAULTS.configPath;
    const raw = JSON.parse(readFileSync(join(REPO_ROOT, sourceConfig), 'utf8')) as Record<string, unknown>;
    writeFileSync(
      configPath,
      `${JSON.stringify(scratchConfigFor(raw, { name: stackName, baseUrl: (d) => `http://${apiHost}:${port}/${encodeURIComponent(d)}`, insecureHttp: localstack }), null, 2)}\n`,
    );
    const config = loadPipelineConfig(configPath);
    const outDir = join(E2E_SCRATCH_DIR, 'cdk.out');
    rmSync(outDir, { recursive: true, force: true });
    const rel = (path: string) => relative(REPO_ROOT, path);

    // b. Synth once, then bootstrap and deploy that cloud assembly.
    const synth = () => phase('cdk synth', () => runCdk(target, ['synth', '-c', `config=${rel(configPath)}`, '-o', rel(outDir), '--quiet'], cdkLog));
    if (moto !== undefined) {
      // A moto of our own has moto's default account: bootstrap it while the app synthesizes, from a
      // directory without cdk.json (so the CLI does not synthesize the app again).
      const bootstrap = phase('cdk bootstrap', () => runCdk(target, ['bootstrap', `aws://${MOTO_DEFAULT_ACCOUNT}/${target.region}`], cdkLog, { cwd: E2E_SCRATCH_DIR }));
      await Promise.all([synth(), bootstrap]);
    } else {
      await synth();
      await phase('cdk bootstrap', () => runCdk(target, ['bootstrap', '--app', rel(outDir)], cdkLog));
    }
    // Set before the deploy: an interrupted or failed deploy leaves a stack to delete too.
    deployedStacks.push(stackName);
    cleanup = async () => {
      if (options.keep === true) {
        teardown.push(`kept: stacks ${deployedStacks.join(', ')} on ${endpoint}`);
        return;
      }
      const problems = await deleteStacks(cfn, [...deployedStacks].reverse());
      teardown.push(problems.length === 0 ? `deleted stacks ${[...deployedStacks].reverse().join(', ')}` : `not deleted: ${problems.join('; ')}`);
    };
    await phase('cdk deploy', () => runCdk(target, ['deploy', '--app', rel(outDir), '--require-approval', 'never', stackName], cdkLog));

    const root = readTemplateFile(outDir, `${stackName}.template.json`);
    const nested = nestedStacksOf(root);
    const env: ArnEnvironment = await environmentOfStack(cfn, stackName);
    let plans: StandaloneStack[] = [];
    if (!(await createdNestedStacks(cfn, stackName, nested))) {
      if (localstack) throw new Error(`The endpoint created none of ${stackName}'s nested stacks; LocalStack does: is ${endpoint} LocalStack?`);
      workaround(MotoGap.nestedStacks(nested.length));
      const physicalIds = new Map<string, string>();
      for (const [logicalId, resource] of Object.entries(root.Resources)) {
        if (resource.Type === 'AWS::CloudFormation::Stack' || resource.Type === 'AWS::CDK::Metadata') continue;
        const physicalId = await physicalIdOf(cfn, stackName, logicalId);
        const declared = declaredPhysicalId(resource, env);
        if (physicalId !== undefined) physicalIds.set(logicalId, physicalId);
        else if (declared !== undefined) {
          physicalIds.set(logicalId, declared);
          workaround(MotoGap.physicalId(logicalId, resource.Type, declared));
        }
      }
      plans = planStandaloneStacks({
        root,
        rootStack: stackName,
        readTemplate: (file) => readTemplateFile(outDir, file),
        rootResolver: stackResolver(root, { physicalIds, env }),
        unsupported: MOTO_UNSUPPORTED_TYPES,
      });
      await phase('deploy nested templates as stacks', async () => {
        for (const plan of plans) {
          if (plan.notDeployed !== undefined) {
            notDeployed.push({ stack: plan.stackName, logicalId: plan.nested.logicalId, type: 'AWS::CloudFormation::Stack', reason: plan.notDeployed });
            continue;
          }
          notDeployed.push(...plan.leftOut.map((left) => ({ ...left, stack: plan.stackName })));
          deployedStacks.push(plan.stackName);
          await createStandaloneStack(cfn, plan, `moto's log: ${moto === undefined ? 'the endpoint\'s' : 'reports/e2e-moto.log'}`);
        }
      });
      for (const left of notDeployed) tell(`not deployed on moto: ${left.stack}/${left.logicalId} (${left.type}): ${left.reason}`);
    }

    const queues = await findQueues(sqs, config);
    workaround(MotoGap.outputs);

    // c. The deployed routing.
    const eventBusName = String(declaredPhysicalId(resourcesOfType(root, 'AWS::Events::EventBus')[0]![1], env));
    const routing = checkDeployedRouting(config, await listDeployedRules(events, eventBusName), Object.fromEntries(Object.entries(queues).map(([name, q]) => [name, q.queueArn])));
    for (const verdict of routing) check(`routing: ${verdict.destination}`, verdict.ok, verdict.detail);

    // e. The deployed consumer, before publishing, as the event source mapping is there before any message.
    const emf = new EmfStore();
    output = captureConsumerOutput({ emf, logFile: join(REPO_ROOT, 'reports', 'e2e-consumers.log') });
    const capture = output;
    const observed = new Map<string, Observed>(config.destinations.map((d) => [d.name, { terminal: new Map(), received: new Set(), wrapped: new Set(), types: new Map() }]));
    if (!localstack) {
      workaround(MotoGap.lambda);
      embedded = await startEmulators();
      workaround(MotoGap.dynamodb(embedded.dynamodbEndpoint));
      const dynamodb = new DynamoDBClient({ endpoint: embedded.dynamodbEndpoint, region: target.region, credentials });
      await createLedgerTable(dynamodb, root);
      dynamodb.destroy();
      for (const destination of config.destinations) {
        const plan = plans.find((p) => p.notDeployed === undefined && functionsOf(p.template).some((fn) => String(fn.environment[ConsumerEnv.DESTINATION]).includes(`"name":${JSON.stringify(destination.name)}`)));
        if (plan === undefined) throw new Error(`No deployed stack holds the consumer function of destination ${destination.name}`);
        const fn = functionsOf(plan.template)[0]!;
        const referenced = [...referencesOf(fn.environment)].filter((id) => plan.template.Resources[id] !== undefined);
        const physicalIds = new Map<string, string>();
        for (const id of referenced) {
          const physicalId = await physicalIdOf(cfn, plan.stackName, id);
          if (physicalId !== undefined) physicalIds.set(id, physicalId);
        }
        const deployedEnv = resolveEnvironment(fn, stackResolver(plan.template, { physicalIds, parameters: plan.parameters, env }));
        // The emulator's CloudFormation created the function with its own resolution of the same
        // template: what runs here must be what it holds.
        const functionId = await physicalIdOf(cfn, plan.stackName, fn.logicalId);
        const held = functionId === undefined ? undefined : (await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionId })).catch(() => undefined))?.Environment?.Variables;
        const differing = held === undefined ? [] : [...new Set([...Object.keys(held), ...Object.keys(deployedEnv)])].filter((name) => held[name] !== deployedEnv[name]);
        check(
          `deployed function environment: ${destination.name}`,
          held !== undefined && differing.length === 0,
          held === undefined
            ? `the emulator holds no function ${functionId ?? fn.logicalId} (GetFunctionConfiguration)`
            : differing.length === 0
              ? `the ${Object.keys(deployedEnv).length} variables resolved from the template are those the deployed function ${functionId} holds`
              : `differs from the deployed function ${functionId} in ${differing.join(', ')}`,
        );
        const own = queues[destination.name]!;
        const overrides: Record<string, string> = {};
        for (const [variable, url] of [[ConsumerEnv.QUEUE_URL, own.queueUrl], [ConsumerEnv.DEAD_LETTER_QUEUE_URL, own.deadLetterQueueUrl]] as const) {
          const deployed = deployedEnv[variable]!;
          if (deployed.slice(deployed.lastIndexOf('/')) !== url.slice(url.lastIndexOf('/'))) throw new Error(`${variable} of ${fn.logicalId} names ${deployed}, not the queue ${url}`);
          if (deployed !== url) overrides[variable] = url;
        }
        if (Object.keys(overrides).length > 0) workaround(MotoGap.queueUrl(Object.keys(overrides), deployedEnv[ConsumerEnv.QUEUE_URL]!, overrides[ConsumerEnv.QUEUE_URL] ?? own.queueUrl));
        const functionName = `${stackName}-${destination.name}-consumer`;
        const bundle = handlerModuleOf(fn, join(outDir, fn.assetPath), existsSync);
        const functionEnvironments = startFunctionEnvironments(
          {
            destination: destination.name,
            functionName,
            bundleFile: bundle.file,
            handlerExport: bundle.exportName,
            timeoutSeconds: fn.timeoutSeconds,
            memorySize: fn.memorySize,
            environment: { ...deployedEnv, ...overrides, ...targetEnvironment(target, endpoint), AWS_ENDPOINT_URL_DYNAMODB: embedded.dynamodbEndpoint },
          },
          // Through this process's stdout, which captureConsumerOutput reads: EMF to the store, the rest to the log.
          (line) => (line.startsWith('{') ? process.stdout.write(`${line}\n`) : capture.log(JSON.stringify({ level: 'INFO', message: 'function output', destination: destination.name, text: line }))),
        );
        environments.push(functionEnvironments);
        const seen = observed.get(destination.name)!;
        const routed = routing.find((verdict) => verdict.destination === destination.name);
        const unwrap = routed?.inputPath === undefined ? (event: SQSEvent) => event : applyInputPath(routed.inputPath, (id) => seen.wrapped.add(id));
        const onInvocation = (summary: InvocationSummary): void => {
          if (summary.outcome !== 'success' && summary.outcome !== 'partial') {
            capture.log(JSON.stringify({ level: 'ERROR', message: `invocation ${summary.outcome}`, destination: destination.name, error: String(summary.error) }));
            return;
          }
          const failed = new Set(summary.failedMessageIds);
          for (const id of summary.messageIds) if (!failed.has(id)) seen.terminal.set(id, (seen.terminal.get(id) ?? 0) + 1);
        };
        for (let index = 0; index < (options.pollers ?? DEFAULTS.pollers); index += 1) {
          pollers.push(
            startEventSourcePoller({
              sqs,
              queueUrl: own.queueUrl,
              queueArn: own.queueArn,
              handler: (event, context) => {
                const invoked = unwrap(event);
                for (const record of invoked.Records) {
                  const type = /"resourceType":"([^"]*)"/.exec(record.body)?.[1];
                  if (type !== undefined && !seen.received.has(record.messageId)) seen.types.set(type, (seen.types.get(type) ?? 0) + 1);
                  seen.received.add(record.messageId);
                }
                return functionEnvironments.handler(invoked, context);
              },
              functionName,
              batchSize: Math.min(destination.batchSize, 10),
              pollers: 1,
              functionTimeoutMs: fn.timeoutSeconds * 1000,
              waitTimeSeconds: 1,
              onInvocation,
            }),
          );
        }
      }
    }

    // d. Publish: `viaEventBridge` changes via the bus, the rest straight to the queues; malformed bodies to SQS only.
    const workload = buildWorkload(config, { changes: options.changes ?? DEFAULTS.changes, rate: 0, seed: options.seed ?? DEFAULTS.seed, malformed: options.malformed ?? DEFAULTS.malformed, twinRate: 0.05 }, runId);
    const stamp = createOccurredAtStamper();
    const byDestination: Record<string, { eventBridge: number; sqs: number }> = Object.fromEntries(config.destinations.map((d) => [d.name, { eventBridge: 0, sqs: 0 }]));
    const published = { viaEventBridge: 0, viaSqs: 0, malformed: 0, failed: [] as string[] };
    const viaEventBridge = Math.min(options.viaEventBridge ?? DEFAULTS.viaEventBridge, workload.events.length);
    if (!localstack) workaround(MotoGap.eventBridgeCost(viaEventBridge, workload.events.length));
    await phase('publish', async () => {
      const viaBus: ChangeEvent[] = [];
      const viaQueue = new Map<string, ChangeEvent[]>(config.destinations.map((d) => [d.name, []]));
      const malformed: string[] = [];
      let changeIndex = 0;
      const flush = async (force: boolean) => {
        if (viaBus.length >= 10 || (force && viaBus.length > 0)) {
          const results = await publishChanges(viaBus.splice(0), { via: 'eventbridge', client: events, eventBusName });
          published.failed.push(...results.flatMap((r) => (r.status === 'sent' ? [] : [r.error ?? 'failed'])));
        }
        for (const [destination, changes] of viaQueue) {
          if (changes.length >= 10 || (force && changes.length > 0)) {
            const results = await publishChanges(changes.splice(0), { via: 'sqs', client: sqs, queueUrl: queues[destination]!.queueUrl });
            published.failed.push(...results.flatMap((r) => (r.status === 'sent' ? [] : [r.error ?? 'failed'])));
          }
        }
      };
      for (const { message, targets } of workload.plan) {
        if (options.signal?.aborted === true) break;
        if (typeof message === 'string') {
          malformed.push(message);
          published.malformed += 1;
          byDestination[targets[0]!]!.sqs += 1;
          continue;
        }
        const change: ChangeEvent = stamp(message);
        if (goesViaEventBridge(changeIndex++, workload.events.length, viaEventBridge)) {
          viaBus.push(change);
          published.viaEventBridge += 1;
          for (const target of targets) byDestination[target]!.eventBridge += 1;
        } else {
          for (const target of targets) {
            viaQueue.get(target)!.push(change);
            byDestination[target]!.sqs += 1;
          }
          published.viaSqs += 1;
        }
        await flush(false);
      }
      await flush(true);
      // Input the library refuses by design (it validates first): straight to the queue, as a buggy publisher would.
      if (malformed.length > 0) await sendBodies(sqs, queues[config.destinations[0]!.name]!.queueUrl, malformed);
    });
    check(
      'published through both routes',
      published.failed.length === 0 && published.viaEventBridge > 0 && published.viaSqs > 0,
      `${published.viaEventBridge} changes via EventBridge (PutEvents to ${eventBusName}), ${published.viaSqs} via SQS (SendMessageBatch), ${published.malformed} malformed bodies via SQS; ${published.failed.length} refused${published.failed.length > 0 ? `: ${published.failed.slice(0, 3).join('; ')}` : ''}`,
    );

    // f. Drain, then judge.
    const expected = (destination: string) => byDestination[destination]!.eventBridge + byDestination[destination]!.sqs + (capture.deferredAs.get(destination)?.length ?? 0);
    const namespace = config.metricsNamespace;
    const metric = (name: string, destination: string) => emf.sum(namespace, name, { [MetricDimension.DESTINATION]: destination });
    const drained = await phase('drain', async () => {
      if (localstack) return waitForQuietQueues(sqs, Object.values(queues).map((q) => q.queueUrl), fakeApi!, options);
      let lastEnded = -1;
      let lastMoveAt = Date.now();
      for (;;) {
        capture.flush();
        const ended = config.destinations.reduce((sum, d) => sum + observed.get(d.name)!.terminal.size, 0);
        if (config.destinations.every((d) => observed.get(d.name)!.terminal.size >= expected(d.name))) return true;
        if (ended !== lastEnded) {
          lastEnded = ended;
          lastMoveAt = Date.now();
        }
        if (Date.now() - lastMoveAt > (options.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs) || options.signal?.aborted === true) return false;
        await pause(200);
      }
    });
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
    await Promise.all(environments.splice(0).map((e) => e.stop()));
    capture.restore();
    check('drained', drained, drained ? 'every published message ended' : `stalled: ${config.destinations.map((d) => `${d.name} ${observed.get(d.name)!.terminal.size}/${expected(d.name)} ended`).join(', ')}`);

    for (const destination of config.destinations) {
      const seen = observed.get(destination.name)!;
      const routedInputPath = routing.find((v) => v.destination === destination.name)?.inputPath;
      if (seen.wrapped.size > 0) workaround(MotoGap.inputPath(destination.name, seen.wrapped.size, routedInputPath ?? '$.detail'));
      if (!localstack) {
        const viaBus = byDestination[destination.name]!.eventBridge;
        check(
          `eventbridge route: ${destination.name}`,
          seen.wrapped.size === viaBus,
          `${seen.wrapped.size} of the ${viaBus} changes published via EventBridge that the rule selects for ${destination.name} reached its queue through the bus`,
        );
      }
    }

    const deadLetters: DeadLetter[] = [];
    for (const destination of config.destinations) deadLetters.push(...(await readDeadLetters(sqs, queues[destination.name]!.deadLetterQueueUrl, destination.name)));
    const accounting: Array<DestinationAccounting & { received: Record<string, number> }> = config.destinations.map((d) => {
      const seen = observed.get(d.name)!;
      const outcomes = [...seen.terminal.values()].reduce((sum, n) => sum + n, 0);
      return {
        destination: d.name,
        published: expected(d.name),
        applied: metric(MetricName.RECORDS_APPLIED, d.name),
        skipped: metric(MetricName.RECORDS_SKIPPED, d.name),
        deadLettered: metric(MetricName.RECORDS_DEAD_LETTERED, d.name),
        deferred: metric(MetricName.RECORDS_DEFERRED, d.name),
        extraTerminalOutcomes: outcomes - seen.terminal.size,
        received: Object.fromEntries(seen.types),
      };
    });
    const invariants = checkInvariants({
      accounting,
      routed: workload.routed,
      writeLog: fakeApi.writeLog(),
      finalRecord: (destination, resourceType, id) => fakeApi!.record(destination, resourceType, id),
      deadLetters,
      destinationReads: fakeApi.stats().reads,
      deleteMisses: fakeApi.deleteMisses(),
      appliedRecords: capture.appliedRecords,
    });
    const judged = (name: string, verdict: InvariantCheck, notJudged?: string): void => {
      if (notJudged !== undefined) checks.push({ name, status: 'NOT JUDGED', detail: notJudged });
      else check(name, verdict.ok, verdict.detail);
    };
    const noMetrics = localstack ? "on LocalStack the consumer's metrics and logs stay in its CloudWatch Logs, which this e2e does not read" : undefined;
    judged('I1 no regression', invariants.noRegression);
    judged('I2 convergence', invariants.convergence);
    judged('I3 published = applied + skipped + dead-lettered', invariants.accounting, noMetrics);
    judged('I4 effect once', invariants.effectOnce);
    judged('I6 dead letters have reasons', invariants.deadLettersHaveReasons);
    judged('no reads of the destination', invariants.noDestinationReads);

    // A destination that does not subscribe to a type never receives it: from what the fake API received.
    for (const destination of config.destinations) {
      const subscribed = new Set(destination.resourceTypes);
      const writes = fakeApi.writeLog().filter((entry) => entry.destination === destination.name);
      const received = new Map<string, number>();
      for (const entry of [...writes, ...fakeApi.deleteMisses().filter((miss) => miss.destination === destination.name)]) received.set(entry.resourceType, (received.get(entry.resourceType) ?? 0) + 1);
      const foreign = [...received].filter(([type]) => !subscribed.has(type));
      const others = [...new Set(config.destinations.flatMap((d) => d.resourceTypes))].filter((type) => !subscribed.has(type));
      const published = (type: string) => workload.events.filter((event) => event.resourceType === type).length;
      check(
        `unsubscribed types never received: ${destination.name}`,
        foreign.length === 0 && [...received.values()].reduce((a, b) => a + b, 0) > 0,
        foreign.length === 0
          ? `received ${[...received].map(([type, n]) => `${n} ${type}`).join(', ')}; none of ${others.map((type) => `${type} (${published(type)} published)`).join(', ') || 'no other type'}`
          : `received types it does not subscribe to: ${foreign.map(([type, n]) => `${n} ${type}`).join(', ')}`,
      );
    }

    const report: E2eReport = {
      ok: checks.every((c) => c.status !== 'FAIL'),
      runId,
      emulator: localstack ? 'localstack' : moto === undefined ? 'moto' : 'moto (started here)',
      endpoint,
      stackName,
      durationMs: 0,
      phases,
      workarounds,
      notDeployed,
      routing,
      published: { changes: workload.events.length, viaEventBridge: published.viaEventBridge, viaSqs: published.viaSqs, malformed: published.malformed, byDestination },
      destinations: accounting,
      checks,
      drained,
      teardown,
    };
    await phase('teardown', () => cleanup?.() ?? Promise.resolve());
    cleanup = undefined;
    if (options.keep === true && moto !== undefined && options.signal !== undefined) {
      tell(`--keep: moto stays up on ${moto.endpoint} until Ctrl-C`);
      await new Promise<void>((resolve) => options.signal!.addEventListener('abort', () => resolve(), { once: true }));
    }
    return { ...report, ok: report.ok, durationMs: Date.now() - startedAt };
  } finally {
    await Promise.all(pollers.map((poller) => poller.stop()));
    await Promise.all(environments.map((e) => e.stop()));
    output?.restore();
    await cleanup?.().catch(() => undefined);
    await fakeApi?.stop();
    await embedded?.stop();
    await moto?.stop();
  }
};

/**
 * LocalStack runs the real Lambda, so there are no pollers to watch: the run has drained once every
 * queue is empty (nothing visible or in flight) and the fake API took no write for 5 s.
 */
const waitForQuietQueues = async (sqs: SQSClient, queueUrls: readonly string[], fakeApi: FakeApi, options: E2eOptions): Promise<boolean> => {
  let lastWrites = -1;
  let quietSince = Date.now();
  const startedAt = Date.now();
  for (;;) {
    let inQueues = 0;
    for (const queueUrl of queueUrls) {
      const answer = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
      inQueues += Number(answer.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(answer.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    }
    const writes = fakeApi.writeLog().length;
    if (writes !== lastWrites) {
      lastWrites = writes;
      quietSince = Date.now();
    }
    if (inQueues === 0 && Date.now() - quietSince > 5_000) return true;
    if (Date.now() - startedAt > 10 * 60_000 || options.signal?.aborted === true) return false;
    await pause(500);
  }
};


