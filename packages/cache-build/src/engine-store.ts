import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { commitTempFile, sha256OfFile, writeFileAtomic, writeJsonAtomic } from "@operator-tool/atomic-file";

/**
 * What the companion's host probe says about the hardware and software an
 * engine is tied to (compile-engines' report `host`). Two companions with the
 * same identity build bit-for-bit interchangeable engines from the same inputs.
 */
export interface ProbedHost {
  backend: "tensorrt" | "onnxruntime";
  sm: number | null;
  jetpack: string | null;
  tensorrt: string | null;
  l4t?: string | null | undefined;
  tensorrtFull?: string | null | undefined;
  cuda?: string | null | undefined;
  device?: { model: string | null; compatible: string[] } | null | undefined;
}

export interface DeviceIdentity {
  backend: string;
  deviceModel: string | null;
  compatible: string[];
  sm: number | null;
  cuda: string | null;
  tensorrtFull: string | null;
  jetpack: string | null;
  l4t: string | null;
}

export function deviceIdentity(host: ProbedHost): DeviceIdentity {
  return {
    backend: host.backend,
    deviceModel: host.device?.model ?? null,
    compatible: host.device?.compatible ?? [],
    sm: host.sm,
    cuda: host.cuda ?? null,
    tensorrtFull: host.tensorrtFull ?? host.tensorrt,
    jetpack: host.jetpack,
    l4t: host.l4t ?? null,
  };
}

/** A short, stable name for an identity: the store's directory per kind of companion. */
export function identityDigest(identity: DeviceIdentity): string {
  const canonical = JSON.stringify([
    identity.backend,
    identity.deviceModel,
    identity.compatible,
    identity.sm,
    identity.cuda,
    identity.tensorrtFull,
    identity.jetpack,
    identity.l4t,
  ]);
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

/** Where a stored engine came from: `<engine>.source.json`. */
export interface StoredSource {
  sourceHost: string;
  storedAt: string;
  identity: DeviceIdentity;
  engineSha256: string;
}

export interface StoredEngine {
  enginePath: string;
  sidecarPath: string;
  recordPath: string;
  sha256: string;
  source: StoredSource;
}

export type StoreLookup =
  | { kind: "hit"; entry: StoredEngine }
  | { kind: "miss" }
  /** The entry's files disagree (edited, truncated, swapped): removed, so the companion builds. */
  | { kind: "refused"; reason: string };

/** The files a companion's build produced, pulled into temp files beside the store entry. */
export interface PulledEngine {
  engineTemp: string;
  engineSha256: string;
  sidecarText: string;
  recordText: string;
}

/**
 * The workstation's engines, `<staging-root>/engines/<identity>/<engine file>`
 * with the companion's sidecar (`.sha256`) and build record (`.build.json`)
 * beside it, and `.source.json` naming the companion that built it. An entry
 * is used only when all three agree on the engine's digest and the engine's
 * bytes hash to it.
 */
export class EngineStore {
  constructor(readonly root: string) {}

  static under(stagingRoot: string): EngineStore {
    return new EngineStore(join(stagingRoot, "engines"));
  }

  dir(identity: string): string {
    return join(this.root, identity);
  }

  /** Every entry's directory (`<identity>/<inputs>/`): where a killed pull leaves its temp files. */
  async entryDirectories(): Promise<string[]> {
    const below = async (dir: string) =>
      (await readdir(dir, { withFileTypes: true }).catch(() => []))
        .filter((d) => d.isDirectory())
        .map((d) => join(dir, d.name));
    return (await Promise.all((await below(this.root)).map(below))).flat();
  }

  /** A temp file in the entry's directory, named as atomic-file names them (a sweep removes a dead pid's). */
  async tempFor(identity: string, engineFile: string): Promise<string> {
    await mkdir(this.dir(identity), { recursive: true });
    return join(this.dir(identity), `.${engineFile}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  }

  async lookup(identity: string, engineFile: string): Promise<StoreLookup> {
    const enginePath = join(this.dir(identity), engineFile);
    const paths = {
      enginePath,
      sidecarPath: `${enginePath}.sha256`,
      recordPath: `${enginePath}.build.json`,
    };
    let source: StoredSource;
    let sidecar: string | undefined;
    let recordSha: string | undefined;
    try {
      source = JSON.parse(await readFile(`${enginePath}.source.json`, "utf8")) as StoredSource;
    } catch {
      return { kind: "miss" };
    }
    try {
      sidecar = /^([0-9a-f]{64})\b/.exec((await readFile(paths.sidecarPath, "utf8")).trim())?.[1];
      recordSha = (JSON.parse(await readFile(paths.recordPath, "utf8")) as { engineSha256?: string })
        .engineSha256;
    } catch (error) {
      return this.#refuse(
        identity,
        engineFile,
        `its sidecar or build record is unreadable (${String(error)})`,
      );
    }
    const actual = await sha256OfFile(enginePath).catch(() => undefined);
    if (actual === undefined) return this.#refuse(identity, engineFile, "its engine file is missing");
    if (actual !== sidecar || actual !== recordSha || actual !== source.engineSha256)
      return this.#refuse(
        identity,
        engineFile,
        `its engine hashes to ${actual.slice(0, 12)}…, its sidecar says ${sidecar?.slice(0, 12) ?? "nothing"}…`,
      );
    return { kind: "hit", entry: { ...paths, sha256: actual, source } };
  }

  /**
   * Stores a pulled build: the engine's digest is checked against what the
   * companion reported, its sidecar and its build record before anything is
   * renamed into place; the engine goes in last, so a killed put leaves a miss.
   */
  async put(identity: string, engineFile: string, pulled: PulledEngine, source: StoredSource): Promise<void> {
    const enginePath = join(this.dir(identity), engineFile);
    try {
      const actual = await sha256OfFile(pulled.engineTemp);
      const sidecar = /^([0-9a-f]{64})\b/.exec(pulled.sidecarText.trim())?.[1];
      const recordSha = (JSON.parse(pulled.recordText) as { engineSha256?: string }).engineSha256;
      if (actual !== pulled.engineSha256 || sidecar !== actual || recordSha !== actual)
        throw new Error(
          `the engine pulled from ${source.sourceHost} does not match its digest (got ${actual}, expected ${pulled.engineSha256})`,
        );
      await rm(`${enginePath}.source.json`, { force: true });
      await writeFileAtomic(`${enginePath}.sha256`, pulled.sidecarText);
      await writeFileAtomic(`${enginePath}.build.json`, pulled.recordText);
      // Synced before the rename: after a power cut the store has the whole engine or none.
      await commitTempFile(pulled.engineTemp, enginePath, { fsync: true });
      await writeJsonAtomic(`${enginePath}.source.json`, source);
    } finally {
      await rm(pulled.engineTemp, { force: true });
    }
  }

  async #refuse(identity: string, engineFile: string, reason: string): Promise<StoreLookup> {
    const enginePath = join(this.dir(identity), engineFile);
    for (const suffix of [".source.json", "", ".sha256", ".build.json"])
      await rm(`${enginePath}${suffix}`, { force: true });
    return { kind: "refused", reason };
  }
}
