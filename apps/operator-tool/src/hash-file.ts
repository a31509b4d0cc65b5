import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/** For small files (a tileset): digest in one read. */
export function sha256OfFileSync(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}
