import { runOperatorTool } from "@operator-tool/test-helpers";
import { describe, expect, it } from "vitest";

const COMMANDS = [
  ["build-cache"],
  ["compile-engines"],
  ["flights", "show"],
  ["tiles", "plan"],
  ["tiles", "download"],
  ["tiles", "receive"],
  ["companion", "check"],
  ["locks", "list"],
  ["locks", "unlock"],
  ["runs", "list"],
  ["runs", "watch"],
  ["demo"],
];

describe("--help teaches", () => {
  it.each(COMMANDS)("%s %s: a one-line purpose and two real examples", async (...command) => {
    const run = await runOperatorTool([...command.filter(Boolean), "--help"]);
    expect(run.exitCode).toBe(0);
    const [usage, , purpose] = run.stdout.split("\n");
    expect(usage).toMatch(/^Usage: operator-tool /);
    expect(purpose!.length).toBeGreaterThan(20);
    const examples = run.stdout.split("Examples:")[1] ?? "";
    expect(examples.match(/^\s+\$ /gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });

  it("groups options by what they are about", async () => {
    const run = await runOperatorTool(["build-cache", "--help"]);
    for (const group of ["Flight:", "Tiles:", "Companion:", "Output:"])
      expect(run.stdout).toContain(`\n${group}\n`);
  });
});
