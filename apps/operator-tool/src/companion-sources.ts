import { fileURLToPath } from "node:url";

/**
 * The built companion entry point (bundled with esbuild here), or, in the
 * packed tool, the bundle made when it was packed: it sits beside the chunk
 * this module was bundled into.
 */
export function companionSources(): { companionEntry: string; prebuiltScriptDir: string } {
  return {
    companionEntry: fileURLToPath(new URL("./companion-main.js", import.meta.url)),
    prebuiltScriptDir: fileURLToPath(new URL("./companion/", import.meta.url)),
  };
}
