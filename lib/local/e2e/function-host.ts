// One Lambda execution environment, as a child process: the parent (lib/local/e2e/deployed-consumer.ts)
// starts it with the function's environment, in the asset's directory; it imports the deployed bundle
// once (the cold start) and invokes its handler for each batch the parent sends over IPC, answering
// with the handler's response. Written by hand because Lambda's runtime interface client needs the
// Lambda Runtime API, which nothing serves here. Imports nothing of the repository: what runs is the
// bundle alone, as on Lambda.
import { pathToFileURL } from 'node:url';

interface InvokeMessage {
  readonly id: number;
  readonly event: unknown;
  readonly awsRequestId: string;
  readonly deadlineMs: number;
}

const [bundleFile, handlerName] = process.argv.slice(2);
if (bundleFile === undefined || handlerName === undefined) {
  process.stderr.write('usage: function-host.ts <bundle file> <export name>\n');
  process.exit(2);
}
const send = (message: unknown): void => {
  process.send?.(message);
};

let handler: (event: unknown, context: unknown) => Promise<unknown>;
try {
  const loaded = (await import(pathToFileURL(bundleFile).href)) as Record<string, unknown>;
  const exported = loaded[handlerName];
  if (typeof exported !== 'function') throw new Error(`${bundleFile} exports no function ${handlerName}`);
  handler = exported as typeof handler;
  send({ ready: true });
} catch (error) {
  send({ ready: false, error: String((error as Error).stack ?? error) });
  process.exit(1);
}

process.on('message', (raw) => {
  const message = raw as InvokeMessage;
  const env = process.env;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME ?? '',
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST',
    invokedFunctionArn: env.E2E_FUNCTION_ARN ?? '',
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '128',
    awsRequestId: message.awsRequestId,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? '',
    logStreamName: 'e2e',
    getRemainingTimeInMillis: () => Math.max(0, message.deadlineMs - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  handler(message.event, context).then(
    (response) => send({ id: message.id, response: response ?? null }),
    (error: unknown) => send({ id: message.id, error: String((error as Error)?.stack ?? error) }),
  );
});
