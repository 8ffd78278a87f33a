/**
 * The publisher entry of the package: what a service needs to feed the pipeline. Publish with
 * {@link publishChanges}; build changes against {@link ChangeEventSchema} (the {@link ChangeEvent} type).
 *
 * @example
 * import { publishChanges } from 'sync-pipeline/publish';
 * const results = await publishChanges(changes, { via: 'sqs', client: sqs, queueUrl });
 */
export {
  DEFAULT_PUBLISH_SOURCE,
  publishChanges,
  type PublishOptions,
  type PublishResult,
  type PublishRoute,
  type PublishStatus,
} from './publish-changes.ts';
export { CHANGE_DETAIL_TYPE, ChangeEventSchema, type ChangeEvent } from '../contract/change-event.ts';
