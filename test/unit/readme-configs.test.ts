import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';

/** The JSON destinations the README's "Connect a real API" section shows, as written there. */
const section = readFileSync(new URL('../../README.md', import.meta.url), 'utf8').split('## Connect a real API')[1]!.split('\n## ')[0]!;
const destinations = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1]!) as { name: string });

describe("README: the configs of 'Connect a real API'", () => {
  it('shows two complete destinations', () => {
    // Assess
    expect(destinations.map((destination) => destination.name)).toEqual(['crm', 'partner-hook']);
  });

  it.each(destinations.map((destination) => [destination.name, destination] as const))('%s is a valid destination as written', (_name, destination) => {
    // Act & Assess: parsing throws naming any bad field
    expect(() => parsePipelineConfig({ destinations: [destination] })).not.toThrow();
  });
});
