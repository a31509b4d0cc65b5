import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import type { CompanionArch } from "./companion-facts.js";
import { describeLocalFile, type LocalFile } from "./remote-files.js";

/**
 * Modules the companion never runs: the SSH client, the HTTP client, the
 * workstation's phases and the test harness. Imports of them (lazy ones
 * included) resolve to an empty module, so none of their code is bundled.
 */
export const WORKSTATION_ONLY_MODULES = [
  "ssh2",
  "cpu-features",
  "undici",
  "@operator-tool/test-helpers",
  "@operator-tool/flights-api",
  "@operator-tool/tile-downloader",
  "@operator-tool/remote-provisioner-invoker",
  "@operator-tool/companion-installer",
];

/** Where the bundle's script and its worker threads go, relative to the bundle root. */
export const BUNDLE_SCRIPT = "lib/operator-tool.js";
const RECORD = ".bundle-files.json";

export interface CompanionBundle {
  version: string;
  arch: CompanionArch;
  /** The bundle's directory on the workstation. */
  dir: string;
  /** Every file, runtime excluded, with digests. */
  files: LocalFile[];
  bytes: number;
}

export interface PrepareBundleOptions {
  /** `<staging-root>`; the bundle goes to `<staging-root>/companion-bundles/<version>-<arch>/`. */
  stagingRoot: string;
  version: string;
  arch: CompanionArch;
  /** The companion entry point (built JavaScript), bundled with esbuild. */
  companionEntry?: string | undefined;
  /** Or a directory holding an already bundled `operator-tool.js` and its workers (the packed tool ships one). */
  prebuiltScriptDir?: string | undefined;
}

interface BundleRecord {
  files: Array<Omit<LocalFile, "source">>;
  /** Source files the script was bundled from, with mtimes: any change rebuilds. */
  inputs: Record<string, number>;
}

/**
 * The self-contained companion bundle for one architecture: the companion
 * commands as one script (plus its two worker threads), onnxruntime-node with
 * only that architecture's native library, and a package.json naming the
 * version. Reused while none of its inputs changed.
 */
export function prepareCompanionBundle(options: PrepareBundleOptions): Promise<CompanionBundle> {
  const dir = join(options.stagingRoot, "companion-bundles", `${options.version}-${options.arch}`);
  // A fleet installs on several companions at once: they share one bundle, built once.
  const pending = bundlesInProgress.get(dir);
  if (pending !== undefined) return pending;
  const building = prepareBundleIn(dir, options).finally(() => bundlesInProgress.delete(dir));
  bundlesInProgress.set(dir, building);
  return building;
}

const bundlesInProgress = new Map<string, Promise<CompanionBundle>>();

async function prepareBundleIn(dir: string, options: PrepareBundleOptions): Promise<CompanionBundle> {
  const reused = reuseBundle(dir);
  if (reused !== undefined) return finish(options, dir, reused);
  const temp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(join(temp, "lib"), { recursive: true });
  let inputs: Record<string, number>;
  if (
    options.prebuiltScriptDir !== undefined &&
    existsSync(join(options.prebuiltScriptDir, "operator-tool.js"))
  ) {
    cpSync(options.prebuiltScriptDir, join(temp, "lib"), { recursive: true });
    inputs = stamp([join(options.prebuiltScriptDir, "operator-tool.js")]);
  } else if (options.companionEntry !== undefined) {
    inputs = await bundleCompanionScript(options.companionEntry, join(temp, "lib"));
  } else {
    throw new Error("prepareCompanionBundle needs companionEntry or prebuiltScriptDir");
  }
  writeFileSync(
    join(temp, "package.json"),
    `${JSON.stringify({ name: "operator-tool-companion", version: options.version, private: true, type: "module" }, null, 2)}\n`,
  );
  copyOnnxruntime(join(temp, "node_modules"), options.arch);
  const files: LocalFile[] = [];
  for (const path of walk(temp)) {
    const mode = statSync(join(temp, path)).mode & 0o111 ? 0o755 : 0o644;
    files.push(await describeLocalFile(join(temp, path), path, mode));
  }
  const record: BundleRecord = {
    files: files.map(({ source: _source, ...rest }) => rest),
    inputs,
  };
  writeFileSync(join(temp, RECORD), `${JSON.stringify(record)}\n`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  try {
    renameSync(temp, dir);
  } catch (error) {
    // Another run (a fleet install) put the same bundle there first: use that one.
    rmSync(temp, { recursive: true, force: true });
    const theirs = reuseBundle(dir);
    if (theirs === undefined) throw error;
    return finish(options, dir, theirs);
  }
  return finish(options, dir, record);
}

function finish(options: PrepareBundleOptions, dir: string, record: BundleRecord): CompanionBundle {
  const files = record.files.map((file) => ({ ...file, source: join(dir, file.path) }));
  return {
    version: options.version,
    arch: options.arch,
    dir,
    files,
    bytes: files.reduce((sum, file) => sum + file.bytes, 0),
  };
}

function reuseBundle(dir: string): BundleRecord | undefined {
  let record: BundleRecord;
  try {
    record = JSON.parse(readFileSync(join(dir, RECORD), "utf8")) as BundleRecord;
  } catch {
    return undefined;
  }
  for (const [path, mtimeMs] of Object.entries(record.inputs))
    if (statSync(path, { throwIfNoEntry: false })?.mtimeMs !== mtimeMs) return undefined;
  for (const file of record.files)
    if (statSync(join(dir, file.path), { throwIfNoEntry: false })?.size !== file.bytes) return undefined;
  return record;
}

function stamp(paths: string[]): Record<string, number> {
  return Object.fromEntries(paths.map((path) => [path, statSync(path).mtimeMs]));
}

function walk(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const abs = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(root, abs));
    else if (entry.isFile()) out.push(relative(root, abs).split(sep).join("/"));
  }
  return out.sort();
}

/** Where a package's files are, from its main entry (packages here need not export package.json). */
function packageDir(name: string, from: string = import.meta.url): string {
  const main = createRequire(from).resolve(name);
  let dir = dirname(main);
  while (!existsSync(join(dir, "package.json")) || readPackageName(join(dir, "package.json")) !== name) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the directory of ${name}`);
    dir = up;
  }
  return dir;
}

function readPackageName(path: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

/** onnxruntime-node's JavaScript and one architecture's native library; onnxruntime-common beside it. */
function copyOnnxruntime(nodeModules: string, arch: CompanionArch): void {
  const ort = packageDir("onnxruntime-node");
  const common = packageDir("onnxruntime-common", join(ort, "package.json"));
  const ortOut = join(nodeModules, "onnxruntime-node");
  mkdirSync(ortOut, { recursive: true });
  cpSync(join(ort, "package.json"), join(ortOut, "package.json"));
  cpSync(join(ort, "dist"), join(ortOut, "dist"), {
    recursive: true,
    filter: (source) => !source.endsWith(".map") && !source.endsWith(".d.ts"),
  });
  const napi = readdirSync(join(ort, "bin")).filter((name) => name.startsWith("napi-v"));
  for (const version of napi) {
    const native = join(ort, "bin", version, "linux", arch);
    if (existsSync(native)) cpSync(native, join(ortOut, "bin", version, "linux", arch), { recursive: true });
  }
  cpSync(common, join(nodeModules, "onnxruntime-common"), {
    recursive: true,
    filter: (source) => {
      const path = relative(common, source);
      return (
        !path.endsWith(".map") && !path.endsWith(".d.ts") && path !== "lib" && !path.startsWith(`lib${sep}`)
      );
    },
  });
}

/**
 * Bundles the companion entry and the worker threads it starts (their URLs
 * are relative to the script, so they sit beside it) with esbuild, loaded
 * only here: the packed tool ships the result and never needs it.
 */
export async function bundleCompanionScript(entry: string, outDir: string): Promise<Record<string, number>> {
  const esbuild = await import("esbuild");
  const excluded = new RegExp(
    `^(${WORKSTATION_ONLY_MODULES.map((m) => m.replace(/[/.]/g, "\\$&")).join("|")})$`,
  );
  const result = await esbuild.build({
    entryPoints: {
      "operator-tool": entry,
      "read-ahead-worker": join(
        packageDir("@operator-tool/companion-bringup"),
        "dist",
        "read-ahead-worker.js",
      ),
      "write-worker": join(packageDir("@operator-tool/atomic-file"), "dist", "write-worker.js"),
    },
    outdir: outDir,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20.18",
    external: ["onnxruntime-node"],
    legalComments: "none",
    metafile: true,
    logLevel: "silent",
    // CommonJS dependencies (commander, pino) call require() for Node's built-ins.
    banner: {
      js: 'import { createRequire as __operatorToolRequire } from "node:module"; const require = __operatorToolRequire(import.meta.url);',
    },
    plugins: [
      {
        name: "workstation-only",
        setup(build) {
          build.onResolve({ filter: excluded }, (args) => ({
            path: args.path,
            namespace: "workstation-only",
          }));
          build.onLoad({ filter: /.*/, namespace: "workstation-only" }, () => ({
            contents: "module.exports = {};",
            loader: "js",
          }));
        },
      },
    ],
  });
  const inputs = Object.keys(result.metafile.inputs)
    .filter((path) => !path.startsWith("workstation-only:"))
    .map((path) => join(process.cwd(), path));
  return stamp(inputs);
}
