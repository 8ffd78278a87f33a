/**
 * Captures the JSON lines Powertools Logger and Metrics print, the way the Lambda runtime captures a
 * function's output. Powertools writes through its own `Console` bound to `process.stdout` and
 * `process.stderr` (errors go to stderr), so the capture wraps both streams' `write` for the
 * duration: a write that starts with `{` is taken line by line and handed to `onLine`; anything else
 * (progress, the CLI's own messages) passes through untouched.
 *
 * @example
 * const capture = captureJsonOutput((line) => emf.ingestLine(line));
 * try { await runPipeline(); } finally { capture.restore(); }
 */
export const captureJsonOutput = (onLine: (line: string) => void): { restore(): void } => {
  const restorers = [process.stdout, process.stderr].map((stream) => {
    const originalWrite = stream.write;
    const write = (chunk: string | Uint8Array, encodingOrCallback?: unknown, callback?: unknown): boolean => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      if (!text.startsWith('{')) {
        return (originalWrite as (...args: unknown[]) => boolean).call(stream, chunk, encodingOrCallback, callback);
      }
      for (const line of text.split('\n')) if (line !== '') onLine(line);
      const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
      if (typeof done === 'function') done();
      return true;
    };
    stream.write = write as typeof stream.write;
    return () => {
      stream.write = originalWrite;
    };
  });
  return {
    restore: () => {
      for (const restore of restorers) restore();
    },
  };
};
