import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The rooms of `lib/`, lowest first. A file may import from its own room and from rooms of a lower
 * rank; rooms of the same rank (the apps) do not import each other, so each composes from the
 * shared floors below it. `local` is the runner on top (lib/local/run-pipeline.ts).
 */
const ROOMS: ReadonlyArray<{ readonly room: string; readonly rank: number }> = [
  { room: 'contract', rank: 0 },
  { room: 'core', rank: 1 },
  { room: 'config', rank: 2 },
  { room: 'adapters', rank: 3 },
  { room: 'consumer', rank: 4 },
  { room: 'infra', rank: 4 },
  { room: 'publish', rank: 4 },
  { room: 'ops', rank: 4 },
  { room: 'local/sim', rank: 4 },
  { room: 'local/lab', rank: 5 },
  { room: 'local/report', rank: 6 },
  { room: 'local', rank: 7 },
];

/** Modules the pure floor must not load: SDKs, CDK, Lambda runtime helpers and I/O. */
const IMPURE_MODULES = ['@aws-sdk', 'aws-cdk-lib', 'constructs', '@aws-lambda-powertools', 'node:fs', 'node:net', 'node:http', 'node:https', 'node:child_process'];
const PURE_ROOMS = new Set(['contract', 'core']);

const LIB = join(import.meta.dirname, '..', '..', 'lib');

const listFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });

/** The room of a path under lib/, the longest matching prefix ('local/sim' before 'local'). */
const roomOf = (path: string): { readonly room: string; readonly rank: number } => {
  const inLib = relative(LIB, path).split('\\').join('/');
  const match = [...ROOMS]
    .sort((a, b) => b.room.length - a.room.length)
    .find(({ room }) => inLib.startsWith(`${room}/`));
  if (match === undefined) throw new Error(`Expected every file of lib/ to be in a room, got ${inLib}`);
  return match;
};

/** Every module specifier a file imports or re-exports (static and dynamic). */
const specifiersOf = (source: string): string[] =>
  [...source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)].map(
    (match) => match[1] ?? match[2] ?? match[3] ?? '',
  );

const files = listFiles(LIB);
const graph = new Map<string, { readonly relativeImports: string[]; readonly packages: string[] }>(
  files.map((file) => {
    const specifiers = specifiersOf(readFileSync(file, 'utf8'));
    return [
      file,
      {
        relativeImports: specifiers.filter((s) => s.startsWith('.')).map((s) => normalize(join(dirname(file), s))),
        packages: specifiers.filter((s) => !s.startsWith('.')),
      },
    ];
  }),
);
const show = (path: string) => relative(LIB, path);

describe('Rooms of lib/', () => {
  it('finds the import lines it checks', () => {
    // Assess: the parser sees the known edges, so an empty graph cannot pass the checks below.
    const consumer = graph.get(join(LIB, 'consumer', 'process-record.ts'));
    expect(consumer?.relativeImports).toContain(join(LIB, 'core', 'attempt.ts'));
    expect(consumer?.packages).toContain('@aws-lambda-powertools/idempotency');
  });

  it('imports only from its own room or a lower one, never from a sibling app', () => {
    // Act
    const upward = [...graph].flatMap(([file, { relativeImports }]) => {
      const from = roomOf(file);
      return relativeImports.flatMap((target) => {
        const to = roomOf(target);
        const allowed = to.room === from.room || to.rank < from.rank;
        return allowed ? [] : [`${show(file)} (${from.room}) imports ${show(target)} (${to.room})`];
      });
    });

    // Assess
    expect(upward).toEqual([]);
  });

  it('keeps lib/contract and lib/core free of SDK, CDK and I/O modules', () => {
    // Act
    const impure = [...graph].flatMap(([file, { packages }]) =>
      PURE_ROOMS.has(roomOf(file).room)
        ? packages.filter((p) => IMPURE_MODULES.some((m) => p === m || p.startsWith(`${m}/`))).map((p) => `${show(file)} imports ${p}`)
        : [],
    );

    // Assess
    expect(impure).toEqual([]);
  });

  it('has no import cycle between files', () => {
    // Act: depth-first search; a back edge to a file still on the stack closes a cycle.
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, stack: string[]): void => {
      state.set(file, 'open');
      for (const target of graph.get(file)?.relativeImports ?? []) {
        if (state.get(target) === 'open') cycles.push([...stack.slice(stack.indexOf(target)), target].map(show).join(' -> '));
        else if (state.get(target) === undefined && graph.has(target)) visit(target, [...stack, target]);
      }
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file, [file]);

    // Assess
    expect(cycles).toEqual([]);
  });
});
