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
    const incoming = typeof chunk === "string" ? chunk : chunk.toString("utf8");
    const lastNewline = incoming.lastIndexOf("\n");
    if (lastNewline === -1) {
      this.#append(incoming);
      return;
    }
    const block = this.transform(this.#partial + incoming.slice(0, lastNewline + 1));
    this.#partial = "";
    // Scan by index: no per-line regex, no re-slicing of the remainder.
    let start = 0;
    for (let newline = block.indexOf("\n"); newline !== -1; newline = block.indexOf("\n", start)) {
      if (this.#dropping) {
        this.#dropping = false;
      } else {
        const end = newline > start && block.charCodeAt(newline - 1) === 13 ? newline - 1 : newline;
        this.onLine(block.slice(start, end));
      }
      start = newline + 1;
    }
    this.#append(incoming.slice(lastNewline + 1));
  }

  end(): void {
    if (this.#partial !== "" && !this.#dropping)
      this.onLine(this.transform(this.#partial).replace(/\r$/, ""));
    this.#partial = "";
  }

  #append(text: string): void {
    if (this.#dropping || text === "") return;
    this.#partial += text;
    if (this.#partial.length > this.maxLineBytes) {
      this.onLine(
        `${this.transform(this.#partial.slice(0, this.maxLineBytes))} …[line cut at ${this.maxLineBytes} bytes]`,
      );
      this.#partial = "";
      this.#dropping = true;
    }
  }
}

/** The last `size` items pushed, without shifting an array on every push. */
export class RingBuffer<T> {
  #items: T[] = [];
  #next = 0;

  constructor(private readonly size: number) {}

  push(item: T): void {
    if (this.#items.length < this.size) this.#items.push(item);
    else this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.size;
  }

  toArray(): T[] {
    return this.#items.length < this.size
      ? [...this.#items]
      : [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
  }
}
