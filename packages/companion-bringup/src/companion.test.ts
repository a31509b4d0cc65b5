import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_PATH, makeTempDir, type SshdFixture, startSshd } from "@operator-tool/test-helpers";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type CompanionConnection, connectToCompanion } from "./connection.js";
import { fingerprint, recordHostKey, verifyHostKey } from "./known-hosts.js";
import { checkReadiness } from "./readiness.js";
import { shellQuote } from "./shell-quote.js";
import { resolveTarget } from "./ssh-target.js";
import { type SyncFile, syncTiles } from "./tile-sync.js";

let sshd: SshdFixture;
let temp: ReturnType<typeof makeTempDir>;
let knownHosts: string;
const open: CompanionConnection[] = [];
const remoteCommand = `${process.execPath} ${CLI_PATH}`;

beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd.stop();
});
beforeEach(() => {
  temp = makeTempDir();
  knownHosts = join(temp.path, "known_hosts");
  writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
  temp.cleanup();
});

async function connect(
  overrides: Partial<Parameters<typeof connectToCompanion>[0]> = {},
  identityFile = sshd.identityFile,
) {
  const target = await resolveTarget({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile,
    sshConfigPath: "/nonexistent",
  });
  const connection = await connectToCompanion({
    target,
    knownHostsPath: knownHosts,
    agentSocket: "",
    connectTimeoutMs: 5_000,
    ...overrides,
  });
  open.push(connection);
  return connection;
}

/** Resolves once `path` exists; fails the test after a deadline generous enough for a loaded machine. */
async function waitForFile(path: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function failure(promise: Promise<unknown>) {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as
    | (Error & { code: string; hint?: string; presentedFingerprint?: string; knownFingerprints?: string[] })
    | undefined;
  expect(error, "expected a failure").toBeDefined();
  return error!;
}

describe("connecting to a real sshd", () => {
  it("authenticates with a key and runs commands", async () => {
    const c = await connect();
    const result = await c.run("echo hello; echo oops >&2; exit 3");
    expect(result).toMatchObject({ code: 3, stdout: "hello\n", stderr: "oops\n" });
    expect(c.hostKeyFingerprint).toBe(fingerprint(Buffer.from(sshd.hostKeyBase64, "base64")));
  });

  it("authenticates through ssh-agent", async () => {
    const socket = join(temp.path, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    try {
      for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
      execFileSync("ssh-add", [sshd.identityFile], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
        stdio: "ignore",
      });
      const target = await resolveTarget({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        sshConfigPath: "/nonexistent",
      });
      const c = await connectToCompanion({ target, knownHostsPath: knownHosts, agentSocket: socket });
      open.push(c);
      expect((await c.run("echo agent")).stdout).toBe("agent\n");
    } finally {
      agent.kill();
    }
  });

  it("a command on a connection that has dropped is COMPANION_UNREACHABLE (30), not a crash", async () => {
    const c = await connect();
    c.close();
    await c.closed;
    const error = await failure(c.exec("true"));
    expect(error).toMatchObject({ code: "COMPANION_UNREACHABLE", hint: expect.stringContaining("dropped") });
  });

  it("a key the companion does not accept: COMPANION_AUTH_FAILED (30)", async () => {
    const error = await failure(connect({}, sshd.wrongIdentityFile));
    expect(error.code).toBe("COMPANION_AUTH_FAILED");
    expect(error.message).toContain("rejected every key offered");
  });

  it("an unknown host is refused (31) and nothing is recorded", async () => {
    writeFileSync(knownHosts, "");
    const error = await failure(connect());
    expect(error.code).toBe("HOST_KEY_REJECTED");
    expect(error.message).toMatch(
      /\(SHA256:[A-Za-z0-9+/]{43}\) is not in .*known_hosts; refusing to connect/,
    );
    expect(readFileSync(knownHosts, "utf8")).toBe("");
  });

  it("--accept-new-host-key records a hashed entry, then reconnects without it", async () => {
    writeFileSync(knownHosts, "");
    await connect({ acceptNewHostKey: true });
    const text = readFileSync(knownHosts, "utf8");
    expect(text).toMatch(/^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 /);
    expect(text).not.toContain("127.0.0.1");
    // OpenSSH itself accepts what we wrote.
    execFileSync("ssh-keygen", ["-F", `[127.0.0.1]:${sshd.port}`, "-f", knownHosts], { stdio: "ignore" });
    const again = await connect();
    expect((await again.run("true")).code).toBe(0);
  });

  it("a hashed entry written by ssh-keygen -H verifies", async () => {
    execFileSync("ssh-keygen", ["-H", "-f", knownHosts], { stdio: "ignore" });
    expect(readFileSync(knownHosts, "utf8")).toMatch(/^\|1\|/);
    expect((await (await connect()).run("true")).code).toBe(0);
  });

  it("a changed host key is always refused, with both fingerprints, even with --accept-new-host-key", async () => {
    const oldFingerprint = fingerprint(Buffer.from(sshd.hostKeyBase64, "base64"));
    await sshd.rotateHostKey();
    try {
      const error = await failure(connect({ acceptNewHostKey: true }));
      const newFingerprint = fingerprint(Buffer.from(sshd.hostKeyBase64, "base64"));
      expect(error.code).toBe("HOST_KEY_REJECTED");
      expect(error.message).toContain(`presented ${newFingerprint}`);
      expect(error.message).toContain(`expects ${oldFingerprint}`);
      expect(readFileSync(knownHosts, "utf8")).not.toContain(sshd.hostKeyBase64);
    } finally {
      writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
    }
  });

  it("@revoked keys are refused", async () => {
    writeFileSync(knownHosts, `${sshd.knownHostsLine}\n@revoked * ssh-ed25519 ${sshd.hostKeyBase64}\n`);
    const error = await failure(connect());
    expect(error.message).toContain("@revoked");
  });

  it("resolves an ~/.ssh/config alias (HostName, Port, User, IdentityFile)", async () => {
    const config = join(temp.path, "ssh_config");
    writeFileSync(
      config,
      `Host jetson-7\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ${sshd.identityFile}\n`,
    );
    const target = await resolveTarget({ host: "jetson-7", sshConfigPath: config });
    expect(target).toMatchObject({
      hostname: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      identityFiles: [sshd.identityFile],
    });
    const c = await connectToCompanion({ target, knownHostsPath: knownHosts, agentSocket: "" });
    open.push(c);
    expect((await c.run("echo via-alias")).stdout).toBe("via-alias\n");
  });

  it("connection refused and a silent port are COMPANION_UNREACHABLE", async () => {
    const { freePort } = await import("@operator-tool/test-helpers");
    const target = await resolveTarget({
      host: "127.0.0.1",
      port: await freePort(),
      user: "x",
      identityFile: sshd.identityFile,
      sshConfigPath: "/x",
    });
    const refused = await failure(
      connectToCompanion({ target, knownHostsPath: knownHosts, agentSocket: "" }),
    );
    expect(refused.code).toBe("COMPANION_UNREACHABLE");
    expect(refused.message).toContain("connection refused");
    const silent = (await import("node:net")).createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    const slow = await failure(
      connectToCompanion({
        target: { ...target, port },
        knownHostsPath: knownHosts,
        agentSocket: "",
        connectTimeoutMs: 500,
      }),
    );
    silent.close();
    expect(slow.code).toBe("COMPANION_UNREACHABLE");
    expect(slow.message).toMatch(/did not answer within 1 s|did not answer within 0 s/);
  });

  it("a passphrase-protected key needs the passphrase", async () => {
    const protectedSshd = await startSshd({ passphrase: "correct horse" });
    try {
      writeFileSync(knownHosts, `${protectedSshd.knownHostsLine}\n`);
      const target = await resolveTarget({
        host: "127.0.0.1",
        port: protectedSshd.port,
        user: protectedSshd.user,
        identityFile: protectedSshd.identityFile,
        sshConfigPath: "/x",
      });
      const missing = await failure(
        connectToCompanion({ target, knownHostsPath: knownHosts, agentSocket: "" }),
      );
      expect(missing.code).toBe("COMPANION_AUTH_FAILED");
      expect((missing as unknown as { hint: string }).hint).toContain("OPERATOR_TOOL_SSH_PASSPHRASE");
      const c = await connectToCompanion({
        target,
        knownHostsPath: knownHosts,
        agentSocket: "",
        passphrase: "correct horse",
      });
      open.push(c);
      expect((await c.run("true")).code).toBe(0);
    } finally {
      await protectedSshd.stop();
    }
  });
});

describe("known_hosts semantics", () => {
  const key = Buffer.concat([
    Buffer.from([0, 0, 0, 11]),
    Buffer.from("ssh-ed25519"),
    Buffer.from([0, 0, 0, 32]),
    Buffer.alloc(32, 7),
  ]);
  it("matches [host]:port, comma lists, wildcards and negation as OpenSSH does", async () => {
    const b64 = key.toString("base64");
    writeFileSync(
      knownHosts,
      `jetson-*,!jetson-bad ssh-ed25519 ${b64}\n[10.0.0.7]:2222 ssh-ed25519 ${b64}\n`,
    );
    expect(verifyHostKey(knownHosts, "jetson-7", 22, key).status).toBe("known");
    expect(verifyHostKey(knownHosts, "jetson-bad", 22, key).status).toBe("unknown");
    expect(verifyHostKey(knownHosts, "10.0.0.7", 2222, key).status).toBe("known");
    expect(verifyHostKey(knownHosts, "10.0.0.7", 22, key).status).toBe("unknown");
    await recordHostKey(knownHosts, "new-host", key);
    expect(verifyHostKey(knownHosts, "new-host", 22, key).status).toBe("known");
  });
});

describe("readiness checks", () => {
  it("all pass against a working companion", async () => {
    const c = await connect();
    const { checks, remoteCommand: used } = await checkReadiness(c, {
      remoteCommand,
      cacheRoot: join(temp.path, "companion"),
      requiredBytes: 1024,
      localVersion: "0.1.0",
    });
    expect(checks.map((k) => [k.name, k.ok])).toEqual([
      ["operator-tool", true],
      ["architecture", true],
      ["jetson", true],
      ["cache-root", true],
      ["free-space", true],
    ]);
    expect(checks.find((k) => k.name === "jetson")!.observed).toBe("not a Jetson (no /etc/nv_tegra_release)");
    expect(used).toBe(remoteCommand);
  });

  it("each failure names what was seen and the fix", async () => {
    const c = await connect();
    const file = join(temp.path, "a-file");
    writeFileSync(file, "x");
    const { checks } = await checkReadiness(c, {
      remoteCommand: "/nonexistent/operator-tool",
      cacheRoot: join(file, "sub"),
      requiredBytes: 1e18,
      localVersion: "0.1.0",
    });
    const byName = Object.fromEntries(checks.map((k) => [k.name, k]));
    expect(byName["operator-tool"]).toMatchObject({
      ok: false,
      fix: expect.stringContaining("run `operator-tool companion install`"),
    });
    expect(byName["cache-root"]).toMatchObject({ ok: false });
    expect(byName["free-space"]!.ok).toBe(false);
    const old = await checkReadiness(c, {
      remoteCommand: "echo 0.0.9; :",
      cacheRoot: join(temp.path, "c"),
      requiredBytes: 1,
      localVersion: "0.1.0",
    });
    expect(old.checks[0]).toMatchObject({
      ok: false,
      fix: expect.stringContaining("to put operator-tool 0.1.0 there (it has 0.0.9)"),
    });
  });

  it("without --remote-command, finds the wrapper companion install leaves in ~/.local/bin", async () => {
    const c = await connect();
    const home = join(temp.path, "installed-home");
    const wrapper = join(home, ".local", "bin", "operator-tool");
    mkdirSync(join(wrapper, ".."), { recursive: true });
    writeFileSync(wrapper, `#!/bin/sh\nexec ${remoteCommand} "$@"\n`, { mode: 0o755 });
    // The companion's PATH has no operator-tool; its HOME holds the installed wrapper.
    const env = `HOME=${home} PATH=/usr/bin:/bin`;
    const found = await checkReadiness(
      {
        ...c,
        exec: (command) => c.exec(`${env} ${command}`),
        run: (command, input) => c.run(`${env} ${command}`, input),
      },
      {
        remoteCommand: undefined,
        cacheRoot: join(temp.path, "c2"),
        requiredBytes: 1,
        localVersion: "0.1.0",
        keepSession: true,
      },
    );
    expect(found.remoteCommand).toBe(`'${wrapper}'`);
    expect(found.checks[0]).toMatchObject({ name: "operator-tool", ok: true });
    // The wrapper found is the one whose session answers the build's questions.
    expect(found.session?.open).toBe(true);
    found.session?.close();
  });
});

describe("tile sync over SSH into `tiles receive`", () => {
  function localTiles(count: number): { root: string; files: SyncFile[] } {
    const root = join(temp.path, "local");
    const files: SyncFile[] = [];
    for (let i = 0; i < count; i++) {
      const path = `17/${1000 + Math.floor(i / 50)}/${2000 + (i % 50)}.png`;
      const body = Buffer.from(`tile ${i} ${"x".repeat(2000 + i)}`);
      mkdirSync(join(root, path, ".."), { recursive: true });
      writeFileSync(join(root, path), body);
      files.push({ path, bytes: body.length, sha256: createHash("sha256").update(body).digest("hex") });
    }
    return { root, files };
  }

  /** A sync into `<temp>/companion` that must fail; its error. */
  function syncFailure(
    connection: CompanionConnection,
    root: string,
    files: SyncFile[],
    command = remoteCommand,
  ) {
    return failure(
      syncTiles({
        connection,
        remoteCommand: command,
        localRoot: root,
        remoteRoot: join(temp.path, "companion"),
        files,
      }),
    );
  }

  it("sends every file, verified; a second sync sends nothing", async () => {
    const c = await connect();
    const { root, files } = localTiles(300);
    const remoteRoot = join(temp.path, "companion", "tiles", "p");
    const first = await syncTiles({ connection: c, remoteCommand, localRoot: root, remoteRoot, files });
    expect(first).toMatchObject({ planned: 300, sent: 300, skipped: 0 });
    for (const f of files.slice(0, 20))
      expect(readFileSync(join(remoteRoot, f.path))).toEqual(readFileSync(join(root, f.path)));
    const second = await syncTiles({ connection: c, remoteCommand, localRoot: root, remoteRoot, files });
    expect(second).toMatchObject({ sent: 0, skipped: 300, bytesSent: 0 });
  });

  it("a companion operator-tool without `tiles receive --list-first` is a clear TILE_SYNC_FAILED, nothing sent", async () => {
    const c = await connect();
    const { root, files } = localTiles(5);
    // What an older commander-based CLI answers to an unknown option.
    const old = "sh -c 'echo \"error: unknown option --list-first\" >&2; exit 1' --";
    const error = await syncFailure(c, root, files, old);
    expect(error.code).toBe("TILE_SYNC_FAILED");
    expect(error.message).toBe(
      "listing the companion's tiles failed (exit 1): error: unknown option --list-first",
    );
    expect(error.hint).toMatch(/--list-first.*update it/);
  });

  it("a listing that is not what the sender expects is TILE_SYNC_FAILED naming the field, nothing sent", async () => {
    const c = await connect();
    const { root, files } = localTiles(3);
    const odd = `sh -c 'echo "{\\"files\\":{\\"17/1/2.png\\":{\\"sha256\\":42}}}"; cat >/dev/null' --`;
    const error = await syncFailure(c, root, files, odd);
    expect(error.code).toBe("TILE_SYNC_FAILED");
    expect(error.message).toMatch(
      /^the companion's tile listing is not what operator-tool expects: files\.17\/1\/2\.png\.sha256: .* \(got "/,
    );
    expect(existsSync(join(temp.path, "companion"))).toBe(false);
  });

  it("a local file whose size no longer matches the tileset stops the sync before it is sent", async () => {
    const c = await connect();
    const { root, files } = localTiles(5);
    writeFileSync(join(root, files[2]!.path), "truncated");
    const error = await syncFailure(c, root, files);
    expect(error.code).toBe("TILE_SYNC_FAILED");
    expect(error.message).toBe(
      `${files[2]!.path} in the local cache is 9 bytes, but the tileset says ${files[2]!.bytes}`,
    );
    expect(existsSync(join(temp.path, "companion", files[2]!.path))).toBe(false);
  });

  it("a file that changed locally is sent again; a corrupt one on the companion is replaced", async () => {
    const c = await connect();
    const { root, files } = localTiles(20);
    const remoteRoot = join(temp.path, "companion");
    await syncTiles({ connection: c, remoteCommand, localRoot: root, remoteRoot, files });
    writeFileSync(join(remoteRoot, files[3]!.path), "garbage");
    const again = await syncTiles({ connection: c, remoteCommand, localRoot: root, remoteRoot, files });
    expect(again.sent).toBe(1);
    expect(readFileSync(join(remoteRoot, files[3]!.path))).toEqual(readFileSync(join(root, files[3]!.path)));
  });

  it("a receiver that dies after its listing stops the sender at once: TILE_SYNC_FAILED, no hang", async () => {
    const c = await connect();
    // Megabytes more than the channel window and the sender's spare buffers hold.
    const { root, files } = localTiles(2500);
    const dies = `sh -c 'echo "{\\"files\\":{}}"; exit 3' --`;
    const error = await syncFailure(c, root, files, dies);
    expect(error.code).toBe("TILE_SYNC_FAILED");
    expect(error.message).toMatch(/^the companion's tile receiver failed after \d+ of 2500 files: exit 3$/);
  });

  it("a digest that does not match is refused by the receiver: TILE_SYNC_FAILED", async () => {
    const c = await connect();
    const { root, files } = localTiles(5);
    files[2]!.sha256 = "0".repeat(64);
    const error = await syncFailure(c, root, files);
    expect(error.code).toBe("TILE_SYNC_FAILED");
    expect(error.message).toMatch(/arrived with sha256 [0-9a-f]{64}, expected 0{64}; not written/);
    expect(existsSync(join(temp.path, "companion", files[2]!.path))).toBe(false);
  });

  it.each([
    [
      "cut inside a file",
      `{"path":"17/1/2.png","bytes":10,"sha256":"${"0".repeat(64)}"}\nabc`,
      "the sync stream ended 7 bytes short of 17/1/2.png: the connection was cut — re-run the sync: files received whole are kept and not sent again",
    ],
    [
      "that is not the sync protocol",
      "SSH-2.0-OpenSSH_9.6\r\n",
      'the sync stream is malformed: a frame header is not JSON ("SSH-2.0-OpenSSH_9.6\\r") — run the same operator-tool version on the workstation and the companion (--remote-command)',
    ],
  ])(
    "`tiles receive` given a stream %s exits with TILE_SYNC_FAILED's code and one line the sender can quote, no stack",
    async (_, input, line) => {
      const c = await connect();
      const root = join(temp.path, "companion");
      const result = await c.run(`${remoteCommand} tiles receive --root ${shellQuote(root)}`, input);
      expect(result.code).toBe(40);
      expect(result.stderr.trim().split("\n").at(-1)).toBe(`error: ${line}`);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    },
  );

  it("a sync cut midway resumes, sending only the rest", async () => {
    const c = await connect();
    const { root, files } = localTiles(400);
    const remoteRoot = join(temp.path, "companion");
    const controller = new AbortController();
    const cut = syncTiles({
      connection: c,
      remoteCommand,
      localRoot: root,
      remoteRoot,
      files,
      signal: controller.signal,
      onProgress: (sent) => {
        if (sent >= 150 && !controller.signal.aborted) controller.abort(new Error("cut"));
      },
    });
    await expect(cut).rejects.toThrow("cut");
    // The cut receiver commits what arrived whole, then writes its manifest and exits.
    await waitForFile(join(remoteRoot, ".sync-manifest.json"));
    const c2 = await connect();
    const resumed = await syncTiles({ connection: c2, remoteCommand, localRoot: root, remoteRoot, files });
    expect(resumed.skipped).toBeGreaterThan(0);
    expect(resumed.sent + resumed.skipped).toBe(400);
    expect(resumed.sent).toBeLessThan(400);
    for (const f of files) expect(readFileSync(join(remoteRoot, f.path)).length).toBe(f.bytes);
    rmSync(remoteRoot, { recursive: true, force: true });
  });
});
