import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { EventSourceSwitch } from '../core/destination-control.ts';

type LambdaSdk = typeof import('@aws-sdk/client-lambda');

/**
 * The client a {@link LambdaEventSourceSwitch} sends with: one already made, or a function that
 * makes it, called at the first switch.
 */
export type LambdaClientSource = LambdaClient | (() => LambdaClient | Promise<LambdaClient>);

export interface LambdaEventSourceSwitchOptions {
  /**
   * @default `new LambdaClient({})`, made at the first switch: the SDK's Lambda client is loaded
   * then, not when the function starts (most invocations never switch).
   */
  readonly client?: LambdaClientSource;
  /** The consumer function's own name (Lambda sets AWS_LAMBDA_FUNCTION_NAME). */
  readonly functionName: string;
  /** The destination's queue: the mapping to switch is the one from it to the function. */
  readonly queueArn: string;
}

/**
 * `@aws-sdk/client-lambda`, imported when first needed: the runtime provides it (the bundle leaves
 * `@aws-sdk/*` out), so a failure says which package is missing.
 */
const loadLambdaSdk = async (): Promise<LambdaSdk> => {
  try {
    return await import('@aws-sdk/client-lambda');
  } catch (error) {
    throw new Error(`could not load @aws-sdk/client-lambda to switch the event source: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
};

interface Connection {
  readonly sdk: LambdaSdk;
  readonly client: LambdaClient;
}

/**
 * Turns the consumer's own SQS event source mapping off and on. Its UUID cannot reach the function's
 * environment (the mapping depends on the function), so it is looked up once by function and queue;
 * the role may update that mapping only. The SDK's Lambda client is loaded and the client made at
 * the first switch, once (a failed load is tried again at the next).
 *
 * @example
 * const source = new LambdaEventSourceSwitch({ functionName, queueArn });
 * await source.setEnabled(false);
 */
export class LambdaEventSourceSwitch implements EventSourceSwitch {
  readonly #options: LambdaEventSourceSwitchOptions;
  #connection: Promise<Connection> | undefined;
  #uuid: string | undefined;

  public constructor(options: LambdaEventSourceSwitchOptions) {
    this.#options = options;
  }

  #connect(): Promise<Connection> {
    if (this.#connection !== undefined) return this.#connection;
    const connection = (async (): Promise<Connection> => {
      const sdk = await loadLambdaSdk();
      const given = this.#options.client;
      const client = given === undefined ? new sdk.LambdaClient({}) : typeof given === 'function' ? await given() : given;
      return { sdk, client };
    })();
    this.#connection = connection;
    connection.catch(() => {
      if (this.#connection === connection) this.#connection = undefined;
    });
    return connection;
  }

  async #mapping({ sdk, client }: Connection): Promise<string> {
    if (this.#uuid !== undefined) return this.#uuid;
    const { EventSourceMappings = [] } = await client.send(
      new sdk.ListEventSourceMappingsCommand({ FunctionName: this.#options.functionName, EventSourceArn: this.#options.queueArn }),
    );
    const uuid = EventSourceMappings[0]?.UUID;
    if (uuid === undefined) throw new Error(`no event source mapping from ${this.#options.queueArn} to ${this.#options.functionName}`);
    this.#uuid = uuid;
    return uuid;
  }

  public async setEnabled(enabled: boolean): Promise<void> {
    const connection = await this.#connect();
    await connection.client.send(new connection.sdk.UpdateEventSourceMappingCommand({ UUID: await this.#mapping(connection), Enabled: enabled }));
  }
}
