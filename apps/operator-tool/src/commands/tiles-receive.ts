import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";

export interface TilesReceiveOptions {
  root: string;
  list?: boolean;
  listFirst?: boolean;
}

/**
 * Companion side of the tile sync (run by the workstation over SSH): `--list`
 * prints what is here with digests; otherwise files stream in on stdin and
 * each is verified and written atomically. `--list-first` does both in one
 * session: the listing goes out as the first stdout line, before any input
 * is read.
 */
export async function tilesReceive(
  ctx: CommandContext,
  options: TilesReceiveOptions,
): Promise<CommandResult> {
  const { listReceivedFiles, receiveFiles } = await import("@operator-tool/companion-bringup");
  if (options.list) {
    const files = listReceivedFiles(options.root);
    return { data: { files }, text: JSON.stringify({ files }) };
  }
  const onListing = options.listFirst
    ? (files: Record<string, unknown>) => {
        ctx.out(`${JSON.stringify({ files })}\n`);
      }
    : undefined;
  const result = await receiveFiles(options.root, 0, { onListing, signal: ctx.signal });
  ctx.logger.debug(result, "tiles received");
  return { data: result, text: JSON.stringify(result) };
}
