#!/usr/bin/env node
// Runs every benchmark under bench/ in turn; each prints its own `name: ratio=…` line.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const only = process.argv.slice(2);
let failed = 0;
for (const file of readdirSync(dir).sort()) {
  if (!file.endsWith(".mjs") || file === "run-all.mjs") continue;
  if (only.length > 0 && !only.some((name) => file.startsWith(name))) continue;
  console.log(`\n== ${file}`);
  const result = spawnSync(process.execPath, [`${dir}${file}`], { stdio: "inherit" });
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
