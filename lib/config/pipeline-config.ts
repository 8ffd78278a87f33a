import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { intInRange, parseOrThrow, ValidationError } from './validation.ts';

/** Destination kinds the pipeline knows how to call. Each has an adapter in `lib/adapters`. */
export const DestinationKind = { HTTP: 'http' } as const;

const nameSchema = z
  .string({ error: 'expected a name of lowercase letters, digits and dashes' })
  .regex(/^[a-z][a-z0-9-]{0,29}$/, {
    error: 'expected 1 to 30 lowercase letters, digits or dashes, starting with a letter',
  });

const resourceTypeSchema = z
  .string({ error: 'expected a resource type name' })
  .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, {
    error: 'expected a resource type of 1 to 64 letters, digits, "_", "." or "-", starting with a letter',
  });

const baseUrlSchema = z
  .string({ error: 'expected an http(s) URL' })
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '';
      } catch {
        return false;
      }
    },
    { error: 'expected an http(s) URL without query or fragment' },
  );

const retrySchema = z.strictObject({
  /** Deliveries before SQS moves a message to the DLQ by redrive. */
  maxReceiveCount: intInRange(1, 1000).default(8),
  /** First backoff step for a transient failure. */
  baseDelaySeconds: intInRange(1, 3600).default(2),
  /** Longest wait between two attempts (SQS allows at most 12 hours). */
  maxDelaySeconds: intInRange(1, 43_200).default(900),
});

const destinationSchema = z
  .strictObject({
    name: nameSchema,
    kind: z.literal([DestinationKind.HTTP], { error: 'expected "http"' }),
    baseUrl: baseUrlSchema,
    resourceTypes: z
      .array(resourceTypeSchema, { error: 'expected a list of resource types' })
      .min(1, { error: 'expected at least one resource type' })
      .refine((types) => new Set(types).size === types.length, { error: 'expected each resource type once' }),
    batchSize: intInRange(1, 10_000).default(10),
    maxBatchingWindowSeconds: intInRange(0, 300).default(0),
    maxConcurrency: intInRange(2, 1000).default(5),
    requestTimeoutMs: intInRange(100, 60_000).default(5_000),
    functionTimeoutSeconds: intInRange(3, 900).default(30),
    retry: retrySchema.default({ maxReceiveCount: 8, baseDelaySeconds: 2, maxDelaySeconds: 900 }),
  })
  .superRefine((destination, ctx) => {
    if (destination.batchSize > 10 && destination.maxBatchingWindowSeconds === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['batchSize'],
        input: destination.batchSize,
        message: 'expected at most 10 unless maxBatchingWindowSeconds is at least 1 (an SQS event source rule)',
      });
    }
    // The lease on a record must outlive the destination call, and the call must fit in the
    // function's time, or a second consumer could overtake a slow first one (invariant I1).
    if (destination.requestTimeoutMs * 2 > destination.functionTimeoutSeconds * 1000) {
      ctx.addIssue({
        code: 'custom',
        path: ['requestTimeoutMs'],
        input: destination.requestTimeoutMs,
        message: `expected at most half of functionTimeoutSeconds (${destination.functionTimeoutSeconds} s)`,
      });
    }
    if (destination.retry.baseDelaySeconds > destination.retry.maxDelaySeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['retry', 'baseDelaySeconds'],
        input: destination.retry.baseDelaySeconds,
        message: `expected at most retry.maxDelaySeconds (${destination.retry.maxDelaySeconds})`,
      });
    }
  });

export const PipelineConfigSchema = z
  .strictObject({
    /** Prefix of every physical resource name (queues, table, bus, functions). */
    name: nameSchema.default('sync-pipeline'),
    metricsNamespace: z
      .string({ error: 'expected a CloudWatch namespace' })
      .regex(/^[A-Za-z0-9_./#:-]{1,255}$/, { error: 'expected 1 to 255 letters, digits or _ . / # : -' })
      .default('SyncPipeline'),
    logLevel: z
      .enum(['DEBUG', 'INFO', 'WARN', 'ERROR'], { error: 'expected one of DEBUG, INFO, WARN, ERROR' })
      .default('INFO'),
    destinations: z
      .array(destinationSchema, { error: 'expected a list of destinations' })
      .min(1, { error: 'expected at least one destination' }),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.destinations.forEach((destination, index) => {
      const first = seen.get(destination.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['destinations', index, 'name'],
          input: destination.name,
          message: `expected a unique name (destinations[${first}] has it already)`,
        });
      }
      seen.set(destination.name, index);
    });
  });

/** What the user writes: every field with a default may be left out. */
export type PipelineConfigInput = z.input<typeof PipelineConfigSchema>;
/** The resolved config: every default applied. */
export type PipelineConfig = z.output<typeof PipelineConfigSchema>;
export type DestinationConfig = PipelineConfig['destinations'][number];
export type RetryConfig = DestinationConfig['retry'];

/**
 * Validates a config object and applies defaults.
 *
 * @throws {ValidationError} naming each bad field and value, e.g.
 *   `destinations[1].maxConcurrency: expected an integer from 2 to 1000, got 1`
 * @example
 * const config = parsePipelineConfig({ destinations: [{ name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'] }] });
 */
export const parsePipelineConfig = (input: unknown): PipelineConfig =>
  parseOrThrow(PipelineConfigSchema, input, 'sync-pipeline config');

/** Validates a single destination (as passed to one consumer function). */
export const parseDestinationConfig = (input: unknown): DestinationConfig =>
  parseOrThrow(destinationSchema, input, 'destination config');

/** The config file used when none is named. */
export const DEFAULT_CONFIG_PATH = 'config/sync-pipeline.json';

/** Raised when the config file cannot be read or is not JSON. */
export class ConfigFileError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigFileError';
  }
}

/**
 * Reads and validates a JSON config file.
 *
 * @example
 * const config = loadPipelineConfig('config/sync-pipeline.json');
 */
export const loadPipelineConfig = (path: string = DEFAULT_CONFIG_PATH): PipelineConfig => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigFileError(
      code === 'ENOENT'
        ? `Config file not found: ${path} (pass --config <file> or set SYNC_PIPELINE_CONFIG)`
        : `Cannot read config file ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(`Config file ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  try {
    return parsePipelineConfig(json);
  } catch (error) {
    if (error instanceof ValidationError) {
      throw new ValidationError(`config file ${path}`, error.issues, { cause: error });
    }
    throw error;
  }
};

/**
 * The destinations that receive changes of `resourceType`. The EventBridge rules and the local
 * publisher both route with it, so AWS and the laptop agree.
 */
export const destinationsFor = (config: PipelineConfig, resourceType: string): DestinationConfig[] =>
  config.destinations.filter((destination) => destination.resourceTypes.includes(resourceType));
