import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { lambdaProvidedEnvironment } from '../bench/bundle-size.ts';
import { createExecutionEnvironments, type ExecutionEnvironments, type SqsBatchHandler } from '../sim/event-source-poller.ts';

const HOST = fileURLToPath(new URL('./function-host.ts', import.meta.url));

/** A deployed function as the e2e runs it: its bundle from the cloud assembly and the environment it gets. */
export interface DeployedFunction {
  readonly destination: string;
  readonly functionName: string;
  /** The bundle's file, absolute (`…/cdk.out/asset.<hash>/index.mjs`). */
  readonly bundleFile: string;
  /** The export the template's Handler names (`index.handler` → `handler`). */
  readonly handlerExport: string;
  readonly timeoutSeconds: number;
  readonly memorySize: number;
  /** Everything the process gets besides what Lambda itself sets. */
  readonly environment: Readonly<Record<string, string>>;
}

/** The execution environments of one function: each a child process of its own. */
export interface FunctionEnvironments extends ExecutionEnvironments {
  /** Kills every child. */
  stop(): Promise<void>;
}

interface Pending {
  readonly resolve: (response: SQSBatchResponse | void) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Starts one execution environment: a fresh Node process with the function's environment, in the
 * bundle's directory, that imports the bundle (the cold start) and runs each invocation the
 * returned handler is given. Every line it prints goes to `onLine`, as Lambda hands a function's
 * output to CloudWatch Logs.
 */
const startEnvironment = (fn: DeployedFunction, onLine: (line: string) => void, children: Set<ChildProcess>): SqsBatchHandler => {
  const env = {
    ...lambdaProvidedEnvironment(fn.functionName, dirname(fn.bundleFile)),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    ...fn.environment,
  };
  const child = spawn(process.execPath, [HOST, fn.bundleFile, fn.handlerExport], { cwd: dirname(fn.bundleFile), env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.add(child);
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream! }).on('line', onLine);
  const pending = new Map<number, Pending>();
  let nextId = 0;
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => {
      children.delete(child);
      const error = new Error(`the execution environment of ${fn.functionName} exited with ${code}`);
      reject(error);
      for (const waiting of pending.values()) waiting.reject(error);
      pending.clear();
    });
    child.on('message', (raw) => {
      const message = raw as { ready?: boolean; error?: string; id?: number; response?: SQSBatchResponse | null };
      if (message.ready === true) return resolve();
      if (message.ready === false) return reject(new Error(`cold init of ${fn.bundleFile} failed: ${message.error}`));
      const waiting = message.id === undefined ? undefined : pending.get(message.id);
      if (waiting === undefined) return;
      pending.delete(message.id!);
      if (message.error !== undefined) waiting.reject(new Error(message.error));
      else waiting.resolve(message.response ?? undefined);
    });
  });
  // Awaited by every invocation; an unhandled rejection here would end the parent.
  ready.catch(() => undefined);
  return async (event: SQSEvent, context) => {
    await ready;
    const id = nextId++;
    return new Promise<SQSBatchResponse | void>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send({ id, event, awsRequestId: context.awsRequestId ?? randomUUID(), deadlineMs: Date.now() + context.getRemainingTimeInMillis() });
    });
  };
};

/**
 * The execution environments of a deployed function, each a child process running the bundle, made
 * when every existing one is busy (see {@link createExecutionEnvironments}): as on Lambda, two
 * concurrent invocations never share module state (the metrics buffer, the logger's context).
 *
 * @example
 * const environments = startFunctionEnvironments(fn, (line) => process.stdout.write(`${line}\n`));
 * startEventSourcePoller({ ...options, handler: environments.handler });
 * await environments.stop();
 */
export const startFunctionEnvironments = (fn: DeployedFunction, onLine: (line: string) => void): FunctionEnvironments => {
  const children = new Set<ChildProcess>();
  const environments = createExecutionEnvironments(() => startEnvironment(fn, onLine, children));
  return {
    ...environments,
    stop: async () => {
      await Promise.all(
        [...children].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
};
