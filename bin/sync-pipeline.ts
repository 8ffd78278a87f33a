#!/usr/bin/env node
import { Command } from 'commander';
import { runCli, type CommandFactory } from '../lib/ops/cli.ts';
import { UsageError } from '../lib/ops/targets.ts';

/** The bare package name a failed import could not find, or undefined when the error is another one. */
const missingPackageOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined;
  const name = /Cannot find (?:package|module) '([^']+)'/.exec((error as Error).message)?.[1];
  // A missing file of our own (a path) is a broken install, not a missing dev dependency.
  return name === undefined || name.startsWith('.') || name.startsWith('/') ? undefined : name;
};

/**
 * The `local` command, loaded on demand: the embedded emulators and the progress view it runs on
 * (fauxqs, dynalite, cli-progress) are dev dependencies, which an installed package does not bring
 * (dynalite alone builds a native LevelDB binding). Without them every other command still works,
 * and `local` says what is missing in one line instead of the whole CLI failing with a stack trace.
 */
const loadLocalCommand = async (): Promise<CommandFactory> => {
  try {
    return (await import('../lib/local/local-command.ts')).localCommand;
  } catch (error) {
    const missing = missingPackageOf(error);
    if (missing === undefined) throw error;
    const reason =
      `\`sync-pipeline local\` needs ${missing}, a dev dependency of sync-pipeline that an installed package does not bring: ` +
      'run it from a clone of the repository (npm ci && npm run local), or add fauxqs, dynalite and cli-progress to your devDependencies';
    return () =>
      new Command('local')
        .description(`run the whole pipeline on this machine (unavailable here: it needs ${missing})`)
        .allowUnknownOption()
        .allowExcessArguments()
        .action(() => {
          throw new UsageError(reason);
        });
  }
};

// Ctrl-C asks long commands to stop cleanly; a second one ends the process at once.
const interrupt = new AbortController();
process.once('SIGINT', () => {
  interrupt.abort();
  process.once('SIGINT', () => process.exit(130));
});

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupt.signal }, [await loadLocalCommand()]);
