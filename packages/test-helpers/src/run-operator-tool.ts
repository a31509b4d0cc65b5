import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { checkJsonOutput } from "./json-output-check.js";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const CLI_PATH = fileURLToPath(new URL("../../../apps/operator-tool/dist/cli.js", import.meta.url));

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
  /** Extra arguments for node itself, before the CLI's path (e.g. `--import` of a test fixture). */
  nodeArgs?: string[];
}

export interface CliRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** First line of stderr: where the one-line error lives. */
  firstErrorLine: string;
}

/** Every CLI process a test started and that has not exited: killed after each test, even one that timed out. */
const running = new Set<ChildProcess>();

export function trackChild(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

/** SIGKILLs what tests left running and waits until each is gone. */
export async function killSpawnedProcesses(): Promise<number> {
  const left = [...running];
  await Promise.all(
    left.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGKILL");
        }),
    ),
  );
  return left.length;
}

/** Runs the built binary as a child process, the way CI and operators do. */
export function runOperatorTool(args: string[], options: RunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      LANG: "C.UTF-8",
    };
    for (const [key, value] of Object.entries({ ...env, ...options.env })) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
    const child = trackChild(
      spawn(process.execPath, [...(options.nodeArgs ?? []), CLI_PATH, ...args], {
        cwd: options.cwd ?? REPO_ROOT,
        env,
      }),
    );
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (exitCode, signal) => {
      clearTimeout(timer);
      // Every --json output of the suite is checked against its published schema (docs/schemas/).
      try {
        checkJsonOutput(args, stdout);
      } catch (error) {
        reject(error);
        return;
      }
      resolve({ exitCode, signal, stdout, stderr, firstErrorLine: stderr.split("\n")[0] ?? "" });
    });
    child.stdin!.end(options.input ?? "");
  });
}
