import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { describeRunSettings, LOCAL_RUN_DEFAULTS, pollersFor } from '../../lib/local/lab/run-settings.ts';
import { buildWorkload, publishedPart } from '../../lib/local/lab/workload.ts';

/** contact goes to crm and erp, order to erp only. */
const config = parsePipelineConfig({
  destinations: [
    { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'], maxConcurrency: 3 },
    { name: 'erp', kind: 'http', baseUrl: 'https://erp.example.com', resourceTypes: ['contact', 'order'], requestTimeoutMs: 2_000 },
  ],
});

describe('Function: buildWorkload', () => {
  it('counts the planned messages per destination from the plan, after fan-out; malformed ones go to the first', () => {
    // Act
    const workload = buildWorkload(config, { changes: 200, rate: 0, malformed: 3 }, 'run-1');

    // Assess
    const targeting = (name: string) => workload.plan.filter((step) => step.targets.includes(name)).length;
    expect(Object.fromEntries(workload.plannedByDestination)).toEqual({ crm: targeting('crm'), erp: targeting('erp') });
    expect(workload.plannedTotal).toBe(targeting('crm') + targeting('erp'));
    expect(workload.plannedTotal).toBeGreaterThan(workload.plan.length);
    expect(workload.plan.filter((step) => typeof step.message === 'string').map((step) => step.targets)).toEqual([['crm'], ['crm'], ['crm']]);
  });
});

describe('Function: publishedPart', () => {
  it('is the workload of the first steps: their changes, routes and counts', () => {
    // Prepare
    const workload = buildWorkload(config, { changes: 200, rate: 0, malformed: 3 }, 'run-1');
    const steps = 60;

    // Act
    const part = publishedPart(workload, steps);

    // Assess
    const sent = workload.plan.slice(0, steps);
    expect(part.plan).toEqual(sent);
    expect(part.events).toEqual(sent.flatMap((step) => (typeof step.message === 'string' ? [] : [step.message])));
    expect(part.malformed).toBe(sent.length - part.events.length);
    expect(part.routed.get('crm')).toEqual(workload.routed.get('crm')?.filter((event) => part.events.includes(event)));
    expect(part.plannedTotal).toBe(sent.reduce((sum, step) => sum + step.targets.length, 0));
    expect(publishedPart(workload, workload.plan.length)).toEqual(workload);
  });
});

describe('Function: describeRunSettings', () => {
  it('resolves every default once, and the per-destination settings as the consumers run them', () => {
    // Act
    const settings = describeRunSettings(config, { changes: 500, rate: 250 });

    // Assess
    expect(settings).toMatchObject({
      changes: 500,
      source: 'demo-stream',
      ids: 100,
      seed: LOCAL_RUN_DEFAULTS.seed,
      malformed: LOCAL_RUN_DEFAULTS.malformed,
      visibilityTimeoutSeconds: LOCAL_RUN_DEFAULTS.visibilityTimeoutSeconds,
      fakeApi: { failures: {}, latencyMs: 0, deduplicate: false, conflictWhileInFlight: false },
      wrapped: [],
    });
    expect(settings.destinations.map((d) => [d.destination, d.pollers, d.requestTimeoutMs, d.leaseMs])).toEqual([
      ['crm', 3, 5_000, 11_000],
      ['erp', 4, 2_000, 5_000],
    ]);
  });

  it.each([
    [{}, { maxConcurrency: 2 }, 2],
    [{}, { maxConcurrency: 50 }, 4],
    [{ pollers: 7 }, { maxConcurrency: 2 }, 7],
  ])('resolves options %j and destination %j to %i pollers', (options, destination, pollers) => {
    // Act
    const resolved = pollersFor(options, destination);

    // Assess
    expect(resolved).toBe(pollers);
  });
});
