import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendBodies } from '../../adapters/sqs-send.ts';
import type { PipelineConfig } from '../../config/pipeline-config.ts';
import { eventBusName } from '../../config/resources.ts';
import { routingPattern } from '../../config/routing.ts';
import { compileEventPattern } from '../../core/event-pattern.ts';
import { createRandom } from '../../core/random.ts';
import { EventBridgeLimits, putEventsEntryBytes } from '../../core/publish-batches.ts';
import { listenOnLoopback, LOOPBACK } from './loopback-server.ts';

/**
 * An EventBridge bus in this process, as the stack deploys it: one rule per destination with the
 * stack's own pattern (`routingPattern`), each sending the event's `detail` (the change event, as
 * the rule's `InputPath: $.detail` does) to the destination's queue, and an archive when the config
 * has one. It speaks EventBridge's JSON 1.1 API on loopback, so the real `EventBridgeClient` talks to
 * it with `endpoint`.
 *
 * What it leaves out of the real service: by default it delivers every matching event exactly once,
 * in the order of the entries (the service delivers at least once, in no promised order: the
 * `delivery` option duplicates and reorders on request), and it answers PutEvents only once the
 * deliveries are in the queues (the service answers first), so the caller knows every message id. Only
 * PutEvents is served; a rule's retry policy and DLQ are not modelled: a delivery SQS refuses fails
 * the call (InternalException, which the SDK retries: a duplicate, as the service may send). The
 * target gets the entry's `Detail` text as it was sent, where the service writes the parsed detail
 * out again (same JSON, perhaps spelled otherwise: escapes, number forms).
 *
 * @example
 * const bus: LocalEventBus = await startLocalEventBus({ config, sqs, queueUrls });
 * const events = new EventBridgeClient(awsClientConfig(bus.endpoint));
 * await events.send(new PutEventsCommand({ Entries: [{ EventBusName: bus.eventBusName, Source: 'app', DetailType: 'change', Detail: body }] }));
 */
export interface LocalEventBus {
  /** e.g. `http://127.0.0.1:41233`. */
  readonly endpoint: string;
  /** The stack's bus name, `eventBusName(config)`; entries must name it (by name or ARN). */
  readonly eventBusName: string;
  /**
   * PutEvents requests received (refused ones too); entries of the requests taken, and of those the
   * ones failed (InvalidArgument, MalformedDetail); per destination, messages its rule put in its queue
   * (replays included).
   */
  stats(): { putEventsCalls: number; entries: number; failedEntries: number; deliveredByDestination: Record<string, number> };
  /**
   * Sends the archived events whose archive time is within [from, to] through the rules again, as
   * StartReplay does (each with a `replay-name`); resolves with how many were replayed.
   * @throws {Error} when the config has no archive (`eventBus.archive: false`)
   */
  replay(options?: { from?: Date; to?: Date }): Promise<number>;
  /** Closes the server and its connections. Safe to call twice. */
  stop(): Promise<void>;
}

/** @example const options: LocalEventBusOptions = { config, sqs, queueUrls: { crm: crmQueueUrl } }; */
export interface LocalEventBusOptions {
  readonly config: PipelineConfig;
  /** The client of the queues the rules target. */
  readonly sqs: SQSClient;
  /** Each destination's source queue. */
  readonly queueUrls: Readonly<Record<string, string>>;
  /** Told of every message a rule put in a destination's queue, with its SQS MessageId. */
  readonly onDelivered?: (destination: string, messageId: string) => void;
  /** The clock of event times and the archive's retention. @default Date.now */
  readonly now?: () => number;
  /**
   * Delivery closer to the service's at-least-once, unordered promise: `duplicateRate` (0 to 1) of
   * the deliveries are sent twice, and with `reorder` each call's deliveries to a queue are shuffled;
   * from `seed`, so a run repeats. @default each delivery once, in order
   */
  readonly delivery?: { readonly duplicateRate?: number; readonly reorder?: boolean; readonly seed?: number };
}

/** The event as rules see it, EventBridge's envelope around the entry. */
interface BusEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
  readonly 'replay-name'?: string;
}

/** An accepted event and its entry's `Detail` as sent, which is what a rule's target gets. */
interface AcceptedEvent {
  readonly event: BusEvent;
  readonly detailText: string;
}

/** A PutEvents entry as the request carries it (unchecked). */
interface RequestEntry {
  readonly Source?: unknown;
  readonly DetailType?: unknown;
  readonly Detail?: unknown;
  readonly EventBusName?: unknown;
  readonly Resources?: unknown;
  readonly Time?: unknown;
}

type EntryResult = { readonly EventId: string } | { readonly ErrorCode: string; readonly ErrorMessage: string };

/** An error answered as the service answers it: HTTP status, `__type` and message. */
class ServiceError extends Error {
  public readonly status: number;
  public readonly code: string;

  public constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ServiceError';
    this.status = status;
    this.code = code;
  }
}

const ACCOUNT = '000000000000';
const DAY_MS = 86_400_000;
const DEFAULT_BUS = 'default';

const busNameOf = (value: unknown): string => {
  if (value === undefined || value === null || value === '') return DEFAULT_BUS;
  const text = String(value);
  // An ARN names the bus after `event-bus/`.
  const arn = /^arn:[^:]+:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(text);
  return arn?.[1] ?? text;
};

/** The entry's result, as the service words it (the messages moto mirrors from AWS). */
const checkEntry = (entry: RequestEntry): { readonly error: EntryResult } | { readonly detail: Record<string, unknown> } => {
  const missing = (field: string) => ({ error: { ErrorCode: 'InvalidArgument', ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.` } });
  if (typeof entry.Source !== 'string' || entry.Source === '') return missing('Source');
  if (typeof entry.DetailType !== 'string' || entry.DetailType === '') return missing('DetailType');
  if (typeof entry.Detail !== 'string' || entry.Detail === '') return missing('Detail');
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail);
  } catch {
    detail = undefined;
  }
  // Rules match on the fields of `detail`: a string, number or array there is refused as malformed.
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return { error: { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' } };
  return { detail: detail as Record<string, unknown> };
};

/** Refuses a whole request the service refuses: entries missing, more than 10, or over 256 KB together. */
const checkRequest = (body: unknown, knownBuses: ReadonlySet<string>): RequestEntry[] => {
  const entries: unknown = typeof body === 'object' && body !== null ? (body as { Entries?: unknown }).Entries : undefined;
  if (!Array.isArray(entries)) throw new ServiceError(400, 'ValidationException', "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null");
  if (entries.length < 1) throw new ServiceError(400, 'ValidationException', "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1");
  if (entries.length > EventBridgeLimits.MAX_BATCH_ENTRIES) {
    throw new ServiceError(400, 'ValidationException', `1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${EventBridgeLimits.MAX_BATCH_ENTRIES}`);
  }
  const typed = entries.map((entry): RequestEntry => (typeof entry === 'object' && entry !== null ? (entry as RequestEntry) : {}));
  const size = typed.reduce(
    (sum, entry) =>
      sum +
      putEventsEntryBytes({
        Source: typeof entry.Source === 'string' ? entry.Source : '',
        DetailType: typeof entry.DetailType === 'string' ? entry.DetailType : '',
        ...(typeof entry.Detail === 'string' ? { Detail: entry.Detail } : {}),
        ...(Array.isArray(entry.Resources) ? { Resources: entry.Resources.map(String) } : {}),
        ...(entry.Time === undefined || entry.Time === null ? {} : { Time: entry.Time }),
      }),
    0,
  );
  if (size > EventBridgeLimits.MAX_REQUEST_BYTES) throw new ServiceError(400, 'ValidationException', 'Total size of the entries in the request is over the limit.');
  for (const entry of typed) {
    const bus = busNameOf(entry.EventBusName);
    if (!knownBuses.has(bus)) throw new ServiceError(400, 'ResourceNotFoundException', `Event bus ${bus} does not exist.`);
  }
  return typed;
};

/** `Time` as the SDK sends it (epoch seconds), or now; in EventBridge's format, whole seconds. */
const eventTime = (time: unknown, now: number): string => {
  const ms = typeof time === 'number' && Number.isFinite(time) ? time * 1000 : now;
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
};

const readBody = async (request: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

/**
 * Starts a {@link LocalEventBus} on a free loopback port for the pipeline of `config`.
 *
 * @throws {Error} when a destination of the config has no queue in `queueUrls`
 * @throws {RangeError} when `delivery.duplicateRate` is not from 0 to 1
 * @example
 * const bus = await startLocalEventBus({ config, sqs, queueUrls, onDelivered: (destination, id) => ids.get(destination)?.push(id) });
 * const events = new EventBridgeClient(awsClientConfig(bus.endpoint));
 * // ...
 * await bus.stop();
 */
export const startLocalEventBus = async (options: LocalEventBusOptions): Promise<LocalEventBus> => {
  const { config, sqs, queueUrls } = options;
  const now = options.now ?? Date.now;
  const duplicateRate = options.delivery?.duplicateRate ?? 0;
  if (!(duplicateRate >= 0 && duplicateRate <= 1)) throw new RangeError(`Expected \`delivery.duplicateRate\` to be a number from 0 to 1, got ${JSON.stringify(duplicateRate)}`);
  const name = eventBusName(config);
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const rules = config.destinations.map((destination) => {
    const queueUrl = queueUrls[destination.name];
    if (queueUrl === undefined) throw new Error(`Expected a queue URL for destination ${JSON.stringify(destination.name)} in queueUrls, got none`);
    return { destination: destination.name, queueUrl, matches: compileEventPattern(routingPattern(destination)) };
  });
  const archive: Array<{ readonly at: number; readonly accepted: AcceptedEvent }> = [];
  const retentionMs = config.eventBus.archiveRetentionDays * DAY_MS;
  const dropExpired = (): void => {
    const oldest = now() - retentionMs;
    while (archive.length > 0 && archive[0]!.at < oldest) archive.shift();
  };
  const counts = { putEventsCalls: 0, entries: 0, failedEntries: 0 };
  const random = createRandom(options.delivery?.seed ?? 1);
  /** What one call sends a queue: each body once, or twice at `duplicateRate`; shuffled with `reorder`. */
  const deliveriesOf = (bodies: readonly string[]): string[] => {
    const sent = bodies.flatMap((body) => (duplicateRate > 0 && random.next() < duplicateRate ? [body, body] : [body]));
    return options.delivery?.reorder === true ? random.shuffle(sent) : sent;
  };
  const delivered: Record<string, number> = Object.fromEntries(config.destinations.map((d) => [d.name, 0]));

  /** Every rule's matches of `events`, sent per destination in batches of 10, in order. */
  const route = async (events: readonly AcceptedEvent[]): Promise<void> => {
    await Promise.all(
      rules.map(async (rule) => {
        const bodies = events.filter(({ event }) => rule.matches(event)).map(({ detailText }) => detailText);
        if (bodies.length === 0) return;
        const messageIds = await sendBodies(sqs, rule.queueUrl, deliveriesOf(bodies));
        delivered[rule.destination] = (delivered[rule.destination] ?? 0) + messageIds.length;
        for (const messageId of messageIds) options.onDelivered?.(rule.destination, messageId);
      }),
    );
  };

  const putEvents = async (body: unknown): Promise<{ FailedEntryCount: number; Entries: EntryResult[] }> => {
    const entries = checkRequest(body, new Set([name, DEFAULT_BUS]));
    const accepted: AcceptedEvent[] = [];
    const results = entries.map((entry): EntryResult => {
      const checked = checkEntry(entry);
      if ('error' in checked) return checked.error;
      const event: BusEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType as string,
        source: entry.Source as string,
        account: ACCOUNT,
        time: eventTime(entry.Time, now()),
        region,
        resources: Array.isArray(entry.Resources) ? entry.Resources.map(String) : [],
        detail: checked.detail,
      };
      // The default bus exists in every account, but has no rules of this pipeline: accepted, not routed.
      if (busNameOf(entry.EventBusName) === name) accepted.push({ event, detailText: entry.Detail as string });
      return { EventId: event.id };
    });
    const failed = results.filter((result) => 'ErrorCode' in result).length;
    counts.entries += results.length;
    counts.failedEntries += failed;
    if (config.eventBus.archive) {
      dropExpired();
      for (const event of accepted) archive.push({ at: now(), accepted: event });
    }
    await route(accepted);
    return { FailedEntryCount: failed, Entries: results };
  };

  const answer = (response: ServerResponse, status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
    response.end(JSON.stringify(body));
  };
  const server: Server = createServer((request, response) => {
    void (async () => {
      try {
        const target = String(request.headers['x-amz-target'] ?? '');
        const text = await readBody(request);
        if (target !== 'AWSEvents.PutEvents') throw new ServiceError(400, 'UnknownOperationException', `Operation ${target || '(no X-Amz-Target)'} is not served by the local event bus (PutEvents only)`);
        counts.putEventsCalls += 1;
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw new ServiceError(400, 'SerializationException', 'Start of structure or map found where not expected.');
        }
        answer(response, 200, await putEvents(body));
      } catch (error) {
        const refused = error instanceof ServiceError ? error : new ServiceError(500, 'InternalException', `The local event bus could not deliver: ${(error as Error).message}`);
        answer(response, refused.status, { __type: refused.code, message: refused.message });
      }
    })();
  });
  const port = await listenOnLoopback(server);
  let stopped: Promise<void> | undefined;
  let replays = 0;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    eventBusName: name,
    stats: () => ({ ...counts, deliveredByDestination: { ...delivered } }),
    replay: async ({ from, to } = {}) => {
      if (!config.eventBus.archive) throw new Error(`The local event bus ${name} has no archive: set eventBus.archive to true in the config to replay`);
      dropExpired();
      const start = from?.getTime() ?? -Infinity;
      const end = to?.getTime() ?? Infinity;
      replays += 1;
      // Replayed events are not archived again: the archive's rule excludes events with a replay-name.
      const replayName = `${name}-local-replay-${replays}`;
      const events = archive
        .filter(({ at }) => at >= start && at <= end)
        .map(({ accepted }): AcceptedEvent => ({ ...accepted, event: { ...accepted.event, id: randomUUID(), 'replay-name': replayName } }));
      await route(events);
      return events.length;
    },
    stop: () => {
      stopped ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return stopped;
    },
  };
};
