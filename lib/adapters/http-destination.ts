import { ChangeOp } from '../contract/change-event.ts';
import { parseRetryAfter } from '../core/backoff.ts';
import {
  ALREADY_DONE,
  classifyHttpStatus,
  classifyTransportError,
  DestinationError,
  DestinationErrorClass,
  statusError,
  transportError,
} from '../core/errors.ts';
import { WriteResult, type Destination, type DestinationWrite } from '../core/destination.ts';

/**
 * A destination's own version check (see `versionPrecondition` in the config).
 *
 * @example
 * const precondition: VersionPrecondition = { header: 'If-Match', format: 'etag', refusedStatus: 412 };
 */
export interface VersionPrecondition {
  readonly header: string;
  /** `etag`: `"5"`; `plain`: `5`. */
  readonly format: 'etag' | 'plain';
  /** The answer meaning "this version or a newer one is already here". */
  readonly refusedStatus: number;
}

export interface HttpDestinationOptions {
  /** e.g. `https://crm.example.com/api`; records live at `{baseUrl}/{resourceType}/{id}`. */
  readonly baseUrl: string;
  /** Hard limit for the whole call, body included. Must be shorter than the ledger lease. */
  readonly requestTimeoutMs: number;
  /** Extra headers on every call (authorization, API version). */
  readonly headers?: Readonly<Record<string, string>>;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * Refines the status mapping for an API with its own conventions (say, 422 meaning "retry later");
   * return undefined to keep the default from `classifyHttpStatus`.
   */
  readonly classifyStatus?: (status: number, op: 'upsert' | 'delete') => DestinationErrorClass | typeof ALREADY_DONE | undefined;
  /** Send the version as a precondition; its refusal resolves as `superseded`. @default none */
  readonly versionPrecondition?: VersionPrecondition;
}

/**
 * HTTP header values must be visible ASCII; ids may hold any unicode. Percent-encodes (as UTF-8)
 * everything else and '%' itself, so ASCII keys stay readable and the mapping stays one-to-one.
 *
 * @example
 * toHeaderValue('crm:contact:müller:3'); // 'crm:contact:m%C3%BCller:3'
 */
export const toHeaderValue = (value: string): string =>
  value.replace(/[^\x21-\x24\x26-\x7e]/gu, (char) => encodeURIComponent(char));

/**
 * Delivers changes to a REST API: upsert is `PUT {baseUrl}/{resourceType}/{id}` with the payload as
 * JSON, delete is `DELETE` on the same path; both carry `Idempotency-Key`, `X-Record-Version` and
 * `X-Occurred-At` (header values percent-encode what is not visible ASCII), and the version
 * precondition when one is configured. A 404 on delete means the record is already gone, which is the
 * goal; the precondition's refusal resolves as `superseded`. Failures are thrown as
 * {@link DestinationError} with their class, status, Retry-After and whether their outcome is unknown.
 *
 * @example
 * const crm = new HttpDestination({ baseUrl: 'https://crm.example.com/api', requestTimeoutMs: 5000 });
 * await crm.apply({ event, idempotencyKey: 'crm:contact:c-1:3' });
 */
export class HttpDestination implements Destination {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #classifyStatus: (status: number, op: 'upsert' | 'delete') => DestinationErrorClass | typeof ALREADY_DONE;
  readonly #precondition: VersionPrecondition | undefined;

  public constructor(options: HttpDestinationOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#timeoutMs = options.requestTimeoutMs;
    this.#headers = options.headers ?? {};
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
    const refine = options.classifyStatus;
    this.#classifyStatus = (status, op) => refine?.(status, op) ?? classifyHttpStatus(status, op);
    this.#precondition = options.versionPrecondition;
  }

  /** The record's URL; the id is always exactly one path segment, whatever it contains. */
  public urlFor(resourceType: string, id: string): string {
    return `${this.#baseUrl}/${encodeURIComponent(resourceType)}/${encodeURIComponent(id)}`;
  }

  public async apply({ event, idempotencyKey }: DestinationWrite): Promise<WriteResult> {
    const method = event.op === ChangeOp.UPSERT ? 'PUT' : 'DELETE';
    const target = `${method} ${event.resourceType}/${event.id}`;
    // Build the whole request first: what cannot be encoded (a lone surrogate, a cyclic payload)
    // never will be, so it is a permanent failure, not something to retry.
    let url: string;
    let init: RequestInit;
    try {
      url = this.urlFor(event.resourceType, event.id);
      init = {
        method,
        // A redirect would turn a PUT into a GET (303) and count a write that never happened.
        redirect: 'manual',
        headers: {
          ...this.#headers,
          'Idempotency-Key': toHeaderValue(idempotencyKey),
          'X-Record-Version': String(event.version),
          'X-Occurred-At': event.occurredAt,
          ...this.#preconditionHeader(event.version),
          ...(method === 'PUT' ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(method === 'PUT' ? { body: JSON.stringify(event.payload) } : {}),
      };
    } catch (error) {
      throw new DestinationError(`${method} ${event.resourceType}: the request cannot be encoded (${(error as Error).message})`, {
        errorClass: DestinationErrorClass.CLIENT,
        cause: error,
      });
    }
    let response: Response;
    try {
      response = await this.#fetch(url, { ...init, signal: AbortSignal.timeout(this.#timeoutMs) });
      // Read the body under the same deadline: it frees the connection and bounds slow bodies.
      await response.arrayBuffer();
    } catch (error) {
      throw this.#translateFailure(target, error);
    }
    if (response.ok) return WriteResult.APPLIED;
    if (this.#precondition !== undefined && response.status === this.#precondition.refusedStatus) return WriteResult.SUPERSEDED;
    const errorClass = this.#classifyStatus(response.status, event.op);
    if (errorClass === ALREADY_DONE) return WriteResult.APPLIED;
    throw statusError(`${target} answered ${response.status}`, {
      errorClass,
      status: response.status,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), this.#now()),
    });
  }

  #preconditionHeader(version: number): Record<string, string> {
    if (this.#precondition === undefined) return {};
    const value = this.#precondition.format === 'etag' ? `"${version}"` : String(version);
    return { [this.#precondition.header]: value };
  }

  #translateFailure(target: string, error: unknown): DestinationError {
    const why =
      classifyTransportError(error) === 'timeout'
        ? `timed out after ${this.#timeoutMs} ms`
        : `failed: ${(error instanceof Error && (error.cause as { code?: string } | undefined)?.code) || (error instanceof Error ? error.message : String(error))}`;
    return transportError(`${target} ${why}`, error);
  }
}
