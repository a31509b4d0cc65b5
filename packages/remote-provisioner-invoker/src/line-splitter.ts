/**
 * Cuts a byte stream into lines with bounded memory: a line longer than
 * `maxLineBytes` is cut there and the rest of it dropped (marked), so a
 * runaway remote process cannot exhaust the workstation.
 */
export class LineSplitter {
  #partial = "";
  #dropping = false;

  /**
   * `transform` sees each run of complete lines at once (redaction: one regex
   * pass per chunk instead of one per line); it must keep newlines intact.
   */
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineBytes = 64 * 1024,
    private readonly transform: (block: string) => string = (block) => block,
  ) {}

  push(chunk: Buffer | string): void {
    let text = this.#partial + (typeof chunk === "string" ? chunk : chunk.toString("utf8"));
    this.#partial = "";
    const lastNewline = text.lastIndexOf("\n");
    if (lastNewline >= 0) text = this.transform(text.slice(0, lastNewline + 1)) + text.slice(lastNewline + 1);
    for (;;) {
      const newline = text.indexOf("\n");
      if (newline === -1) break;
      const line = text.slice(0, newline).replace(/\r$/, "");
      text = text.slice(newline + 1);
      if (this.#dropping) {
        this.#dropping = false;
        continue;
      }
      this.onLine(line);
    }
    if (this.#dropping) return;
    if (text.length > this.maxLineBytes) {
      this.onLine(
        `${this.transform(text.slice(0, this.maxLineBytes))} …[line cut at ${this.maxLineBytes} bytes]`,
      );
      this.#dropping = true;
      return;
    }
    this.#partial = text;
  }

  end(): void {
    if (this.#partial !== "" && !this.#dropping)
      this.onLine(this.transform(this.#partial).replace(/\r$/, ""));
    this.#partial = "";
  }
}
