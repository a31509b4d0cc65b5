/**
 * Cuts a byte stream into lines with bounded memory: a line longer than
 * `maxLineBytes` is cut there and the rest of it dropped (marked), so a
 * runaway remote process cannot exhaust the workstation. Bytes are decoded
 * only up to a newline, so a character split across chunks arrives whole.
 */
export class LineSplitter {
  /** Bytes after the last newline seen, not decoded yet. */
  #partial: Buffer | undefined;
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
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    const lastNewline = bytes.lastIndexOf(10);
    if (lastNewline === -1) {
      this.#append(bytes);
      return;
    }
    const whole = bytes.subarray(0, lastNewline + 1);
    const head = this.#partial === undefined ? whole : Buffer.concat([this.#partial, whole]);
    this.#partial = undefined;
    // A newline byte never sits inside a UTF-8 sequence: up to here decodes cleanly.
    const block = this.transform(head.toString("utf8"));
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
    this.#append(bytes.subarray(lastNewline + 1));
  }

  end(): void {
    if (this.#partial !== undefined && !this.#dropping)
      this.onLine(this.transform(this.#partial.toString("utf8")).replace(/\r$/, ""));
    this.#partial = undefined;
  }

  #append(bytes: Buffer): void {
    if (this.#dropping || bytes.length === 0) return;
    // A copy: the chunk's memory may belong to the stream and be reused.
    this.#partial = Buffer.concat(this.#partial === undefined ? [bytes] : [this.#partial, bytes]);
    if (this.#partial.length > this.maxLineBytes) {
      // Cut on a character boundary: back off continuation bytes (10xxxxxx).
      let cut = this.maxLineBytes;
      while (cut > 0 && (this.#partial[cut]! & 0xc0) === 0x80) cut--;
      this.onLine(
        `${this.transform(this.#partial.toString("utf8", 0, cut))} …[line cut at ${this.maxLineBytes} bytes]`,
      );
      this.#partial = undefined;
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
