import { describe, expect, it } from "vitest";
import { LiveView } from "./live-view.js";
import { Terminal } from "./terminal.js";

function setup(live: boolean) {
  const written: string[] = [];
  const logged: Array<{ fields: object; message: string }> = [];
  let now = 1_000_000;
  const terminal = new Terminal(
    (text) => written.push(text),
    live,
    () => 80,
  );
  const logger = {
    debug() {},
    info: (fields: object, message: string) => logged.push({ fields, message }),
    warn() {},
    error() {},
  };
  const view = new LiveView(terminal, logger, () => now);
  return {
    terminal,
    view,
    written,
    logged,
    advance(ms: number) {
      now += ms;
    },
    get now() {
      return now;
    },
  };
}

describe("Terminal", () => {
  it("prints a record above the live area: erase, record, area again, in one write", () => {
    const { terminal, written } = setup(true);
    terminal.show(["» tile-download  0:01", "  tiles  [##--]"]);
    terminal.log("[10:00:00] INFO: fetching 30 tiles\n");
    expect(written.at(-1)).toBe(
      "\r\x1b[2A\x1b[J[10:00:00] INFO: fetching 30 tiles\n» tile-download  0:01\n  tiles  [##--]\n",
    );
    terminal.clear();
    expect(written.at(-1)).toBe("\r\x1b[2A\x1b[J");
  });

  it("cuts live lines to the terminal's width, so a wrapped line never breaks the erase", () => {
    const { terminal, written } = setup(true);
    terminal.show([`  last line  ${"x".repeat(200)}`]);
    expect(written.at(-1)!.trimEnd().length).toBeLessThanOrEqual(79);
  });

  it("without a live terminal draws nothing, and records pass through untouched", () => {
    const { terminal, written } = setup(false);
    terminal.show(["» lock"]);
    terminal.log("record\n");
    expect(written).toEqual(["record\n"]);
  });
});

describe("LiveView", () => {
  it("shows the phase, the tiles with count, bytes, rate and ETA, and the remote build from its records", () => {
    const t = setup(true);
    t.view.phase("tile-download", "running");
    t.view.tiles({
      done: 20,
      planned: 40,
      fetched: 10,
      cached: 10,
      absent: 0,
      failed: 0,
      bytesFetched: 3 * 1024 * 1024,
      startedAt: t.now - 2_000,
    });
    t.advance(2_000);
    expect(t.view.lines()).toEqual([
      "» tile-download  0:02",
      "  tiles        [#######-------------]  10/30 fetched (20/40 incl. cached)  3.0 MiB  768.0 KiB/s  3 tiles/s  ETA 0:08",
    ]);

    t.view.phase("tile-download", "done");
    t.view.phase("remote-provision", "running");
    t.view.remoteLine(
      JSON.stringify({
        event: "engine-build",
        model: "dinov2_vpr",
        phase: "started",
        elapsedS: 0,
        builder: "trtexec",
        msg: "dinov2_vpr: building (no-engine)",
      }),
    );
    t.view.remoteLine(
      JSON.stringify({
        event: "engine-build",
        model: "dinov2_vpr",
        phase: "building",
        elapsedS: 61,
        msg: "[I] [TRT] \x1b[31mLocal timing cache in use",
      }),
    );
    t.advance(5_000);
    const lines = t.view.lines();
    expect(lines[0]).toBe("» remote-provision  0:05");
    expect(lines).toContain("  remote       dinov2_vpr (trtexec): building 1:06  (remote 0:05)");
    // The last remote line, with no control character that could move the cursor.
    expect(lines).toContain("  last line    [I] [TRT]  [31mLocal timing cache in use");
  });

  it("says so when there is nothing to fetch, instead of drawing an empty bar", () => {
    const t = setup(true);
    t.view.tiles({
      done: 30,
      planned: 30,
      fetched: 0,
      cached: 28,
      absent: 2,
      failed: 0,
      bytesFetched: 0,
      startedAt: t.now,
    });
    expect(t.view.lines()).toEqual([
      "  tiles        all 30 present (28 cached, 2 known absent): nothing to fetch",
    ]);
  });

  it("off a terminal: a progress record with the phase's figures, no live area", () => {
    const t = setup(false);
    t.view.phase("companion-bringup", "running");
    t.view.sync("tile sync", { sent: 40, total: 100, bytesSent: 2048 });
    t.advance(4_000);
    expect(t.view.summary()).toEqual({
      fields: {
        event: "progress",
        phase: "companion-bringup",
        elapsedS: 4,
        tileSync: { sent: 40, total: 100, bytesSent: 2048 },
      },
      message: "progress: companion-bringup 0:04; tile sync    40/100 files  2.0 KiB  512 B/s  ETA 0:06",
    });
    expect(t.written).toEqual([]);
  });
});
