#!/usr/bin/env node
// 10 000 tiles (~200 MB) to the companion: our sync (listing, one verified
// stream into `tiles receive`, atomic writes) against the peers an operator
// would pick, on the same sshd, into fresh directories: `rsync -a`,
// `rsync -a --fsync` (the durability ours has) and `tar -cf - | ssh host tar
// -xf -`. Then the no-op re-sync, ours against rsync's: nothing new, so no
// tile data may cross. The ratios compare ours with `rsync -a`.
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
  const sshCommand = `ssh -q -o BatchMode=yes -o UserKnownHostsFile=${join(work, "known_hosts")} -i ${sshd.identityFile} -p ${sshd.port}`;
  const rsync = (dest, extra) =>
    new Promise((resolve, reject) => {
      const start = performance.now();
      const child = spawn(
        "rsync",
        ["-a", ...extra, "-e", sshCommand, `${local}/17`, `${sshd.user}@127.0.0.1:${dest}/`],
        { stdio: "inherit" },
      );
      child.on("exit", (code) =>
        code === 0 ? resolve(performance.now() - start) : reject(new Error(`rsync exited ${code}`)),
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
  const rsyncRuns = [];
  const rsyncFsyncRuns = [];
  // Each timed run starts with nothing dirty in the page cache: tar never
  // syncs, so otherwise the next run would pay for writing tar's files out.
  for (let round = 1; round <= 3; round++) {
    spawnSync("sync");
    peerRuns.push(await peer(join(work, `tar-${round}`)));
    spawnSync("sync");
    ourRuns.push(await ours(join(work, `ours-${round}`)));
    spawnSync("sync");
    rsyncRuns.push(await rsync(join(work, `rsync-${round}`), []));
    spawnSync("sync");
    rsyncFsyncRuns.push(await rsync(join(work, `rsync-fsync-${round}`), ["--fsync"]));
    // Keep the last round's copies for the no-op runs; the rest only fill the disk.
    if (round < 3)
      for (const dir of [`tar-${round}`, `ours-${round}`, `rsync-${round}`, `rsync-fsync-${round}`])
        rmSync(join(work, dir), { recursive: true, force: true });
  }
  const noops = [];
  const rsyncNoops = [];
  for (let round = 1; round <= 3; round++) {
    noops.push(await ours(join(work, "ours-3")));
    rsyncNoops.push(await rsync(join(work, "rsync-3"), []));
  }
  for (const noop of noops)
    if (noop.result.sent !== 0) throw new Error(`the no-op re-sync sent ${noop.result.sent} files`);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const list = (xs) => xs.map((ms) => ms.toFixed(0)).join("/");
  const oursMs = median(ourRuns.map((r) => r.ms));
  const peerMs = median(peerRuns);
  const rsyncMs = median(rsyncRuns);
  const rsyncFsyncMs = median(rsyncFsyncRuns);
  const noopMs = median(noops.map((r) => r.ms));
  const rsyncNoopMs = median(rsyncNoops);
  const noop = noops[0];
  console.log(
    `tile-sync: ${COUNT} tiles, ${totalMb.toFixed(0)} MiB, medians of 3; ours ${list(ourRuns.map((r) => r.ms))} ms, rsync -a ${list(rsyncRuns)} ms, rsync -a --fsync ${list(rsyncFsyncRuns)} ms, tar|ssh ${list(peerRuns)} ms; ours verifies every sha256 and makes every file durable before renaming it (as --fsync does), rsync -a and tar do not; ssh2 native crypto ${ssh2NativeCrypto() ? "built" : "not built (Node's crypto)"}`,
  );
  console.log(
    `tile-sync: vs rsync -a --fsync ${(oursMs / rsyncFsyncMs).toFixed(2)}, vs tar|ssh ${(oursMs / peerMs).toFixed(2)}`,
  );
  console.log(
    `tile-sync-noop: ratio=${(noopMs / rsyncNoopMs).toFixed(2)} (ours ${list(noops.map((r) => r.ms))} ms, rsync -a ${list(rsyncNoops)} ms; ${noop.result.skipped} tiles listed, 0 bytes sent)`,
  );
  console.log(
    `tile-sync: ratio=${(oursMs / rsyncMs).toFixed(2)} (ours ${oursMs.toFixed(0)} ms, rsync -a ${rsyncMs.toFixed(0)} ms)`,
  );
} finally {
  await sshd.stop();
  rmSync(work, { recursive: true, force: true });
}
