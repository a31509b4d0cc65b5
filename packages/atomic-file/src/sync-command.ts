import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

let found: string | undefined;

/**
 * Where `sync` lives (for `sync -f`, a syncfs of one filesystem), looked up
 * once: a PATH search per group costs several failed execs. Undefined when
 * there is none.
 */
export function syncCommand(): string | undefined {
  if (found === undefined) {
    const dirs = (process.env.PATH ?? "/usr/bin:/bin").split(delimiter).filter((d) => d !== "");
    found = dirs.map((d) => join(d, "sync")).find(executable) ?? "";
  }
  return found === "" ? undefined : found;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
