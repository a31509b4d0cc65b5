import { execFile } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { CompanionArch } from "./companion-facts.js";
import { CompanionInstallError } from "./errors.js";

const run = promisify(execFile);

/** The Node LTS shipped to companions without a usable one: npm's `node-linux-<arch>` packages. */
export const PINNED_NODE_VERSION = "24.22.3";

/** ELF e_machine values: what `file` reports as "ARM aarch64" and "x86-64". */
const ELF_MACHINE: Record<number, CompanionArch> = { 183: "arm64", 62: "x64" };

/** The architecture an ELF executable is built for, or undefined for anything else. */
export function elfArch(path: string): CompanionArch | undefined {
  const header = Buffer.alloc(20);
  const fd = openSync(path, "r");
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return undefined;
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  return ELF_MACHINE[header.readUInt16LE(18)];
}

export interface NodeRuntimeOptions {
  arch: CompanionArch;
  /** Where fetched runtimes are cached: `<dir>/node-<version>-<arch>/node`. */
  cacheDir: string;
  /** A Node binary, or an `npm pack`ed node-linux-<arch> tarball, for operators without registry access. */
  nodeRuntime?: string | undefined;
  /** Use this process's own Node when the architectures match (default true). */
  reuseWorkstationNode?: boolean;
  /** The npm client to fetch with (default `npm` on PATH). */
  npmCommand?: string;
}

export interface NodeRuntime {
  path: string;
  source: "option" | "workstation" | "registry";
}

/**
 * A Node binary for the companion's architecture: the one given, else this
 * workstation's own when the architectures match, else the pinned LTS from
 * the npm registry, fetched once into the cache.
 */
export async function resolveNodeRuntime(options: NodeRuntimeOptions): Promise<NodeRuntime> {
  const { arch } = options;
  if (options.nodeRuntime !== undefined) {
    const given = options.nodeRuntime;
    if (!existsSync(given))
      throw new CompanionInstallError("runtime", `--node-runtime ${given} does not exist`, {
        hint: `pass a Node binary for linux-${arch}, or the node-linux-${arch} tarball from \`npm pack node-linux-${arch}@${PINNED_NODE_VERSION}\``,
      });
    const path = given.endsWith(".tgz")
      ? await extractRuntime(given, options.cacheDir, arch, "given")
      : given;
    const found = elfArch(path);
    if (found !== arch)
      throw new CompanionInstallError(
        "runtime",
        `--node-runtime ${given} is ${found === undefined ? "not a Linux executable" : `built for ${found}`}, but the companion is ${arch}`,
        { hint: `pass a Node binary for linux-${arch}` },
      );
    return { path, source: "option" };
  }
  if ((options.reuseWorkstationNode ?? true) && process.platform === "linux" && process.arch === arch)
    return { path: process.execPath, source: "workstation" };
  const cached = join(options.cacheDir, `node-${PINNED_NODE_VERSION}-${arch}`, "node");
  if (existsSync(cached) && elfArch(cached) === arch) return { path: cached, source: "registry" };
  const tarball = await fetchRuntimeTarball(options);
  return {
    path: await extractRuntime(tarball, options.cacheDir, arch, PINNED_NODE_VERSION),
    source: "registry",
  };
}

async function fetchRuntimeTarball(options: NodeRuntimeOptions): Promise<string> {
  const spec = `node-linux-${options.arch}@${PINNED_NODE_VERSION}`;
  const downloads = join(options.cacheDir, "downloads");
  mkdirSync(downloads, { recursive: true });
  const name = `node-linux-${options.arch}-${PINNED_NODE_VERSION}.tgz`;
  if (existsSync(join(downloads, name))) return join(downloads, name);
  try {
    // npm checks the tarball against the registry's integrity hash.
    await run(options.npmCommand ?? "npm", ["pack", spec, "--pack-destination", downloads, "--silent"], {
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    throw new CompanionInstallError(
      "runtime",
      `the companion has no Node ${">="}20.18 and fetching ${spec} from the npm registry failed: ${lastLineOf(error)}`,
      {
        hint: `on a machine with registry access run \`npm pack ${spec}\` and pass the tarball with --node-runtime`,
        cause: error,
      },
    );
  }
  if (!existsSync(join(downloads, name)))
    throw new CompanionInstallError("runtime", `npm pack ${spec} did not produce ${name}`, {
      hint: "pass a Node binary with --node-runtime",
    });
  return join(downloads, name);
}

async function extractRuntime(
  tarball: string,
  cacheDir: string,
  arch: CompanionArch,
  label: string,
): Promise<string> {
  const target = join(cacheDir, `node-${label}-${arch}`);
  const temp = `${target}.tmp-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp, { recursive: true });
  try {
    await run("tar", ["-xzf", tarball, "-C", temp, "package/bin/node"]);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw new CompanionInstallError("runtime", `${tarball} holds no package/bin/node: ${lastLineOf(error)}`, {
      hint: `use the tarball \`npm pack node-linux-${arch}@${PINNED_NODE_VERSION}\` writes`,
    });
  }
  renameSync(join(temp, "package", "bin", "node"), join(temp, "node"));
  rmSync(join(temp, "package"), { recursive: true, force: true });
  rmSync(target, { recursive: true, force: true });
  renameSync(temp, target);
  return join(target, "node");
}

function lastLineOf(error: unknown): string {
  const text = `${(error as { stderr?: string }).stderr ?? ""}`.trim() || (error as Error).message;
  return text.split("\n").at(-1) ?? "";
}
