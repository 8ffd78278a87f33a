// `npm run bench`: the consumer against the seed post's algorithm with stock Powertools, on the same
// input in one run; see runConsumerBench. Not part of `npm test`: it takes minutes, and its targets
// are ratios measured side by side, not timed assertions.
import { runConsumerBenchCli } from '../lib/local/bench/consumer-bench-command.ts';

process.exitCode = await runConsumerBenchCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
