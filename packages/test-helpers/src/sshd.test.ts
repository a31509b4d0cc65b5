import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isProcessAlive } from "./loopback-world.js";
import { type SshdFixture, startSshd } from "./sshd.js";

let sshd: SshdFixture;
beforeAll(async () => {
  sshd = await startSshd({ hostKeyTypes: ["ecdsa", "ed25519"] });
});
afterAll(async () => {
  await sshd.stop();
});

/** The real ssh client against the fixture: the command, its stdin, its exit status and output. */
function ssh(command: string, input = ""): { status: number | null; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(
      "ssh",
      [
        "-F",
        "none",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-i",
        sshd.identityFile,
        "-p",
        String(sshd.port),
        `${sshd.user}@127.0.0.1`,
        command,
      ],
      { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], timeout: 30_000 },
    );
    return { status: 0, stdout, stderr: "" };
  } catch (error) {
    const e = error as { status: number | null; stdout: string; stderr: string };
    return { status: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

async function eventually(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the sshd fixture", () => {
  it("runs remote commands with /bin/sh, not the login shell: stdin, exit status and signals pass through", () => {
    expect(ssh('echo "$0"').stdout).toBe("/bin/sh\n");
    expect(ssh("printenv SSH_ORIGINAL_COMMAND || echo unset").stdout).toBe("unset\n");
    expect(ssh("cat", "through stdin\n").stdout).toBe("through stdin\n");
    expect(ssh("exit 7").status).toBe(7);
    expect(ssh("kill -TERM $$").status).toBe(255);
  });

  it("the login shell's start-up files stay out: bash skips ~/.bashrc at the SHLVL the fixture sets", () => {
    // What sshd runs before our ForceCommand: `$SHELL -c 'exec /bin/sh -c …'` with SSH_CLIENT set.
    // Debian's bash sources ~/.bashrc there unless it is a nested shell; the control run shows it would.
    const home = mkdtempSync(join(tmpdir(), "operator-tool-bashrc-"));
    try {
      writeFileSync(join(home, ".bashrc"), `echo sourced >> ${join(home, "marker")}\n`);
      const run = (extra: Record<string, string>) =>
        execFileSync("bash", ["-c", 'exec /bin/sh -c "echo ran"'], {
          env: { HOME: home, PATH: "/usr/bin:/bin", SSH_CLIENT: "127.0.0.1 1 22", ...extra },
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"],
        });
      expect(run({})).toBe("ran\n");
      expect(existsSync(join(home, "marker"))).toBe(true);
      rmSync(join(home, "marker"));
      expect(run({ SHLVL: "1" })).toBe("ran\n");
      expect(existsSync(join(home, "marker"))).toBe(false);
      expect(readFileSync(join(sshd.dir, "sshd_config"), "utf8")).toMatch(/^SetEnv .*\bSHLVL=1\b/m);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("serves each host key it was given, in order", () => {
    expect(sshd.hostKeys.map((k) => k.keyType)).toEqual(["ecdsa-sha2-nistp256", "ssh-ed25519"]);
    const scanned = execFileSync("ssh-keyscan", ["-p", String(sshd.port), "127.0.0.1"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    for (const key of sshd.hostKeys) expect(scanned).toContain(`${key.keyType} ${key.base64}`);
  });

  it("a process that starts an sshd and dies without stopping it, even by SIGKILL, leaves no sshd behind", async () => {
    for (const how of ["exit", "SIGKILL"] as const) {
      const script = `
        import { startSshd } from ${JSON.stringify(fileURLToPath(new URL("../dist/sshd.js", import.meta.url)))};
        const s = await startSshd();
        process.stdout.write(s.pid() + " " + s.dir + "\\n");
        ${how === "exit" ? "process.exit(0);" : "setInterval(() => {}, 1000);"}
      `;
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      await eventually(() => out.includes("\n") || child.exitCode !== null, "the child reported its sshd");
      const [pidText, dir] = out.split("\n")[0]!.split(" ");
      const pid = Number(pidText);
      expect(pid).toBeGreaterThan(0);
      if (how === "SIGKILL") {
        expect(isProcessAlive(pid)).toBe(true);
        child.kill("SIGKILL");
      }
      await eventually(() => !isProcessAlive(pid), `sshd ${pid} is gone after its starter's ${how}`);
      await eventually(() => !existsSync(dir!), `${dir} is removed after its starter's ${how}`);
    }
  });
});
