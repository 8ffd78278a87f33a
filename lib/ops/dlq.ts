import {
  DeleteMessageBatchCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  StartMessageMoveTaskCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { fromSqsMessageAttributes } from '../adapters/sqs-attributes.ts';
import { BAD_INPUT_REASONS, MAX_MESSAGE_BYTES, messageBytes } from '../core/dead-letter.ts';
import { sleep } from '../core/sleep.ts';
import { SqsLimits } from '../core/sqs-limits.ts';
import { peekMessages, readDeadLetter, release, withoutBody, type DeadLetter, type ReadDeadLetter } from './dead-letters.ts';
import type { DestinationQueues } from './targets.ts';

/** Which dead letters a command acts on; every field given must match. */
export interface DeadLetterFilter {
  readonly reasons?: readonly string[];
  readonly resourceType?: string;
  readonly id?: string;
  readonly version?: number;
  /** Last attempt (or, for a message SQS moved, when it was sent) at or after this, epoch ms. */
  readonly since?: number;
  readonly until?: number;
}

const isEmptyFilter = (filter: DeadLetterFilter): boolean => Object.values(filter).every((value) => value === undefined);

/** When a dead letter was last tried: its facts, else when the message was sent (SQS's redrive keeps that). */
const lastAttemptMs = (letter: ReadDeadLetter, message: Message): number =>
  letter.lastAttemptAt === undefined ? Number(message.Attributes?.SentTimestamp ?? Number.NaN) : Date.parse(letter.lastAttemptAt);

/**
 * Whether a dead letter matches every field the filter gives.
 *
 * @example
 * matchesFilter(letter, message, { reasons: ['rejected'], id: 'c-1' });
 */
export const matchesFilter = (letter: ReadDeadLetter, message: Message, filter: DeadLetterFilter): boolean => {
  if (filter.reasons !== undefined && !filter.reasons.includes(letter.reason)) return false;
  if (filter.resourceType !== undefined && letter.change?.resourceType !== filter.resourceType) return false;
  if (filter.id !== undefined && letter.change?.id !== filter.id) return false;
  if (filter.version !== undefined && letter.change?.version !== filter.version) return false;
  const at = lastAttemptMs(letter, message);
  if (filter.since !== undefined && !(at >= filter.since)) return false;
  if (filter.until !== undefined && !(at <= filter.until)) return false;
  return true;
};

/** A group of dead letters that share a reason. */
export interface DeadLetterGroup {
  readonly reason: string;
  readonly count: number;
  /** A few of them, never with body or payload. */
  readonly examples: readonly DeadLetter[];
}

export interface DeadLetterInspection {
  readonly destination: string;
  /** Messages in the DLQ when read. */
  readonly total: number;
  /** Messages the filter matched. */
  readonly matched: number;
  /** Of those, how many lost part of their original body (cut to fit): they cannot be sent again. */
  readonly truncated: number;
  /** By reason, the largest group first. */
  readonly groups: readonly DeadLetterGroup[];
}

/**
 * Reads a DLQ without consuming it: every message is received, described and made visible again at
 * once. Groups what the filter matches by reason, with counts and a few examples.
 *
 * @example
 * const { groups } = await inspectDeadLetters(sqs, queues, { reasons: ['rejected'] });
 */
export const inspectDeadLetters = async (
  sqs: SQSClient,
  queues: Pick<DestinationQueues, 'destination' | 'deadLetterQueueUrl'>,
  filter: DeadLetterFilter = {},
  options: { readonly examples?: number } = {},
): Promise<DeadLetterInspection> => {
  const messages = await peekMessages(sqs, queues.deadLetterQueueUrl);
  const groups = new Map<string, { count: number; examples: DeadLetter[] }>();
  let matched = 0;
  let truncated = 0;
  for (const message of messages) {
    const letter = readDeadLetter(message, queues.destination);
    if (!matchesFilter(letter, message, filter)) continue;
    matched += 1;
    if (letter.truncated) truncated += 1;
    const group = groups.get(letter.reason) ?? { count: 0, examples: [] };
    group.count += 1;
    if (group.examples.length < (options.examples ?? 3)) group.examples.push(withoutBody(letter));
    groups.set(letter.reason, group);
  }
  return {
    destination: queues.destination,
    total: messages.length,
    matched,
    truncated,
    groups: [...groups].map(([reason, group]) => ({ reason, ...group })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
  };
};

export interface RedriveOptions {
  readonly filter?: DeadLetterFilter;
  /** Move at most this many. @default all */
  readonly limit?: number;
  /** Count what would move, move nothing. */
  readonly dryRun?: boolean;
  /**
   * Also move bad input (invalid-json, invalid-schema, too-large, not-routed), which the consumer
   * refuses again unless the cause was fixed elsewhere. @default false, unless the filter names those reasons
   */
  readonly includeBadInput?: boolean;
  /** Never use StartMessageMoveTask (tests; services that lack it are detected anyway). @default false */
  readonly forceFallback?: boolean;
  readonly onProgress?: (progress: RedriveProgress) => void;
  /** Stops after the batch in hand: everything sent is deleted first, nothing is lost. */
  readonly signal?: AbortSignal;
  /** How long a received message stays invisible while it is being moved. @default 120 */
  readonly visibilityTimeoutSeconds?: number;
  /** Between checks of a StartMessageMoveTask. @default 1000 */
  readonly pollIntervalMs?: number;
}

export interface RedriveProgress {
  readonly moved: number;
  /** Messages in the DLQ when the redrive started. */
  readonly total: number;
}

/** How a redrive ended. */
export interface RedriveResult {
  readonly destination: string;
  readonly method: 'StartMessageMoveTask' | 'receive-send-delete';
  /** Why StartMessageMoveTask was not used, when it was not. */
  readonly fallbackReason?: string;
  readonly dryRun: boolean;
  /** Messages moved to the source queue (or, on a dry run, that would be). */
  readonly moved: number;
  /** Left in the DLQ, by reason: filtered out, bad input, or beyond the limit. */
  readonly kept: Readonly<Record<string, number>>;
  /** Left because their original body was cut to fit: they cannot be sent again. */
  readonly truncated: number;
  /** Sends the service refused (left in the DLQ, visible again after the visibility timeout). */
  readonly failed: number;
  readonly interrupted: boolean;
  /** The source queue's ids of the messages sent (the receive / send / delete move only). */
  readonly sentMessageIds?: readonly string[];
}

const isMovable = (letter: ReadDeadLetter, options: RedriveOptions): boolean =>
  options.includeBadInput === true || options.filter?.reasons?.includes(letter.reason) === true || !BAD_INPUT_REASONS.has(letter.reason);

/** SendMessageBatch takes at most 10 entries and 256 KiB in all. */
const sendBatches = (messages: readonly Message[]): Message[][] => {
  const batches: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = messageBytes(message.Body ?? '', fromSqsMessageAttributes(message.MessageAttributes));
    if (current.length === SqsLimits.MAX_BATCH_ENTRIES || (current.length > 0 && bytes + size > MAX_MESSAGE_BYTES)) {
      batches.push(current);
      [current, bytes] = [[], 0];
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
};

/**
 * Sends each message's body and attributes to the source queue, as SQS's own move would, and deletes
 * it from the DLQ only once the send succeeded: an interruption between the two leaves the message in
 * both, and the consumer skips the second copy as a duplicate (its idempotency key is the change's).
 */
const moveBatch = async (sqs: SQSClient, queues: DestinationQueues, messages: readonly Message[]): Promise<{ sentMessageIds: string[]; failed: number }> => {
  const sentMessageIds: string[] = [];
  let failed = 0;
  for (const batch of sendBatches(messages)) {
    const { Successful = [], Failed = [] } = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queues.queueUrl,
        Entries: batch.map((message, index) => ({
          Id: String(index),
          MessageBody: message.Body ?? '',
          ...(message.MessageAttributes === undefined || Object.keys(message.MessageAttributes).length === 0 ? {} : { MessageAttributes: message.MessageAttributes }),
        })),
      }),
    );
    failed += Failed.length;
    const sent = Successful.map((entry) => batch[Number(entry.Id)]!);
    if (sent.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queues.deadLetterQueueUrl,
          Entries: sent.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })),
        }),
      );
    }
    sentMessageIds.push(...Successful.map((entry) => entry.MessageId ?? ''));
  }
  return { sentMessageIds, failed };
};

/** The receive / send / delete move, with a filter, a limit, a dry run and an abort. */
const moveByHand = async (sqs: SQSClient, queues: DestinationQueues, options: RedriveOptions, total: number, fallbackReason: string): Promise<RedriveResult> => {
  const filter = options.filter ?? {};
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const kept = new Map<string, number>();
  const seen = new Set<string>();
  const toRelease: string[] = [];
  const sentMessageIds: string[] = [];
  let [moved, failed, truncated, interrupted] = [0, 0, 0, false];
  try {
    for (let emptyReceives = 0; emptyReceives < 2; ) {
      if (options.signal?.aborted === true) {
        interrupted = true;
        break;
      }
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queues.deadLetterQueueUrl,
          MaxNumberOfMessages: SqsLimits.MAX_BATCH_ENTRIES,
          VisibilityTimeout: options.visibilityTimeoutSeconds ?? 120,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) {
        emptyReceives += 1;
        continue;
      }
      emptyReceives = 0;
      const move: Message[] = [];
      for (const message of Messages) {
        const letter = readDeadLetter(message, queues.destination);
        const first = !seen.has(letter.dlqMessageId);
        seen.add(letter.dlqMessageId);
        const keep = (why: string): void => {
          toRelease.push(message.ReceiptHandle!);
          if (first) kept.set(why, (kept.get(why) ?? 0) + 1);
        };
        if (!matchesFilter(letter, message, filter)) keep(`${letter.reason || 'no reason'} (filtered out)`);
        else if (letter.truncated) {
          toRelease.push(message.ReceiptHandle!);
          if (first) truncated += 1;
        } else if (!isMovable(letter, options)) keep(`${letter.reason} (bad input)`);
        else if (moved + move.length >= limit) keep('beyond --limit');
        else move.push(message);
      }
      if (options.dryRun === true) {
        toRelease.push(...move.map((m) => m.ReceiptHandle!));
        moved += move.length;
      } else {
        const result = await moveBatch(sqs, queues, move);
        moved += result.sentMessageIds.length;
        sentMessageIds.push(...result.sentMessageIds);
        failed += result.failed;
      }
      options.onProgress?.({ moved, total });
      if (moved >= limit) break;
    }
  } finally {
    await release(sqs, queues.deadLetterQueueUrl, toRelease);
  }
  return {
    destination: queues.destination,
    method: 'receive-send-delete',
    fallbackReason,
    dryRun: options.dryRun === true,
    moved,
    kept: Object.fromEntries(kept),
    truncated,
    failed,
    interrupted,
    sentMessageIds,
  };
};

/** Runs SQS's own move of the whole DLQ back to its source queue and follows it to the end. */
const moveWithTask = async (sqs: SQSClient, queues: DestinationQueues, options: RedriveOptions, total: number): Promise<RedriveResult> => {
  await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: queues.deadLetterQueueArn, DestinationArn: queues.queueArn }));
  for (;;) {
    await sleep(options.pollIntervalMs ?? 1_000);
    const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: queues.deadLetterQueueArn, MaxResults: 1 }));
    const task = Results[0];
    const moved = task?.ApproximateNumberOfMessagesMoved ?? 0;
    options.onProgress?.({ moved, total });
    if (task !== undefined && task.Status !== 'RUNNING' && task.Status !== 'CANCELLING') {
      return {
        destination: queues.destination,
        method: 'StartMessageMoveTask',
        dryRun: false,
        moved,
        kept: {},
        truncated: 0,
        failed: task.Status === 'COMPLETED' ? 0 : Math.max(0, (task.ApproximateNumberOfMessagesToMove ?? total) - moved),
        interrupted: task.Status === 'CANCELLED',
      };
    }
  }
};

/**
 * Moves a destination's dead letters back to its source queue. The whole DLQ, when every message in
 * it can be sent again, goes by SQS's own StartMessageMoveTask where the service has it; a filter, a
 * limit, a dry run, bad input or truncated originals in the DLQ, or a service without it (the
 * embedded SQS, moto), move by receive / send / delete instead. Either way no message is lost if the
 * move is interrupted, and a message sent twice is harmless (the consumer skips the repeat).
 *
 * @example
 * const result = await redriveDeadLetters(sqs, queues, { filter: { reasons: ['retries-exhausted'] } });
 * result.moved; // 12
 */
export const redriveDeadLetters = async (sqs: SQSClient, queues: DestinationQueues, options: RedriveOptions = {}): Promise<RedriveResult> => {
  const survey = await inspectDeadLetters(sqs, queues, options.filter ?? {}, { examples: 0 });
  const whole = isEmptyFilter(options.filter ?? {}) && options.limit === undefined && options.dryRun !== true;
  const allMovable = survey.truncated === 0 && survey.groups.every((group) => options.includeBadInput === true || !BAD_INPUT_REASONS.has(group.reason));
  let fallbackReason: string;
  if (options.forceFallback === true) fallbackReason = 'asked for the receive / send / delete move';
  else if (!whole) fallbackReason = 'a filter, a limit or a dry run needs the receive / send / delete move';
  else if (!allMovable) fallbackReason = 'the DLQ holds bad input or truncated originals, which are left where they are';
  else {
    try {
      return await moveWithTask(sqs, queues, options, survey.total);
    } catch (error) {
      const { name = 'Error', message = '', $metadata } = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      // moto answers an HTML page with 500; fauxqs and some versions of LocalStack InvalidAction.
      const said = name === 'SyntaxError' ? `HTTP ${$metadata?.httpStatusCode ?? '?'}, not an SQS answer` : `${name}: ${message.split('\n')[0]}`;
      fallbackReason = `StartMessageMoveTask is not available here (${said})`;
    }
  }
  return moveByHand(sqs, queues, options, survey.total, fallbackReason);
};
