import { Writable } from 'node:stream';

/**
 * A terminal of a fixed width, enough of one to check what cli-progress draws: printable
 * characters, CR, LF (as a tty's onlcr makes it: next line, first column), and the CSI sequences
 * Node's readline writes (cursor up/down/forward/back, to column, erase in line / below). A
 * character drawn past the last column would wrap to the next line and shift every later redraw:
 * such writes are counted in `wraps`.
 *
 * @example
 * const screen = createTerminalScreen(60);
 * createProgressView({ stream: screen.stream, isTTY: true, columns: 60 });
 * screen.lines(); // what is on the screen now
 */
export interface TerminalScreen {
  readonly stream: Writable;
  /** Characters that landed past the last column (each a wrap a real terminal would make). */
  readonly wraps: () => number;
  /** The screen's lines, trailing blanks trimmed, trailing empty lines dropped. */
  readonly lines: () => string[];
  /** Every byte written, for looking for control sequences. */
  readonly raw: () => string;
}

export const createTerminalScreen = (width: number): TerminalScreen => {
  const grid: string[][] = [[]];
  let row = 0;
  let col = 0;
  let wraps = 0;
  let raw = '';
  const line = (index: number): string[] => {
    while (grid.length <= index) grid.push([]);
    return grid[index]!;
  };
  const put = (char: string): void => {
    if (col >= width) {
      wraps += 1;
      row += 1;
      col = 0;
    }
    const cells = line(row);
    while (cells.length < col) cells.push(' ');
    cells[col] = char;
    col += 1;
  };
  const csi = (params: string, command: string): void => {
    const n = params === '' ? 1 : Number.parseInt(params.replace('?', ''), 10);
    if (command === 'A') row = Math.max(0, row - n);
    else if (command === 'B') row += n;
    else if (command === 'C') col = Math.min(width - 1, col + n);
    else if (command === 'D') col = Math.max(0, col - n);
    else if (command === 'G') col = n - 1;
    else if (command === 'K') {
      const cells = line(row);
      if (params === '' || params === '0') cells.length = Math.min(cells.length, col);
      else if (params === '2') cells.length = 0;
    } else if (command === 'J') {
      line(row).length = Math.min(line(row).length, col);
      grid.length = row + 1;
    }
    // h / l (cursor visibility, autowrap) change nothing drawn.
  };
  const write = (text: string): void => {
    raw += text;
    for (let i = 0; i < text.length; i += 1) {
      const char = text[i]!;
      if (char === '\x1b') {
        const match = /^\x1b\[([0-9;?]*)([A-Za-z])/.exec(text.slice(i));
        if (match !== null) {
          csi(match[1]!, match[2]!);
          i += match[0].length - 1;
        } else {
          i += 1; // ESC 7 / ESC 8: save / restore, unused here
        }
      } else if (char === '\r') col = 0;
      else if (char === '\n') {
        row += 1;
        col = 0;
        line(row);
      } else put(char);
    }
  };
  const stream = new Writable({
    decodeStrings: false,
    write: (chunk: string | Buffer, _encoding, done) => {
      write(chunk.toString());
      done();
    },
  });
  return {
    stream,
    wraps: () => wraps,
    lines: () => {
      const lines = grid.map((cells) => cells.join('').trimEnd());
      while (lines.length > 0 && lines.at(-1) === '') lines.pop();
      return lines;
    },
    raw: () => raw,
  };
};
