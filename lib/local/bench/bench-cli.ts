import { type Command, CommanderError } from 'commander';
import { ExitCode, type CliIo } from '../../ops/cli.ts';

/**
 * Parses a bench command's arguments, commander's output going to `io`. Returns the exit code when
 * the run ends here (0 after `--help`, 2 for a usage error, which commander has explained), or
 * undefined when the bench should run with `program.opts()`.
 *
 * @example
 * const code = parseBenchArguments(program, argv, io);
 * if (code !== undefined) return code;
 */
export const parseBenchArguments = (program: Command, argv: readonly string[], io: CliIo): number | undefined => {
  program.exitOverride().configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });
  try {
    program.parse([...argv], { from: 'user' });
    return undefined;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    throw error;
  }
};
