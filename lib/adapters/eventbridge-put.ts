import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { EntryOutcome } from '../core/publish-batches.ts';

/**
 * PutEvents entry codes that mean "EventBridge's trouble, try again": throttling and its own
 * failures. Any other code (AccessDeniedException, MalformedDetail, InvalidArgument, …) is about the
 * entry or the caller and fails the same way every time.
 */
const RETRYABLE_ENTRY_CODES: ReadonlySet<string> = new Set(['ThrottlingException', 'InternalFailure', 'InternalException', 'ServiceUnavailable']);

/**
 * Puts up to 10 entries in one PutEvents call and says, per entry and in order, what EventBridge did
 * with it. PutEvents reports refused entries in its answer (`FailedEntryCount`, an `ErrorCode` at
 * the entry's position), not as an error; a whole call that fails rejects, as the SDK does.
 *
 * @example
 * const [outcome] = await putEvents(eventBridge, [{ EventBusName: 'sync', Source: 'orders', DetailType: CHANGE_DETAIL_TYPE, Detail: body }]);
 * if (outcome?.sent) console.log(outcome.id); // the EventId
 */
export const putEvents = async (
  client: EventBridgeClient,
  entries: readonly PutEventsRequestEntry[],
  options: { readonly abortSignal?: AbortSignal } = {},
): Promise<EntryOutcome[]> => {
  const result = await client.send(new PutEventsCommand({ Entries: [...entries] }), options.abortSignal === undefined ? {} : { abortSignal: options.abortSignal });
  const answers = result.Entries ?? [];
  return entries.map((_entry, index): EntryOutcome => {
    const answer = answers[index];
    if (answer?.ErrorCode !== undefined && answer.ErrorCode !== '') {
      return { sent: false, code: answer.ErrorCode, message: answer.ErrorMessage ?? '', retryable: RETRYABLE_ENTRY_CODES.has(answer.ErrorCode) };
    }
    if (answer?.EventId === undefined) return { sent: false, code: 'MissingResult', message: `EventBridge answered nothing for entry ${index}`, retryable: true };
    return { sent: true, id: answer.EventId };
  });
};
