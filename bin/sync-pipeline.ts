#!/usr/bin/env node
import { localCommand } from '../lib/local/local-command.ts';
import { runCli } from '../lib/ops/cli.ts';

// Ctrl-C asks long commands to stop cleanly; a second one ends the process at once.
const interrupt = new AbortController();
process.once('SIGINT', () => {
  interrupt.abort();
  process.once('SIGINT', () => process.exit(130));
});

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupt.signal }, [localCommand]);
