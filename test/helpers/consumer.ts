import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Destination, DestinationWrite, WriteResult } from '../../lib/core/destination.ts';
import type { DeferredMessage, DeferResult, ReceivedRecord, RecordQueue } from '../../lib/core/record-queue.ts';
import { captureJsonOutput } from '../../lib/local/sim/output-capture.ts';
import { createConsumerHandler } from '../../lib/consumer/consumer-handler.ts';
import type { DeadLetterFacts, DeadLetterMessage, MessageAttribute } from '../../lib/core/dead-letter.ts';
import { InMemoryLedgerStore } from '../../lib/adapters/in-memory-ledger.ts';
import type { LedgerStore } from '../../lib/core/ledger.ts';
import type { BreakerSettings, DestinationControlStore, EventSourceSwitch, RateLimitSettings } from '../../lib/core/destination-control.ts';
import type { Sleep } from '../../lib/core/sleep.ts';

/** A destination that records every call and answers with what `respond` decides. */
export class RecordingDestination implements Destination {
  public readonly calls: DestinationWrite[] = [];
  public respond: (write: DestinationWrite) => Promise<WriteResult | void> = async () => undefined;

  public async apply(write: DestinationWrite): Promise<WriteResult | void> {
    this.calls.push(write);
    return this.respond(write);
  }
}

/** A record queue that keeps dead letters and visibility changes in memory. */
export class RecordingQueue implements RecordQueue {
  /** Each dead letter's facts, with the body it carries as `originalBody` and its attributes. */
  public readonly deadLetters: Array<DeadLetterFacts & { originalBody: string; attributes: Readonly<Record<string, MessageAttribute>> }> = [];
  public readonly delays: Array<{ receiptHandle: string; delaySeconds: number }> = [];

  public async deadLetter(letter: DeadLetterMessage): Promise<void> {
    this.deadLetters.push({ ...letter.facts, originalBody: letter.body, attributes: letter.attributes });
  }

  /** Every deferral sent, in order. */
  public readonly deferrals: DeferredMessage[] = [];

  public async delayRetries(entries: ReadonlyArray<{ receiptHandle: string; delaySeconds: number }>): Promise<void> {
    this.delays.push(...entries);
  }

  public async defer(messages: readonly DeferredMessage[]): Promise<DeferResult[]> {
    this.deferrals.push(...messages);
    return messages.map((message) => ({ messageId: message.messageId, sentAs: `deferred-${message.messageId}` }));
  }

  /** What the probe's receive returns next (one message each time), and what it deleted. */
  public readonly waiting: ReceivedRecord[] = [];
  public readonly deleted: string[] = [];

  public async receiveOne(): Promise<ReceivedRecord | undefined> {
    return this.waiting.shift();
  }

  public async delete(receiptHandle: string): Promise<void> {
    this.deleted.push(receiptHandle);
  }
}

/**
 * A consumer handler over in-memory ports. Its Powertools output (JSON logs and EMF) is captured into
 * `output` instead of cluttering the test run, so tests can assert on it. Its pauses (quick retries,
 * busy waits) take no real time unless `sleep` says otherwise: each is recorded in `pauses` and
 * yields one turn of the event loop.
 */
export const inMemoryConsumer = (
  options: {
    ledger?: LedgerStore;
    leaseDurationMs?: number;
    random?: () => number;
    maxReceiveCount?: number;
    settleMs?: number;
    now?: () => number;
    sleep?: Sleep;
    idNormalization?: 'none' | 'NFC';
    /** Capture output per call; false when the test runs several handlers at once under one capture. @default true */
    capture?: boolean;
    /** The destination's shared state, with the rate limit and breaker settings; none by default (no gate). */
    control?: DestinationControlStore;
    rateLimit?: RateLimitSettings;
    breaker?: BreakerSettings;
    eventSource?: EventSourceSwitch;
    deferralHorizonMs?: number;
    coalescing?: { backlogAgeMs: number; holdSeconds: number };
  } = {},
) => {
  const ledger = options.ledger ?? new InMemoryLedgerStore();
  const destination = new RecordingDestination();
  const queue = new RecordingQueue();
  const output: string[] = [];
  const pauses: number[] = [];
  const virtualSleep: Sleep = (ms) => {
    pauses.push(ms);
    return new Promise<void>((resolve) => setImmediate(resolve));
  };
  const inner = createConsumerHandler({
    destinationName: 'crm',
    resourceTypes: new Set(['contact']),
    ...(options.idNormalization === undefined ? {} : { idNormalization: options.idNormalization }),
    retry: { baseDelaySeconds: 2, maxDelaySeconds: 900, maxReceiveCount: options.maxReceiveCount ?? 10 },
    leaseDurationMs: options.leaseDurationMs ?? 11_000,
    requestTimeoutMs: 5_000,
    settleMs: options.settleMs ?? 120_000,
    ...(options.now === undefined ? {} : { now: options.now }),
    sleep: options.sleep ?? virtualSleep,
    ledger,
    destination,
    queue,
    random: options.random ?? (() => 0.5),
    ...(options.control === undefined ? {} : { control: options.control, breaker: options.breaker ?? { failurePercent: 50, minCalls: 20, windowSeconds: 60, probeIntervalSeconds: 60 } }),
    ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
    ...(options.eventSource === undefined ? {} : { eventSource: options.eventSource }),
    ...(options.deferralHorizonMs === undefined ? {} : { deferralHorizonMs: options.deferralHorizonMs }),
    ...(options.coalescing === undefined ? {} : { coalescing: options.coalescing }),
    logger: new Logger({ serviceName: 'test', logLevel: 'DEBUG' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'test', defaultDimensions: { Destination: 'crm' } }),
  });
  const handler: typeof inner = async (event, context) => {
    if (options.capture === false) return inner(event, context);
    const capture = captureJsonOutput((line) => output.push(line));
    try {
      return await inner(event, context);
    } finally {
      capture.restore();
    }
  };
  return { handler, ledger, destination, queue, output, pauses };
};
