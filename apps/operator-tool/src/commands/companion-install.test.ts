import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runOperatorTool, type SshdFixture, startSshd } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let sshd: SshdFixture;
let temp: ReturnType<typeof makeTempDir>;

beforeAll(async () => {
  sshd = await startSshd();
  temp = makeTempDir("operator-tool-cli-install-");
  writeFileSync(join(temp.path, "known_hosts"), `${sshd.knownHostsLine}\n`);
});
afterAll(async () => {
  await sshd?.stop();
  temp?.cleanup();
});

/** An account with its own home and PATH, as a fresh companion account has. */
function companionAccount(name: string): { home: string; fakeBin: string } {
  const home = join(temp.path, name);
  const fakeBin = join(home, "fake-bin");
  mkdirSync(fakeBin, { recursive: true });
  sshd.setAccount({ home, path: `${fakeBin}:/usr/local/bin:/usr/bin:/bin` });
  return { home, fakeBin };
}

function install(...extra: string[]) {
  return runOperatorTool(
    [
      "companion",
      "install",
      "--companion-host",
      sshd.host,
      "--companion-port",
      String(sshd.port),
      "--companion-user",
      sshd.user,
      "--identity-file",
      sshd.identityFile,
      "--known-hosts",
      join(temp.path, "known_hosts"),
      "--ssh-config",
      "/nonexistent",
      "--staging-root",
      join(temp.path, "staging"),
      ...extra,
    ],
    { env: { SSH_AUTH_SOCK: undefined }, timeoutMs: 120_000 },
  );
}

describe("operator-tool companion install", () => {
  it("installs, reusing the companion's Node (>= 20.18); a second run sends nothing", async () => {
    const { home } = companionAccount("ready");
    const first = await install("--json");
    expect(first.exitCode, first.stderr).toBe(0);
    const result = JSON.parse(first.stdout);
    expect(result).toMatchObject({
      outcome: "installed",
      verifiedVersion: result.version,
      node: { source: "companion" },
    });
    expect(result.wrapper).toBe(join(home, ".local/bin/operator-tool"));

    const second = await install();
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/already installed .*: nothing sent/);
    expect(second.stdout).toContain("0 files sent (0 B)");
  });

  it("refuses glibc 2.27 with exit 30, naming why and the fix", async () => {
    const { fakeBin } = companionAccount("bionic");
    writeFileSync(join(fakeBin, "ldd"), "#!/bin/sh\necho 'ldd (Ubuntu GLIBC 2.27-3ubuntu1.6) 2.27'\n", {
      mode: 0o755,
    });
    const run = await install();
    expect(run.exitCode).toBe(30);
    expect(run.firstErrorLine).toMatch(/^error: .*glibc 2\.27.*need glibc 2\.28 or later — JetPack 4\.x/);
  });

  it("refuses a prefix it cannot write with exit 30 and the fix", async () => {
    const { home } = companionAccount("blocked");
    mkdirSync(join(home, ".local"), { recursive: true });
    writeFileSync(join(home, ".local/share"), "a file where a directory must be\n");
    const run = await install();
    expect(run.exitCode).toBe(30);
    expect(run.firstErrorLine).toContain(`cannot write to ${join(home, ".local/share/operator-tool")}`);
    expect(run.firstErrorLine).toMatch(/pass --prefix/);
  });
});
