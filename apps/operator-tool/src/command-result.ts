/** What a command hands back to the CLI layer, which alone prints and exits. */
export interface CommandResult {
  exitCode: number;
  /** The `--json` document. */
  data: unknown;
  /** The human rendering, printed to stdout without `--json`. */
  text: string;
  /** For a failing result: the one line printed as `error: …` on stderr. */
  errorLine?: string;
}
