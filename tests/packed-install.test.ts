import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, REPO_ROOT, type SshdFixture, startSshd } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, "apps/operator-tool/package.json"), "utf8")) as { version: string }
).version;

let temp: ReturnType<typeof makeTempDir>;
let sshd: SshdFixture;
let bin: string;

beforeAll(async () => {
  temp = makeTempDir("operator-tool-packed-");
  sshd = await startSshd();
  const tarball = execFileSync(
    process.execPath,
    [join(REPO_ROOT, "apps/operator-tool/scripts/pack.mjs"), "--out", temp.path],
    {
      encoding: "utf8",
    },
  ).trim();
  expect(tarball).toBe(join(temp.path, `operator-tool-${VERSION}.tgz`));
  // As the operator guide says; npm fetches ssh2 and onnxruntime-node, nothing of the workspace.
  execFileSync(
    "npm",
    [
      "install",
      "-g",
      "--prefix",
      join(temp.path, "prefix"),
      tarball,
      "--onnxruntime-node-install=skip",
      "--no-audit",
      "--no-fund",
    ],
    { stdio: "ignore", env: { ...process.env, npm_config_loglevel: "error" } },
  );
  bin = join(temp.path, "prefix", "bin", "operator-tool");
}, 300_000);
afterAll(async () => {
  await sshd?.stop();
  temp?.cleanup();
});

describe("the packed workstation tool, installed with npm install -g", () => {
  it("puts operator-tool on the prefix's PATH, answering --version and --help outside the repository", () => {
    const version = spawnSync(bin, ["--version"], { cwd: temp.path, encoding: "utf8" });
    expect(version.stdout.trim()).toBe(VERSION);
    const help = spawnSync(bin, ["companion", "--help"], { cwd: temp.path, encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("install");
    const flight = spawnSync(
      bin,
      ["flights", "show", "--flight-file", join(REPO_ROOT, "examples/flights/kyiv-survey.json"), "--json"],
      {
        cwd: temp.path,
        encoding: "utf8",
      },
    );
    expect(flight.status, flight.stderr).toBe(0);
    expect(JSON.parse(flight.stdout)).toMatchObject({ flight: { id: "F-2024-0042" } });
  });

  it("installs the companion from its prebuilt bundle (no esbuild, no workspace)", () => {
    const home = join(temp.path, "companion");
    mkdirSync(home, { recursive: true });
    sshd.setAccount({ home, path: "/usr/bin:/bin" });
    writeFileSync(join(temp.path, "known_hosts"), `${sshd.knownHostsLine}\n`);
    const install = spawnSync(
      bin,
      [
        "companion",
        "install",
        "--companion-host",
        sshd.host,
        "--companion-port",
        String(sshd.port),
        "--identity-file",
        sshd.identityFile,
        "--known-hosts",
        join(temp.path, "known_hosts"),
        "--ssh-config",
        "/nonexistent",
        "--staging-root",
        join(temp.path, "staging"),
        "--json",
      ],
      { cwd: temp.path, encoding: "utf8", env: { PATH: process.env.PATH, HOME: temp.path } },
    );
    expect(install.status, install.stderr).toBe(0);
    expect(JSON.parse(install.stdout)).toMatchObject({ outcome: "installed", verifiedVersion: VERSION });
    const installed = spawnSync(join(home, ".local/bin/operator-tool"), ["--version"], { encoding: "utf8" });
    expect(installed.stdout.trim()).toBe(VERSION);
  });
});
