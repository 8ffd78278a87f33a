import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetQueueAttributesCommand, PurgeQueueCommand, SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromSqsMessageAttributes, toSqsMessageAttributes } from '../../lib/adapters/sqs-attributes.ts';
import { DynamoDbDestinationControl } from '../../lib/adapters/dynamodb-destination-control.ts';
import { DynamoDbLedgerStore } from '../../lib/adapters/dynamodb-ledger.ts';
import { parsePipelineConfig, type PipelineConfig } from '../../lib/config/pipeline-config.ts';
import { serializeChangeEvent, type ChangeEvent } from '../../lib/contract/change-event.ts';
import { wireConsumerHandler } from '../../lib/consumer/wiring.ts';
import { buildDeadLetter, type DeadLetterReason } from '../../lib/core/dead-letter.ts';
import { startFakeApi, type FakeApi } from '../../lib/local/lab/fake-api.ts';
import { findDuplicateEffects } from '../../lib/local/lab/oracles.ts';
import { localCommand } from '../../lib/local/local-command.ts';
import { startEmulators, type Emulators } from '../../lib/local/sim/emulators.ts';
import { createLocalResources, type LocalResources } from '../../lib/local/sim/local-resources.ts';
import { captureJsonOutput } from '../../lib/local/sim/output-capture.ts';
import { runCli, type CliIo } from '../../lib/ops/cli.ts';
import { receiveAll } from '../../lib/ops/dead-letters.ts';
import { redriveDeadLetters } from '../../lib/ops/dlq.ts';
import { changeEvent, lambdaContext, sqsEvent } from '../helpers/factories.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'sync-cli-'));

/** The CLI run in this process, its two streams captured. */
const cli = async (emulators: Emulators, args: readonly string[], configPath: string, signal?: AbortSignal) => {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (chunk: string) => ((stdout += chunk), true) } as unknown as CliIo['stdout'],
    stderr: { write: (chunk: string) => ((stderr += chunk), true) } as unknown as CliIo['stderr'],
    env: { AWS_REGION: 'us-east-1' },
    ...(signal === undefined ? {} : { signal }),
  };
  const code = await runCli(
    ['--config', configPath, '--sqs-endpoint', emulators.sqsEndpoint, '--dynamodb-endpoint', emulators.dynamodbEndpoint, ...args],
    io,
    [localCommand],
  );
  return { code, stdout, stderr };
};

const depth = async (sqs: SQSClient, queueUrl: string): Promise<number> => {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
};

/** A dead letter as the consumer writes it, sent to the DLQ. */
const putDeadLetter = async (sqs: SQSClient, url: string, reason: DeadLetterReason, body: string, attributes: Record<string, string> = {}) => {
  const letter = buildDeadLetter({
    reason,
    message: `why ${reason}`,
    destination: 'crm',
    messageId: `m-${Math.random()}`,
    attempts: 3,
    firstAttemptAt: Date.now() - 5000,
    lastAttemptAt: Date.now(),
    body,
    attributes: Object.fromEntries(Object.entries(attributes).map(([name, value]) => [name, { dataType: 'String', stringValue: value }])),
  });
  await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: letter.body, MessageAttributes: toSqsMessageAttributes(letter.attributes) }));
};

const change = (id: string, version: number): ChangeEvent => changeEvent({ id, version });

describe('The sync-pipeline CLI against the embedded emulators', () => {
  let emulators: Emulators;
  let sqs: SQSClient;
  let dynamodb: DynamoDBClient;
  let fakeApi: FakeApi;
  let config: PipelineConfig;
  let resources: LocalResources;
  let configPath: string;
  let queueUrl: string;
  let dlqUrl: string;

  beforeAll(async () => {
    emulators = await startEmulators();
    fakeApi = await startFakeApi();
    const client = { endpoint: emulators.sqsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
    sqs = new SQSClient(client);
    dynamodb = new DynamoDBClient({ ...client, endpoint: emulators.dynamodbEndpoint });
    const input = { name: 'cli-test', destinations: [{ name: 'crm', kind: 'http', baseUrl: fakeApi.baseUrl('crm'), resourceTypes: ['contact'] }] };
    config = parsePipelineConfig(input);
    configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(input));
    resources = await createLocalResources({ config, sqs, dynamodb, visibilityTimeoutSeconds: 30 });
    queueUrl = resources.destinations.crm!.queueUrl;
    dlqUrl = resources.destinations.crm!.deadLetterQueueUrl;
  });

  afterEach(async () => {
    for (const url of [queueUrl, dlqUrl]) await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
  });

  afterAll(async () => {
    sqs.destroy();
    dynamodb.destroy();
    await fakeApi.stop();
    await emulators.stop();
  });

  describe('usage', () => {
    it.each([[['--help']], [['status', '--help']], [['dlq', 'inspect', '--help']], [['dlq', 'redrive', '--help']], [['replay', '--help']], [['resync', '--help']], [['local', '--help']]])(
      'prints usage for %j and exits 0',
      async (args) => {
        // Act
        const { code, stdout } = await cli(emulators, args, configPath);

        // Assess
        expect(code).toBe(0);
        expect(stdout).toMatch(/^Usage: sync-pipeline/m);
      },
    );

    it.each([
      [['dlq', 'redriv', 'crm'], /Did you mean redrive\?/],
      [['status', '--bogus'], /unknown option '--bogus'/],
      [['dlq', 'inspect', 'crn'], /unknown destination "crn" \(did you mean "crm"\?\)/],
      [['replay', 'crm'], /give either --id ID or --file FILE/],
      [['dlq', 'redrive', 'crm', '--limit', 'lots'], /expected an integer of at least 1, got "lots"/],
      [['dlq'], /Usage: sync-pipeline dlq/],
    ])('refuses %j with a clear message and exit code 2', async (args, message) => {
      // Act
      const { code, stderr, stdout } = await cli(emulators, args, configPath);

      // Assess
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(stdout).toBe('');
    });

    it('refuses a bad config with the field and exit code 2', async () => {
      // Prepare
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ destinations: [{ name: 'crm', kind: 'http', baseUrl: 'nope', resourceTypes: ['contact'] }] }));

      // Act
      const { code, stderr } = await cli(emulators, ['status'], bad);

      // Assess
      expect(code).toBe(2);
      expect(stderr).toMatch(/destinations\[0\]\.baseUrl/);
    });
  });

  describe('--name', () => {
    it("looks for the resources of the named pipeline instead of the config's", async () => {
      // Act: no pipeline of that name exists on the emulators
      const { code, stderr } = await cli(emulators, ['--name', 'other-sync', 'status'], configPath);
      const invalid = await cli(emulators, ['--name', 'Other_Sync', 'status'], configPath);

      // Assess
      expect(code).not.toBe(0);
      expect(stderr).toContain('other-sync-crm');
      expect(invalid.code).toBe(2);
      expect(invalid.stderr).toMatch(/name: expected 1 to 30 lowercase letters/);
    });
  });

  describe('status', () => {
    it('is healthy on empty queues, and unhealthy (exit 1) with a dead letter, writing only JSON to stdout', async () => {
      // Act
      const healthy = await cli(emulators, ['status', '--json'], configPath);
      await putDeadLetter(sqs, dlqUrl, 'rejected', serializeChangeEvent(change('s-1', 1)));
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: serializeChangeEvent(change('s-2', 1)) }));
      const unhealthy = await cli(emulators, ['status', '--json'], configPath);
      const human = await cli(emulators, ['status'], configPath);

      // Assess
      expect(healthy.code).toBe(0);
      expect(JSON.parse(healthy.stdout)).toMatchObject({ healthy: true, destinations: [{ destination: 'crm', queued: 0, deadLetters: 0 }] });
      expect(unhealthy.code).toBe(1);
      expect(JSON.parse(unhealthy.stdout)).toMatchObject({ healthy: false, destinations: [{ destination: 'crm', queued: 1, deadLetters: 1, healthy: false }] });
      expect(human.stdout).toBe('');
      expect(human.stderr).toMatch(/crm\s+UNHEALTHY\s+1\s+0\s+0\s+1/);
    });
  });

  describe('status of the breaker', () => {
    it("says when a destination's breaker is open, and calls it unhealthy", async () => {
      // Prepare
      const control = new DynamoDbDestinationControl({ client: dynamodb, tableName: resources.tableName });
      await control.openBreaker('crm', Date.now());

      // Act
      const open = await cli(emulators, ['status', '--json'], configPath);
      await control.closeBreaker('crm', Date.now());
      const closed = await cli(emulators, ['status', '--json'], configPath);

      // Assess
      expect(open.code).toBe(1);
      expect(JSON.parse(open.stdout).destinations[0]).toMatchObject({ breaker: 'open', healthy: false });
      expect(JSON.parse(open.stdout).destinations[0].problems[0]).toMatch(/circuit breaker is open/);
      expect(JSON.parse(closed.stdout).destinations[0]).toMatchObject({ breaker: 'closed', healthy: true });
    });
  });

  describe('dlq inspect', () => {
    it('groups by reason with counts and examples, filters, never shows a payload, and consumes nothing', async () => {
      // Prepare
      for (let i = 0; i < 3; i += 1) await putDeadLetter(sqs, dlqUrl, 'rejected', serializeChangeEvent(change(`r-${i}`, 2)));
      await putDeadLetter(sqs, dlqUrl, 'invalid-json', '{"secret-payload": ');
      await putDeadLetter(sqs, dlqUrl, 'retries-exhausted', serializeChangeEvent(change('x-1', 5)));

      // Act
      const all = await cli(emulators, ['dlq', 'inspect', 'crm', '--json'], configPath);
      const filtered = await cli(emulators, ['dlq', 'inspect', 'crm', '--reason', 'rejected', '--id', 'r-1', '--json'], configPath);
      const human = await cli(emulators, ['dlq', 'inspect', 'crm'], configPath);

      // Assess
      expect(all.code).toBe(0);
      const inspection = JSON.parse(all.stdout);
      expect(inspection).toMatchObject({ total: 5, matched: 5 });
      expect(inspection.groups.map((g: { reason: string; count: number }) => [g.reason, g.count])).toEqual([['rejected', 3], ['invalid-json', 1], ['retries-exhausted', 1]]);
      expect(inspection.groups[0].examples[0]).toMatchObject({ reason: 'rejected', attempts: 3, message: 'why rejected', change: { resourceType: 'contact', version: 2 } });
      expect(JSON.parse(filtered.stdout)).toMatchObject({ total: 5, matched: 1, groups: [{ reason: 'rejected', count: 1, examples: [{ change: { id: 'r-1' } }] }] });
      expect(`${all.stdout}${human.stderr}`).not.toMatch(/secret-payload|Ada Lovelace/);
      expect(await depth(sqs, dlqUrl)).toBe(5);
    });
  });

  describe('dlq redrive', () => {
    it('moves what can be sent again byte for byte, leaves bad input, and a dry run moves nothing', async () => {
      // Prepare
      const bodies = [0, 1, 2].map((i) => serializeChangeEvent(change(`d-${i}`, 1)));
      for (const body of bodies) await putDeadLetter(sqs, dlqUrl, 'rejected', body, { correlationId: 'corr-1' });
      await putDeadLetter(sqs, dlqUrl, 'invalid-schema', '{"resourceType":1}');

      // Act
      const dry = await cli(emulators, ['dlq', 'redrive', 'crm', '--dry-run', '--json'], configPath);
      const afterDry = await depth(sqs, dlqUrl);
      const real = await cli(emulators, ['dlq', 'redrive', 'crm', '--json'], configPath);
      const moved = await receiveAll(sqs, queueUrl, { visibilityTimeoutSeconds: 30 });

      // Assess
      expect(dry.code).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, moved: 3, kept: { 'invalid-schema (bad input)': 1 } });
      expect(afterDry).toBe(4);
      expect(real.code).toBe(0);
      expect(JSON.parse(real.stdout)).toMatchObject({ method: 'receive-send-delete', moved: 3, kept: { 'invalid-schema (bad input)': 1 }, failed: 0 });
      expect(moved.map((m) => m.Body).sort()).toEqual([...bodies].sort());
      expect(moved.every((m) => m.MessageAttributes?.correlationId?.StringValue === 'corr-1')).toBe(true);
      expect(await depth(sqs, dlqUrl)).toBe(1);
    });

    it('moves at most --limit, and bad input when --reason names it', async () => {
      // Prepare
      for (let i = 0; i < 5; i += 1) await putDeadLetter(sqs, dlqUrl, 'retries-exhausted', serializeChangeEvent(change(`l-${i}`, 1)));
      await putDeadLetter(sqs, dlqUrl, 'not-routed', serializeChangeEvent(changeEvent({ resourceType: 'order', id: 'o-1' })));

      // Act
      const limited = await cli(emulators, ['dlq', 'redrive', 'crm', '--limit', '2', '--json'], configPath);
      const named = await cli(emulators, ['dlq', 'redrive', 'crm', '--reason', 'not-routed', '--json'], configPath);

      // Assess
      expect(JSON.parse(limited.stdout)).toMatchObject({ moved: 2 });
      expect(JSON.parse(named.stdout)).toMatchObject({ moved: 1 });
      expect(await depth(sqs, dlqUrl)).toBe(3);
      expect(await depth(sqs, queueUrl)).toBe(3);
    });

    it('loses nothing and applies each change once when interrupted half way, even between a send and its delete', async () => {
      // Prepare: 25 dead letters of distinct changes
      const changes = Array.from({ length: 25 }, (_, i) => change(`int-${i}`, 1 + (i % 3)));
      for (const c of changes) await putDeadLetter(sqs, dlqUrl, 'retries-exhausted', serializeChangeEvent(c));
      const queues = { ...resources.destinations.crm!, destination: 'crm', queueName: 'cli-test-crm', deadLetterQueueName: 'cli-test-crm-dlq' };
      // A client whose first DeleteMessageBatch dies, as a process killed right after its send would.
      const dying = new SQSClient({ endpoint: emulators.sqsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
      let deletes = 0;
      dying.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'DeleteMessageBatchCommand' && deletes++ === 0) throw new Error('killed between send and delete');
          return next(args);
        },
        { step: 'initialize', name: 'dieOnSecondDelete' },
      );

      // Act: a redrive stopped by Ctrl-C after its first batch, one killed after a send, then one that finishes
      const interrupt = new AbortController();
      const stopped = await redriveDeadLetters(sqs, queues, { forceFallback: true, signal: interrupt.signal, onProgress: () => interrupt.abort(), visibilityTimeoutSeconds: 1 });
      const killed = await redriveDeadLetters(dying, queues, { forceFallback: true, visibilityTimeoutSeconds: 1 }).catch((error: Error) => error.message);
      dying.destroy();
      const inBoth = await depth(sqs, queueUrl) + (await depth(sqs, dlqUrl));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const finished = await cli(emulators, ['dlq', 'redrive', 'crm', '--json'], configPath);
      const sent = await receiveAll(sqs, queueUrl, { visibilityTimeoutSeconds: 30 });

      // Assess: nothing lost, the killed batch was sent twice
      expect(stopped).toMatchObject({ interrupted: true, moved: 10 });
      expect(killed).toBe('killed between send and delete');
      expect(inBoth).toBe(25 + 10);
      expect(JSON.parse(finished.stdout)).toMatchObject({ failed: 0 });
      expect(await depth(sqs, dlqUrl)).toBe(0);
      expect(new Set(sent.map((m) => m.Body))).toEqual(new Set(changes.map(serializeChangeEvent)));
      expect(sent.length).toBe(35);

      // Act: the real consumer takes them all
      const handler = wireConsumerHandler({
        destination: config.destinations[0]!,
        tableName: resources.tableName,
        queueUrl,
        deadLetterQueueUrl: dlqUrl,
        metricsNamespace: 'CliTest',
        serviceName: 'cli-test',
        logLevel: 'ERROR',
        dynamodb,
        sqs,
      });
      const records = sent.map((m: Message): SQSRecord => ({
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body!,
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'x', ApproximateFirstReceiveTimestamp: String(Date.now()) },
        messageAttributes: Object.fromEntries(
          Object.entries(fromSqsMessageAttributes(m.MessageAttributes)).map(([name, v]) => [name, { ...v, stringListValues: [], binaryListValues: [] }]),
        ),
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: resources.destinations.crm!.queueArn,
        awsRegion: 'us-east-1',
      }));
      const capture = captureJsonOutput(() => undefined);
      const failures: string[] = [];
      try {
        for (let i = 0; i < records.length; i += 10) {
          const response = await handler(sqsEvent(records.slice(i, i + 10)), lambdaContext());
          failures.push(...response.batchItemFailures.map((f) => f.itemIdentifier));
        }
      } finally {
        capture.restore();
      }

      // Assess: each change took effect once at a destination that does not deduplicate
      const log = fakeApi.writeLog().filter((entry) => entry.id.startsWith('int-'));
      expect(failures).toEqual([]);
      expect(log).toHaveLength(25);
      expect(findDuplicateEffects(log)).toEqual([]);
    });
  });

  describe('replay', () => {
    it('sends a checked file of changes, and refuses the whole file over one bad line', async () => {
      // Prepare
      const good = join(dir, 'good.ndjson');
      writeFileSync(good, `${serializeChangeEvent(change('p-1', 1))}\n\n${serializeChangeEvent(change('p-2', 4))}\n`);
      const bad = join(dir, 'bad.ndjson');
      writeFileSync(bad, `${serializeChangeEvent(change('p-3', 1))}\n${JSON.stringify({ ...change('p-4', 1), version: -1 })}\n`);

      // Act
      const refused = await cli(emulators, ['replay', 'crm', '--file', bad], configPath);
      const afterRefused = await depth(sqs, queueUrl);
      const sent = await cli(emulators, ['replay', 'crm', '--file', good, '--json'], configPath);

      // Assess
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/bad\.ndjson:2: invalid-schema: version/);
      expect(afterRefused).toBe(0);
      expect(JSON.parse(sent.stdout)).toMatchObject({ source: 'file', sent: 2 });
      expect(await depth(sqs, queueUrl)).toBe(2);
    });

    it("sends one record's dead letters again by id and version, bad input included", async () => {
      // Prepare
      await putDeadLetter(sqs, dlqUrl, 'rejected', serializeChangeEvent(change('q-1', 1)));
      await putDeadLetter(sqs, dlqUrl, 'rejected', serializeChangeEvent(change('q-1', 2)));
      await putDeadLetter(sqs, dlqUrl, 'rejected', serializeChangeEvent(change('q-2', 1)));

      // Act
      const replayed = await cli(emulators, ['replay', 'crm', '--id', 'q-1', '--version', '2', '--json'], configPath);
      const none = await cli(emulators, ['replay', 'crm', '--id', 'nobody', '--json'], configPath);

      // Assess
      expect(JSON.parse(replayed.stdout)).toMatchObject({ source: 'dlq', moved: 1 });
      expect((await receiveAll(sqs, queueUrl)).map((m) => JSON.parse(m.Body!).version)).toEqual([2]);
      expect(none.code).toBe(1);
      expect(await depth(sqs, dlqUrl)).toBe(2);
    });
  });

  describe('resync', () => {
    it("shows the ledger's entry, and pushes the applied version once more after reopening it; an older one is refused", async () => {
      // Prepare: v3 applied
      const ledger = new DynamoDbLedgerStore({ client: dynamodb, tableName: resources.tableName });
      const record = { destination: 'crm', resourceType: 'contact', id: 'z-1' };
      await ledger.acquireLease(record, { token: 't-1', key: 'crm:contact:z-1:3', version: 3, expiresAt: Date.now() + 1000 }, Date.now(), 0);
      await ledger.commit(record, { token: 't-1', version: 3 }, { op: 'upsert', at: Date.now() });
      const current = join(dir, 'z-1.json');
      writeFileSync(current, JSON.stringify(change('z-1', 3), null, 2));
      const older = join(dir, 'z-1-old.json');
      writeFileSync(older, serializeChangeEvent(change('z-1', 2)));

      // Act
      const shown = await cli(emulators, ['resync', 'crm', '--id', 'z-1', '--json'], configPath);
      const refused = await cli(emulators, ['resync', 'crm', '--id', 'z-1', '--from-file', older], configPath);
      const pushed = await cli(emulators, ['resync', 'crm', '--id', 'z-1', '--from-file', current, '--json'], configPath);

      // Assess
      expect(JSON.parse(shown.stdout)).toMatchObject({ ledger: { appliedVersion: 3, claimedVersion: 3, appliedOp: 'upsert' } });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/holds v2, older than what crm was sent \(applied v3/);
      expect(JSON.parse(pushed.stdout)).toMatchObject({ pushed: { version: 3, reopened: true } });
      expect(await ledger.read(record)).toMatchObject({ appliedVersion: 2, claimedVersion: 2 });
      expect((await receiveAll(sqs, queueUrl)).map((m) => JSON.parse(m.Body!).version)).toEqual([3]);
    });
  });

  describe('local', () => {
    it('keeps the runtime up with --keep-running, and the other commands reach it through the SDK endpoint variables', async () => {
      // Prepare
      let stderr = '';
      const stop = new AbortController();
      const io: CliIo = {
        stdout: { write: () => true } as unknown as CliIo['stdout'],
        stderr: { write: (chunk: string) => ((stderr += chunk), true) } as unknown as CliIo['stderr'],
        env: { AWS_REGION: 'us-east-1' },
        signal: stop.signal,
      };
      const running = runCli(
        ['local', '--changes', '40', '--rate', '0', '--malformed', '2', '--keep-running', '--html', join(dir, 'kept.html'), '--log', join(dir, 'kept.log')],
        io,
        [localCommand],
      );
      let endpoints: RegExpMatchArray | null = null;
      while (endpoints === null) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        endpoints = /export AWS_ENDPOINT_URL_SQS=(\S+) AWS_ENDPOINT_URL_DYNAMODB=(\S+)/.exec(stderr);
      }
      const tool = async (args: readonly string[]) => {
        let out = '';
        const env = { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_SQS: endpoints![1]!, AWS_ENDPOINT_URL_DYNAMODB: endpoints![2]! };
        const toolIo: CliIo = { stdout: { write: (c: string) => ((out += c), true) } as unknown as CliIo['stdout'], stderr: io.stdout, env };
        const code = await runCli(['--json', ...args], toolIo, []);
        return { code, json: out === '' ? undefined : JSON.parse(out) };
      };
      const change = join(dir, 'kept-change.ndjson');
      writeFileSync(change, serializeChangeEvent(changeEvent({ id: 'kept-1', version: 7 })));

      // Act
      const status = await tool(['status']);
      const replayed = await tool(['replay', 'crm', '--file', change]);
      let ledger: { appliedVersion?: number } | undefined;
      for (let tries = 0; ledger?.appliedVersion !== 7 && tries < 100; tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        ledger = (await tool(['resync', 'crm', '--id', 'kept-1', '--type', 'contact'])).json.ledger ?? undefined;
      }
      stop.abort();
      const code = await running;

      // Assess
      expect(status.code).toBe(1);
      expect(status.json.destinations.reduce((sum: number, d: { deadLetters: number }) => sum + d.deadLetters, 0)).toBe(2);
      expect(replayed.json).toMatchObject({ source: 'file', sent: 1 });
      expect(ledger).toMatchObject({ appliedVersion: 7 });
      expect(code).toBe(0);
    });

    it('`sync-pipeline local --json` writes one JSON object to stdout whose invariants all hold', async () => {
      // Act
      const { stdout } = await run(process.execPath, ['bin/sync-pipeline.ts', 'local', '--changes', '120', '--rate', '0', '--json', '--html', join(dir, 'r.html'), '--log', join(dir, 'r.log')], {
        env: { ...process.env, AWS_ENDPOINT_URL: '' },
      });

      // Assess
      const report = JSON.parse(stdout);
      expect(stdout.trim().split('\n')).toHaveLength(1);
      expect(report.invariants).toEqual({ noRegression: true, convergence: true, accounting: true, effectOnce: true, deadLettersHaveReasons: true, noDestinationReads: true });
    });
  });
});
