import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { toolVersion } from "../version.js";

export interface SessionOptions {
  cacheRoot: string;
  dryRun?: boolean;
}

/**
 * The companion session (run by build-cache over SSH): the readiness facts as
 * its first stdout line, then one answer per request line on stdin, until
 * stdin closes or compile-engines is asked for, which then runs in this
 * process on the same stdio (`runCompileEngines`).
 */
export async function companionSession(
  ctx: CommandContext,
  options: SessionOptions,
  runCompileEngines: (args: string[]) => Promise<number>,
): Promise<CommandResult> {
  const { serveSession } = await import("@operator-tool/companion-bringup");
  const end = await serveSession({
    version: toolVersion(),
    cacheRoot: options.cacheRoot,
    dryRun: options.dryRun === true,
    input: process.stdin,
    write: (text) => ctx.out(text),
    signal: ctx.signal,
  });
  if (end.kind === "closed") {
    ctx.signal.throwIfAborted(); // ended by Ctrl-C or SIGTERM: 130, not success
    return { data: null, text: "" };
  }
  return { data: null, text: "", passThrough: { exitCode: await runCompileEngines(end.args) } };
}
