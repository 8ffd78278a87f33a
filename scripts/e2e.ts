// `npm run e2e`: deploys the stack to an AWS emulator (moto, started here by default; or LocalStack)
// and checks the deployed pipeline end to end; see lib/local/e2e/run-e2e.ts. Not part of `npm test`:
// it deploys, and CI runs it as a step of its own.
import { runE2eCli } from '../lib/local/e2e/e2e-command.ts';

// Ctrl-C stops the run: what it started (moto, the fake API, the consumers) is stopped and what it
// deployed deleted; a second Ctrl-C ends the process at once.
const interrupt = new AbortController();
process.once('SIGINT', () => {
  interrupt.abort();
  process.once('SIGINT', () => process.exit(130));
});

process.exitCode = await runE2eCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupt.signal });
