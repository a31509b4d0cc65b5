/**
 * The companion session: one operator-tool process on the companion that
 * answers build-cache's questions (readiness, what tiles and models it holds)
 * as JSON lines, then becomes `compile-engines` for the rest of its life. A
 * no-op build-cache pays Node's start-up there once instead of once per
 * question.
 *
 * On stdout: the hello line first (version and readiness facts), then one
 * response line per request, in order. On stdin: one request line at a time,
 * each sent after the previous response. A `compile-engines` request is the
 * last: the process's stdin, stdout, stderr and exit status are then
 * `compile-engines --json`'s own (engine-report@1, the secrets line and the
 * lifeline). stdin closing at any point ends the session.
 */
export const SESSION_PROTOCOL = "operator-tool/companion-session@1";

/** What the companion reports about itself as soon as the session starts. */
export interface SessionHello {
  protocol: typeof SESSION_PROTOCOL;
  version: string;
  /** `uname -m`. */
  arch: string;
  /** First line of /etc/nv_tegra_release, "" when absent. */
  tegra: string;
  /**
   * The cache root exists (made unless `--dry-run`) and is writable; under
   * `--dry-run`, judged on the nearest existing directory above it. Only the
   * hello looks: requests do what they do (a build asks for listings only
   * once it holds its lock).
   */
  writable: boolean;
  /** KiB available to an unprivileged user on the cache root's filesystem (df's "Available"); null when unknown. */
  availKb: number | null;
}

export type SessionRequest =
  | { op: "list-tiles"; root: string }
  | { op: "list-pushed"; dir: string; manifest: string }
  /** `args` is the whole command line after operator-tool, starting with `compile-engines`. */
  | { op: "compile-engines"; args: string[] };

export type SessionResponse =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string; hint?: string | undefined } };

/** What `list-pushed` answers: the push manifest's lines and `<size> <mtime s> ./<path>` per file, as the shell listing prints them. */
export interface PushedListing {
  manifest: string[];
  stat: string[];
}
