import type { CompanionConnection } from "@operator-tool/companion-bringup";

export interface ScriptOutcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a POSIX sh script on the companion in one session. The script goes as
 * the command (sshd hands it to the login shell, which runs `sh -c`), so stdin
 * stays free for data.
 */
export function runScript(
  connection: CompanionConnection,
  script: string,
  input?: string | Buffer,
): Promise<ScriptOutcome> {
  return connection.run(`sh -c ${singleQuote(script)}`, input);
}

/** Always single-quotes: for text spliced into scripts, where a bare word could still glob. */
export function singleQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}
