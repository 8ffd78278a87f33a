// `npx node scripts/generate-schema.ts`: writes schemas/change-event.schema.json, the JSON Schema of
// the change event, from the one zod schema. `--check` writes nothing and exits 1 when the file
// differs from what the contract makes now (CI runs it; so does test/unit/change-event-schema.test.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderChangeEventJsonSchema } from '../lib/contract/change-event-json-schema.ts';

const SCHEMA_FILE = join(import.meta.dirname, '..', 'schemas', 'change-event.schema.json');
const RELATIVE = 'schemas/change-event.schema.json';

const readCurrent = (): string | undefined => {
  try {
    return readFileSync(SCHEMA_FILE, 'utf8');
  } catch {
    return undefined;
  }
};

const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--check');
if (unknown.length > 0) {
  console.error(`Expected no arguments or --check, got ${unknown.join(' ')}`);
  process.exit(2);
}
const generated = renderChangeEventJsonSchema();
if (args.includes('--check')) {
  if (readCurrent() === generated) {
    console.log(`${RELATIVE} is up to date`);
  } else {
    console.error(`${RELATIVE} differs from ChangeEventSchema: run \`npx node scripts/generate-schema.ts\` and commit the file`);
    process.exitCode = 1;
  }
} else {
  writeFileSync(SCHEMA_FILE, generated);
  console.log(`wrote ${RELATIVE}`);
}
