import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * vitest globalSetup. Every temp directory of this run — the tests', the sshd
 * fixture's, the CLI's — is made under one directory of its own (TMPDIR for
 * the workers and everything they start). At the end, any sshd whose pid
 * file is still there was not stopped by its test (a timed-out test skips
 * nothing in afterAll, but a killed worker does): it is ended by its pid, and
 * the directory removed, so no process or file of the suite outlives it.
 */
export default function setup(): () => void {
  const suiteDir = mkdtempSync(join(tmpdir(), "operator-tool-suite-"));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = suiteDir;
  return () => {
    const left = leftoverDaemons(suiteDir);
    for (const { pid, pidFile } of left) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
      console.warn(`test suite: ended an sshd (pid ${pid}, ${pidFile}) that its test did not stop`);
    }
    rmSync(suiteDir, { recursive: true, force: true });
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  };
}

function leftoverDaemons(suiteDir: string): Array<{ pid: number; pidFile: string }> {
  const found: Array<{ pid: number; pidFile: string }> = [];
  for (const entry of readdirSync(suiteDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name !== "sshd.pid") continue;
    const pidFile = join(entry.parentPath, entry.name);
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    // Only the daemon this file names: an sshd whose command line points into the suite's directory.
    if (Number.isInteger(pid) && pid > 0 && commandLine(pid).includes(suiteDir)) found.push({ pid, pidFile });
  }
  return found;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}
