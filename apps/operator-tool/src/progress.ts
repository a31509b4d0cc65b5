import type { CommandContext, LogSink } from "./context.js";
import { LiveView, type TileProgress } from "./live-view.js";

/** `tiles download` on its own: a live tiles row on a terminal, else a progress record every few seconds. */
export function createProgressReporter(ctx: CommandContext, logger: LogSink = ctx.logger) {
  const view = new LiveView(ctx.terminal, logger);
  view.phase("tile-download", "running");
  view.start();
  return {
    update: (p: TileProgress) => view.tiles(p),
    finish: () => view.stop(),
  };
}
