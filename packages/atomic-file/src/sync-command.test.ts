import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

const syncModule = JSON.stringify(new URL("../dist/sync-command.js", import.meta.url).href);

/** Runs `body` in a fresh Node process (the `sync` lookup is cached per process); its stdout. */
function inChild(body: string, env: NodeJS.ProcessEnv = process.env): string {
  const script = `import { SyncfsRunner } from ${syncModule};\nconst runner = new SyncfsRunner();\n${body}`;
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env,
    encoding: "utf8",
    timeout: 15_000,
  });
  expect(result.error, "the process must end by itself").toBeUndefined();
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  return result.stdout.trim();
}

describe("SyncfsRunner", () => {
  it("answers every request, in order, and never keeps the process alive once idle", () => {
    // No close(): an idle helper shell must not hold the event loop.
    const out = inChild(`
      const answers = await Promise.all([0, 1, 2, 3, 4].map(() => runner.syncfs(${JSON.stringify(temp.path)})));
      console.log(JSON.stringify(answers));
      await new Promise((resolve) => setTimeout(resolve, 50));
      console.log(JSON.stringify(await runner.syncfs(${JSON.stringify(temp.path)})));
    `);
    expect(out).toBe("[true,true,true,true,true]\ntrue");
  });

  it("says no, so the caller fsyncs each file, where `sync -f` fails or is missing, or for a path it cannot pass", () => {
    const bin = join(temp.path, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "sync"), "#!/bin/sh\nexit 1\n");
    chmodSync(join(bin, "sync"), 0o755);
    const ask = `
      console.log(await runner.syncfs(${JSON.stringify(temp.path)}));
      runner.close();
    `;
    expect(inChild(ask, { PATH: bin })).toBe("false");
    expect(inChild(ask, { PATH: "" })).toBe("false");
    expect(inChild(`console.log(await runner.syncfs("a\\nb"));`)).toBe("false");
  });
});
