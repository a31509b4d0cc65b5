import { describe, expect, it } from "vitest";
import { HostPacer, PauseGate } from "./pacing.js";

const never = new AbortController().signal;

describe("PauseGate", () => {
  it("counts only the time a pause adds to the one already in force", () => {
    const gate = new PauseGate();
    expect(gate.pauseFor(1000, 0)).toBe(1000);
    // Ends at 1500: 500 ms beyond the first pause.
    expect(gate.pauseFor(1000, 500)).toBe(500);
    // Ends at 800, inside the pause already in force.
    expect(gate.pauseFor(300, 500)).toBe(0);
    // After the pause ended, a new one counts whole.
    expect(gate.pauseFor(200, 5000)).toBe(200);
  });

  it("holds waiters until the pause is over", async () => {
    const gate = new PauseGate();
    const started = Date.now();
    gate.pauseFor(150);
    await gate.wait(never);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("lets a waiter go when its signal aborts", async () => {
    const gate = new PauseGate();
    gate.pauseFor(60_000);
    const controller = new AbortController();
    const waiting = gate.wait(controller.signal);
    controller.abort();
    await waiting;
    expect(controller.signal.aborted).toBe(true);
  });
});

describe("HostPacer", () => {
  const pacer = (overrides: Partial<ConstructorParameters<typeof HostPacer>[0]> = {}) =>
    new HostPacer({ maxRequestsPerSecond: 0, breakerThreshold: 3, breakerCooldownMs: 100, ...overrides });

  it("opens the breaker after the threshold of failures in a row, each opening twice as long", () => {
    const host = pacer();
    expect([host.failed(0), host.failed(0), host.failed(0)]).toEqual([undefined, undefined, 100]);
    expect([host.failed(0), host.failed(0), host.failed(0)]).toEqual([undefined, undefined, 200]);
    expect(host.trips).toBe(2);
  });

  it("a success starts the count of failures in a row again", () => {
    const host = pacer();
    host.failed(0);
    host.failed(0);
    host.rateLimitStreak = 4;
    host.succeeded();
    expect(host.rateLimitStreak).toBe(0);
    expect([host.failed(0), host.failed(0), host.failed(0)]).toEqual([undefined, undefined, 100]);
  });

  it("an open breaker holds the next turn until it closes", async () => {
    const host = pacer({ breakerThreshold: 1, breakerCooldownMs: 150 });
    const started = Date.now();
    host.failed(started);
    await host.waitTurn(never);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("spaces turns by the rate cap", async () => {
    const host = pacer({ maxRequestsPerSecond: 50 });
    const started = Date.now();
    for (let i = 0; i < 6; i++) await host.waitTurn(never);
    // Six turns at 20 ms intervals: the last one no earlier than 100 ms after the first.
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });
});
