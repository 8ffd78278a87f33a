import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { fromSqsMessageAttributes } from '../../adapters/sqs-attributes.ts';
import { invocationScope, type InvocationScope } from './invocation-scope.ts';
import { intInRange, parseOrThrow } from '../../contract/validation.ts';
import { createRandom } from '../../core/random.ts';
import { batchingWindowIssue, chunk, EventSourceLimits, LAMBDA_MAX_TIMEOUT_SECONDS, SqsLimits } from '../../core/sqs-limits.ts';

/**
 * A Lambda handler for an SQS event source, as the consumer function exports it.
 *
 * @example
 * const handler: SqsBatchHandler = async (event) => ({ batchItemFailures: [] });
 */
export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

/**
 * What to do after the handler resolved and before the deletes: `crash` simulates an execution
 * environment that dies at that point (nothing is deleted, every message comes back).
 *
 * @example
 * // One invocation in ten dies before deleting its batch.
 * const beforeDelete = (): BeforeDeleteDecision => (Math.random() < 0.1 ? 'crash' : 'proceed');
 */
export type BeforeDeleteDecision = 'proceed' | 'crash';

/**
 * How one invocation ended, mirroring what the event source mapping does with the batch
 * (e.g. `summary.outcome === 'partial'`):
 * - `success`: resolved with no failures; every message deleted.
 * - `partial`: resolved with valid `batchItemFailures`; the others deleted.
 * - `error`: the handler threw or rejected; nothing deleted.
 * - `invalid-response`: a listed `itemIdentifier` is not a message of the batch; nothing deleted.
 * - `timeout`: the handler ran past `functionTimeoutMs`; nothing deleted.
 * - `crash`: `beforeDelete` answered `crash`; nothing deleted.
 */
export type InvocationOutcome = 'success' | 'partial' | 'error' | 'invalid-response' | 'timeout' | 'crash';

/**
 * Passed to `onInvocation` once the invocation and its deletes are done.
 *
 * @example
 * const onInvocation = (summary: InvocationSummary): void => console.log(summary.outcome, summary.messageIds.length);
 */
export interface InvocationSummary {
  readonly functionName: string;
  readonly awsRequestId: string;
  readonly outcome: InvocationOutcome;
  /** Every message of the batch, in delivery order. */
  readonly messageIds: readonly string[];
  /** The `itemIdentifier`s of a `partial` outcome; empty otherwise. */
  readonly failedMessageIds: readonly string[];
  /** Messages whose DeleteMessageBatch entry succeeded. */
  readonly deleted: number;
  readonly durationMs: number;
  /** The handler's error (`error`), or the reason (`invalid-response`, `timeout`). */
  readonly error?: unknown;
  /**
   * True for an invocation of concurrent copies another poller handed over (see
   * {@link createConcurrentCopies}); its messages were received by that poller.
   */
  readonly copy: boolean;
}

/**
 * Counters since start; a snapshot, not live.
 *
 * @example
 * const { received, deleted }: EventSourcePollerStats = poller.stats();
 */
export interface EventSourcePollerStats {
  readonly invocations: number;
  /** Messages received (a message received again after a failure counts again). */
  readonly received: number;
  /** Messages invoked as concurrent copies handed over by another poller (not counted in `received`). */
  readonly copies: number;
  readonly deleted: number;
  /** Items listed in valid `batchItemFailures`. */
  readonly failedItems: number;
  /** Invocations that failed as a whole: thrown, timed out, or an invalid batch response. */
  readonly handlerErrors: number;
  /** Failures of the poller itself: ReceiveMessage / DeleteMessageBatch calls (network, emulator gone, wrong queue) or a hook that threw. */
  readonly pollerErrors: number;
}

/**
 * Settings of one poller, named after the event source mapping settings they mirror.
 *
 * @example
 * const options: EventSourcePollerOptions = { sqs, queueUrl, queueArn, handler, functionName: 'sync-pipeline-crm', batchSize: 10 };
 */
export interface EventSourcePollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** `arn:aws:sqs:<region>:<account>:<name>`; becomes `eventSourceARN`, and gives `awsRegion` and the account. */
  readonly queueArn: string;
  readonly handler: SqsBatchHandler;
  readonly functionName: string;
  /** Most records per invocation, 1 to 10000. Above 10, several receives are gathered within `maxBatchingWindowMs`. */
  readonly batchSize: number;
  /**
   * How long to keep gathering records after the first ones arrived, like MaximumBatchingWindowInSeconds.
   * Must be above 0 when `batchSize` is above 10.
   *
   * @default 0
   */
  readonly maxBatchingWindowMs?: number;
  /**
   * Concurrent receive-and-invoke loops, i.e. the most invocations at once (the event source's MaximumConcurrency).
   *
   * @default 2
   */
  readonly pollers?: number;
  /** @default 30000 */
  readonly functionTimeoutMs?: number;
  /** @default 1024 */
  readonly memoryLimitInMB?: number;
  /**
   * Long-poll wait of each ReceiveMessage, 0 to 20. `stop()` lets a long poll in progress finish
   * rather than abort it: the emulator (like SQS) may still hand messages to an aborted request,
   * hiding them for a visibility timeout and counting a receive. So it also bounds how long stop() takes.
   *
   * @default 1
   */
  readonly waitTimeSeconds?: number;
  /** Passed as ReceiveMessage VisibilityTimeout when set. @default the queue's VisibilityTimeout */
  readonly visibilityTimeoutSeconds?: number;
  /** Called after each invocation (and its deletes). Must not throw. */
  readonly onInvocation?: (summary: InvocationSummary) => void;
  /**
   * Called with what each ReceiveMessage returned (with every system attribute, `SentTimestamp`
   * among them), before it is invoked; not called for empty receives. Must not throw.
   */
  readonly onReceive?: (messages: readonly Message[]) => void;
  /**
   * Called after the handler resolved, before the deletes; a test hook for a crash between the
   * handler's work and the deletes.
   *
   * @default () => 'proceed'
   */
  readonly beforeDelete?: (event: SQSEvent, response: SQSBatchResponse | void) => BeforeDeleteDecision | Promise<BeforeDeleteDecision>;
  /**
   * Called when a ReceiveMessage or DeleteMessageBatch call fails, or a hook throws; the poller
   * backs off and goes on (the messages concerned reappear after their visibility timeout).
   *
   * @default writes one line to stderr
   */
  readonly onError?: (error: unknown) => void;
  /**
   * A coordinator shared by the pollers of one queue that hands copies of received messages to
   * another of them at once, as SQS's at-least-once delivery may (see {@link createConcurrentCopies}).
   *
   * @default no copies
   */
  readonly copies?: ConcurrentCopies;
}

/**
 * One poller as a {@link ConcurrentCopies} coordinator sees it.
 */
export interface CopyPeer {
  /** False once `stop()` was called: a stopping poller takes no copies. */
  accepting(): boolean;
  /** Invokes `messages` as an invocation of their own, now, beside the poller's own invocations. */
  deliver(messages: readonly Message[]): void;
}

/**
 * Shared by the pollers of one queue: decides, per received message, whether SQS also hands it to
 * another consumer while the first still holds it, and delivers that copy.
 *
 * @example
 * const copies = createConcurrentCopies({ rate: 0.05, seed: 7 });
 * startEventSourcePoller({ ...options, copies });
 * startEventSourcePoller({ ...options, copies });
 */
export interface ConcurrentCopies {
  /** Registers a poller; returns what it calls with every batch it received, before invoking it. */
  register(peer: CopyPeer): (messages: readonly Message[]) => void;
  /** Copies handed over so far (one per copied message). */
  delivered(): number;
}

/**
 * @example
 * const options: ConcurrentCopyOptions = { rate: 0.05, seed: 7 };
 */
export interface ConcurrentCopyOptions {
  /** Chance, from 0 to 1, that a received message is also handed to another poller at once. */
  readonly rate: number;
  /** Seed of the draws. @default 1 */
  readonly seed?: number;
}

/**
 * SQS delivers at least once: a message can come back to a second ReceiveMessage while the first
 * consumer still works on it (a copy held on a server that missed the receive or the delete). This
 * coordinator reproduces that for the pollers of one queue: with probability `rate` per received
 * message (seeded draws), it hands the same message (body, messageId, attributes and receipt handle)
 * at once to ANOTHER registered poller (the same one when it is alone), which invokes it as an
 * invocation of its own, so both run concurrently. Copies a poller received in one batch for the
 * same peer share one invocation. Copies are not copied again.
 *
 * What it leaves out of real SQS: a real copy comes with a receipt handle of its own (the emulator
 * cannot mint one), and its ApproximateReceiveCount may differ. Here the copy shares the receipt
 * handle, so whichever invocation deletes the message deletes it for both, and a visibility change
 * by one (a retry's backoff) applies to both; in SQS a delete with either handle removes the
 * message too, but a visibility change with the older handle may fail.
 *
 * @throws {RangeError} when `rate` is not a number from 0 to 1
 * @example
 * const copies = createConcurrentCopies({ rate: 0.05, seed: 7 });
 * const pollers = [1, 2, 3, 4].map(() => startEventSourcePoller({ ...options, pollers: 1, copies }));
 * copies.delivered(); // 12
 */
export const createConcurrentCopies = (options: ConcurrentCopyOptions): ConcurrentCopies => {
  const { rate } = options;
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
    throw new RangeError(`Expected \`rate\` to be a number from 0 to 1, got \`${String(rate)}\``);
  }
  const random = createRandom(options.seed ?? 1);
  const peers: CopyPeer[] = [];
  let delivered = 0;
  return {
    register: (peer) => {
      peers.push(peer);
      return (messages) => {
        if (rate === 0) return;
        const byPeer = new Map<CopyPeer, Message[]>();
        for (const message of messages) {
          if (random.next() >= rate) continue;
          const others = peers.filter((other) => other !== peer && other.accepting());
          const target = others.length > 0 ? others[random.int(others.length)]! : peer.accepting() ? peer : undefined;
          if (target === undefined) continue;
          byPeer.set(target, [...(byPeer.get(target) ?? []), message]);
        }
        for (const [target, copies] of byPeer) {
          delivered += copies.length;
          target.deliver(copies);
        }
      };
    },
    delivered: () => delivered,
  };
};

/**
 * A pool of Lambda execution environments behind one handler. See {@link createExecutionEnvironments}.
 *
 * @example
 * const environments: ExecutionEnvironments = createExecutionEnvironments(() => wireConsumerHandler(wiring));
 */
export interface ExecutionEnvironments {
  /** Runs each invocation in an idle environment, or in a new one when all are busy. */
  readonly handler: SqsBatchHandler;
  /** Environments created so far (cold starts). */
  created(): number;
}

/**
 * Lambda runs each concurrent invocation in its own execution environment (module state such as a
 * logger's context or a metrics buffer is never shared by two invocations at once), reuses an idle
 * one when it can, and creates one (a cold start) when all are busy. This gives the same to local
 * pollers: `create` builds the handler of a new environment. An environment whose invocation never
 * settles (it hangs past its timeout, as a crashed one does here) is never handed out again, as
 * Lambda replaces an environment that timed out.
 *
 * @example
 * const environments = createExecutionEnvironments(() => wireConsumerHandler(wiring));
 * startEventSourcePoller({ ...options, handler: environments.handler });
 */
export const createExecutionEnvironments = (create: () => SqsBatchHandler): ExecutionEnvironments => {
  const idle: SqsBatchHandler[] = [];
  let created = 0;
  return {
    handler: async (event, context) => {
      let environment = idle.pop();
      if (environment === undefined) {
        environment = create();
        created += 1;
      }
      try {
        return await environment(event, context);
      } finally {
        idle.push(environment);
      }
    },
    created: () => created,
  };
};

/**
 * Stops a running poller and reads its counters.
 *
 * @example
 * const poller: EventSourcePoller = startEventSourcePoller(options);
 * await poller.stop();
 */
export interface EventSourcePoller {
  /**
   * Stops receiving until {@link resume}, as a disabled event source mapping does: what is in flight
   * ends normally; messages wait in the queue.
   */
  pause(): void;
  resume(): void;
  /**
   * Stops receiving and resolves once every loop has ended: the long polls in progress (at most
   * `waitTimeSeconds`), and the invocations and deletes of what they returned, and the invocations
   * of copies handed over to it (see `copies`). Takes no copies once called. Safe to call twice.
   */
  stop(): Promise<void>;
  stats(): EventSourcePollerStats;
}

const optionsSchema = z
  .object({
    queueArn: z.string().regex(/^arn:[^:]+:sqs:[^:]+:[^:]+:[^:]+$/, { error: 'expected an SQS queue ARN' }),
    functionName: z.string().min(1, { error: 'expected a function name' }),
    batchSize: intInRange(1, EventSourceLimits.MAX_BATCH_SIZE),
    maxBatchingWindowMs: intInRange(0, EventSourceLimits.MAX_BATCHING_WINDOW_SECONDS * 1000).default(0),
    pollers: intInRange(1, 1000).default(2),
    functionTimeoutMs: intInRange(1, LAMBDA_MAX_TIMEOUT_SECONDS * 1000).default(30_000),
    memoryLimitInMB: intInRange(128, 10_240).default(1024),
    waitTimeSeconds: intInRange(0, SqsLimits.MAX_WAIT_TIME_SECONDS).default(1),
    visibilityTimeoutSeconds: intInRange(0, SqsLimits.MAX_VISIBILITY_TIMEOUT_SECONDS).optional(),
  })
  .superRefine((options, ctx) => {
    const issue = batchingWindowIssue({ batchSize: options.batchSize, hasWindow: options.maxBatchingWindowMs > 0, windowField: 'maxBatchingWindowMs' });
    if (issue !== undefined) ctx.addIssue({ code: 'custom', path: ['batchSize'], input: options.batchSize, message: issue });
  });

/** Pause after an empty receive that did not long-poll, so a zero wait does not spin. */
const EMPTY_RECEIVE_PAUSE_MS = 50;
const POLL_ERROR_BACKOFF_MS = { first: 100, max: 5_000 } as const;


/** Lambda's record shape: list values are always present (and always empty), binary is base64. */
const toLambdaMessageAttributes = (attributes: Record<string, MessageAttributeValue> | undefined): SQSMessageAttributes =>
  Object.fromEntries(
    Object.entries(fromSqsMessageAttributes(attributes)).map(([name, value]) => [name, { ...value, stringListValues: [], binaryListValues: [] }]),
  );

const toSqsRecord = (message: Message, queueArn: string, awsRegion: string): SQSRecord => {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ...attributes,
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? '',
      SenderId: attributes.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? '',
    },
    messageAttributes: toLambdaMessageAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes !== undefined && { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion,
  };
};

const unsupported = (name: string) => (): never => {
  throw new Error(`context.${name}() is not supported by the local event source poller; return a promise instead`);
};

export const createContext = (
  functionName: string,
  region: string,
  account: string,
  memoryLimitInMB: number,
  deadline: number,
): Context => {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    memoryLimitInMB: String(memoryLimitInMB),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
};

type HandlerResult =
  | { readonly kind: 'resolved'; readonly response: SQSBatchResponse | void }
  | { readonly kind: 'threw'; readonly error: unknown }
  | { readonly kind: 'timeout' };

/**
 * Runs the handler under the function timeout. On a timeout Lambda stops the runtime; here the
 * handler's promise cannot be stopped, so its invocation is marked stopped (see invocationScope):
 * its next I/O never returns and what it writes after is dropped, and its result is ignored.
 */
const runHandler = async (handler: SqsBatchHandler, event: SQSEvent, context: Context, timeoutMs: number): Promise<HandlerResult> => {
  let timer: NodeJS.Timeout | undefined;
  const scope: InvocationScope = { requestId: context.awsRequestId, stopped: false };
  const timedOut = new Promise<HandlerResult>((resolve) => {
    timer = setTimeout(() => {
      scope.stopped = true;
      resolve({ kind: 'timeout' });
    }, timeoutMs);
  });
  const ran = invocationScope
    .run(scope, () => Promise.resolve().then(() => handler(event, context)))
    .then(
      (response): HandlerResult => ({ kind: 'resolved', response }),
      (error: unknown): HandlerResult => ({ kind: 'threw', error }),
    );
  try {
    return await Promise.race([ran, timedOut]);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * Reads a batch response as Lambda does: none, or an empty or missing `batchItemFailures`, is full
 * success; a failure whose `itemIdentifier` is not a message ID of the batch fails the whole batch.
 */
const readBatchResponse = (
  response: unknown,
  messageIds: ReadonlySet<string>,
): { readonly valid: true; readonly failed: ReadonlySet<string> } | { readonly valid: false; readonly reason: string } => {
  if (response === undefined || response === null) return { valid: true, failed: new Set() };
  if (typeof response !== 'object') return { valid: false, reason: `expected a batch response object, got a ${typeof response}` };
  const failures: unknown = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { valid: true, failed: new Set() };
  if (!Array.isArray(failures)) return { valid: false, reason: 'expected batchItemFailures to be a list' };
  const failed = new Set<string>();
  for (const failure of failures) {
    const id: unknown = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !messageIds.has(id)) {
      return { valid: false, reason: `itemIdentifier ${JSON.stringify(id)} is not a message ID of the batch` };
    }
    failed.add(id);
  }
  return { valid: true, failed };
};

const isAbort = (error: unknown): boolean => error instanceof Error && error.name === 'AbortError';

/**
 * Polls an SQS queue and invokes a real Lambda handler the way the Lambda SQS event source mapping
 * does (with ReportBatchItemFailures): batches of up to `batchSize` records, `pollers` invocations at
 * most at once, messages that the handler reports as failed (or the whole batch, when it throws or
 * times out) left to reappear after their visibility timeout, everything else deleted.
 * Redrive to the DLQ is the queue's own (its RedrivePolicy), as on AWS. Standard queues only (FIFO
 * ordering after a partial failure is not modelled).
 *
 * @throws {ValidationError} on out-of-range options, e.g. `batchSize: expected an integer from 1 to 10000, got 0`
 * @example
 * const poller = startEventSourcePoller({
 *   sqs, queueUrl: crm.queueUrl, queueArn: crm.queueArn, handler, functionName: 'sync-pipeline-crm',
 *   batchSize: 10, pollers: 5, functionTimeoutMs: 30_000,
 * });
 * // ...
 * await poller.stop();
 * console.log(poller.stats()); // { invocations: 12, received: 100, deleted: 97, failedItems: 3, handlerErrors: 0, pollerErrors: 0 }
 */
export const startEventSourcePoller = (options: EventSourcePollerOptions): EventSourcePoller => {
  const settings = parseOrThrow(optionsSchema, options, 'event source poller options');
  const { sqs, queueUrl, queueArn, handler, functionName, onInvocation, onReceive, beforeDelete } = options;
  const onError =
    options.onError ??
    ((error: unknown) => console.error(`[event-source-poller ${functionName}] ${error instanceof Error ? error.message : String(error)}`));
  // Validated above: arn:partition:sqs:region:account:name
  const [, , , awsRegion = '', account = ''] = queueArn.split(':');

  const counters = { invocations: 0, received: 0, copies: 0, deleted: 0, failedItems: 0, handlerErrors: 0, pollerErrors: 0 };
  const abort = new AbortController();
  const { signal } = abort;
  const reportError = (error: unknown): void => {
    counters.pollerErrors += 1;
    onError(error);
  };

  const receive = async (maxMessages: number, waitTimeSeconds: number): Promise<Message[]> => {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: maxMessages,
        WaitTimeSeconds: waitTimeSeconds,
        ...(settings.visibilityTimeoutSeconds !== undefined && { VisibilityTimeout: settings.visibilityTimeoutSeconds }),
        AttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    counters.received += Messages.length;
    if (Messages.length > 0) onReceive?.(Messages);
    return Messages;
  };

  /**
   * Gathers more records until `batchSize` or the end of the batching window. Stops early, keeping
   * what it has, on stop() or an error: those records are already invisible and must be invoked.
   */
  const gather = async (batch: Message[]): Promise<void> => {
    const windowEnds = Date.now() + settings.maxBatchingWindowMs;
    try {
      while (batch.length < settings.batchSize && !signal.aborted) {
        const remainingMs = windowEnds - Date.now();
        if (remainingMs <= 0) return;
        // Long-poll only in whole seconds that fit in the window, so the window is never overrun.
        const waitSeconds = Math.min(20, Math.floor(remainingMs / 1000));
        const more = await receive(Math.min(settings.batchSize - batch.length, SqsLimits.MAX_BATCH_ENTRIES), waitSeconds);
        batch.push(...more);
        if (more.length === 0 && waitSeconds === 0) await sleep(Math.min(remainingMs, EMPTY_RECEIVE_PAUSE_MS), undefined, { signal });
      }
    } catch (error) {
      if (!isAbort(error)) reportError(error);
    }
  };

  /** Long-polls until something arrives, then gathers up to `batchSize` within the batching window. */
  const receiveBatch = async (): Promise<Message[]> => {
    const batch = await receive(Math.min(settings.batchSize, SqsLimits.MAX_BATCH_ENTRIES), settings.waitTimeSeconds);
    if (batch.length === 0) {
      if (settings.waitTimeSeconds === 0) await sleep(EMPTY_RECEIVE_PAUSE_MS, undefined, { signal });
    } else if (settings.maxBatchingWindowMs > 0) {
      await gather(batch);
    }
    return batch;
  };

  const deleteMessages = async (messages: readonly Message[]): Promise<number> => {
    let deleted = 0;
    for (const entries of chunk(messages, SqsLimits.MAX_BATCH_ENTRIES)) {
      try {
        const { Successful = [], Failed = [] } = await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: entries.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle })),
          }),
        );
        deleted += Successful.length;
        // An undeleted message reappears after its visibility timeout: a duplicate, never a loss.
        if (Failed.length > 0) throw new Error(`DeleteMessageBatch failed for ${Failed.length} message(s): ${Failed[0]?.Message ?? Failed[0]?.Code}`);
      } catch (error) {
        reportError(error);
      }
    }
    counters.deleted += deleted;
    return deleted;
  };

  const invoke = async (messages: readonly Message[], copy = false): Promise<void> => {
    const started = Date.now();
    const event: SQSEvent = { Records: messages.map((message) => toSqsRecord(message, queueArn, awsRegion)) };
    const messageIds = event.Records.map((record) => record.messageId);
    const context = createContext(functionName, awsRegion, account, settings.memoryLimitInMB, started + settings.functionTimeoutMs);
    counters.invocations += 1;

    const summarize = (outcome: InvocationOutcome, extra: { failedMessageIds?: string[]; deleted?: number; error?: unknown } = {}): void => {
      onInvocation?.({
        functionName,
        awsRequestId: context.awsRequestId,
        outcome,
        messageIds,
        failedMessageIds: extra.failedMessageIds ?? [],
        deleted: extra.deleted ?? 0,
        durationMs: Date.now() - started,
        ...(extra.error !== undefined && { error: extra.error }),
        copy,
      });
    };

    const result = await runHandler(handler, event, context, settings.functionTimeoutMs);
    if (result.kind === 'threw') {
      // A function error fails the whole batch: nothing is deleted, every message comes back.
      counters.handlerErrors += 1;
      summarize('error', { error: result.error });
      return;
    }
    if (result.kind === 'timeout') {
      // A timed-out invocation is a function error too.
      counters.handlerErrors += 1;
      summarize('timeout', { error: new Error(`Task timed out after ${settings.functionTimeoutMs} ms`) });
      return;
    }
    const read = readBatchResponse(result.response, new Set(messageIds));
    if (!read.valid) {
      // Lambda treats a malformed batch response as a failure of the whole batch.
      counters.handlerErrors += 1;
      summarize('invalid-response', { error: new Error(read.reason) });
      return;
    }
    if ((await beforeDelete?.(event, result.response)) === 'crash') {
      // The environment died after the work and before the deletes: the work is redone on redelivery.
      summarize('crash');
      return;
    }
    // ReportBatchItemFailures: delete all but the listed messages; those reappear after their visibility timeout.
    counters.failedItems += read.failed.size;
    const deleted = await deleteMessages(messages.filter((message) => !read.failed.has(message.MessageId ?? '')));
    summarize(read.failed.size === 0 ? 'success' : 'partial', { failedMessageIds: [...read.failed], deleted });
  };

  let paused = false;
  const pollLoop = async (): Promise<void> => {
    let backoffMs: number = POLL_ERROR_BACKOFF_MS.first;
    while (!signal.aborted) {
      if (paused) {
        await sleep(100, undefined, { signal }).catch(() => undefined);
        continue;
      }
      let batch: Message[];
      try {
        batch = await receiveBatch();
        backoffMs = POLL_ERROR_BACKOFF_MS.first;
      } catch (error) {
        if (signal.aborted && isAbort(error)) return;
        reportError(error);
        await sleep(backoffMs, undefined, { signal }).catch(() => undefined);
        backoffMs = Math.min(backoffMs * 2, POLL_ERROR_BACKOFF_MS.max);
        continue;
      }
      if (batch.length === 0) continue;
      try {
        offerCopies?.(batch);
      } catch (error) {
        reportError(error);
      }
      // Messages received before stop() are invoked, not dropped: they are already invisible.
      await invoke(batch).catch(reportError);
    }
  };

  /** Invocations of copies handed over by another poller, running beside the loops. */
  const copyInvocations = new Set<Promise<void>>();
  const offerCopies = options.copies?.register({
    accepting: () => !signal.aborted,
    deliver: (messages) => {
      counters.copies += messages.length;
      const running: Promise<void> = invoke(messages, true)
        .catch(reportError)
        .finally(() => copyInvocations.delete(running));
      copyInvocations.add(running);
    },
  });

  const loops = Array.from({ length: settings.pollers }, () => pollLoop());
  let stopped: Promise<void> | undefined;
  return {
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
    },
    stop: () => {
      if (stopped === undefined) {
        // Ends the pauses at once; a long poll in progress is let finish (see waitTimeSeconds).
        abort.abort();
        stopped = (async () => {
          await Promise.all(loops);
          // Copies handed over before stop() (another poller's last batch) are invoked to the end.
          while (copyInvocations.size > 0) await Promise.all([...copyInvocations]);
        })();
      }
      return stopped;
    },
    stats: () => ({ ...counters }),
  };
};
