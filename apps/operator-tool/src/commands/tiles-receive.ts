import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";

export interface TilesReceiveOptions {
  root: string;
  list?: boolean;
}

/**
 * Companion side of the tile sync (run by the workstation over SSH): `--list`
 * prints what is here with digests; otherwise files stream in on stdin and
 * each is verified and written atomically.
 */
export async function tilesReceive(
  ctx: CommandContext,
  options: TilesReceiveOptions,
): Promise<CommandResult> {
  const { listReceivedFiles, receiveFiles } = await import("@operator-tool/companion-bringup");
  if (options.list) {
    const files = listReceivedFiles(options.root);
    return { exitCode: 0, data: { files }, text: JSON.stringify({ files }) };
  }
  const result = await receiveFiles(options.root, process.stdin);
  ctx.logger.debug(result, "tiles received");
  return { exitCode: 0, data: result, text: JSON.stringify(result) };
}
