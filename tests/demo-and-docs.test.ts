import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { CLI_PATH, REPO_ROOT, runOperatorTool, waitFor } from "@operator-tool/test-helpers";
import { describe, expect, it } from "vitest";

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const portsIn = (text: string) => [...text.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));

describe("operator-tool demo", () => {
  it("builds everything, then a no-op; prints where things are; leaves nothing running or behind", async () => {
    const run = await runOperatorTool(["demo"], { timeoutMs: 170_000 });
    expect(run.exitCode, run.stderr).toBe(0);
    const dir = /demo environment in (\S+)/.exec(run.stdout)?.[1];
    expect(dir).toBeDefined();
    expect(run.stdout).toMatch(
      /first run: operator-tool installed on the companion, .*\n {2}outcome {5}success/,
    );
    expect(run.stdout).toMatch(/install {5}operator-tool \S+ installed/);
    expect(run.stdout).toMatch(/models {6}3 sent, 0 already on the companion/);
    expect(run.stdout).toMatch(/engines {5}dinov2_vpr built, lightglue built/);
    expect(run.stdout).toMatch(/second run: nothing changed, so nothing to do\n {2}outcome {5}no-op/);
    expect(run.stdout).toMatch(/tile sync {3}0 sent/);
    expect(run.stdout).toMatch(/models {6}0 sent, 3 already on the companion/);
    expect(run.stdout).toMatch(/engines {5}dinov2_vpr reused, lightglue reused/);
    // It explains what it built, and what a real companion would build instead.
    expect(run.stdout).toMatch(/a real companion \(a Jetson\) builds TensorRT engines with trtexec/);
    expect(run.stdout).toMatch(
      /built with {2}onnxruntime [\d.]+ on this CPU \(\w+\); a Jetson would build TensorRT engines/,
    );
    // It does not list a directory it is about to delete; it says how to keep it.
    expect(run.stdout).toContain(
      "(removed at the end; `operator-tool demo --keep` keeps it up to look around)",
    );
    expect(run.stdout).not.toContain("staging/runs/<run-id>/");
    expect(run.stdout).toMatch(/demo finished: first run success, second run no-op; cleaned up/);
    expect(existsSync(dir!)).toBe(false);
    const ports = portsIn(run.stdout);
    expect(ports.length).toBeGreaterThanOrEqual(3);
    for (const port of ports) expect(await portOpen(port), `port ${port} closed`).toBe(false);
  }, 180_000);
});

describe("operator-tool demo --flight-file", () => {
  it("demos the operator's own flight", async () => {
    const run = await runOperatorTool(
      ["demo", "--flight-file", join(REPO_ROOT, "examples/flights/kyiv-survey.json")],
      { timeoutMs: 170_000 },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain("Flights API   http://127.0.0.1:");
    expect(run.stdout).toContain("(flight F-2024-0042)");
    expect(run.stdout).toMatch(/demo finished: first run success, second run no-op/);
  }, 180_000);
});

/** `$ operator-tool …` lines of every ```sh runnable block in the docs. */
function runnableExamples(): Array<{ file: string; args: string[] }> {
  const files = [
    join(REPO_ROOT, "README.md"),
    ...readdirSync(join(REPO_ROOT, "docs")).map((f) => join(REPO_ROOT, "docs", f)),
  ];
  const examples: Array<{ file: string; args: string[] }> = [];
  for (const file of files.filter((f) => f.endsWith(".md"))) {
    for (const block of readFileSync(file, "utf8").matchAll(/```sh runnable\n([\s\S]*?)```/g)) {
      for (const line of block[1]!.split("\n")) {
        const match = /^\$ operator-tool (.+)$/.exec(line.trim());
        if (match !== null) examples.push({ file, args: match[1]!.split(/\s+/) });
      }
    }
  }
  return examples;
}

describe("the docs' runnable examples, against the demo environment", () => {
  it("every one runs and exits 0", async () => {
    const examples = runnableExamples();
    expect(examples.length).toBeGreaterThanOrEqual(8);
    const demo: ChildProcess = spawn(process.execPath, [CLI_PATH, "demo", "--keep"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    demo.stdout!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => demo.once("exit", (code) => r(code)));
    try {
      await waitFor(() => out.includes("\nready") || demo.exitCode !== null, 180_000, "the demo to be ready");
      const dir = /demo environment in (\S+)/.exec(out)?.[1];
      expect(dir, out).toBeDefined();
      // Kept: it says so, and lists what is where.
      expect(out).toContain(`demo environment in ${dir} (kept until Ctrl-C)`);
      expect(out).toContain(`where things are (under ${dir}, kept until Ctrl-C):`);
      expect(out).toContain("staging/runs/<run-id>/");
      for (const example of examples) {
        const run = await runOperatorTool(example.args, { cwd: dir!, timeoutMs: 60_000 });
        expect(run.exitCode, `${example.file}: operator-tool ${example.args.join(" ")}\n${run.stderr}`).toBe(
          0,
        );
      }
    } finally {
      demo.kill("SIGINT");
      // Ctrl-C ends it cleanly; should it not, it must not outlive the test.
      const hard = setTimeout(() => demo.kill("SIGKILL"), 60_000);
      await exited.finally(() => clearTimeout(hard));
    }
    expect(await exited).toBe(0);
    const dir = /demo environment in (\S+)/.exec(out)?.[1];
    expect(existsSync(dir!)).toBe(false);
  }, 300_000);
});
