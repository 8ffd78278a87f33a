import type { EventPattern } from '../core/event-pattern.ts';
import type { DestinationConfig } from './pipeline-config.ts';

export type { EventPattern } from '../core/event-pattern.ts';

/**
 * The event pattern of a destination's EventBridge rule: a change event (the event's `detail`) of
 * one of the destination's resource types. The stack's rule and the local bus both take it from here,
 * so what a destination receives locally and in AWS is decided by one pattern.
 *
 * @example
 * routingPattern({ resourceTypes: ['contact', 'company'] }); // { detail: { resourceType: ['contact', 'company'] } }
 */
export const routingPattern = (destination: Pick<DestinationConfig, 'resourceTypes'>): EventPattern => ({
  detail: { resourceType: [...destination.resourceTypes] },
});
