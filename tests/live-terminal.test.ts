import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { API_KEY, CLI_PATH, fakeRemote, startWorld, type World, waitFor } from "@operator-tool/test-helpers";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

/**
 * build-cache in a real pseudo-terminal (tmux), as an operator sees it: the
 * screens are captured while it runs, and every byte it wrote is kept
 * (pipe-pane) to check what was drawn between captures.
 */
let world: World;
beforeAll(async () => {
  // Slow tiles: the download lasts long enough to be seen live.
  world = await startWorld({ tileLatencyMs: 40 });
});
afterAll(async () => {
  await world?.close();
});

const sessions: string[] = [];
afterEach(async () => {
  for (const name of sessions.splice(0)) {
    try {
      // The pane's shell leads its own process group: end it and the build it started (which
      // may hold the build lock), wait until they are gone, then end the session.
      const panePid = Number(tmux(["display-message", "-p", "-t", name, "#{pane_pid}"]).trim());
      const group = execFileSync("ps", ["-o", "pid=", "-g", String(panePid)], { encoding: "utf8" })
        .split("\n")
        .map((pid) => pid.trim())
        .filter(Boolean);
      process.kill(-panePid, "SIGKILL");
      await waitFor(
        () => group.every((pid) => !existsSync(`/proc/${pid}`)),
        20_000,
        "the pane's processes to end",
      );
    } catch {
      // already gone
    }
    try {
      execFileSync("tmux", ["kill-session", "-t", name], { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
});

const ESC = "\x1b";

function tmux(args: string[]): string {
  return execFileSync("tmux", args, { encoding: "utf8" });
}

/** The pane's whole content: what scrolled off and what is on screen. */
function capture(session: string): string {
  return tmux(["capture-pane", "-p", "-J", "-S", "-", "-t", session]);
}

/**
 * Starts build-cache in a 120x40 tmux pane. The companion's compile-engines
 * first reports a build (as a long trtexec build would) and then waits for
 * the test to open `gate`, so the remote phase is on screen for as long as
 * the test looks at it.
 */
function startInTmux(name: string, extraEnv: Record<string, string> = {}) {
  const dir = world.temp.path;
  const gate = join(dir, `${name}.gate`);
  const raw = join(dir, `${name}.raw`);
  const exitFile = join(dir, `${name}.exit`);
  const record = (msg: string, fields: object) =>
    JSON.stringify({ level: "info", event: "engine-build", model: "dinov2_vpr", ...fields, msg });
  const remote = fakeRemote(
    world,
    `remote-${name}`,
    [
      `printf '%s\\n' '${record("dinov2_vpr: building (no-engine)", { phase: "started", elapsedS: 0, builder: "trtexec" })}' >&2`,
      `printf '%s\\n' '${record(`[I] [TRT] Compiler backend is used during engine build. key=${API_KEY}`, {
        phase: "building",
        elapsedS: 3,
      })}' >&2`,
      `while [ ! -e '${gate}' ]; do sleep 0.05; done`,
      `exec ${process.execPath} ${CLI_PATH} "$@"`,
    ].join("; "),
  );
  const args = world.args(["--remote-command", remote]).map((a) => `'${a.replaceAll("'", "'\\''")}'`);
  const env = Object.entries({ ...world.env, LANG: "C.UTF-8", ...extraEnv })
    .map(([k, v]) => `${k}='${v}'`)
    .join(" ");
  const script = join(dir, `${name}.sh`);
  writeFileSync(
    script,
    `#!/bin/sh\nenv -u CI ${env} ${process.execPath} ${CLI_PATH} ${args.join(" ")}\necho $? > '${exitFile}'\nexec sleep 600\n`,
  );
  sessions.push(name);
  tmux(["new-session", "-d", "-s", name, "-x", "120", "-y", "40", `sh '${script}'`]);
  tmux(["pipe-pane", "-o", "-t", name, `cat >> '${raw}'`]);
  return {
    gate,
    raw: () => (existsSync(raw) ? readFileSync(raw, "utf8") : ""),
    exitCode: () => (existsSync(exitFile) ? Number(readFileSync(exitFile, "utf8").trim()) : undefined),
  };
}

describe("build-cache on a terminal", () => {
  it("shows every phase live, prints log lines above the live area, ends with the summary table", async () => {
    const name = `ot-live-${process.pid}`;
    const run = startInTmux(name);
    const screens: string[] = [];
    const look = () => {
      const screen = capture(name);
      if (screens.at(-1) !== screen) screens.push(screen);
      return screen;
    };

    // The remote build, live: which model, trtexec's phase, elapsed time, the last remote line.
    await waitFor(
      () => /^ {2}remote {7}dinov2_vpr \(trtexec\): building \d+:\d\d {2}\(remote \d+:\d\d\)$/m.test(look()),
      60_000,
      "the remote build row",
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the screen:\n${look()}`);
    });
    let screen = look();
    expect(screen).toMatch(/» remote-provision {2}\d+:\d\d/);
    // The last remote line, redacted.
    expect(screen).toMatch(
      /^ {2}last line {4}\[I\] \[TRT\] Compiler backend is used during engine build\. key=<redacted>$/m,
    );
    // The elapsed time ticks while the remote is silent.
    const elapsed = /» remote-provision {2}(\d+:\d\d)/.exec(screen)![1];
    await waitFor(
      () => /» remote-provision {2}(\d+:\d\d)/.exec(look())?.[1] !== elapsed,
      20_000,
      "the elapsed time to tick",
    );
    writeFileSync(run.gate, "");
    await waitFor(() => run.exitCode() !== undefined, 90_000, "build-cache to exit");
    await waitFor(() => /phase +status +time/.test(look()), 20_000, "the summary on screen");
    screen = look();
    expect(run.exitCode(), screen).toBe(0);

    // The summary table, and no live area left behind.
    expect(screen).toMatch(/^ {2}phase +status +time +detail$/m);
    for (const phase of ["flight-resolve", "lock", "tile-download", "companion-bringup", "remote-provision"])
      expect(screen).toMatch(new RegExp(`^ {2}${phase} +done +\\d+\\.\\d s`, "m"));
    expect(screen).toMatch(/remote-provision .*dinov2_vpr built/);
    expect(screen).not.toMatch(/^» /m);
    expect(screen).not.toMatch(/\[[#-]{20}\]/);

    // Every live frame, from the raw bytes: tiles with count, bytes, rate and ETA; the tile sync.
    const raw = run.raw();
    expect(raw).not.toContain(API_KEY);
    expect(raw).toMatch(/» tile-download {2}\d+:\d\d/);
    expect(raw).toMatch(
      /^ {2}tiles {8}\[[#-]{20}\] {2}\d+\/\d+ fetched \(\d+\/\d+ incl\. cached\) {2}[\d.]+ (B|KiB|MiB) {2}[\d.]+ (B|KiB|MiB)\/s {2}\d+ tiles\/s {2}ETA (\d+:\d\d|--:--)/m,
    );
    expect(raw).toMatch(/^ {2}tile sync {4}\[[#-]{20}\] {2}\d+\/\d+ files {2}[\d.]+ (B|KiB|MiB)/m);
    expect(raw).not.toMatch(/\d MB\b/);

    // A log line never lands inside the live area: on every screen, each line is either a log
    // record or a live row, never both, and no row is left half-overwritten.
    for (const shot of [...screens, screen]) {
      for (const line of shot.split("\n")) {
        // A record anywhere on the line (after a bar, say), not only at its start.
        const isLog = /\[\d\d:\d\d:\d\d\] (INFO|WARN|ERROR|DEBUG)/.test(line);
        const isLive = /» |\[[#-]{20}\]|^ {2}(remote|last line) /.test(line);
        expect(isLog && isLive, `garbled line: ${JSON.stringify(line)}`).toBe(false);
        if (isLog) {
          expect(line, "a record starts its line").toMatch(/^\[\d\d:\d\d:\d\d\] /);
          expect(line.match(/\[\d\d:\d\d:\d\d\]/g)).toHaveLength(1);
        }
      }
    }
    // Pretty log records are one line each, their fields inline.
    expect(screen).toMatch(
      /^\[\d\d:\d\d:\d\d\] INFO: phase tile-download \{"phase":"tile-download","runId":"/m,
    );
    expect(screen).not.toMatch(/^\s+(phase|runId): /m);
  }, 150_000);

  it("in CI on a terminal: no live area and no escape codes, only log lines", async () => {
    const name = `ot-ci-${process.pid}`;
    const run = startInTmux(name, { CI: "true" });
    writeFileSync(run.gate, "");
    await waitFor(() => run.exitCode() !== undefined, 90_000, "build-cache to exit");
    expect(run.exitCode()).toBe(0);
    const raw = run.raw();
    expect(raw).toContain("INFO: phase remote-provision");
    expect(raw).not.toContain(ESC);
    expect(raw).not.toContain("» ");
  }, 120_000);
});

describe("build-cache without a terminal", () => {
  it("writes no escape code at all, on stdout or stderr, pretty or JSON", async () => {
    for (const extra of [[], ["--log-format", "pretty"], ["--json"]]) {
      const run = await world.run([...extra, "--log-level", "debug"]);
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stdout + run.stderr).not.toContain(ESC);
      expect(run.stderr).not.toContain("» ");
    }
  }, 150_000);
});
