import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type CompanionConnection,
  connectToCompanion,
  resolveTarget,
} from "@operator-tool/companion-bringup";
import { InterruptedError } from "@operator-tool/errors";
import {
  CLI_PATH,
  isProcessAlive,
  makeTempDir,
  type SshdFixture,
  startSshd,
  waitFor,
  writeOnnxModel,
} from "@operator-tool/test-helpers";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { invokeProvisioner } from "./invoke-provisioner.js";
import { LineSplitter } from "./line-splitter.js";

const SECRET = "s3cr3t-Tok-9QzX";
const API_KEY = "k3y-Ap1-77aa";
let sshd: SshdFixture;
let temp: ReturnType<typeof makeTempDir>;
let connection: CompanionConnection;
let logged: string[];
let streamed: Array<{ stream: "stdout" | "stderr"; line: string }>;

beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd.stop();
});
beforeEach(async () => {
  temp = makeTempDir();
  writeFileSync(join(temp.path, "known_hosts"), `${sshd.knownHostsLine}\n`);
  const target = await resolveTarget({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    sshConfigPath: "/x",
  });
  connection = await connectToCompanion({
    target,
    knownHostsPath: join(temp.path, "known_hosts"),
    agentSocket: "",
  });
  logged = [];
  streamed = [];
});
afterEach(() => {
  connection.close();
  temp.cleanup();
});

const redact = (text: string) => text.replaceAll(SECRET, "<redacted>").replaceAll(API_KEY, "<redacted>");

function invoke(command: string, signal?: AbortSignal) {
  return invokeProvisioner({
    exec: (cmd) => connection.exec(cmd),
    command,
    secrets: { flightsApiToken: SECRET, apiKey: API_KEY },
    redact,
    logger: { debug: (fields, message) => logged.push(`${JSON.stringify(fields)} ${message}`) },
    onLine: (stream, line) => streamed.push({ stream, line }),
    ...(signal === undefined ? {} : { signal }),
    cancelGraceMs: 2_000,
  });
}

async function failure(promise: Promise<unknown>) {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as (Error & { code: string; tail: string[] }) | undefined;
  expect(error, "expected a failure").toBeDefined();
  return error!;
}

function expectNoSecret(...texts: string[]) {
  for (const text of [...texts, ...logged]) {
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(API_KEY);
  }
}

describe("invokeProvisioner over a real sshd", () => {
  it("contract: the real `compile-engines --json` report parses with the invoker's schema", async () => {
    writeOnnxModel(join(temp.path, "dinov2_vpr.onnx"), { shape: [1, 3, 8, 8] });
    writeFileSync(
      join(temp.path, "corpus.json"),
      JSON.stringify({
        cacheRoot: "engines",
        backbones: [
          {
            modelName: "dinov2_vpr",
            onnxPath: "dinov2_vpr.onnx",
            inputName: "input",
            inputShape: [1, 3, 8, 8],
          },
        ],
      }),
    );
    const command = `${process.execPath} ${CLI_PATH} compile-engines --json --corpus ${join(temp.path, "corpus.json")} --backend onnxruntime`;
    const first = await invoke(command);
    expect(first.report).toMatchObject({ outcome: "success", summary: { built: 1, reused: 0, failed: 0 } });
    // One JSON document on stdout; the build's progress comes as log records on stderr, line by line.
    expect(first.stdoutLines).toBe(1);
    const records = streamed
      .filter((l) => l.stream === "stderr")
      .map((l) => JSON.parse(l.line) as { event?: string; model?: string; phase?: string });
    expect(records.filter((r) => r.event === "engine-build").map((r) => [r.model, r.phase])).toEqual([
      ["dinov2_vpr", "started"],
      ["dinov2_vpr", "done"],
    ]);
    const second = await invoke(command);
    expect(second.report.results[0]).toMatchObject({
      modelName: "dinov2_vpr",
      outcome: "reused",
      compileDurationS: null,
    });
    const dry = await invoke(`${command} --dry-run`);
    expect(dry.report.results[0]!.outcome).toBe("would-reuse");
    expect(command).not.toContain(SECRET);
  });

  it("secrets go on stdin only; every line is redacted, even a secret split across writes", async () => {
    const script = `read -r line; echo "got: $line"; printf 'tok=${SECRET.slice(0, 5)}'; sleep 0.2; printf '${SECRET.slice(5)}\\n'; echo "env: $(env | grep -c ${SECRET})" >&2; echo '{"schema":"nope"}'`;
    const error = await failure(invoke(`sh -c '${script.replaceAll("'", "'\\''")}'`));
    expect(error.code).toBe("REMOTE_REPORT_INVALID");
    expect(logged.some((l) => l.includes("tok=<redacted>"))).toBe(true);
    expect(logged.some((l) => l.includes('"flightsApiToken":"<redacted>"'))).toBe(true);
    expect(logged.some((l) => l.includes("env: 0"))).toBe(true);
    expectNoSecret(error.message, error.tail.join("\n"));
  });

  it("a malformed or missing report: REMOTE_REPORT_INVALID (22) with the redacted tail", async () => {
    const garbage = await failure(invoke(`echo working ${SECRET}; echo not-json`));
    expect(garbage.code).toBe("REMOTE_REPORT_INVALID");
    expect(garbage.message).toContain("its last stdout line is not JSON");
    expect(garbage.message).toContain("working <redacted>");
    const empty = await failure(invoke("true"));
    expect(empty.message).toContain("printed no report");
    expectNoSecret(garbage.message, empty.message);
  });

  it("a non-zero exit: REMOTE_BUILD_FAILED (21)", async () => {
    const error = await failure(invoke("echo building >&2; exit 3"));
    expect(error.code).toBe("REMOTE_BUILD_FAILED");
    expect(error.message).toBe("the remote engine build exited 3");
    expect(error.tail).toContain("[stderr] building");
  });

  it("a remote process killed by a signal: 21", async () => {
    const error = await failure(invoke("kill -9 $$"));
    expect(error.code).toBe("REMOTE_BUILD_FAILED");
    expect(error.message).toContain("was killed by SIGKILL");
  });

  it("sshd killed mid-run: 21, connection lost", async () => {
    const victim = await startSshd();
    try {
      writeFileSync(join(temp.path, "kh2"), `${victim.knownHostsLine}\n`);
      const target = await resolveTarget({
        host: victim.host,
        port: victim.port,
        user: victim.user,
        identityFile: victim.identityFile,
        sshConfigPath: "/x",
      });
      const c = await connectToCompanion({
        target,
        knownHostsPath: join(temp.path, "kh2"),
        agentSocket: "",
        keepaliveIntervalMs: 500,
        keepaliveCountMax: 2,
      });
      let started = false;
      const running = invokeProvisioner({
        exec: (cmd) => c.exec(cmd),
        command: "echo started; sleep 60",
        secrets: {},
        redact,
        logger: {
          debug: (_fields, line) => {
            if (line === "started") started = true;
          },
        },
      });
      await waitFor(() => started, 30_000, "the remote command to start");
      victim.kill();
      const error = await failure(running);
      expect(error.code).toBe("REMOTE_BUILD_FAILED");
      expect(error.message).toMatch(
        /without an exit status \(the connection to the companion was lost\?\)|killed/,
      );
      c.close();
    } finally {
      await victim.stop();
    }
  });

  it("Ctrl-C: the remote is signalled, its lifeline cut, and it is gone", async () => {
    const pidFile = join(temp.path, "remote.pid");
    const controller = new AbortController();
    const running = invoke(
      `echo $$ > ${pidFile}; while read -r line; do :; done; echo lifeline-closed >&2`,
      controller.signal,
    );
    // The pid file is written over sshd by a shell the remote side starts: on a busy machine, seconds.
    await waitFor(
      () => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"),
      30_000,
      "the pid file",
    );
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(isProcessAlive(pid)).toBe(true);
    controller.abort(new InterruptedError("SIGINT"));
    await expect(running).rejects.toThrow("interrupted by SIGINT");
    await waitFor(() => !isProcessAlive(pid), 30_000, `the remote process ${pid} to end`);
  });
});

describe("LineSplitter", () => {
  it("keeps memory bounded: a line without end is cut, the next line survives", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((l) => lines.push(l), 1024);
    for (let i = 0; i < 100; i++) splitter.push("x".repeat(1000));
    splitter.push("\nnext\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/…\[line cut at 1024 bytes\]$/);
    expect(lines[0]!.length).toBeLessThan(1100);
    expect(lines[1]).toBe("next");
  });

  it("a character split across chunks arrives whole; a secret split across them is still redacted", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(
      (l) => lines.push(l),
      1024,
      (block) => block.replaceAll("s3cr3t", "***"),
    );
    const text = Buffer.from("layer — one s3cr3t\nzweite Zeile ü\r\nlast —");
    // Every split point, the middle of each multi-byte character included.
    for (let at = 1; at < text.length; at++) {
      lines.length = 0;
      splitter.push(text.subarray(0, at));
      splitter.push(text.subarray(at));
      splitter.end();
      expect(lines, `split at byte ${at}`).toEqual(["layer — one ***", "zweite Zeile ü", "last —"]);
    }
  });

  it("cuts an over-long line on a character boundary", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((l) => lines.push(l), 10);
    splitter.push(Buffer.from("abcdefghi—xyz and more"));
    splitter.push(Buffer.from(" still more\nok\n"));
    expect(lines).toEqual(["abcdefghi …[line cut at 10 bytes]", "ok"]);
  });
});
