import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  destinationConfigDigest,
  loadPipelineConfig,
  parseDestinationConfig,
  parsePipelineConfig,
  readDestinationConfig,
  serializeDestinationConfig,
} from '../../lib/config/pipeline-config.ts';
import { destinationResources, leaseDurationMsFor } from '../../lib/config/resources.ts';
import { createDestination } from '../../lib/adapters/destination-factory.ts';
import { HttpDestination } from '../../lib/adapters/http-destination.ts';

const destination = (overrides: Record<string, unknown> = {}) => ({
  name: 'crm',
  kind: 'http',
  baseUrl: 'https://crm.example.com/api',
  resourceTypes: ['contact'],
  ...overrides,
});

const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a throw');
};

describe('Function: parsePipelineConfig', () => {
  it('applies defaults to a minimal destination', () => {
    // Act
    const config = parsePipelineConfig({ destinations: [destination()] });

    // Assess
    expect(config.name).toBe('sync-pipeline');
    expect(config.destinations[0]).toMatchObject({
      batchSize: 10,
      maxConcurrency: 5,
      requestTimeoutMs: 5000,
      functionTimeoutSeconds: 30,
      retry: { horizonMinutes: 1440, maxReceiveCount: 201, baseDelaySeconds: 2, maxDelaySeconds: 900 },
      alarms: { lagP99Seconds: 300, errorRatePercent: 5, oldestMessageAgeSeconds: 900 },
      settleSeconds: 120,
      idNormalization: 'none',
    });
    expect(config.destinations[0]).not.toHaveProperty('versionPrecondition');
  });

  it('fills in a version precondition from its defaults', () => {
    // Act
    const config = parsePipelineConfig({ destinations: [destination({ versionPrecondition: {} })] });

    // Assess
    expect(config.destinations[0]).toMatchObject({ versionPrecondition: { header: 'If-Match', format: 'etag', refusedStatus: 412 } });
  });

  it('derives maxReceiveCount from the retry horizon and the backoff', () => {
    // Act
    const config = parsePipelineConfig({ destinations: [destination({ retry: { horizonMinutes: 60, baseDelaySeconds: 1, maxDelaySeconds: 60 } })] });

    // Assess: waits average (1+1)/2, (1+2)/2, (1+4)/2, … (1+60)/2 and must add up to an hour
    const retry = config.destinations[0]!.retry;
    let elapsed = 0;
    for (let attempt = 1; attempt < retry.maxReceiveCount; attempt += 1) elapsed += (1 + Math.min(60, 2 ** (attempt - 1))) / 2;
    expect(elapsed).toBeGreaterThanOrEqual(3600);
    expect(elapsed - (1 + 60) / 2).toBeLessThan(3600);
  });

  it.each<[string, unknown, string]>([
    ['maxConcurrency below 2', { destinations: [destination(), destination({ name: 'erp', maxConcurrency: 1 })] }, 'destinations[1].maxConcurrency: expected an integer from 2 to 1000, got 1'],
    ['a fractional batch size', { destinations: [destination({ batchSize: 2.5 })] }, 'destinations[0].batchSize: expected an integer from 1 to 10000, got 2.5'],
    ['an unknown kind', { destinations: [destination({ kind: 'ftp' })] }, 'destinations[0].kind: expected "http" or "module", got "ftp"'],
    ['no kind', { destinations: [destination({ kind: undefined })] }, 'destinations[0].kind: expected "http" or "module", got nothing'],
    ['a field no kind has', { destinations: [destination({ queueUrl: 'x' })] }, 'destinations[0]: unknown field(s) "queueUrl"'],
    ['a non-http URL', { destinations: [destination({ baseUrl: 'ftp://x' })] }, 'destinations[0].baseUrl: expected an http(s) URL without query or fragment, got "ftp://x"'],
    ['a missing name', { destinations: [destination({ name: undefined })] }, 'destinations[0].name: expected a name of lowercase letters, digits and dashes, got nothing'],
    ['duplicate names', { destinations: [destination(), destination()] }, 'destinations[1].name: expected a unique name (destinations[0] has it already), got "crm"'],
    ['a negative settle window', { destinations: [destination({ settleSeconds: -1 })] }, 'destinations[0].settleSeconds: expected an integer from 0 to 3600, got -1'],
    ['a precondition status outside 4xx', { destinations: [destination({ versionPrecondition: { refusedStatus: 200 } })] }, 'destinations[0].versionPrecondition.refusedStatus: expected an integer from 400 to 499, got 200'],
    ['a precondition header with a space', { destinations: [destination({ versionPrecondition: { header: 'If Match' } })] }, 'destinations[0].versionPrecondition.header: expected an HTTP header name (1 to 64 token characters), got "If Match"'],
    ['an unknown id normalisation', { destinations: [destination({ idNormalization: 'NFKC' })] }, 'destinations[0].idNormalization: expected "none" or "NFC", got "NFKC"'],
    ['a batch over 10 without a window', { destinations: [destination({ batchSize: 50 })] }, 'destinations[0].batchSize: expected at most 10 unless maxBatchingWindowSeconds is at least 1'],
    ['a timeout too long for the function', { destinations: [destination({ requestTimeoutMs: 20_000 })] }, 'destinations[0].requestTimeoutMs: expected at most half of functionTimeoutSeconds (30 s), got 20000'],
    ['an unknown field', { destinations: [destination({ maxConcurency: 3 })] }, 'destinations[0]: unknown field(s) "maxConcurency"'],
    ['a horizon beyond the queue retention', { destinations: [destination({ retry: { horizonMinutes: 30_000 } })] }, "destinations[0].retry.horizonMinutes: expected at most 20160 minutes: retrying longer than the queue's 14-day retention would lose messages, got 30000"],
    ['a horizon SQS cannot hold', { destinations: [destination({ retry: { horizonMinutes: 20_000, maxDelaySeconds: 60 } })] }, 'destinations[0].retry.horizonMinutes: expected a horizon SQS can hold: it needs 1001 deliveries'],
    ['a horizon whose slowest schedule outlives the retention', { destinations: [destination({ retry: { horizonMinutes: 12_000, maxDelaySeconds: 3600 } })] }, "destinations[0].retry.horizonMinutes: expected a horizon whose slowest schedule (400 h) fits the queue's 14-day retention, got 12000"],
    ['both horizon and maxReceiveCount', { destinations: [destination({ retry: { horizonMinutes: 60, maxReceiveCount: 5 } })] }, 'destinations[0].retry.maxReceiveCount: expected either horizonMinutes or maxReceiveCount, not both, got 5'],
    ['no destinations', { destinations: [] }, 'destinations: expected at least one destination'],
    ['a source retention as long as the DLQ', { destinations: [destination({ retentionDays: 14 })] }, 'destinations[0].retentionDays: expected an integer from 1 to 13, got 14'],
    [
      'a retention the retry schedule outlives',
      { destinations: [destination({ retentionDays: 1, retry: { horizonMinutes: 2880 } })] },
      'destinations[0].retentionDays: expected a retention the retry schedule fits in: its slowest takes 5 days (shorten retry.horizonMinutes or keep changes longer), got 1',
    ],
    [
      'an oldest-message alarm a message can never reach',
      { destinations: [destination({ retentionDays: 1, alarms: { oldestMessageAgeSeconds: 86_400 } })] },
      'destinations[0].alarms.oldestMessageAgeSeconds: expected less than retentionDays (86400 s): a message expires before it is that old, got 86400',
    ],
    ['a KMS key that is not an ARN', { kmsKeyArn: 'alias/sync', destinations: [destination()] }, 'kmsKeyArn: expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), got "alias/sync"'],
    ['a ledger setting that is not a boolean', { ledger: { deletionProtection: 'no' }, destinations: [destination()] }, 'ledger.deletionProtection: expected true or false, got "no"'],
    [
      'names too long together for the probe rule',
      { name: 'p'.repeat(30), destinations: [destination({ name: 'd'.repeat(28) })] },
      `destinations[0].name: expected at most 27 characters with name "${'p'.repeat(30)}" (its probe rule <name>-<destination>-probe is an EventBridge rule name, at most 64), got "${'d'.repeat(28)}"`,
    ],
  ])('names the field and the value for %s', (_name, input, expected) => {
    // Act
    const message = errorOf(() => parsePipelineConfig(input));

    // Assess
    expect(message).toContain(expected);
  });
});

describe('Function: readDestinationConfig', () => {
  /** Destinations of every shape the schema resolves: kinds, auth types, retry given either way, optional blocks. */
  const destinations = parsePipelineConfig({
    destinations: [
      destination(),
      destination({ name: 'count', retry: { maxReceiveCount: 7, baseDelaySeconds: 5, maxDelaySeconds: 600 } }),
      destination({ name: 'horizon', retry: { horizonMinutes: 90 }, rateLimit: { perSecond: 2.5 }, breaker: { minCalls: 5 }, coalescing: { enabled: false } }),
      destination({
        name: 'oauth',
        auth: { type: 'oauth2-client-credentials', secret: 'crm/oauth', tokenUrl: 'https://auth.example.com/token', scopes: ['contacts.write'] },
        versionPrecondition: { format: 'plain' },
        request: { method: 'PATCH', path: '/{resourceType}/{id}', headers: { 'X-Api-Version': '2' }, delete: { method: 'POST', path: '/{id}/archive', body: 'transform' } },
        statusRules: [{ status: 409, outcome: 'stale' }, { status: 404, op: 'delete', outcome: 'done' }],
        transform: './transforms/crm.ts',
      }),
      destination({ name: 'api-key', auth: { type: 'api-key', secret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:erp-AbCdEf', kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd' } }),
      { name: 'ledger', kind: 'module', module: './destinations/ledger.mjs', options: { region: 'eu', nested: { depth: 2 } }, resourceTypes: ['invoice'], auth: { type: 'bearer', secret: 'ledger/token' } },
    ],
  }).destinations;

  it.each(destinations.map((d) => [d.name, d] as const))('reads %s as synth wrote it exactly as the validating parse does', (_name, given) => {
    // Prepare: what the construct sets
    const serialized = serializeDestinationConfig(given);

    // Act
    const read = readDestinationConfig(serialized, destinationConfigDigest(serialized));

    // Assess: the same config, the derived retry horizon included
    expect(read).toEqual(parseDestinationConfig(JSON.parse(serialized)));
    expect(read.retry.horizonMinutes).toEqual(expect.any(Number));
  });

  it('validates text that is not what synth wrote, naming the field, and accepts a valid edit', () => {
    // Prepare: the config changed after synth (in the console), its digest left as it was
    const serialized = serializeDestinationConfig(destinations[0]!);
    const digest = destinationConfigDigest(serialized);
    const edited = (changes: Record<string, unknown>) => JSON.stringify({ ...JSON.parse(serialized), ...changes });

    // Act
    const invalid = errorOf(() => readDestinationConfig(edited({ maxConcurrency: 1 }), digest));
    const valid = readDestinationConfig(edited({ maxConcurrency: 8 }), digest);

    // Assess
    expect(invalid).toBe('Invalid destination config:\n  - maxConcurrency: expected an integer from 2 to 1000, got 1');
    expect(valid).toEqual({ ...parseDestinationConfig(JSON.parse(serialized)), maxConcurrency: 8 });
  });

  it('validates text without a digest, or with another, as the parse does', () => {
    // Prepare
    const serialized = JSON.stringify({ ...JSON.parse(serializeDestinationConfig(destinations[0]!)), batchSize: 2.5 });

    // Act
    const messages = [undefined, '', destinationConfigDigest('{}')].map((digest) => errorOf(() => readDestinationConfig(serialized, digest)));

    // Assess
    expect(new Set(messages)).toEqual(new Set(['Invalid destination config:\n  - batchSize: expected an integer from 1 to 10000, got 2.5']));
  });

  it('refuses text that is not JSON, digest or not', () => {
    // Act
    const withDigest = () => readDestinationConfig('{"name":', destinationConfigDigest('{"name":'));
    const without = () => readDestinationConfig('{"name":', undefined);

    // Assess
    expect(withDigest).toThrow(SyntaxError);
    expect(without).toThrow(SyntaxError);
  });

  it('digests the exact text: SHA-256, hex', () => {
    // Act
    const digest = destinationConfigDigest('{}');

    // Assess
    expect(digest).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    expect(destinationConfigDigest('{ }')).not.toBe(digest);
  });
});

describe('Function: loadPipelineConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sync-config-'));

  it('reports a missing file with the way to name another', () => {
    // Act & Assess
    expect(errorOf(() => loadPipelineConfig(join(dir, 'nope.json')))).toMatch(/Config file not found: .*nope\.json \(name another with npm run local -- --config <file>, npx cdk synth -c config=<file>/);
  });

  it('reports JSON syntax errors with the file name', () => {
    // Prepare
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{ "destinations": [ }');

    // Act & Assess
    expect(errorOf(() => loadPipelineConfig(path))).toMatch(/broken\.json is not valid JSON/);
  });

  it('puts an override in place of the file\'s own name, validated as the name is', () => {
    // Prepare
    const path = join(dir, 'named.json');
    writeFileSync(path, JSON.stringify({ name: 'sync-one', destinations: [destination()] }));

    // Act
    const renamed = loadPipelineConfig(path, { name: 'sync-two' });
    const kept = loadPipelineConfig(path, { name: undefined });

    // Assess
    expect([renamed.name, kept.name]).toEqual(['sync-two', 'sync-one']);
    const refused = errorOf(() => loadPipelineConfig(path, { name: 'Sync_Two' }));
    expect(refused).toMatch(/name given in place of the config file's.*name: expected 1 to 30 lowercase letters, digits or dashes, starting with a letter, got "Sync_Two"/s);
    expect(refused).not.toContain('named.json');
  });

  it('loads the shipped default config', () => {
    // Act
    const config = loadPipelineConfig();

    // Assess
    expect(config.destinations.map((d) => d.name)).toEqual(['crm', 'erp']);
  });
});

describe('Function: createDestination', () => {
  it('builds the adapter of the destination kind from its config', () => {
    // Prepare
    const config = parsePipelineConfig({ destinations: [destination({ versionPrecondition: {} })] });

    // Act
    const adapter = createDestination(config.destinations[0]!);

    // Assess
    expect(adapter).toBeInstanceOf(HttpDestination);
  });
});

describe('Function: destinationResources', () => {
  it('derives names and a visibility timeout six times the function timeout', () => {
    // Prepare
    const config = parsePipelineConfig({ destinations: [destination({ functionTimeoutSeconds: 40, requestTimeoutMs: 4000 })] });

    // Act
    const resources = destinationResources(config, config.destinations[0]!);

    // Assess
    expect(resources).toMatchObject({
      queueName: 'sync-pipeline-crm',
      deadLetterQueueName: 'sync-pipeline-crm-dlq',
      visibilityTimeoutSeconds: 240,
      retentionPeriodSeconds: 604_800,
      deadLetterRetentionPeriodSeconds: 1_209_600,
    });
    const longer = parsePipelineConfig({ destinations: [destination({ retentionDays: 13 })] });
    expect(destinationResources(longer, longer.destinations[0]!).retentionPeriodSeconds).toBe(1_123_200);
    expect(leaseDurationMsFor(config.destinations[0]!)).toBe(9000);
  });
});
