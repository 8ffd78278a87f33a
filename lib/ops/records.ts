import { readFileSync } from 'node:fs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendBodies } from '../adapters/sqs-send.ts';
import type { DynamoDbLedgerStore } from '../adapters/dynamodb-ledger.ts';
import type { DestinationConfig } from '../config/pipeline-config.ts';
import { parseChangeEvent, serializeChangeEvent, type ChangeEvent } from '../contract/change-event.ts';
import type { LedgerEntry, LedgerRecordKey } from '../core/ledger.ts';
import { redriveDeadLetters, type RedriveResult } from './dlq.ts';
import { UsageError, type DestinationQueues } from './targets.ts';

/**
 * Reads changes from a file, one JSON change event per line (blank lines ignored; a file holding a
 * single event over several lines works too). Every line is checked against the contract and the
 * destination's routing first: one bad line refuses the whole file, naming its line and field, so
 * nothing is half sent.
 *
 * @example
 * const changes = readChangeFile('changes.ndjson', destination); // throws UsageError('changes.ndjson:3: version: …')
 */
export const readChangeFile = (path: string, destination: DestinationConfig, now: number = Date.now()): ChangeEvent[] => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  const whole = parseChangeEvent(text.trim(), now);
  const lines = whole.ok ? [{ line: 1, text: text.trim() }] : text.split('\n').map((line, index) => ({ line: index + 1, text: line.trim() })).filter((l) => l.text !== '');
  if (lines.length === 0) throw new UsageError(`${path} holds no changes`);
  const problems: string[] = [];
  const changes: ChangeEvent[] = [];
  for (const { line, text: body } of lines) {
    const parsed = parseChangeEvent(body, now);
    if (!parsed.ok) problems.push(`${path}:${line}: ${parsed.rejection.reason}: ${parsed.rejection.detail}`);
    else if (!destination.resourceTypes.includes(parsed.event.resourceType)) {
      problems.push(`${path}:${line}: resource type ${JSON.stringify(parsed.event.resourceType)} is not routed to ${destination.name} (it takes ${destination.resourceTypes.join(', ')})`);
    } else changes.push(parsed.event);
  }
  if (problems.length > 0) throw new UsageError(`${problems.length} of ${lines.length} changes refused, nothing sent:\n  ${problems.slice(0, 10).join('\n  ')}`);
  return changes;
};

export type ReplayResult =
  | { readonly source: 'file'; readonly destination: string; readonly sent: number; readonly messageIds: readonly string[] }
  | ({ readonly source: 'dlq' } & RedriveResult);

/**
 * Sends chosen changes to one destination's queue again: from a file, or, by record, from its DLQ
 * (bad input included: the operator chose them). A change the destination already holds is skipped
 * by the consumer as a duplicate; use `resync` to force one.
 *
 * @example
 * await replayChanges(sqs, queues, destination, { file: 'changes.ndjson' });
 * await replayChanges(sqs, queues, destination, { id: 'c-1', version: 3 });
 */
export const replayChanges = async (
  sqs: SQSClient,
  queues: DestinationQueues,
  destination: DestinationConfig,
  choice: { readonly file: string } | { readonly id: string; readonly version?: number; readonly resourceType?: string },
): Promise<ReplayResult> => {
  if ('file' in choice) {
    const changes = readChangeFile(choice.file, destination);
    const messageIds = await sendBodies(sqs, queues.queueUrl, changes.map(serializeChangeEvent));
    return { source: 'file', destination: destination.name, sent: messageIds.length, messageIds };
  }
  const result = await redriveDeadLetters(sqs, queues, {
    filter: {
      id: choice.id,
      ...(choice.version === undefined ? {} : { version: choice.version }),
      ...(choice.resourceType === undefined ? {} : { resourceType: choice.resourceType }),
    },
    includeBadInput: true,
  });
  return { source: 'dlq', ...result };
};

/** The resource type a command means: the one given, or the destination's only one. */
export const resourceTypeFor = (destination: DestinationConfig, given: string | undefined): string => {
  if (given !== undefined) {
    if (!destination.resourceTypes.includes(given)) {
      throw new UsageError(`--type ${JSON.stringify(given)} is not routed to ${destination.name}; it takes ${destination.resourceTypes.join(', ')}`);
    }
    return given;
  }
  if (destination.resourceTypes.length === 1) return destination.resourceTypes[0]!;
  throw new UsageError(`${destination.name} takes several resource types (${destination.resourceTypes.join(', ')}): say which with --type`);
};

export interface ResyncResult {
  readonly record: LedgerRecordKey;
  /** What the ledger held before anything was done. */
  readonly ledger: LedgerEntry | null;
  /** With a file: the version pushed again, and how the ledger was made to accept it. */
  readonly pushed?: { readonly version: number; readonly reopened: boolean; readonly messageId: string };
}

/**
 * Shows what the ledger holds for a record at a destination (applied and claimed versions, lease,
 * settle window, when applied) and, given the record's current state as a change, pushes it again.
 * A version newer than the applied one simply goes to the queue. The applied version itself is
 * reopened first (see `DynamoDbLedgerStore.reopenForResync`), so the destination gets it once more:
 * the one deliberate second effect, for a destination that drifted. An older version is refused.
 *
 * @example
 * const { ledger } = await resyncRecord({ sqs, ledger }, queues, destination, { resourceType: 'contact', id: 'c-1' });
 */
export const resyncRecord = async (
  clients: { readonly sqs: SQSClient; readonly ledger: DynamoDbLedgerStore },
  queues: DestinationQueues,
  destination: DestinationConfig,
  target: { readonly resourceType: string; readonly id: string; readonly fromFile?: string },
  now: number = Date.now(),
): Promise<ResyncResult> => {
  const record: LedgerRecordKey = { destination: destination.name, resourceType: target.resourceType, id: target.id };
  const entry = (await clients.ledger.read(record)) ?? null;
  if (target.fromFile === undefined) return { record, ledger: entry };
  const changes = readChangeFile(target.fromFile, destination, now);
  if (changes.length !== 1) throw new UsageError(`${target.fromFile}: expected the record's current state as one change, got ${changes.length}`);
  const change = changes[0]!;
  if (change.resourceType !== target.resourceType || change.id !== target.id) {
    throw new UsageError(`${target.fromFile} holds ${change.resourceType}/${change.id}, not ${target.resourceType}/${target.id}`);
  }
  const applied = entry?.appliedVersion;
  const claimed = entry?.claimedVersion;
  if ((applied !== undefined && change.version < applied) || (claimed !== undefined && change.version < claimed)) {
    throw new UsageError(
      `${target.fromFile} holds v${change.version}, older than what ${destination.name} was sent (applied v${applied ?? '-'}, claimed v${claimed ?? '-'}): ` +
        'resync with the current state',
    );
  }
  let reopened = false;
  if (applied === change.version) {
    reopened = await clients.ledger.reopenForResync(record, change.version, now);
    if (!reopened) throw new UsageError(`the ledger entry for ${target.resourceType}/${target.id} is leased, fenced or changed right now: try again in a minute`);
  }
  const [messageId = ''] = await sendBodies(clients.sqs, queues.queueUrl, [serializeChangeEvent(change)]);
  return { record, ledger: entry, pushed: { version: change.version, reopened, messageId } };
};
