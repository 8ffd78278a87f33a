import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackResourceCommand,
  DescribeStacksCommand,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import {
  leaveOutUnsupported,
  nestedStacksOf,
  resolveParameters,
  UnresolvedValueError,
  type ArnEnvironment,
  type CfnTemplate,
  type EmulatorTemplate,
  type NestedStackRef,
} from './template.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Where the CDK CLI and the SDK clients of the deploy go, and as whom. */
export interface DeployTarget {
  /** For the SDK clients (CloudFormation here). */
  readonly endpoint: string;
  /** For the CDK CLI: moto needs `localhost` (the S3 asset upload fails on an IP address). */
  readonly cdkEndpoint: string;
  readonly region: string;
  /**
   * Fake credentials: the CDK caches the account per access key, so each endpoint gets a key of
   * its own (see TOOLCHAIN: moto and LocalStack give different accounts).
   */
  readonly accessKeyId: string;
  /** `cdk` (moto) or `cdklocal` (LocalStack: it also points the S3 asset upload there). */
  readonly cli: 'cdk' | 'cdklocal';
}

/** The environment every AWS call of the deploy and the run uses towards the target. */
export const targetEnvironment = (target: DeployTarget, endpoint: string): Record<string, string> => ({
  AWS_ENDPOINT_URL: endpoint,
  AWS_ACCESS_KEY_ID: target.accessKeyId,
  AWS_SECRET_ACCESS_KEY: 'e2e-secret',
  AWS_REGION: target.region,
  AWS_DEFAULT_REGION: target.region,
});

/**
 * Runs the repository's CDK CLI (`node_modules/.bin/cdk` or `cdklocal`) with `args`, its output
 * appended to `logFile`; the app (`node bin/app.ts`) runs on this process's Node. `cwd` defaults to
 * the repository (its cdk.json); a directory without one runs the CLI without the app.
 *
 * @throws {Error} naming the command and the log when it exits non-zero
 */
export const runCdk = async (target: DeployTarget, args: readonly string[], logFile: string, options: { readonly cwd?: string } = {}): Promise<void> => {
  const bin = join(REPO_ROOT, 'node_modules', '.bin', target.cli);
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`\n$ ${target.cli} ${args.join(' ')}\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...targetEnvironment(target, target.cdkEndpoint),
    // cdklocal reads these; for cdk the SDK's S3 endpoint falls back to AWS_ENDPOINT_URL.
    AWS_ENDPOINT_URL_S3: target.cdkEndpoint,
    // The app is TypeScript run by type stripping: it needs this Node (24), not the system's.
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    CDK_DISABLE_VERSION_CHECK: '1',
  };
  if (target.cli === 'cdklocal') {
    env.AWS_ENDPOINT_URL_S3 = localstackS3Endpoint(target.cdkEndpoint);
    // cdklocal drops every other AWS_* variable before it runs cdk: keep the region.
    env.AWS_ENVAR_ALLOWLIST = 'AWS_REGION,AWS_DEFAULT_REGION';
  }
  const child = spawn(bin, args, { cwd: options.cwd ?? REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  await new Promise<void>((resolve) => log.end(resolve));
  if (code !== 0) throw new Error(`\`${target.cli} ${args.join(' ')}\` exited with ${code}; its output is in ${logFile}`);
};

/**
 * The S3 endpoint cdklocal needs beside AWS_ENDPOINT_URL: it must contain `.s3.` (aws-cdk-local's
 * README) so cdklocal tells S3 requests apart; LocalStack serves S3 at `s3.localhost.localstack.cloud`,
 * a public name for 127.0.0.1.
 *
 * @example
 * localstackS3Endpoint('http://localhost:4566'); // 'http://s3.localhost.localstack.cloud:4566'
 */
export const localstackS3Endpoint = (endpoint: string): string => {
  const url = new URL(endpoint);
  const loopback = url.hostname === 'localhost' || url.hostname === '127.0.0.1';
  return `${url.protocol}//s3.${loopback ? 'localhost.localstack.cloud' : url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
};

/** The CloudFormation client of the target. */
export const cloudFormationClient = (target: DeployTarget): CloudFormationClient =>
  new CloudFormationClient({ endpoint: target.endpoint, region: target.region, credentials: { accessKeyId: target.accessKeyId, secretAccessKey: 'e2e-secret' } });

/** The stack, or undefined when the target does not know it. */
const describeStack = async (cfn: CloudFormationClient, name: string): Promise<Stack | undefined> =>
  (await cfn.send(new DescribeStacksCommand({ StackName: name })).catch(() => undefined))?.Stacks?.[0];

/** A resource's physical id, or undefined when the target cannot say (moto answers some of these with HTTP 500). */
export const physicalIdOf = async (cfn: CloudFormationClient, stackName: string, logicalId: string): Promise<string | undefined> => {
  const answer = await cfn.send(new DescribeStackResourceCommand({ StackName: stackName, LogicalResourceId: logicalId })).catch(() => undefined);
  const id = answer?.StackResourceDetail?.PhysicalResourceId;
  return id === undefined || id === null || id === '' ? undefined : id;
};

/**
 * Whether the target created the root stack's nested stacks: each nested stack resource has a
 * physical id naming a stack the target knows. moto 5.2.1 reports the root CREATE_COMPLETE and
 * creates none of them (it answers DescribeStackResource on them with HTTP 500); CloudFormation
 * and LocalStack create them.
 */
export const createdNestedStacks = async (cfn: CloudFormationClient, rootStack: string, nested: readonly NestedStackRef[]): Promise<boolean> => {
  for (const stack of nested) {
    const physicalId = await physicalIdOf(cfn, rootStack, stack.logicalId);
    if (physicalId === undefined || (await describeStack(cfn, physicalId)) === undefined) return false;
  }
  return true;
};

/** Waits until a stack leaves its `*_IN_PROGRESS` state; returns its final status (DELETE_COMPLETE once it is gone). */
export const waitForStack = async (cfn: CloudFormationClient, name: string, timeoutMs = 120_000): Promise<{ status: string; reason?: string }> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stack = await describeStack(cfn, name);
    if (stack === undefined) return { status: 'DELETE_COMPLETE' };
    const status = stack.StackStatus ?? 'UNKNOWN';
    if (!status.endsWith('_IN_PROGRESS')) return { status, ...(stack.StackStatusReason === undefined ? {} : { reason: stack.StackStatusReason }) };
    if (Date.now() > deadline) return { status: `${status} (still, after ${timeoutMs} ms)` };
    await pause(250);
  }
};

/**
 * One nested template to deploy as a stack of its own, or why it is not: `template` is what is sent
 * (unsupported resources left out, see {@link leaveOutUnsupported}).
 */
export interface StandaloneStack extends EmulatorTemplate {
  readonly nested: NestedStackRef;
  /** The stack's name on the target, e.g. `spe2e-crm`. */
  readonly stackName: string;
  /** Its parameters, resolved against the root stack's resources; empty when not deployed. */
  readonly parameters: Readonly<Record<string, string>>;
  /** Set when the whole stack is not deployed. */
  readonly notDeployed?: string;
}

/**
 * The stack name a nested stack gets when deployed on its own: the root's name and the nested
 * stack's construct id (`spe2e/Pipeline/crm.NestedStack/…` → `spe2e-crm`).
 *
 * @example
 * standaloneStackName('spe2e', { path: 'spe2e/Pipeline/Dashboards/Page1.NestedStack/Page1.NestedStackResource' }); // 'spe2e-Page1'
 */
export const standaloneStackName = (rootStack: string, nested: Pick<NestedStackRef, 'path'>): string => {
  const segment = nested.path.split('/').find((part) => part.endsWith('.NestedStack'))?.slice(0, -'.NestedStack'.length) ?? nested.path;
  return `${rootStack}-${segment}`.replace(/[^A-Za-z0-9-]/g, '-');
};

/**
 * Plans the nested stacks as stacks of their own for an emulator without nested stacks: each
 * template with what the emulator cannot create left out, its parameters resolved against the root
 * stack's resources. A stack whose parameters cannot be resolved (they come from other nested
 * stacks' outputs of resources left out) is planned as not deployed, with the reason. Pure.
 *
 * @example
 * const plans = planStandaloneStacks({ root, rootStack: 'spe2e', readTemplate, rootResolver, unsupported: MOTO_UNSUPPORTED_TYPES });
 */
export const planStandaloneStacks = (input: {
  readonly root: CfnTemplate;
  readonly rootStack: string;
  readonly readTemplate: (file: string) => CfnTemplate;
  readonly rootResolver: Parameters<typeof resolveParameters>[1];
  readonly unsupported: ReadonlyMap<string, string>;
}): StandaloneStack[] =>
  nestedStacksOf(input.root).map((nested) => {
    const rewritten = leaveOutUnsupported(input.readTemplate(nested.templateFile), input.unsupported);
    const base = { nested, stackName: standaloneStackName(input.rootStack, nested), ...rewritten };
    try {
      return { ...base, parameters: resolveParameters(nested, input.rootResolver) };
    } catch (error) {
      if (!(error instanceof UnresolvedValueError)) throw error;
      return { ...base, parameters: {}, notDeployed: error.message };
    }
  });

/**
 * Creates a planned stack on the target and waits for it.
 *
 * @throws {Error} naming the stack when CreateStack fails or the stack does not reach CREATE_COMPLETE
 */
export const createStandaloneStack = async (cfn: CloudFormationClient, plan: StandaloneStack, hint: string): Promise<void> => {
  try {
    await cfn.send(
      new CreateStackCommand({
        StackName: plan.stackName,
        TemplateBody: JSON.stringify(plan.template),
        Parameters: Object.entries(plan.parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
        Capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM', 'CAPABILITY_AUTO_EXPAND'],
      }),
    );
  } catch (error) {
    throw new Error(`CreateStack ${plan.stackName} (from ${plan.nested.templateFile}) failed: ${(error as Error).message.split('\n')[0]}; ${hint}`, { cause: error });
  }
  const { status, reason } = await waitForStack(cfn, plan.stackName);
  if (status !== 'CREATE_COMPLETE') throw new Error(`Stack ${plan.stackName} ended ${status}${reason === undefined ? '' : `: ${reason}`}; ${hint}`);
};

/** Deletes the stacks that exist (in the order given) and waits for each; returns a line per stack that did not go. */
export const deleteStacks = async (cfn: CloudFormationClient, names: readonly string[]): Promise<string[]> => {
  const problems: string[] = [];
  for (const name of names) {
    // Never created (a deploy that failed first, or was interrupted): nothing to delete.
    if ((await describeStack(cfn, name)) === undefined) continue;
    try {
      await cfn.send(new DeleteStackCommand({ StackName: name }));
      const { status, reason } = await waitForStack(cfn, name, 60_000);
      if (status !== 'DELETE_COMPLETE') problems.push(`${name}: ${status}${reason === undefined ? '' : ` (${reason})`}`);
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  return problems;
};

/** The account, region and partition of a deployed stack, from its ARN. */
export const environmentOfStack = async (cfn: CloudFormationClient, name: string): Promise<ArnEnvironment> => {
  const stack = await describeStack(cfn, name);
  const match = /^arn:([^:]+):cloudformation:([^:]+):(\d+):stack\//.exec(stack?.StackId ?? '');
  if (match === null) throw new Error(`Expected stack ${name} to have an ARN, got ${JSON.stringify(stack?.StackId)}`);
  return { partition: match[1]!, region: match[2]!, account: match[3]! };
};

/** Reads a template of the cloud assembly. */
export const readTemplateFile = (outDir: string, file: string): CfnTemplate => JSON.parse(readFileSync(join(outDir, file), 'utf8')) as CfnTemplate;

