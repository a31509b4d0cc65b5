import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import {
  CLI_PATH,
  installFakeTrtexec,
  isProcessAlive,
  makeTempDir,
  type SshdFixture,
  startSshd,
  waitFor,
  writeJetsonRoot,
  writeOnnxModel,
} from "@operator-tool/test-helpers";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type CompanionConnection, connectToCompanion } from "./connection.js";
import { checkReadiness } from "./readiness.js";
import { CompanionSession, SessionRequestError, startSession } from "./session-client.js";
import { serveSession } from "./session-host.js";
import { SESSION_PROTOCOL } from "./session-protocol.js";
import { resolveTarget } from "./ssh-target.js";

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

async function connect(): Promise<CompanionConnection> {
  const target = await resolveTarget({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    sshConfigPath: "/nonexistent",
  });
  const connection = await connectToCompanion({
    target,
    knownHostsPath: knownHosts,
    agentSocket: "",
    connectTimeoutMs: 5_000,
  });
  open.push(connection);
  return connection;
}

/** An operator-tool from before the session: it refuses the command as commander does. */
function toolWithoutSession(): string {
  const path = join(temp.path, "old-operator-tool.sh");
  writeFileSync(
    path,
    `#!/bin/sh\ncase "$1" in\n  session) echo "error: unknown command 'session'" >&2; exit 2 ;;\n  *) exec ${remoteCommand} "$@" ;;\nesac\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe("the companion session over a real sshd", () => {
  it("its hello carries the facts the shell reports, and readiness judges both alike", async () => {
    const c = await connect();
    const cacheRoot = join(temp.path, "companion");
    const started = await startSession(c, { remoteCommand, cacheRoot, dryRun: false });
    expect(started.hello).toMatchObject({ protocol: SESSION_PROTOCOL, version: "0.1.0", writable: true });
    started.session!.close();
    const shell = await c.run(`uname -m; df -Pk ${cacheRoot} | awk 'NR==2 {print $4}'`);
    const [arch, availKb] = shell.stdout.trim().split("\n");
    expect(started.hello!.arch).toBe(arch);
    // Other tests write to the same filesystem meanwhile: within 1 GiB.
    expect(Math.abs(started.hello!.availKb! - Number(availKb))).toBeLessThan(1024 * 1024);

    const options = { cacheRoot, requiredBytes: 1024, localVersion: "0.1.0" };
    const bySession = await checkReadiness(c, { ...options, remoteCommand });
    const byShell = await checkReadiness(c, { ...options, remoteCommand: toolWithoutSession() });
    const judged = (r: typeof bySession) =>
      r.checks.map((k) => [
        k.name,
        k.ok,
        k.name === "free-space" || k.name === "operator-tool" ? "" : k.observed,
      ]);
    expect(judged(bySession)).toEqual(judged(byShell));
    expect(bySession.checks[0]!.observed).toBe(`${remoteCommand} 0.1.0`);
    expect(byShell.checks[0]!.observed).toMatch(/old-operator-tool\.sh 0\.1\.0$/);
  });

  it("a dry run creates no cache root and judges the nearest directory above it", async () => {
    const c = await connect();
    const cacheRoot = join(temp.path, "not", "yet");
    const started = await startSession(c, { remoteCommand, cacheRoot, dryRun: true });
    started.session!.close();
    expect(started.hello!.writable).toBe(true);
    expect(existsSync(join(temp.path, "not"))).toBe(false);
  });

  it("an operator-tool without the session says no hello: readiness asks the shell, no session is kept", async () => {
    const c = await connect();
    const old = toolWithoutSession();
    const started = await startSession(c, { remoteCommand: old, cacheRoot: temp.path, dryRun: false });
    expect(started.hello).toBeUndefined();
    expect(started.noSessionReason).toContain("unknown command 'session'");
    const readiness = await checkReadiness(c, {
      remoteCommand: old,
      cacheRoot: temp.path,
      requiredBytes: 1,
      localVersion: "0.1.0",
      keepSession: true,
    });
    expect(readiness.session).toBeUndefined();
    expect(readiness.checks.every((k) => k.ok)).toBe(true);
  });

  it("answers listings in one process, refuses a bad request without ending, and ends when closed", async () => {
    const c = await connect();
    const tiles = join(temp.path, "tiles");
    mkdirSync(join(tiles, "17", "1"), { recursive: true });
    writeFileSync(join(tiles, "17", "1", "2.jpg"), "tile bytes");
    const models = join(temp.path, "models");
    mkdirSync(join(models, "m"), { recursive: true });
    writeFileSync(join(models, "m", "m.onnx"), "onnx");
    writeFileSync(join(models, "m", "m.onnx.partial.99"), "cut short by a kill");
    const marker = `session-${Date.now()}`;
    const started = await startSession(c, {
      remoteCommand,
      cacheRoot: join(temp.path, marker),
      dryRun: false,
    });
    const session = started.session!;

    const listing = JSON.parse(await session.listTiles(tiles)) as {
      files: Record<string, { sha256: string }>;
    };
    expect(listing.files["17/1/2.jpg"]!.sha256).toBe(createHash("sha256").update("tile bytes").digest("hex"));
    const pushed = await session.listPushed(models, ".push-manifest");
    expect(pushed.manifest).toEqual([]);
    expect(pushed.stat).toEqual([expect.stringMatching(/^4 \d+ \.\/m\/m\.onnx$/)]);
    expect(existsSync(join(models, "m", "m.onnx.partial.99"))).toBe(false);
    // The listing left the receiver's manifest behind: the next one hashes nothing.
    const manifest = JSON.parse(readFileSync(join(tiles, ".sync-manifest.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(Object.keys(manifest)).toEqual(["17/1/2.jpg"]);

    const refused = await session.request({ op: "list-tiles", root: "" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(SessionRequestError);
    expect(refused).toMatchObject({ code: "INVALID_ARGUMENT" });
    // Still answering after a refusal.
    expect(JSON.parse(await session.listTiles(tiles))).toEqual(listing);

    // The companion is this machine: its processes are visible here. `[-]` keeps pgrep from matching itself.
    const running = () =>
      spawnSync("pgrep", ["-f", "--", `[-]-cache-root ${join(temp.path, marker)}`], {
        encoding: "utf8",
      }).stdout.trim() !== "";
    expect(running()).toBe(true);
    session.close();
    expect(session.open).toBe(false);
    await waitFor(() => !running(), 30_000, "the session process exiting after stdin closed");
  });

  it("hands over to compile-engines: the secrets line sent with it is read, its report and exit status are the run's", async () => {
    const c = await connect();
    const started = await startSession(c, { remoteCommand, cacheRoot: temp.path, dryRun: false });
    const proc = await started.session!.handOver([
      "compile-engines",
      "--json",
      "--corpus",
      join(temp.path, "missing-corpus.json"),
    ]);
    expect(started.session!.open).toBe(false);
    proc.stdin.write(`${JSON.stringify({ token: "hand-over-Secret-42" })}\n`);
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => (stdout += d));
    proc.stderr.on("data", (d: Buffer) => (stderr += d));
    const status = await proc.exit;
    expect(status.code).toBe(2);
    expect(JSON.parse(stdout.trim().split("\n").at(-1)!)).toMatchObject({
      schema: "operator-tool/engine-report@1",
      outcome: "failure",
      error: { code: "CORPUS_INVALID" },
    });
    expect(stderr).toContain("missing-corpus.json");
    expect(`${stdout}${stderr}`).not.toContain("hand-over-Secret-42");
  });
});

describe("the workstation side (CompanionSession)", () => {
  it("an abort while a request waits ends the session and rejects with the abort's reason", async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let closed = false;
    let exited!: (status: { code: number | null; signal: string | null }) => void;
    const session = new CompanionSession({
      stdin,
      stdout,
      stderr,
      exit: new Promise((resolve) => {
        exited = resolve;
      }),
      signal: () => undefined,
      close: () => {
        closed = true;
        exited({ code: null, signal: null });
      },
    });
    const sent: string[] = [];
    stdin.on("data", (d: Buffer) => sent.push(d.toString()));
    const abort = new AbortController();
    const listing = session.listTiles("/slow", abort.signal);
    await waitFor(() => sent.join("").includes("list-tiles"), 30_000, "the request being sent");
    abort.abort(new Error("Ctrl-C"));
    await expect(listing).rejects.toThrow("Ctrl-C");
    expect(closed).toBe(true);
    expect(stdin.writableEnded).toBe(true);
    expect(session.open).toBe(false);
  });

  it("a listing line far larger than a chunk arrives whole", async () => {
    const stdout = new PassThrough();
    const session = new CompanionSession({
      stdin: new PassThrough(),
      stdout,
      stderr: new PassThrough(),
      exit: new Promise(() => undefined),
      signal: () => undefined,
      close: () => undefined,
    });
    const line = JSON.stringify({ ok: true, result: { files: {}, pad: "x".repeat(3 * 1024 * 1024) } });
    const answer = session.request({ op: "list-tiles", root: "/r" });
    for (let at = 0; at < line.length; at += 65_536) stdout.write(line.slice(at, at + 65_536));
    stdout.write("\n");
    expect(((await answer) as { pad: string }).pad).toHaveLength(3 * 1024 * 1024);
  });
});

describe("the companion side (serveSession)", () => {
  it("says hello first, reads the L4T line it is pointed at, and creates the cache root", async () => {
    const tegra = join(temp.path, "nv_tegra_release");
    writeFileSync(tegra, "# R36 (release), REVISION: 4.3, GCID: 1, BOARD: generic\nmore\n");
    const input = new PassThrough();
    const lines: string[] = [];
    const ended = serveSession({
      version: "9.9.9",
      cacheRoot: join(temp.path, "root"),
      dryRun: false,
      input,
      write: (text) => lines.push(text),
      tegraReleasePath: tegra,
    });
    input.end();
    expect(await ended).toEqual({ kind: "closed" });
    expect(JSON.parse(lines[0]!)).toMatchObject({
      protocol: SESSION_PROTOCOL,
      version: "9.9.9",
      tegra: "# R36 (release), REVISION: 4.3, GCID: 1, BOARD: generic",
      writable: true,
    });
    expect(existsSync(join(temp.path, "root"))).toBe(true);
  });

  it("runs no command but compile-engines", async () => {
    const input = new PassThrough();
    const lines: string[] = [];
    const ended = serveSession({
      version: "1.0.0",
      cacheRoot: temp.path,
      dryRun: true,
      input,
      write: (t) => lines.push(t),
    });
    input.write(`${JSON.stringify({ op: "compile-engines", args: ["tiles", "receive", "--root", "/"] })}\n`);
    input.end();
    expect(await ended).toEqual({ kind: "closed" });
    expect(JSON.parse(lines[1]!)).toMatchObject({ ok: false, error: { code: "INVALID_ARGUMENT" } });
  });

  it("closing stdin mid-build cancels compile-engines run by the session (the lifeline) and its trtexec", async () => {
    // A TensorRT companion whose trtexec never finishes a build.
    const realBin = join(temp.path, "real-bin");
    const fake = installFakeTrtexec(realBin);
    const bin = join(temp.path, "bin");
    mkdirSync(bin);
    const pidFile = join(temp.path, "trtexec.pid");
    writeFileSync(
      join(bin, "trtexec"),
      `#!/bin/sh\ncase "$1" in --help|--version) exec ${fake} "$@" ;; esac\necho $$ > ${pidFile}\nexec sleep 600\n`,
      { mode: 0o755 },
    );
    const root = join(temp.path, "jetson");
    writeJetsonRoot(root);
    writeOnnxModel(join(temp.path, "m.onnx"), { shape: [1, 3, 8, 8] });
    const corpus = join(temp.path, "corpus.json");
    writeFileSync(
      corpus,
      JSON.stringify({
        cacheRoot: join(temp.path, "engines"),
        backbones: [
          { modelName: "m", onnxPath: join(temp.path, "m.onnx"), inputName: "input", precision: "fp16" },
        ],
      }),
    );
    const child = spawn(process.execPath, [CLI_PATH, "session", "--cache-root", temp.path], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.stdout.resume();
    try {
      // The request and the secrets line in one write: what follows the request is compile-engines'.
      child.stdin.write(
        `${JSON.stringify({ op: "compile-engines", args: ["compile-engines", "--json", "--corpus", corpus, "--host-root", root] })}\n{}\n`,
      );
      await waitFor(
        () => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "",
        30_000,
        "trtexec starting",
      );
      const trtexecPid = Number(readFileSync(pidFile, "utf8"));
      child.stdin.end();
      expect(await exited, stderr).toBe(130);
      await waitFor(() => !isProcessAlive(trtexecPid), 30_000, "trtexec ending");
    } finally {
      child.kill("SIGKILL");
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, "utf8"));
        if (pid > 0 && isProcessAlive(pid)) process.kill(pid, "SIGKILL");
      }
    }
  });
});
