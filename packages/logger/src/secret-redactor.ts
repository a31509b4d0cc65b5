export const REDACTED = "<redacted>";

/**
 * Replaces every known secret value in free text. Secrets are matched verbatim
 * and in the encodings they commonly travel in (JSON string escapes, URL
 * encoding), so a secret inside a serialised log record or a logged URL is
 * caught too.
 */
export class SecretRedactor {
  readonly #secrets = new Set<string>();
  #pattern: RegExp | undefined;
  #longest = 0;

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const secret of secrets) this.add(secret);
  }

  add(secret: string | undefined): void {
    if (secret === undefined || secret.length === 0) return;
    const forms = [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)];
    let changed = false;
    for (const form of forms) {
      if (!this.#secrets.has(form)) {
        this.#secrets.add(form);
        changed = true;
      }
    }
    if (!changed) return;
    // Longest first, so a secret that contains another is replaced whole.
    const sorted = [...this.#secrets].sort((a, b) => b.length - a.length);
    this.#longest = sorted[0]?.length ?? 0;
    this.#pattern = new RegExp(sorted.map(escapeRegExp).join("|"), "g");
  }

  /** Length of the longest form; a streaming redactor keeps this many characters back. */
  get longestSecretLength(): number {
    return this.#longest;
  }

  get size(): number {
    return this.#secrets.size;
  }

  redact(text: string): string {
    if (this.#pattern === undefined || text.length === 0) return text;
    return text.replace(this.#pattern, REDACTED);
  }

  /** Deep copy of a JSON-like value with every string redacted. */
  redactValue<T>(value: T): T {
    if (this.#pattern === undefined) return value;
    return redactDeep(value, this) as T;
  }
}

function redactDeep(value: unknown, redactor: SecretRedactor): unknown {
  if (typeof value === "string") return redactor.redact(value);
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, redactor));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = redactDeep(item, redactor);
    return out;
  }
  return value;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
