import type { FleetHostReport, FleetReport } from "@operator-tool/cache-build";
import { describe, expect, it } from "vitest";
import { renderRecap } from "./build-fleet.js";

function host(target: string, over: Partial<FleetHostReport>): FleetHostReport {
  return {
    schema: "operator-tool/cache-build-report@1",
    target,
    runId: "20261130T120000Z-abcdef",
    flightId: "F-1",
    outcome: "success",
    failurePhase: null,
    error: null,
    exitCode: 0,
    dryRun: false,
    phases: {},
    totalDurationMs: 12_300,
    tiles: null,
    tilePlan: null,
    companion: null,
    install: null,
    sync: { planned: 40, sent: 40, skipped: 0, bytesSent: 1 },
    models: null,
    remote: null,
    logPath: null,
    engines: { built: 1, imported: 0, reused: 0, failed: 0 },
    imports: [],
    storeRefused: [],
    ...over,
  };
}

describe("the fleet recap", () => {
  it("one row per host with outcome, phase, tiles sent, engines and exit code; failures named below", () => {
    const report: FleetReport = {
      schema: "operator-tool/fleet-report@1",
      runId: "20261130T120000Z-000000",
      outcome: "failure",
      failurePhase: null,
      error: { code: "FLEET_HOSTS_FAILED", class: "FleetHostsFailedError", message: "1 of 3", hint: null },
      exitCode: 70,
      dryRun: false,
      forks: 5,
      phases: {},
      totalDurationMs: 20_000,
      flights: [{ flightId: "F-1", targets: ["a", "b", "c"], tiles: null, tilePlan: null }],
      hosts: [
        host("jetson-01", {}),
        host("jetson-02", { engines: { built: 0, imported: 1, reused: 0, failed: 0 } }),
        host("nano-1", {
          outcome: "failure",
          failurePhase: "companion-bringup",
          exitCode: 31,
          sync: null,
          engines: null,
          error: {
            code: "HOST_KEY_REJECTED",
            class: "HostKeyRejectedError",
            message: "the host key changed\nmore",
            hint: null,
          },
        }),
      ],
      summary: { hosts: 3, succeeded: 2, failed: 1, built: 1, imported: 1 },
      logPath: "/s/runs/x/log.jsonl",
    };
    const text = renderRecap(report);
    expect(text).toMatch(/^build-cache fleet 3 companions, 5 at once: failure \(exit 70, 20\.0 s\)/);
    const lines = text.split("\n");
    const header = lines.findIndex((l) => l.startsWith("host "));
    expect(lines[header]!.split(/\s{2,}/)).toEqual([
      "host",
      "outcome",
      "phase",
      "tiles sent",
      "built",
      "imported",
      "reused",
      "duration",
      "exit",
    ]);
    expect(lines[header + 2]!.split(/\s+/)).toEqual([
      "jetson-02",
      "success",
      "-",
      "40",
      "0",
      "1",
      "0",
      "12.3s",
      "0",
    ]);
    expect(lines[header + 3]!.split(/\s+/)).toEqual([
      "nano-1",
      "failure",
      "companion-bringup",
      "0",
      "0",
      "0",
      "0",
      "12.3s",
      "31",
    ]);
    expect(text).toContain("  nano-1: the host key changed\n");
  });
});
