import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runOperatorTool, startWorld, type World, writeOnnxModel } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * From a fresh companion account to engines in one command: operator-tool is
 * not there, the models are on the workstation. build-cache --install-companion
 * --corpus installs the tool, pushes the models, builds; the second run is a
 * no-op that sends nothing.
 */
let world: World;
let home: string;
let corpus: string;

beforeAll(async () => {
  world = await startWorld();
  // The account's own empty home and a PATH without operator-tool, set as an
  // operator's sshd would.
  home = join(world.temp.path, "companion-home");
  mkdirSync(home, { recursive: true });
  // An old operator-tool on its PATH, as a companion set up by hand long ago may have.
  const oldBin = join(world.temp.path, "old-bin");
  mkdirSync(oldBin, { recursive: true });
  writeFileSync(join(oldBin, "operator-tool"), "#!/bin/sh\necho 0.0.1\n", { mode: 0o755 });
  world.sshd.setAccount({ home, path: `${oldBin}:/usr/local/bin:/usr/bin:/bin` });

  const models = join(world.temp.path, "workstation-models");
  mkdirSync(models, { recursive: true });
  writeOnnxModel(join(models, "dinov2_vpr.onnx"), { shape: [1, 3, 8, 8] });
  corpus = join(models, "corpus.json");
  writeFileSync(
    corpus,
    JSON.stringify({
      backbones: [{ modelName: "dinov2_vpr", onnxPath: "dinov2_vpr.onnx", inputName: "input" }],
    }),
  );
}, 120_000);

afterAll(async () => {
  await world?.close();
});

/** The world's build-cache flags, with the corpus on this side and no --remote-command. */
function args(extra: string[]): string[] {
  const base = world.args();
  const dropped = new Set(["--remote-command", "--remote-corpus"]);
  const kept: string[] = [];
  for (let i = 0; i < base.length; i++) {
    if (dropped.has(base[i]!)) i++;
    else kept.push(base[i]!);
  }
  return [...kept, "--corpus", corpus, ...extra];
}

const build = (argv: string[]) => runOperatorTool(argv, { env: world.env, timeoutMs: 200_000 });

describe("build-cache on a companion without a usable operator-tool (an old one on its PATH)", () => {
  it("without --install-companion: exit 30, the fix names companion install", async () => {
    const run = await build(args(["--json"]));
    expect(run.exitCode, run.stderr).toBe(30);
    expect(run.stderr).toContain("operator-tool companion install");
    expect(run.stderr).toContain("it has 0.0.1");
    expect(JSON.parse(run.stdout)).toMatchObject({ failurePhase: "companion-bringup", install: null });
  }, 120_000);

  it("--install-companion installs, pushes the models, builds; the second run is a no-op", async () => {
    const first = await build(args(["--install-companion", "--json"]));
    expect(first.exitCode, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report).toMatchObject({
      outcome: "success",
      install: { outcome: "installed", wrapper: join(home, ".local/bin/operator-tool") },
      models: { sent: 2, skipped: 0 },
      remote: { summary: { built: 1 } },
    });
    expect(report.remote.results[0].enginePath).toMatch(/\/engines\/dinov2_vpr__cpu-/);

    const second = await build(args(["--install-companion", "--json"]));
    expect(second.exitCode, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      outcome: "no-op",
      install: null,
      sync: { sent: 0 },
      models: { sent: 0, skipped: 2 },
      remote: { summary: { built: 0, reused: 1 } },
    });
  }, 240_000);

  it("a changed model crosses again and is rebuilt, with the reason", async () => {
    writeOnnxModel(join(corpus, "..", "dinov2_vpr.onnx"), { shape: [1, 3, 8, 8], scale: 5 });
    const run = await build(args(["--json"]));
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      outcome: "success",
      models: { sent: 1, skipped: 1 },
      remote: { results: [{ modelName: "dinov2_vpr", outcome: "built", reasons: ["onnx-changed"] }] },
    });
  }, 240_000);
});
