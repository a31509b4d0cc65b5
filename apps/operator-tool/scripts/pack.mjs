#!/usr/bin/env node
// Packs the workstation tool for `npm install -g <tarball>`: the app and its
// workspace packages bundled with esbuild (lazy imports stay lazy chunks, so
// `--help` loads nothing heavy), the companion bundle's script prebuilt (the
// installed tool then needs no esbuild), and only the dependencies with
// native parts left as real npm dependencies. Run after `pnpm build`:
//   node apps/operator-tool/scripts/pack.mjs [--out DIR]   → DIR/operator-tool-<version>.tgz
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleCompanionScript } from "@operator-tool/companion-installer";
import { build } from "esbuild";

const app = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(process.argv.includes("--out") ? process.argv[process.argv.indexOf("--out") + 1] : app);
const manifest = JSON.parse(readFileSync(join(app, "package.json"), "utf8"));
const stage = join(app, "pack");
/** Native parts, or files they load beside them: installed by npm, not bundled. */
const NATIVE = ["ssh2", "cpu-features", "onnxruntime-node"];

rmSync(stage, { recursive: true, force: true });
mkdirSync(join(stage, "dist"), { recursive: true });
const require = (await import("node:module")).createRequire(join(app, "package.json"));
const packageDist = (name) => dirname(require.resolve(name));
await build({
  entryPoints: {
    cli: join(app, "dist", "cli.js"),
    // Worker threads are started by URL relative to the code that starts them: beside the chunks.
    "read-ahead-worker": join(packageDist("@operator-tool/companion-bringup"), "read-ahead-worker.js"),
    "write-worker": join(packageDist("@operator-tool/atomic-file"), "write-worker.js"),
  },
  outdir: join(stage, "dist"),
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20.18",
  external: NATIVE,
  legalComments: "none",
  logLevel: "warning",
  banner: {
    js: 'import { createRequire as __operatorToolRequire } from "node:module"; const require = __operatorToolRequire(import.meta.url);',
  },
});
await bundleCompanionScript(join(app, "dist", "companion-main.js"), join(stage, "dist", "companion"));
// `demo` re-runs the CLI as ../cli.js from its own module.
writeFileSync(join(stage, "cli.js"), '#!/usr/bin/env node\nimport "./dist/cli.js";\n', { mode: 0o755 });
const dependencyRange = (name) => {
  for (const dir of ["packages/companion-bringup", "packages/engine-compiler"]) {
    const deps =
      JSON.parse(readFileSync(join(app, "..", "..", dir, "package.json"), "utf8")).dependencies ?? {};
    if (deps[name]) return deps[name];
  }
  throw new Error(`no version range for ${name}`);
};
writeFileSync(
  join(stage, "package.json"),
  `${JSON.stringify(
    {
      name: manifest.name,
      version: manifest.version,
      private: true,
      type: "module",
      description: manifest.description,
      bin: { "operator-tool": "./dist/cli.js" },
      files: ["dist", "cli.js"],
      engines: manifest.engines,
      dependencies: {
        "onnxruntime-node": dependencyRange("onnxruntime-node"),
        ssh2: dependencyRange("ssh2"),
      },
    },
    null,
    2,
  )}\n`,
);
writeFileSync(join(stage, "README.md"), readFileSync(join(app, "README.md")));
mkdirSync(out, { recursive: true });
const packed = execFileSync("npm", ["pack", stage, "--pack-destination", out, "--silent"], {
  encoding: "utf8",
})
  .trim()
  .split("\n")
  .at(-1);
rmSync(stage, { recursive: true, force: true });
console.log(join(out, packed));
