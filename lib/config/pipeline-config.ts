import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { expectedRetrySeconds, maxReceiveCountForHorizon, retrySchedule } from '../core/backoff.ts';
import { intInRange, lazily, parseOrThrow, ValidationError } from '../contract/validation.ts';
import { batchingWindowIssue, EventSourceLimits, LAMBDA_MAX_TIMEOUT_SECONDS, SqsLimits } from '../core/sqs-limits.ts';
import {
  BUILT_IN_PLACEHOLDERS,
  DESTINATION_KINDS,
  destinationKindSchemas,
  type HttpDestinationFields,
  isSecureOrLoopback,
  kmsKeyArnSchema,
  placeholdersOf,
} from './destination-kinds.ts';

export { DestinationKind } from './destination-kinds.ts';

// Every schema here is built at its first use ({@link lazily}), not when the module loads: a
// consumer whose config is the one `cdk synth` validated builds none (see readDestinationConfig).

const nameSchema = lazily(() =>
  z
    .string({ error: 'expected a name of lowercase letters, digits and dashes' })
    .regex(/^[a-z][a-z0-9-]{0,29}$/, {
      error: 'expected 1 to 30 lowercase letters, digits or dashes, starting with a letter',
    }),
);

const resourceTypeSchema = lazily(() =>
  z
    .string({ error: 'expected a resource type name' })
    .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, {
      error: 'expected a resource type of 1 to 64 letters, digits, "_", "." or "-", starting with a letter',
    }),
);

/** A queue keeps messages at most 14 days (SQS); a destination's DLQ keeps them that long. */
export const QUEUE_RETENTION_MINUTES = 14 * 24 * 60;
/** A source queue keeps messages at most 13 days, so its DLQ (14) always keeps them longer. */
export const MAX_SOURCE_RETENTION_DAYS = 13;
const DEFAULT_RETRY_HORIZON_MINUTES = 24 * 60;

/** What the retry schema reads, defaults applied: a horizon or a count (or neither), and the backoff. */
interface RetryInput {
  readonly horizonMinutes?: number | undefined;
  readonly maxReceiveCount?: number | undefined;
  readonly baseDelaySeconds: number;
  readonly maxDelaySeconds: number;
}

/**
 * The resolved retry settings: maxReceiveCount derived from the horizon when not given, and the
 * horizon from maxReceiveCount when only that is given. The retry schema's transform, and what
 * readDestinationConfig applies to a config read without the schema.
 */
const resolveRetry = (retry: RetryInput) => {
  const maxReceiveCount = retry.maxReceiveCount ?? maxReceiveCountForHorizon(retry, (retry.horizonMinutes ?? DEFAULT_RETRY_HORIZON_MINUTES) * 60);
  return {
    baseDelaySeconds: retry.baseDelaySeconds,
    maxDelaySeconds: retry.maxDelaySeconds,
    maxReceiveCount,
    /** The horizon asked for, or the one maxReceiveCount gives on average. */
    horizonMinutes: retry.horizonMinutes ?? (retry.maxReceiveCount === undefined ? DEFAULT_RETRY_HORIZON_MINUTES : Math.round(expectedRetrySeconds(retry, maxReceiveCount) / 60)),
  };
};

const retrySchema = lazily(() =>
  z
    .strictObject({
      /**
       * How long transient failures are retried before the change is dead-lettered; maxReceiveCount is
       * derived from it and the backoff. Give either this or maxReceiveCount.
       */
      horizonMinutes: z
        .int({ error: `expected an integer from 1 to ${QUEUE_RETENTION_MINUTES} (the queue's 14-day retention)` })
        .min(1, { error: `expected an integer from 1 to ${QUEUE_RETENTION_MINUTES} (the queue's 14-day retention)` })
        .max(QUEUE_RETENTION_MINUTES, { error: `expected at most ${QUEUE_RETENTION_MINUTES} minutes: retrying longer than the queue's 14-day retention would lose messages` })
        .optional(),
      /** Deliveries before the change is dead-lettered; derived from horizonMinutes when left out. */
      maxReceiveCount: intInRange(1, 1000).optional(),
      /** First backoff step for a transient failure. */
      baseDelaySeconds: intInRange(1, 3600).default(2),
      /** Longest wait between two attempts (SQS allows at most 12 hours). */
      maxDelaySeconds: intInRange(1, SqsLimits.MAX_VISIBILITY_TIMEOUT_SECONDS).default(900),
    })
    .superRefine((retry, ctx) => {
      if (retry.horizonMinutes !== undefined && retry.maxReceiveCount !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['maxReceiveCount'],
          input: retry.maxReceiveCount,
          message: 'expected either horizonMinutes or maxReceiveCount, not both',
        });
      }
      if (retry.baseDelaySeconds > retry.maxDelaySeconds) {
        ctx.addIssue({
          code: 'custom',
          path: ['baseDelaySeconds'],
          input: retry.baseDelaySeconds,
          message: `expected at most maxDelaySeconds (${retry.maxDelaySeconds})`,
        });
      }
      if (retry.maxReceiveCount === undefined) {
        const horizonMinutes = retry.horizonMinutes ?? DEFAULT_RETRY_HORIZON_MINUTES;
        const needed = maxReceiveCountForHorizon(retry, horizonMinutes * 60);
        const slowest = retrySchedule(retry, Math.min(needed, 1000)).at(-1)?.cumulativeMaxSeconds ?? 0;
        if (needed <= 1000 && slowest > QUEUE_RETENTION_MINUTES * 60) {
          ctx.addIssue({
            code: 'custom',
            path: ['horizonMinutes'],
            input: horizonMinutes,
            message: `expected a horizon whose slowest schedule (${Math.round(slowest / 3600)} h) fits the queue's 14-day retention`,
          });
        }
        if (needed > 1000) {
          ctx.addIssue({
            code: 'custom',
            path: ['horizonMinutes'],
            input: horizonMinutes,
            message: `expected a horizon SQS can hold: it needs ${needed} deliveries at maxDelaySeconds ${retry.maxDelaySeconds}, SQS allows 1000 (raise maxDelaySeconds or shorten the horizon)`,
          });
        }
      }
    })
    .transform(resolveRetry),
);

const alarmsSchema = lazily(() =>
  z.strictObject({
    /** End-to-end lag p99 (applied - occurredAt) above this for 3 of 5 minutes raises an alarm. */
    lagP99Seconds: intInRange(1, 86_400).default(300),
    /** Destination errors / attempts above this percentage for 3 of 5 minutes raises an alarm. */
    errorRatePercent: intInRange(1, 100).default(5),
    /** Age of the oldest queued message above this raises an alarm. */
    oldestMessageAgeSeconds: intInRange(60, SqsLimits.MAX_RETENTION_SECONDS).default(900),
  }),
);

/**
 * How long after the client gave up on a call whose outcome is unknown (a timeout, a reset after
 * sending, a 500/502/504, a crash mid-call) the request may still land. No other version of the
 * record is sent before it has passed. The default covers the longest read timeouts of common
 * proxies in front of APIs (Cloudflare 100 s; AWS ALB idle 60 s; nginx 60 s; API Gateway 29 s).
 */
export const DEFAULT_SETTLE_SECONDS = 120;

/** How ids are compared: `none` (exact code points, the default) or `NFC` (NFC and NFD spellings are one record). */
export const IdNormalization = { NONE: 'none', NFC: 'NFC' } as const;
export type IdNormalization = (typeof IdNormalization)[keyof typeof IdNormalization];

/**
 * The most requests per second the destination takes from all of this destination's consumers
 * together (Lambda invocations on AWS, pollers locally). A 429 or Retry-After lowers the rate in force
 * by half; it recovers by `recoveryPercentPerSecond` of `perSecond` each second, up to `perSecond`.
 */
const rateLimitSchema = lazily(() =>
  z.strictObject({
    perSecond: z
      .number({ error: 'expected a number of requests per second' })
      .min(0.1, { error: 'expected at least 0.1 requests per second' })
      .max(10_000, { error: 'expected at most 10000 requests per second' }),
    /** Requests that may go at once after a quiet spell. @default 1 */
    burst: intInRange(1, 1_000).default(1),
    recoveryPercentPerSecond: intInRange(1, 100).default(5),
  }),
);

/**
 * Stops sending to a destination that keeps failing: once `failurePercent` of at least `minCalls`
 * calls in a `windowSeconds` window failed transiently, it opens; while open nothing is sent, the
 * destination's event source mapping is disabled (pollers pause locally), so changes wait in the
 * queue instead of spending their receives, and a probe every `probeIntervalSeconds` tries it again.
 */
const breakerSchema = lazily(() =>
  z.strictObject({
    failurePercent: intInRange(1, 100).default(50),
    minCalls: intInRange(1, 10_000).default(20),
    windowSeconds: intInRange(5, 3_600).default(60),
    /**
     * Locally the probe runs every probeIntervalSeconds; on AWS every ceil(probeIntervalSeconds / 60)
     * minutes, on an EventBridge schedule, whose finest rate is a minute.
     */
    probeIntervalSeconds: intInRange(1, 3_600).default(60),
  }),
);

/**
 * Backlog coalescing: a change first received after waiting `backlogAgeSeconds` in the queue is part
 * of a backlog. Its version is marked as seen and it comes back `holdSeconds` later (one receive
 * spent); by then the backlog's newer versions of the record are marked too, so only the newest is
 * sent and the older ones are skipped as superseded, unsent. Fresh changes are not held.
 */
const coalescingSchema = lazily(() =>
  z.strictObject({
    enabled: z.boolean({ error: 'expected true or false' }).default(true),
    backlogAgeSeconds: intInRange(1, 86_400).default(10),
    holdSeconds: intInRange(1, 900).default(5),
  }),
);

/** The fields every destination has, whatever its kind. */
const destinationCommonShape = lazily(() => ({
  name: nameSchema(),
  resourceTypes: z
    .array(resourceTypeSchema(), { error: 'expected a list of resource types' })
    .min(1, { error: 'expected at least one resource type' })
    .refine((types) => new Set(types).size === types.length, { error: 'expected each resource type once' }),
  batchSize: intInRange(1, EventSourceLimits.MAX_BATCH_SIZE).default(SqsLimits.MAX_BATCH_ENTRIES),
  maxBatchingWindowSeconds: intInRange(0, EventSourceLimits.MAX_BATCHING_WINDOW_SECONDS).default(0),
  maxConcurrency: intInRange(2, 1000).default(5),
  requestTimeoutMs: intInRange(100, 60_000).default(5_000),
  functionTimeoutSeconds: intInRange(3, LAMBDA_MAX_TIMEOUT_SECONDS).default(30),
  settleSeconds: intInRange(0, 3600).default(DEFAULT_SETTLE_SECONDS),
  idNormalization: z.enum([IdNormalization.NONE, IdNormalization.NFC], { error: 'expected "none" or "NFC"' }).default(IdNormalization.NONE),
  retry: retrySchema().prefault({}),
  alarms: alarmsSchema().prefault({}),
  /** @default no limit */
  rateLimit: rateLimitSchema().optional(),
  breaker: breakerSchema().prefault({}),
  coalescing: coalescingSchema().prefault({}),
  /**
   * How long the source queue keeps a change. Its DLQ keeps messages 14 days (SQS's most), longer
   * than this: SQS moves a message to the DLQ with its first enqueue time, so it has at least
   * 14 - retentionDays days there. The retry horizon's slowest schedule must fit in it.
   */
  retentionDays: intInRange(1, MAX_SOURCE_RETENTION_DAYS).default(7),
}));

/** What an `http` destination's fields must agree on: where plain http may go, and what its path templates can fill in. */
const httpDestinationIssues = (
  destination: HttpDestinationFields & { readonly transform?: string },
): Array<{ path: PropertyKey[]; input: unknown; message: string }> => {
  const issues: Array<{ path: PropertyKey[]; input: unknown; message: string }> = [];
  const insecure = (url: string) => !destination.allowInsecureHttp && !isSecureOrLoopback(url);
  if (insecure(destination.baseUrl)) {
    issues.push({ path: ['baseUrl'], input: destination.baseUrl, message: 'expected https (http only to localhost, 127.0.0.1 or [::1], unless allowInsecureHttp is true)' });
  }
  if (destination.auth?.type === 'oauth2-client-credentials' && insecure(destination.auth.tokenUrl)) {
    issues.push({ path: ['auth', 'tokenUrl'], input: destination.auth.tokenUrl, message: 'expected https (http only to localhost, 127.0.0.1 or [::1], unless allowInsecureHttp is true)' });
  }
  const templates: Array<[PropertyKey[], string]> = [[['request', 'path'], destination.request.path], ...(destination.request.delete.path === undefined ? [] : [[['request', 'delete', 'path'], destination.request.delete.path] as [PropertyKey[], string]])];
  for (const [path, template] of templates) {
    const unknown = placeholdersOf(template).filter((name) => !BUILT_IN_PLACEHOLDERS.has(name));
    if (unknown.length > 0 && destination.transform === undefined) {
      issues.push({ path, input: template, message: `expected only {resourceType}, {id} and {version} without a transform to fill in {${unknown.join('}, {')}}` });
    }
  }
  if (destination.request.delete.body === 'transform' && destination.transform === undefined) {
    issues.push({ path: ['request', 'delete', 'body'], input: 'transform', message: 'expected a transform to shape the delete\'s body' });
  }
  return issues;
};

/**
 * A destination: the common fields plus its kind's own (a discriminated union on `kind`, so the
 * fields of one kind are refused on another). The kinds are registered in `destination-kinds.ts`.
 */
const destinationSchema = lazily(() =>
  z
    .discriminatedUnion('kind', destinationKindSchemas(destinationCommonShape()), {
      error: `expected ${DESTINATION_KINDS.map((kind) => JSON.stringify(kind)).join(' or ')}`,
    })
    .superRefine((destination, ctx) => {
      const batchIssue = batchingWindowIssue({
        batchSize: destination.batchSize,
        hasWindow: destination.maxBatchingWindowSeconds > 0,
        windowField: 'maxBatchingWindowSeconds',
      });
      if (batchIssue !== undefined) ctx.addIssue({ code: 'custom', path: ['batchSize'], input: destination.batchSize, message: batchIssue });
      if (destination.kind === 'http') httpDestinationIssues(destination).forEach((issue) => ctx.addIssue({ code: 'custom', ...issue }));
      if (destination.alarms.oldestMessageAgeSeconds >= destination.retentionDays * 86_400) {
        ctx.addIssue({
          code: 'custom',
          path: ['alarms', 'oldestMessageAgeSeconds'],
          input: destination.alarms.oldestMessageAgeSeconds,
          message: `expected less than retentionDays (${destination.retentionDays * 86_400} s): a message expires before it is that old`,
        });
      }
      // A change still being retried when the source queue's retention ends is lost, not dead-lettered.
      const slowest = retrySchedule(destination.retry, Math.min(destination.retry.maxReceiveCount, 1000)).at(-1)?.cumulativeMaxSeconds ?? 0;
      if (slowest > destination.retentionDays * 86_400) {
        ctx.addIssue({
          code: 'custom',
          path: ['retentionDays'],
          input: destination.retentionDays,
          message: `expected a retention the retry schedule fits in: its slowest takes ${Math.ceil(slowest / 86_400)} days (shorten retry.horizonMinutes or keep changes longer)`,
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
    }),
);

/**
 * The pipeline's and a destination's name together: the longest physical name is the destination's
 * probe rule, `<name>-<destination>-probe` (see probeRuleName in resources.ts), and EventBridge
 * allows 64 characters.
 */
const MAX_COMBINED_NAME_LENGTH = 64 - '--probe'.length;

/** The longest archive retention the config takes (ten years); EventBridge itself has no upper bound. */
export const MAX_ARCHIVE_RETENTION_DAYS = 3650;

const eventBusSchema = lazily(() =>
  z.strictObject({
    /**
     * An EventBridge archive of every change event the bus receives, so they can be replayed to the
     * rules (StartReplay) after a bad deploy or a destination's data loss.
     * @default true
     */
    archive: z.boolean({ error: 'expected true or false' }).default(true),
    /**
     * How long the archive keeps an event, in days.
     * @default 7
     */
    archiveRetentionDays: intInRange(1, MAX_ARCHIVE_RETENTION_DAYS).default(7),
  }),
);

const ledgerSchema = lazily(() =>
  z.strictObject({
    /** Point-in-time recovery (35 days of restores). */
    pointInTimeRecovery: z.boolean({ error: 'expected true or false' }).default(true),
    /** The table cannot be deleted, by the stack or anyone, until this is turned off. */
    deletionProtection: z.boolean({ error: 'expected true or false' }).default(true),
  }),
);

/**
 * The most destinations one pipeline takes. Each is a nested stack, and the parent template grows
 * by about 4 KB per destination (its nested stack and the alarms its dashboard page shows) toward
 * CloudFormation's 1 MB; 200 also keeps the bus under EventBridge's default 300 rules per bus.
 * `test/infra/scale.test.ts` synthesizes this many and checks every template against its limits.
 */
export const MAX_DESTINATIONS = 200;

/** The whole config file's schema. */
const pipelineConfigSchema = lazily(() =>
  z
    .strictObject({
      /** Prefix of every physical resource name (queues, table, bus, functions). */
      name: nameSchema().default('sync-pipeline'),
      metricsNamespace: z
        .string({ error: 'expected a CloudWatch namespace' })
        .regex(/^[A-Za-z0-9_./#:-]{1,255}$/, { error: 'expected 1 to 255 letters, digits or _ . / # : -' })
        .default('SyncPipeline'),
      /** Where alarm notifications are emailed (an SNS subscription); alarms go to the topic either way. */
      alarmEmail: z.email({ error: 'expected an email address' }).optional(),
      logLevel: z
        .enum(['DEBUG', 'INFO', 'WARN', 'ERROR'], { error: 'expected one of DEBUG, INFO, WARN, ERROR' })
        .default('INFO'),
      /** The version ledger table's protection: it holds the versions every destination has. */
      ledger: ledgerSchema().prefault({}),
      /** The change bus: its archive. */
      eventBus: eventBusSchema().prefault({}),
      /**
       * A customer-managed KMS key (its ARN) for the queues, the ledger table and the alarm topic;
       * without it each uses its AWS-managed encryption. Its key policy must let EventBridge
       * (events.amazonaws.com) and CloudWatch (cloudwatch.amazonaws.com) use it: they write to the
       * queues and the topic (see the README).
       * @default AWS-managed encryption
       */
      kmsKeyArn: kmsKeyArnSchema().optional(),
      destinations: z
        .array(destinationSchema(), { error: 'expected a list of destinations' })
        .min(1, { error: 'expected at least one destination' })
        .max(MAX_DESTINATIONS, {
          error: `expected at most ${MAX_DESTINATIONS} destinations (the most one stack is tested with; deploy more as a second pipeline with another name)`,
        }),
    })
    .superRefine((config, ctx) => {
      const seen = new Map<string, number>();
      config.destinations.forEach((destination, index) => {
        if (config.name.length + destination.name.length > MAX_COMBINED_NAME_LENGTH) {
          ctx.addIssue({
            code: 'custom',
            path: ['destinations', index, 'name'],
            input: destination.name,
            message: `expected at most ${MAX_COMBINED_NAME_LENGTH - config.name.length} characters with name ${JSON.stringify(config.name)} (its probe rule <name>-<destination>-probe is an EventBridge rule name, at most 64)`,
          });
        }
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
    }),
);

/** What the user writes: every field with a default may be left out. */
export type PipelineConfigInput = z.input<ReturnType<typeof pipelineConfigSchema>>;
/** The resolved config: every default applied. */
export type PipelineConfig = z.output<ReturnType<typeof pipelineConfigSchema>>;
export type DestinationConfig = PipelineConfig['destinations'][number];
export type RetryConfig = DestinationConfig['retry'];
export type RateLimitConfig = NonNullable<DestinationConfig['rateLimit']>;
export type BreakerConfig = DestinationConfig['breaker'];
export type CoalescingConfig = DestinationConfig['coalescing'];
/** The destination config of one kind. */
export type DestinationConfigOf<K extends DestinationConfig['kind']> = Extract<DestinationConfig, { readonly kind: K }>;
export type VersionPreconditionConfig = NonNullable<HttpDestinationFields['versionPrecondition']>;

/**
 * Validates a config object and applies defaults.
 *
 * @throws {ValidationError} naming each bad field and value, e.g.
 *   `destinations[1].maxConcurrency: expected an integer from 2 to 1000, got 1`
 * @example
 * const config = parsePipelineConfig({ destinations: [{ name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'] }] });
 */
export const parsePipelineConfig = (input: unknown): PipelineConfig =>
  parseOrThrow(pipelineConfigSchema(), input, 'sync-pipeline config');

/** Validates a single destination (as passed to one consumer function). */
export const parseDestinationConfig = (input: unknown): DestinationConfig =>
  parseOrThrow(destinationSchema(), input, 'destination config');

/** `D` without its derived retry horizon, kind by kind. */
type WithoutRetryHorizon<D> = D extends unknown ? Omit<D, 'retry'> & { readonly retry: Omit<RetryConfig, 'horizonMinutes'> } : never;
/** A resolved destination as {@link serializeDestinationConfig} writes it. */
type SerializedDestinationConfig = WithoutRetryHorizon<DestinationConfig>;

/**
 * A resolved destination as JSON that {@link parseDestinationConfig} accepts again: the retry
 * horizon is left out, since the derived maxReceiveCount says the same and the schema takes one
 * or the other.
 *
 * @example
 * parseDestinationConfig(JSON.parse(serializeDestinationConfig(destination))).retry.maxReceiveCount === destination.retry.maxReceiveCount; // true
 */
export const serializeDestinationConfig = (destination: DestinationConfig): string => {
  const { horizonMinutes: _derivedFrom, ...retry } = destination.retry;
  const serialized: SerializedDestinationConfig = { ...destination, retry };
  return JSON.stringify(serialized);
};

/**
 * The digest the construct sets beside a destination's serialized config: SHA-256 of the exact
 * text, in hex.
 *
 * @example
 * destinationConfigDigest(serializeDestinationConfig(destination)); // '3f5a…', 64 hex digits
 */
export const destinationConfigDigest = (serialized: string): string => createHash('sha256').update(serialized, 'utf8').digest('hex');

/**
 * A destination's config as the consumer reads it at init: `serialized` as `cdk synth` wrote it
 * ({@link serializeDestinationConfig}, after validating the whole config) and `digest`, the
 * {@link destinationConfigDigest} synth set beside it. Text with that digest is the config synth
 * validated, deployed with this code by the same stack update: it is read as it is, its retry
 * horizon derived as the schema derives it, and no schema is built (they would be most of the
 * function's init). Any other text (changed in the console, or set without a digest) is validated
 * in full, as {@link parseDestinationConfig} does: the same result for a valid config, the same
 * messages for an invalid one.
 *
 * @throws {SyntaxError} when `serialized` is not JSON
 * @throws {ValidationError} when text without the digest is not a valid destination, naming each bad field
 * @example
 * const destination = readDestinationConfig(process.env.SYNC_DESTINATION!, process.env.SYNC_DESTINATION_SHA256);
 */
export const readDestinationConfig = (serialized: string, digest: string | undefined): DestinationConfig => {
  const input: unknown = JSON.parse(serialized);
  if (digest === undefined || digest !== destinationConfigDigest(serialized)) return parseDestinationConfig(input);
  const validated = input as SerializedDestinationConfig;
  return { ...validated, retry: resolveRetry(validated.retry) };
};

/** The config file used when none is named. */
export const DEFAULT_CONFIG_PATH = 'config/sync-pipeline.json';

/** Raised when the config file cannot be read or is not JSON. */
export class ConfigFileError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigFileError';
  }
}

/** What may replace a config file's own fields when it is loaded. */
export interface PipelineConfigOverrides {
  /**
   * The pipeline's name (the stack's name and every physical name's prefix), e.g. a second copy of
   * the same config in one region (`cdk deploy -c stackName=…`, the CLI's `--name`).
   */
  readonly name?: string;
}

/**
 * Reads and validates a JSON config file, with `overrides` in place of its own fields (validated the
 * same way).
 *
 * @example
 * const config = loadPipelineConfig('config/sync-pipeline.json');
 * const staging = loadPipelineConfig('config/sync-pipeline.json', { name: 'sync-staging' });
 */
export const loadPipelineConfig = (path: string = DEFAULT_CONFIG_PATH, overrides: PipelineConfigOverrides = {}): PipelineConfig => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigFileError(
      code === 'ENOENT'
        ? `Config file not found: ${path} (name another with npm run local -- --config <file>, npx cdk synth -c config=<file>, or SYNC_PIPELINE_CONFIG)`
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
  const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  // An override is refused as itself, not as a fault of the file.
  parseOrThrow(z.strictObject({ name: nameSchema().optional() }), given, "name given in place of the config file's");
  try {
    return parsePipelineConfig(typeof json === 'object' && json !== null && !Array.isArray(json) ? { ...json, ...given } : json);
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
