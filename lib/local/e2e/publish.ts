import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendBodies } from '../../adapters/sqs-send.ts';
import { serializeChangeEvent, type ChangeEvent } from '../../contract/change-event.ts';
import { chunk } from '../../core/sqs-limits.ts';

/** Where one call publishes: the shape of the publisher library's options. */
export type PublishTarget =
  | { readonly via: 'eventbridge'; readonly client: EventBridgeClient; readonly eventBusName: string }
  | { readonly via: 'sqs'; readonly client: SQSClient; readonly queueUrl: string };

/** One change's outcome, as the publisher library returns it. */
export interface PublishResult {
  readonly status: 'sent' | 'failed';
  readonly error?: string;
}

/** The event's `source` and `detail-type` the e2e publishes with. */
export const E2E_EVENT_SOURCE = 'sync-pipeline.e2e';
export const E2E_DETAIL_TYPE = 'change';

/** PutEvents takes at most 10 entries a call. */
const PUT_EVENTS_MAX_ENTRIES = 10;

/**
 * STAND-IN for the publisher library's `publishChanges(changes, target)` (lib/publish/publish-changes.ts,
 * not in this tree yet): the same call shape and one result per change with `status`, made of a raw
 * PutEvents (10 entries a call, the change event as `detail`) and the existing `sendBodies`
 * (SendMessageBatch). Swap the body for `publishChanges` once it lands; nothing else changes.
 *
 * @example
 * const results = await publishE2eChanges(changes, { via: 'eventbridge', client: eventBridge, eventBusName: 'spe2e-changes' });
 * results.every((result) => result.status === 'sent');
 */
export const publishE2eChanges = async (changes: readonly ChangeEvent[], target: PublishTarget): Promise<PublishResult[]> => {
  const bodies = changes.map((change) => serializeChangeEvent(change));
  if (target.via === 'sqs') {
    await sendBodies(target.client, target.queueUrl, bodies);
    return bodies.map(() => ({ status: 'sent' }));
  }
  const results: PublishResult[] = [];
  for (const batch of chunk(bodies, PUT_EVENTS_MAX_ENTRIES)) {
    const answer = await target.client.send(
      new PutEventsCommand({ Entries: batch.map((Detail) => ({ EventBusName: target.eventBusName, Source: E2E_EVENT_SOURCE, DetailType: E2E_DETAIL_TYPE, Detail })) }),
    );
    const entries = answer.Entries ?? [];
    results.push(
      ...batch.map((_body, index): PublishResult => {
        const entry = entries[index];
        return entry?.ErrorCode === undefined ? { status: 'sent' } : { status: 'failed', error: `${entry.ErrorCode}: ${entry.ErrorMessage ?? ''}` };
      }),
    );
  }
  return results;
};

/**
 * Whether the change at `index` (of `total`) goes via EventBridge when `viaEventBridge` of them do:
 * spread evenly through the stream, the rest straight to the queues.
 *
 * @example
 * [0, 1, 2, 3].map((i) => goesViaEventBridge(i, 4, 2)); // [false, true, false, true]
 */
export const goesViaEventBridge = (index: number, total: number, viaEventBridge: number): boolean =>
  Math.floor(((index + 1) * viaEventBridge) / total) > Math.floor((index * viaEventBridge) / total);
