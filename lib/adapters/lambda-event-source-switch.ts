import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { EventSourceSwitch } from '../core/destination-control.ts';
import { atFirstUse, clientFrom, importSdk, type ClientSource } from './at-first-use.ts';

interface Connection {
  readonly sdk: typeof import('@aws-sdk/client-lambda');
  readonly client: LambdaClient;
}

export interface LambdaEventSourceSwitchOptions {
  /**
   * @default `new LambdaClient({})`, made at the first switch: the SDK's Lambda client is loaded
   * then, not when the function starts (most invocations never switch).
   */
  readonly client?: ClientSource<LambdaClient>;
  /** The consumer function's own name (Lambda sets AWS_LAMBDA_FUNCTION_NAME). */
  readonly functionName: string;
  /** The destination's queue: the mapping to switch is the one from it to the function. */
  readonly queueArn: string;
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
  readonly #connect = atFirstUse(async (): Promise<Connection> => {
    const sdk = await importSdk('@aws-sdk/client-lambda', 'switch the event source', () => import('@aws-sdk/client-lambda'));
    const { client } = this.#options;
    return { sdk, client: client === undefined ? new sdk.LambdaClient({}) : await clientFrom(client) };
  });
  #uuid: string | undefined;

  public constructor(options: LambdaEventSourceSwitchOptions) {
    this.#options = options;
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
