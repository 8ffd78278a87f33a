import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConsumerEntry, shippedModule } from '../../lib/infra/consumer-entry.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('Function: shippedModule', () => {
  it('finds a module beside the sources when the code runs from them', () => {
    // Act
    const path = shippedModule('lib/adapters/plugin-loader');

    // Assess: from dist/ the same call gives dist/lib/adapters/plugin-loader.js (scripts/pack-test.ts proves it installed)
    expect(path).toBe(join(ROOT, 'lib', 'adapters', 'plugin-loader.ts'));
    expect(existsSync(path)).toBe(true);
  });
});

describe('Function: defaultConsumerEntry', () => {
  it('is the shipped Lambda handler', () => {
    // Act
    const entry = defaultConsumerEntry();

    // Assess
    expect(entry).toBe(join(ROOT, 'lambdas', 'consumer', 'handler.ts'));
    expect(existsSync(entry)).toBe(true);
  });
});
