#!/usr/bin/env node
// 10 000 tiles (~200 MB) to the companion: our sync (listing, one verified
// stream into `tiles receive`, atomic writes) against
// `tar -cf - | ssh host tar -xf -` on the same sshd, into fresh directories.
// Then the no-op re-sync: nothing new, so no tile data may cross.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectToCompanion, resolveTarget, syncTiles } from "@operator-tool/companion-bringup";
import { CLI_PATH, makePng, ssh2NativeCrypto, startSshd } from "@operator-tool/test-helpers";

const COUNT = Number(process.env.BENCH_TILES ?? 10_000);
const work = mkdtempSync(join(tmpdir(), "bench-sync-"));
const sshd = await startSshd();
try {
  const local = join(work, "local");
  const files = [];
  for (let i = 0; i < COUNT; i++) {
    const path = `17/${70000 + Math.floor(i / 100)}/${40000 + (i % 100)}.png`;
    const body = makePng(path, 20_000);
    mkdirSync(join(local, "17", String(70000 + Math.floor(i / 100))), { recursive: true });
    writeFileSync(join(local, path), body);
    files.push({ path, bytes: body.length, sha256: createHash("sha256").update(body).digest("hex") });
  }
  const totalMb = files.reduce((n, f) => n + f.bytes, 0) / 1024 / 1024;
  writeFileSync(join(work, "known_hosts"), `${sshd.knownHostsLine}\n`);
  const target = await resolveTarget({
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    sshConfigPath: "/nonexistent",
  });

  const peer = (dest) =>
    new Promise((resolve, reject) => {
      const start = performance.now();
      const tar = spawn(
        "sh",
        [
          "-c",
          `tar -C ${local} -cf - 17 | ssh -q -o BatchMode=yes -o UserKnownHostsFile=${join(work, "known_hosts")} -i ${sshd.identityFile} -p ${sshd.port} ${sshd.user}@127.0.0.1 'mkdir -p ${dest} && tar -C ${dest} -xf -'`,
        ],
        { stdio: "inherit" },
      );
      tar.on("exit", (code) =>
        code === 0 ? resolve(performance.now() - start) : reject(new Error(`tar|ssh exited ${code}`)),
      );
    });
  const ours = async (dest) => {
    const start = performance.now();
    const connection = await connectToCompanion({
      target,
      knownHostsPath: join(work, "known_hosts"),
      agentSocket: "",
    });
    const result = await syncTiles({
      connection,
      remoteCommand: `${process.execPath} ${CLI_PATH}`,
      localRoot: local,
      remoteRoot: dest,
      files,
    });
    connection.close();
    return { ms: performance.now() - start, result };
  };

  // Alternating rounds, best of each: file creation here swings with the
  // kernel's background writeback, and alternation spreads that over both.
  const peerRuns = [];
  const ourRuns = [];
  // Each timed run starts with nothing dirty in the page cache: tar never
  // syncs, so otherwise the next run would pay for writing tar's files out.
  for (let round = 1; round <= 3; round++) {
    spawnSync("sync");
    peerRuns.push(await peer(join(work, `tar-${round}`)));
    spawnSync("sync");
    ourRuns.push(await ours(join(work, `ours-${round}`)));
  }
  const noop = await ours(join(work, "ours-3"));
  if (noop.result.sent !== 0) throw new Error(`the no-op re-sync sent ${noop.result.sent} files`);
  const oursMs = Math.min(...ourRuns.map((r) => r.ms));
  const peerMs = Math.min(...peerRuns);
  console.log(
    `tile-sync: ${COUNT} tiles, ${totalMb.toFixed(0)} MiB; ours ${ourRuns.map((r) => r.ms.toFixed(0)).join("/")} ms, tar|ssh ${peerRuns.map((ms) => ms.toFixed(0)).join("/")} ms; ours verifies every sha256 and makes every file durable before renaming it, tar does neither; ssh2 native crypto ${ssh2NativeCrypto() ? "built" : "not built (Node's crypto)"}`,
  );
  console.log(
    `tile-sync-noop: ${noop.ms.toFixed(0)} ms to find nothing to send (${noop.result.skipped} tiles listed, 0 bytes sent)`,
  );
  console.log(
    `tile-sync: ratio=${(oursMs / peerMs).toFixed(2)} (ours ${oursMs.toFixed(0)} ms, tar|ssh ${peerMs.toFixed(0)} ms)`,
  );
} finally {
  await sshd.stop();
  rmSync(work, { recursive: true, force: true });
}
