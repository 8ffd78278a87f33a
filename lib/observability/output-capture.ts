/**
 * Captures what Powertools Logger and Metrics write to standard output, line by line, the way the
 * Lambda runtime does. Powertools writes through its own `Console` bound to `process.stdout`, so the
 * capture replaces `process.stdout.write` for the duration and hands complete lines to `onLine`.
 * Output that does not come as whole lines is buffered until its newline.
 *
 * @example
 * const capture = captureStdoutLines((line) => emf.ingestLine(line));
 * try { await runPipeline(); } finally { capture.restore(); }
 */
export const captureStdoutLines = (onLine: (line: string) => void): { restore(): void } => {
  const stdout = process.stdout;
  const originalWrite = stdout.write;
  let pending = '';
  const write = (chunk: string | Uint8Array, encodingOrCallback?: unknown, callback?: unknown): boolean => {
    pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (typeof done === 'function') done();
    return true;
  };
  stdout.write = write as typeof stdout.write;
  return {
    restore: () => {
      if (pending !== '') onLine(pending);
      pending = '';
      stdout.write = originalWrite;
    },
  };
};
