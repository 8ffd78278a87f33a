import { setTimeout as pause } from 'node:timers/promises';
import { GetQueueAttributesCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';

/** A source queue's depth at one moment, as GetQueueAttributes reported it. */
export interface QueueDepthSample {
  readonly destination: string;
  /** Epoch milliseconds the answer arrived. */
  readonly at: number;
  /** ApproximateNumberOfMessages: waiting to be received. */
  readonly visible: number;
  /** ApproximateNumberOfMessagesNotVisible: received, neither deleted nor back yet. */
  readonly inFlight: number;
}

/**
 * The oldest message one receive returned. SQS has no attribute for the age of the oldest message
 * (CloudWatch's ApproximateAgeOfOldestMessage is a metric, not an attribute), so it is derived from
 * what the pollers receive: now minus the earliest `SentTimestamp` of the batch.
 */
export interface ReceivedAgeSample {
  readonly destination: string;
  /** Epoch milliseconds of the receive. */
  readonly at: number;
  readonly oldestAgeMs: number;
}

/** What a sampler saw over a run, in the order it saw it. */
export interface QueueObservations {
  readonly depth: readonly QueueDepthSample[];
  readonly receivedAges: readonly ReceivedAgeSample[];
}

/**
 * @example
 * const options: QueueSamplerOptions = { sqs, queueUrls: { crm: crmQueueUrl } };
 */
export interface QueueSamplerOptions {
  readonly sqs: SQSClient;
  /** The source queue of each destination, by destination name. */
  readonly queueUrls: Readonly<Record<string, string>>;
  /** Time between the starts of two rounds of GetQueueAttributes. @default 1000 */
  readonly intervalMs?: number;
  /** Called when a GetQueueAttributes call fails; the sampler goes on. @default ignored */
  readonly onError?: (error: unknown) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * A running sampler. See {@link startQueueSampler}.
 *
 * @example
 * const sampler: QueueSampler = startQueueSampler({ sqs, queueUrls });
 */
export interface QueueSampler {
  /** Notes what a poller of `destination` received (the poller's `onReceive`). */
  received(destination: string, messages: readonly Message[]): void;
  /** A copy of what was seen so far. */
  observations(): QueueObservations;
  /** Ends the sampling and resolves once a round in progress has ended. Safe to call twice. */
  stop(): Promise<void>;
}

const count = (value: string | undefined): number => {
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : 0;
};

/**
 * Samples each destination's source queue about once a second (ApproximateNumberOfMessages and
 * ApproximateNumberOfMessagesNotVisible), and keeps the age of the oldest message of each receive
 * the pollers report, for the report's queue charts.
 *
 * @example
 * const sampler = startQueueSampler({ sqs, queueUrls: { crm: resources.destinations.crm.queueUrl } });
 * startEventSourcePoller({ ...options, onReceive: (messages) => sampler.received('crm', messages) });
 * // ...
 * await sampler.stop();
 * sampler.observations().depth; // [{ destination: 'crm', at, visible: 120, inFlight: 40 }, …]
 */
export const startQueueSampler = (options: QueueSamplerOptions): QueueSampler => {
  const intervalMs = options.intervalMs ?? 1000;
  const now = options.now ?? Date.now;
  const depth: QueueDepthSample[] = [];
  const receivedAges: ReceivedAgeSample[] = [];
  const abort = new AbortController();

  const sampleOnce = async (): Promise<void> => {
    await Promise.all(
      Object.entries(options.queueUrls).map(async ([destination, queueUrl]) => {
        try {
          const { Attributes = {} } = await options.sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
          );
          depth.push({ destination, at: now(), visible: count(Attributes.ApproximateNumberOfMessages), inFlight: count(Attributes.ApproximateNumberOfMessagesNotVisible) });
        } catch (error) {
          options.onError?.(error);
        }
      }),
    );
  };

  const loop = (async () => {
    while (!abort.signal.aborted) {
      const started = now();
      await sampleOnce();
      await pause(Math.max(0, started + intervalMs - now()), undefined, { signal: abort.signal }).catch(() => undefined);
    }
  })();

  return {
    received: (destination, messages) => {
      const sent = messages.map((message) => Number(message.Attributes?.SentTimestamp)).filter(Number.isFinite);
      if (sent.length === 0) return;
      const at = now();
      receivedAges.push({ destination, at, oldestAgeMs: Math.max(0, at - Math.min(...sent)) });
    },
    observations: () => ({ depth: [...depth], receivedAges: [...receivedAges] }),
    stop: async () => {
      abort.abort();
      await loop;
    },
  };
};
