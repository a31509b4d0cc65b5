/** What a command hands back to the CLI layer, which alone prints and exits. */
export interface CommandResult {
  exitCode: number;
  /** The `--json` document. */
  data: unknown;
  /** The human rendering, printed to stdout without `--json`. */
  text: string;
}
