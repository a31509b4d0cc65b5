import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkJsonOutput, REPO_ROOT, runOperatorTool, startWorld } from "@operator-tool/test-helpers";
import { describe, expect, it } from "vitest";

type SchemasModule = {
  machineOutputSchemas(): Promise<Array<{ id: string; commands: string[] }>>;
  jsonSchemaText(entry: { id: string }): string;
};
const loadSchemas = () =>
  import(join(REPO_ROOT, "apps/operator-tool/dist/machine-output-schemas.js")) as Promise<SchemasModule>;

describe("docs/schemas: the published JSON Schemas", () => {
  it("are exactly what the zod schemas generate (run `pnpm schemas` after changing one)", async () => {
    const { machineOutputSchemas, jsonSchemaText } = await loadSchemas();
    const entries = await machineOutputSchemas();
    const dir = join(REPO_ROOT, "docs/schemas");
    expect(readdirSync(dir).sort()).toEqual(entries.map((e) => `${e.id}.schema.json`).sort());
    for (const entry of entries)
      expect(readFileSync(join(dir, `${entry.id}.schema.json`), "utf8"), entry.id).toBe(
        jsonSchemaText(entry),
      );
  });

  it("are each documented in docs/machine-output.md, with the commands that print them", async () => {
    const doc = readFileSync(join(REPO_ROOT, "docs/machine-output.md"), "utf8");
    for (const entry of await (await loadSchemas()).machineOutputSchemas()) {
      expect(doc).toContain(`schemas/${entry.id}.schema.json`);
      for (const command of entry.commands) expect(doc, entry.id).toContain(command);
    }
  });
});

describe("the suite's --json check", () => {
  const world = { report: undefined as unknown };
  it("passes the real outputs, and rejects a document that breaks its schema", async () => {
    const w = await startWorld();
    try {
      const args = w.args(["--json"]);
      const run = await w.run(["--json"]);
      expect(run.exitCode, run.stderr).toBe(0);
      expect(checkJsonOutput(args, run.stdout)).toBe(1);
      world.report = JSON.parse(run.stdout);

      const plan = await runOperatorTool(
        [
          "tiles",
          "plan",
          "--flight-id",
          "F-2024-0042",
          "--flights-api-url",
          w.api.url,
          "--satellite-provider-url",
          w.tiles.template,
          "--zoom",
          "15-16",
          "--staging-root",
          w.staging,
          "--json",
        ],
        { env: w.env },
      );
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(checkJsonOutput(["tiles", "plan", "--json"], plan.stdout)).toBe(1);
    } finally {
      await w.close();
    }
    const report = world.report as Record<string, unknown>;
    const broken = [
      { ...report, outcome: "partial" },
      { ...report, exitCode: "0" },
      { ...report, surprise: true },
      Object.fromEntries(Object.entries(report).filter(([key]) => key !== "phases")),
      { ...report, tiles: { ...(report.tiles as object), fetched: -1 } },
    ];
    for (const value of broken)
      expect(() => checkJsonOutput(["build-cache", "--json"], JSON.stringify(value))).toThrow(
        /does not match docs\/schemas\/cache-build-report\.schema\.json/,
      );
    expect(() =>
      checkJsonOutput(["compile-engines", "--json"], `{"event":"model"}\n${JSON.stringify(report)}`),
    ).toThrow(/printed 2 lines; --json is one JSON document/);
    expect(() => checkJsonOutput(["flights", "show", "--json"], '{"error":{"code":"X"}}')).toThrow(
      /docs\/schemas\/error\.schema\.json/,
    );
  }, 120_000);

  it("checks the error document of any command", async () => {
    const run = await runOperatorTool(["flights", "show", "--flight-file", "/nonexistent/f.plan", "--json"]);
    expect(run.exitCode).toBe(94);
    expect(checkJsonOutput(["flights", "show", "--json"], run.stdout)).toBe(1);
    expect(JSON.parse(run.stdout).error).toMatchObject({ code: "FLIGHT_FILE_UNREADABLE", exitCode: 94 });
  });
});
