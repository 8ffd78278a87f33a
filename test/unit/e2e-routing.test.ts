import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { goesViaEventBridge } from '../../lib/local/e2e/route-split.ts';
import { checkDeployedRouting, type DeployedRule } from '../../lib/local/e2e/routing-check.ts';
import { scratchConfigFor } from '../../lib/local/e2e/run-e2e.ts';

/** company goes to crm only, order to erp only, contact to both. */
const config = parsePipelineConfig({
  name: 'spe2e',
  destinations: [
    { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact', 'company'] },
    { name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['order', 'contact'] },
  ],
});
const queueArns = { crm: 'arn:aws:sqs:us-east-1:123456789012:spe2e-crm', erp: 'arn:aws:sqs:us-east-1:123456789012:spe2e-erp' };
const deployed = (): DeployedRule[] => [
  { name: 'crm-route', pattern: { detail: { resourceType: ['contact', 'company'] } }, targets: [{ arn: queueArns.crm, inputPath: '$.detail' }] },
  { name: 'erp-route', pattern: { detail: { resourceType: ['order', 'contact'] } }, targets: [{ arn: queueArns.erp, inputPath: '$.detail' }] },
];

describe('Function: checkDeployedRouting', () => {
  it("passes rules that select exactly each destination's types, pointed at its queue, and reports the InputPath", () => {
    // Act
    const verdicts = checkDeployedRouting(config, deployed(), queueArns);

    // Assess
    expect(verdicts.map((v) => [v.destination, v.ok, v.inputPath])).toEqual([
      ['crm', true, '$.detail'],
      ['erp', true, '$.detail'],
    ]);
  });

  it.each([
    ['a rule selecting a type the destination does not subscribe to', (rules: DeployedRule[]) => [{ ...rules[0]!, pattern: { detail: { resourceType: ['contact', 'company', 'order'] } } }, rules[1]!], 'crm', /has pattern .*"order".*expected/],
    ['no rule for a queue', (rules: DeployedRule[]) => [rules[0]!], 'erp', /expected 1 rule targeting .*spe2e-erp, found 0/],
    ['two rules for a queue', (rules: DeployedRule[]) => [...rules, { ...rules[1]!, name: 'erp-again' }], 'erp', /found 2 \(erp-route, erp-again\)/],
    ['a rule to a queue of no destination', (rules: DeployedRule[]) => [...rules, { name: 'stray', pattern: {}, targets: [{ arn: 'arn:aws:sqs:us-east-1:123456789012:other' }] }], '(other queues)', /stray → .*:other/],
  ])('fails %s', (_case, edit, destination, detail) => {
    // Act
    const verdicts = checkDeployedRouting(config, edit(deployed()), queueArns);

    // Assess
    const failed = verdicts.filter((v) => !v.ok);
    expect(failed.map((v) => v.destination)).toEqual([destination]);
    expect(failed[0]!.detail).toMatch(detail);
  });
});

describe('Function: goesViaEventBridge', () => {
  it.each([
    [300, 60],
    [300, 0],
    [7, 7],
    [10, 3],
  ])('sends exactly the share asked for of %i changes (%i), spread through the stream', (total, share) => {
    // Act
    const picked = Array.from({ length: total }, (_, index) => index).filter((index) => goesViaEventBridge(index, total, share));

    // Assess
    expect(picked).toHaveLength(share);
    if (share > 1) expect(picked.at(-1)! - picked[0]!).toBeGreaterThanOrEqual(Math.floor(((share - 1) * total) / share) - 1);
  });
});

describe('Function: scratchConfigFor', () => {
  it('names the pipeline its own, points every HTTP destination at the fake API, logs at DEBUG, and keeps every other field', () => {
    // Prepare
    const raw = { name: 'sync-pipeline', metricsNamespace: 'SyncPipeline', logLevel: 'INFO', destinations: [{ name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', batchSize: 7 }] };

    // Act
    const scratch = scratchConfigFor(raw, { name: 'e2e-abc123', baseUrl: (d) => `http://127.0.0.1:9/${d}`, insecureHttp: false });

    // Assess
    expect(scratch).toEqual({ name: 'e2e-abc123', metricsNamespace: 'SyncPipeline', logLevel: 'DEBUG', destinations: [{ name: 'crm', kind: 'http', baseUrl: 'http://127.0.0.1:9/crm', batchSize: 7 }] });
    expect(raw.name).toBe('sync-pipeline');
  });

  it('allows http to a host other than this machine only when asked (LocalStack reaches the fake API as host.docker.internal)', () => {
    // Act
    const scratch = scratchConfigFor({ destinations: [{ name: 'crm', kind: 'http', baseUrl: 'https://x' }] }, { name: 'e2e', baseUrl: () => 'http://host.docker.internal:9/crm', insecureHttp: true });

    // Assess
    expect(scratch['destinations']).toEqual([{ name: 'crm', kind: 'http', baseUrl: 'http://host.docker.internal:9/crm', allowInsecureHttp: true }]);
  });
});
