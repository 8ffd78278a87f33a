import type { PipelineConfig } from '../../config/pipeline-config.ts';
import { serializeChangeEvent, type ChangeEvent } from '../../contract/change-event.ts';
import { recordKey } from '../../core/record-key.ts';
import { routeChange } from '../../publish/publisher.ts';
import { generateDemoStream } from './demo-stream.ts';
import type { LocalRunOptions } from './run-options.ts';
import { idsFor, LOCAL_RUN_DEFAULTS } from './run-settings.ts';

/** The malformed bodies the demo mixes in; each must reach the DLQ with a reason (I6). */
const MALFORMED_SAMPLES: readonly string[] = [
  '{"resourceType":"contact","id":',
  JSON.stringify({ resourceType: 'contact', version: 1, occurredAt: new Date(0).toISOString(), op: 'upsert', payload: {} }),
  JSON.stringify({ resourceType: 'contact', id: 'bad-version', version: 'seven', occurredAt: new Date(0).toISOString(), op: 'upsert', payload: {} }),
];

/** What a local run publishes, in order, and where each message goes. */
export interface Workload {
  /** The changes (ids prefixed with the run id). */
  readonly events: readonly ChangeEvent[];
  readonly malformed: number;
  /** Every message in publishing order with its destinations. */
  readonly plan: ReadonlyArray<{ readonly message: ChangeEvent | string; readonly targets: readonly string[] }>;
  /** Per destination, the changes routed to it (for the convergence check). */
  readonly routed: ReadonlyMap<string, readonly ChangeEvent[]>;
  /** Messages to publish, counted once per destination. */
  readonly plannedTotal: number;
  /** Per destination, the messages of `plan` that target it (every destination has an entry). */
  readonly plannedByDestination: ReadonlyMap<string, number>;
}

/** The workload of a plan: its changes, what each destination receives, and the planned counts. */
const workloadOf = (destinations: readonly string[], plan: Workload['plan']): Workload => {
  const events = plan.flatMap(({ message }) => (typeof message === 'string' ? [] : [message]));
  const routed = new Map<string, ChangeEvent[]>(destinations.map((name) => [name, []]));
  const plannedByDestination = new Map<string, number>(destinations.map((name) => [name, 0]));
  for (const { message, targets } of plan) {
    for (const target of targets) {
      if (typeof message !== 'string') routed.get(target)!.push(message);
      plannedByDestination.set(target, (plannedByDestination.get(target) ?? 0) + 1);
    }
  }
  return {
    events,
    malformed: plan.length - events.length,
    plan,
    routed,
    plannedTotal: [...plannedByDestination.values()].reduce((sum, n) => sum + n, 0),
    plannedByDestination,
  };
};

/**
 * The run's workload: the given events or a generated demo stream, with malformed messages spread
 * through it, routed exactly as the EventBridge rules do; malformed input cannot be routed by type,
 * so it goes to the first destination. Record ids carry the run id, so a rerun against a persistent
 * endpoint starts from fresh records.
 *
 * @example
 * const { plan } = buildWorkload(config, { changes: 100, rate: 0, config }, 'run-1');
 */
export const buildWorkload = (config: PipelineConfig, options: Omit<LocalRunOptions, 'config'>, runId: string): Workload => {
  const resourceTypes = [...new Set(config.destinations.flatMap((d) => d.resourceTypes))];
  const events = (
    options.events ??
    generateDemoStream({
      changes: options.changes,
      ids: idsFor(options),
      resourceTypes,
      seed: options.seed ?? LOCAL_RUN_DEFAULTS.seed,
      ...(options.twinRate === undefined ? {} : { twinRate: options.twinRate }),
    })
  ).map((event): ChangeEvent => ({ ...event, id: `${runId}-${event.id}` }));
  const malformed = options.malformed ?? LOCAL_RUN_DEFAULTS.malformed;
  const messages: Array<ChangeEvent | string> = [...events];
  for (let i = 0; i < malformed; i += 1) {
    messages.splice(Math.floor(((i + 1) * messages.length) / (malformed + 1)), 0, MALFORMED_SAMPLES[i % MALFORMED_SAMPLES.length]!);
  }
  const plan = messages.map((message) => ({
    message,
    targets: typeof message === 'string' ? [config.destinations[0]!.name] : routeChange(config, message),
  }));
  return workloadOf(config.destinations.map((d) => d.name), plan);
};

/**
 * The part of a workload its first `steps` messages make up: what an interrupted run published,
 * and so what it can be judged on.
 *
 * @example
 * const sent = publishedPart(workload, 120); // sent.routed holds only the changes published
 */
export const publishedPart = (workload: Workload, steps: number): Workload => workloadOf([...workload.plannedByDestination.keys()], workload.plan.slice(0, steps));

/**
 * The body of each message as it is published. A change happens when it is first published, so lag
 * measures the pipeline, not the pacing of the demo; a duplicate or late re-send carries the time of
 * its original.
 *
 * @example
 * const bodyOf = createBodyStamper();
 * bodyOf(event); // serialized, occurredAt = now (or the first send's time)
 */
export const createBodyStamper = (): ((message: ChangeEvent | string) => string) => {
  const stamp = createOccurredAtStamper();
  return (message) => (typeof message === 'string' ? message : serializeChangeEvent(stamp(message)));
};

/**
 * The same stamping for a publisher that takes change events, not bodies (`publishChanges`): the
 * first send of a (record, version) gets the current time as `occurredAt`, and every copy of it
 * that same time.
 *
 * @example
 * const stamp = createOccurredAtStamper();
 * stamp(event).occurredAt; // now, or the first send's time
 */
export const createOccurredAtStamper = (): ((event: ChangeEvent) => ChangeEvent) => {
  const occurredAt = new Map<string, string>();
  return (event) => {
    const key = recordKey(event.resourceType, event.id, event.version);
    const stamp = occurredAt.get(key) ?? new Date().toISOString();
    occurredAt.set(key, stamp);
    return { ...event, occurredAt: stamp };
  };
};
