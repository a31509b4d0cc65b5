import type { FailureDescription } from "@operator-tool/errors";

/** What a command hands back to the CLI layer, which alone prints and exits. */
export interface CommandResult {
  /** The `--json` document. */
  data: unknown;
  /** The human rendering, printed to stdout without `--json`. */
  text: string;
  /**
   * A failure reported together with a result (a report, a readiness table):
   * the CLI prints its `error:` line and exits with its code.
   */
  failure?: FailureDescription;
  /** `runs watch`: the watched run's own exit status passed on unchanged, and why, when it failed. */
  passThrough?: { exitCode: number; errorLine?: string };
}
