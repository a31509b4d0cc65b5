#!/usr/bin/env node
// Runs every benchmark under bench/ in turn; each prints its own `name: ratio=…` line.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const only = process.argv.slice(2);
// These create tens of thousands of files. Where ext4 runs without a journal
// (the VMs we measure on), allocating an inode skips every inode freed in the
// last 60 s (300 s more while the inode table is dirty; fs/ext4/ialloc.c,
// recently_deleted), and scanning past tens of thousands of them made file
// creation right after the previous bench's cleanup several times slower, for
// whichever tool happened to run first. So they start after a sync and once
// that window has passed.
const CREATES_MANY_FILES = new Set(["tile-sync.mjs", "tiles-wan.mjs", "tiles.mjs"]);
const INODE_REUSE_WINDOW_MS = 61_000;
let failed = 0;
let ranOne = false;
for (const file of readdirSync(dir).sort()) {
  if (!file.endsWith(".mjs") || file === "run-all.mjs") continue;
  if (only.length > 0 && !only.some((name) => file.startsWith(name))) continue;
  if (ranOne && CREATES_MANY_FILES.has(file)) {
    spawnSync("sync");
    await new Promise((resolve) => setTimeout(resolve, INODE_REUSE_WINDOW_MS));
  }
  ranOne = true;
  console.log(`\n== ${file}`);
  const result = spawnSync(process.execPath, [`${dir}${file}`], { stdio: "inherit" });
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
