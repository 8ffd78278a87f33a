import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureConsumerOutput } from '../../lib/local/sim/consumer-output.ts';
import { EmfStore } from '../../lib/local/sim/emf.ts';
import { invocationScope, isStoppedInvocation } from '../../lib/local/sim/invocation-scope.ts';

const applied = (version: number): string =>
  JSON.stringify({ level: 'INFO', message: 'record applied', destination: 'crm', resourceType: 'contact', id: 'c-1', version, function_request_id: 'req-1' });

describe('Function: invocationScope', () => {
  it('drops what an invocation writes once Lambda would have stopped it, and nothing before', async () => {
    // Prepare
    const output = captureConsumerOutput({ emf: new EmfStore(), logFile: join(mkdtempSync(join(tmpdir(), 'scope-')), 'run.log') });
    const scope = { requestId: 'req-1', stopped: false };
    const seen: boolean[] = [];

    // Act: one line before the timeout, one after; the runtime's own line outside any invocation
    try {
      await invocationScope.run(scope, async () => {
        process.stdout.write(`${applied(1)}\n`);
        scope.stopped = true;
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(isStoppedInvocation());
        process.stdout.write(`${applied(2)}\n`);
      });
      seen.push(isStoppedInvocation());
      process.stdout.write(`${applied(3)}\n`);
    } finally {
      output.restore();
    }

    // Assess
    expect(seen).toEqual([true, false]);
    expect(output.appliedRecords.map((record) => record.version)).toEqual([1, 3]);
  });
});
