// `npm run bench:ratelimit`: measures per-destination rate limiting and backlog coalescing on the
// local pipeline; see runRateLimitBench. Not part of `npm test`: it takes minutes, and its targets
// are what the runtime must reach, not what every commit already does.
import { runRateLimitBenchCli } from '../lib/local/bench/rate-limit-bench-command.ts';

// Ctrl-C stops the bench after the run under way has reported; a second one ends the process at once.
const interrupt = new AbortController();
process.once('SIGINT', () => {
  interrupt.abort();
  process.once('SIGINT', () => process.exit(130));
});

process.exitCode = await runRateLimitBenchCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupt.signal });
