import type { DestinationConfig } from './pipeline-config.ts';

/**
 * An EventBridge event pattern, as far as the pipeline's rules use it: each leaf lists the values
 * a field may have (any one matches), each object narrows into a field of the event.
 *
 * @example
 * const pattern: EventPattern = { detail: { resourceType: ['contact', 'company'] } };
 */
export interface EventPattern {
  readonly [field: string]: readonly string[] | EventPattern;
}

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
