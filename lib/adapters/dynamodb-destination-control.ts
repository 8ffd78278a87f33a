import { ConditionalCheckFailedException, GetItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LEDGER_KEY_ATTRIBUTE } from '../config/resources.ts';
import type { ControlState, DestinationControlStore } from '../core/destination-control.ts';

export interface DynamoDbDestinationControlOptions {
  readonly client: DynamoDBClient;
  /** The ledger table: one more item per destination, beside its records. */
  readonly tableName: string;
}

/** The control item's key; `#` cannot appear in a destination name, so it never meets a record's key. */
export const controlKey = (destination: string): string => `${destination}#control`;

const NUMBER_FIELDS = ['tat', 'pausedUntil', 'decreasedRate', 'decreasedAt', 'breakerOpenedAt', 'windowStartedAt', 'windowCalls', 'windowFailures'] as const;

const toState = (item: Record<string, AttributeValue> | undefined): ControlState =>
  Object.fromEntries(NUMBER_FIELDS.flatMap((name) => (item?.[name]?.N === undefined ? [] : [[name, Number(item[name].N)]]))) as ControlState;

const n = (value: number): AttributeValue => ({ N: String(value) });

/** Times in the control item are whole milliseconds, so DynamoDB's decimal arithmetic stays exact. */
const ms = (value: number): number => Math.ceil(value);

/**
 * The shared state of each destination in DynamoDB, one item beside the ledger's records. Reserving
 * slots is a GCRA on one attribute: `ADD tat :inc` while the schedule runs ahead of now, or
 * `SET tat = :now + :inc` once it has fallen behind; either is one conditional write that returns
 * the item, so concurrent consumers never hand out the same slot, and a take of up to ten slots
 * costs one request (about 0.1 write per call).
 *
 * @example
 * const control = new DynamoDbDestinationControl({ client, tableName: 'sync-pipeline-ledger' });
 */
export class DynamoDbDestinationControl implements DestinationControlStore {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;
  /** The schedule (`tat`) as this client last saw it, per destination. */
  readonly #lastTat = new Map<string, number>();

  public constructor(options: DynamoDbDestinationControlOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  #key(destination: string): Record<string, AttributeValue> {
    return { [LEDGER_KEY_ATTRIBUTE]: { S: controlKey(destination) } };
  }

  /** One conditional update; the item after it, or undefined when the condition failed. */
  async #update(destination: string, update: { expression: string; condition?: string; values: Record<string, AttributeValue> }): Promise<ControlState | undefined> {
    try {
      const { Attributes } = await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: this.#key(destination),
          UpdateExpression: update.expression,
          ...(update.condition === undefined ? {} : { ConditionExpression: update.condition }),
          ExpressionAttributeValues: update.values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toState(Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  public async reserve(destination: string, request: { count: number; intervalMs: number; burstMs: number; now: number; calls?: number }) {
    const now = ms(request.now);
    const inc = ms(request.count * request.intervalMs);
    // Answered calls of earlier invocations ride on the reservation (no write of their own).
    const calls = request.calls ?? 0;
    const callsValue: Record<string, AttributeValue> = calls > 0 ? { ':calls': n(calls) } : {};
    const behind = async () => {
      const state = await this.#update(destination, {
        expression: `ADD tat :inc${calls > 0 ? ', windowCalls :calls' : ''}`,
        condition: 'tat >= :now',
        values: { ':inc': n(inc), ':now': n(now), ...callsValue },
      });
      return state === undefined ? undefined : { startAt: Math.max(now, state.tat! - inc - request.burstMs, state.pausedUntil ?? 0), state };
    };
    const idle = async () => {
      const state = await this.#update(destination, {
        expression: `SET tat = :next${calls > 0 ? ' ADD windowCalls :calls' : ''}`,
        condition: 'attribute_not_exists(tat) OR tat < :now',
        values: { ':next': n(now + inc), ':now': n(now), ...callsValue },
      });
      return state === undefined ? undefined : { startAt: Math.max(now, state.pausedUntil ?? 0), state };
    };
    // A failed condition costs a request and a write unit: try first the way the schedule stood when
    // this client last saw it (ahead of now, or fallen behind), which is right whenever no other
    // consumer moved it across now since.
    const last = this.#lastTat.get(destination);
    const order = last !== undefined && last < now ? [idle, behind] : [behind, idle];
    // Two tries each way is plenty: a condition fails only when another consumer moved the schedule across now.
    for (let tries = 0; tries < 4; tries += 1) {
      const reserved = await order[tries % 2]!();
      if (reserved !== undefined) {
        this.#lastTat.set(destination, reserved.state.tat!);
        return reserved;
      }
    }
    throw new Error(`could not reserve request slots for ${destination}: the schedule kept moving`);
  }

  public async giveBack(destination: string, giveMs: number, now: number): Promise<void> {
    const back = ms(giveMs);
    if (back <= 0) return;
    await this.#update(destination, { expression: 'ADD tat :minus', condition: 'tat >= :floor', values: { ':minus': n(-back), ':floor': n(ms(now) + back) } });
  }

  public async throttle(destination: string, change: { rate: number; pausedUntil: number; now: number; cooldownMs: number }): Promise<void> {
    await this.#update(destination, {
      expression: 'SET decreasedRate = :rate, decreasedAt = :now, pausedUntil = :paused',
      condition: '(attribute_not_exists(decreasedAt) OR decreasedAt <= :cooledAt) AND (attribute_not_exists(pausedUntil) OR pausedUntil < :paused)',
      values: { ':rate': n(change.rate), ':now': n(ms(change.now)), ':cooledAt': n(ms(change.now - change.cooldownMs)), ':paused': n(ms(change.pausedUntil)) },
    });
  }

  public async recordCalls(destination: string, counts: { calls: number; failures: number; now: number; windowMs: number }): Promise<ControlState> {
    const now = ms(counts.now);
    const counted = await this.#update(destination, {
      expression: 'ADD windowCalls :calls, windowFailures :failures',
      condition: 'windowStartedAt >= :windowStart',
      values: { ':calls': n(counts.calls), ':failures': n(counts.failures), ':windowStart': n(now - counts.windowMs) },
    });
    if (counted !== undefined) return counted;
    // No window, or an old one: start a new one with these counts (whoever starts it first wins; the rest add).
    const started = await this.#update(destination, {
      expression: 'SET windowStartedAt = :now, windowCalls = :calls, windowFailures = :failures',
      condition: 'attribute_not_exists(windowStartedAt) OR windowStartedAt < :windowStart',
      values: { ':now': n(now), ':calls': n(counts.calls), ':failures': n(counts.failures), ':windowStart': n(now - counts.windowMs) },
    });
    return started ?? this.recordCalls(destination, counts);
  }

  public async openBreaker(destination: string, now: number, reopen = false): Promise<boolean> {
    const opened = await this.#update(destination, {
      expression: 'SET breakerOpenedAt = :now',
      ...(reopen ? {} : { condition: 'attribute_not_exists(breakerOpenedAt)' }),
      values: { ':now': n(ms(now)) },
    });
    return opened !== undefined;
  }

  public async closeBreaker(destination: string, now: number): Promise<void> {
    await this.#update(destination, {
      expression: 'SET windowStartedAt = :now, windowCalls = :zero, windowFailures = :zero REMOVE breakerOpenedAt',
      values: { ':now': n(ms(now)), ':zero': n(0) },
    });
  }

  public async read(destination: string): Promise<ControlState | undefined> {
    const { Item } = await this.#client.send(new GetItemCommand({ TableName: this.#tableName, Key: this.#key(destination), ConsistentRead: true }));
    return Item === undefined ? undefined : toState(Item);
  }
}
