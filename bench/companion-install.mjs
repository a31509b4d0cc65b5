#!/usr/bin/env node
// `operator-tool companion install` over loopback sshd, as an operator runs it
// (the built CLI, connection included): a fresh install onto an empty
// companion account whose Node is too old (so the runtime ships too), with an
// empty workstation cache; then the no-op re-install. And the size of the
// Jetson's (arm64) bundle without the runtime.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareCompanionBundle } from "@operator-tool/companion-installer";
import { CLI_PATH, REPO_ROOT, startSshd } from "@operator-tool/test-helpers";

const work = mkdtempSync(join(tmpdir(), "bench-install-"));
const sshd = await startSshd();
try {
  const home = join(work, "companion");
  const fakeBin = join(home, "fake-bin");
  mkdirSync(fakeBin, { recursive: true });
  writeFileSync(join(fakeBin, "node"), "#!/bin/sh\necho v18.19.1\n", { mode: 0o755 });
  sshd.setAccount({ home, path: `${fakeBin}:/usr/bin:/bin` });
  writeFileSync(join(work, "known_hosts"), `${sshd.knownHostsLine}\n`);
  const install = () => {
    const start = performance.now();
    const run = spawnSync(
      process.execPath,
      [
        CLI_PATH,
        "companion",
        "install",
        "--companion-host",
        "127.0.0.1",
        "--companion-port",
        String(sshd.port),
        "--identity-file",
        sshd.identityFile,
        "--known-hosts",
        join(work, "known_hosts"),
        "--ssh-config",
        "/nonexistent",
        "--staging-root",
        join(work, "staging"),
        "--json",
      ],
      { encoding: "utf8", env: { PATH: process.env.PATH, HOME: process.env.HOME } },
    );
    const seconds = (performance.now() - start) / 1000;
    if (run.status !== 0) throw new Error(`companion install exited ${run.status}: ${run.stderr}`);
    return { seconds, result: JSON.parse(run.stdout) };
  };
  const fresh = install();
  const noop = install();
  if (noop.result.outcome !== "unchanged" || noop.result.transfer.bytesSent !== 0)
    throw new Error(`the re-install was not a no-op: ${JSON.stringify(noop.result.transfer)}`);
  const size = async (arch) =>
    (
      await prepareCompanionBundle({
        stagingRoot: join(work, "staging"),
        version: fresh.result.version,
        arch,
        companionEntry: join(REPO_ROOT, "apps/operator-tool/dist/companion-main.js"),
      })
    ).bytes /
    1024 /
    1024;
  const arm64 = await size("arm64");
  const x64 = await size("x64");
  console.log(
    `  fresh: ${fresh.result.transfer.sent} files, ${(fresh.result.transfer.bytesSent / 1024 / 1024).toFixed(1)} MiB sent (runtime included); x64 bundle without runtime ${x64.toFixed(1)} MiB`,
  );
  console.log(
    `companion-install: fresh ${fresh.seconds.toFixed(2)} s, no-op ${noop.seconds.toFixed(2)} s, bundle ${arm64.toFixed(1)} MiB`,
  );
  if (noop.seconds >= 1.5 || arm64 >= 40) process.exitCode = 1;
} finally {
  await sshd.stop();
  rmSync(work, { recursive: true, force: true });
}
