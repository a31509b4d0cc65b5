/**
 * stderr as an operator's terminal: log records scroll, and below them a live
 * area (a few status lines) is redrawn in place. A record is written by
 * erasing the area, printing the record, and drawing the area again in one
 * write, so a record never lands inside a bar and no stale bar is left behind.
 * Without a live terminal (a pipe, CI, --json) nothing but the records is
 * ever written: no escape codes.
 */
export class Terminal {
  #area: string[] = [];

  constructor(
    private readonly write: (text: string) => void,
    /** Whether a live area may be drawn: a TTY, not CI, not --json. */
    readonly live: boolean,
    private readonly columns: () => number = () => 100,
  ) {}

  /** One formatted log record (ending in a newline), printed above the live area. */
  log(text: string): void {
    if (this.#area.length === 0) this.write(text);
    else this.write(`${this.#erase()}${text}${drawLines(this.#area)}`);
  }

  /** Replaces the live area with these lines (each cut to the terminal's width: a wrapped line would break the erase). */
  show(lines: readonly string[]): void {
    if (!this.live) return;
    const width = Math.max(20, this.columns() - 1);
    const fitted = lines.map((line) => fit(line, width));
    this.write(`${this.#erase()}${drawLines(fitted)}`);
    this.#area = fitted;
  }

  /** Removes the live area; what follows prints where it was. */
  clear(): void {
    if (this.#area.length === 0) return;
    this.write(this.#erase());
    this.#area = [];
  }

  /** Cursor to the area's first line, then erase to the end of the screen. */
  #erase(): string {
    return this.#area.length === 0 ? "" : `\r\x1b[${this.#area.length}A\x1b[J`;
  }
}

function drawLines(lines: readonly string[]): string {
  return lines.map((line) => `${line}\n`).join("");
}

function fit(line: string, width: number): string {
  const plain = line.replace(/[\r\n\t]/g, " ");
  return plain.length <= width ? plain : `${plain.slice(0, width - 1)}…`;
}
