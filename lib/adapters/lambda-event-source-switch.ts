import { LambdaClient, ListEventSourceMappingsCommand, UpdateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import type { EventSourceSwitch } from '../core/destination-control.ts';

export interface LambdaEventSourceSwitchOptions {
  readonly client: LambdaClient;
  /** The consumer function's own name (Lambda sets AWS_LAMBDA_FUNCTION_NAME). */
  readonly functionName: string;
  /** The destination's queue: the mapping to switch is the one from it to the function. */
  readonly queueArn: string;
}

/**
 * Turns the consumer's own SQS event source mapping off and on. Its UUID cannot reach the function's
 * environment (the mapping depends on the function), so it is looked up once by function and queue;
 * the role may update that mapping only.
 *
 * @example
 * const source = new LambdaEventSourceSwitch({ client: new LambdaClient({}), functionName, queueArn });
 * await source.setEnabled(false);
 */
export class LambdaEventSourceSwitch implements EventSourceSwitch {
  readonly #options: LambdaEventSourceSwitchOptions;
  #uuid: string | undefined;

  public constructor(options: LambdaEventSourceSwitchOptions) {
    this.#options = options;
  }

  async #mapping(): Promise<string> {
    if (this.#uuid !== undefined) return this.#uuid;
    const { EventSourceMappings = [] } = await this.#options.client.send(
      new ListEventSourceMappingsCommand({ FunctionName: this.#options.functionName, EventSourceArn: this.#options.queueArn }),
    );
    const uuid = EventSourceMappings[0]?.UUID;
    if (uuid === undefined) throw new Error(`no event source mapping from ${this.#options.queueArn} to ${this.#options.functionName}`);
    this.#uuid = uuid;
    return uuid;
  }

  public async setEnabled(enabled: boolean): Promise<void> {
    await this.#options.client.send(new UpdateEventSourceMappingCommand({ UUID: await this.#mapping(), Enabled: enabled }));
  }
}
