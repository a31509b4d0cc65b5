import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { HostProbeError } from "./errors.js";

/** What the engine key and the builder need to know about this machine. */
export interface HostInfo {
  backend: "tensorrt" | "onnxruntime";
  arch: string;
  /** Jetson only: from /etc/nv_tegra_release. */
  l4t: string | undefined;
  jetpack: string | undefined;
  /** The SoC (tegra234…) or "dgpu". */
  platform: string | undefined;
  sm: number | undefined;
  /** major.minor, as in the engine filename. */
  tensorrt: string | undefined;
  /** The full version (10.3.0.30), kept in the build record. */
  tensorrtFull: string | undefined;
  cuda: string | undefined;
  trtexecPath: string | undefined;
  ortVersion: string;
  /** Where each value came from, for `--dry-run` and the log. */
  sources: Record<string, string>;
}

export interface ProbeOptions {
  /** Root the Jetson files are read under; "/" on a real device. */
  root?: string;
  backend?: "auto" | "tensorrt" | "onnxruntime";
  /** Operator overrides: win over anything probed. */
  sm?: number;
  jetpack?: string;
  tensorrt?: string;
  env?: NodeJS.ProcessEnv;
  /** Runs a probe command; returns stdout, or undefined if it is missing or fails. */
  run?: (file: string, args: string[]) => Promise<string | undefined>;
  ortVersion: string;
}

/** L4T release → JetPack, from NVIDIA's release notes. A release not listed is reported unknown, never guessed. */
export const L4T_TO_JETPACK: Readonly<Record<string, string>> = {
  "35.1.0": "5.0.2",
  "35.2.1": "5.1",
  "35.3.1": "5.1.1",
  "35.4.1": "5.1.2",
  "35.5.0": "5.1.3",
  "35.6.0": "5.1.4",
  "35.6.1": "5.1.5",
  "36.2.0": "6.0",
  "36.3.0": "6.0",
  "36.4.0": "6.1",
  "36.4.3": "6.2",
  "36.4.4": "6.2.1",
  "38.2.0": "7.0",
  "38.2.1": "7.0",
};

/** SoC in /proc/device-tree/compatible → CUDA compute capability. */
export const SOC_TO_SM: Readonly<Record<string, number>> = {
  tegra210: 53,
  tegra186: 62,
  tegra194: 72,
  tegra234: 87,
  tegra264: 110,
};

export const TRTEXEC_FALLBACK = "/usr/src/tensorrt/bin/trtexec";

export async function probeHost(options: ProbeOptions): Promise<HostInfo> {
  const root = options.root ?? "/";
  const env = options.env ?? process.env;
  const run = options.run ?? defaultRun;
  const sources: Record<string, string> = {};

  const l4t = readL4t(join(root, "etc/nv_tegra_release"));
  let jetpack: string | undefined;
  if (l4t !== undefined) {
    sources.l4t = "/etc/nv_tegra_release";
    jetpack = L4T_TO_JETPACK[l4t];
    if (jetpack !== undefined) sources.jetpack = `L4T ${l4t}`;
  }
  const soc = readSoc(join(root, "proc/device-tree/compatible"));
  let sm = soc === undefined ? undefined : SOC_TO_SM[soc];
  if (sm !== undefined) sources.sm = `/proc/device-tree/compatible (${soc})`;
  let platform: string | undefined = soc;

  const trtexecPath = findExecutable("trtexec", env.PATH ?? "", [join(root, TRTEXEC_FALLBACK.slice(1))]);
  const wantTensorrt =
    options.backend === "tensorrt" || (options.backend !== "onnxruntime" && trtexecPath !== undefined);

  let tensorrtFull: string | undefined;
  let cuda: string | undefined;
  if (wantTensorrt) {
    if (sm === undefined && soc === undefined) {
      const cap = await run("nvidia-smi", ["--query-gpu=compute_cap", "--format=csv,noheader"]);
      const first = cap?.trim().split("\n")[0]?.trim();
      if (first !== undefined && /^\d+\.\d+$/.test(first)) {
        sm = Math.round(Number(first) * 10);
        platform = "dgpu";
        sources.sm = "nvidia-smi";
      }
    }
    for (const pkg of ["libnvinfer10", "libnvinfer-bin", "libnvinfer8", "tensorrt"]) {
      // dpkg's own format syntax, not a template.
      const version = await run("dpkg-query", ["-W", `-f=\${Version}`, pkg]);
      const match =
        version === undefined
          ? null
          : /^(\d+\.\d+\.\d+(?:\.\d+)?)(?:-\d+\+cuda(\d+\.\d+))?/.exec(version.trim());
      if (match !== null) {
        tensorrtFull = match[1];
        cuda = match[2];
        sources.tensorrt = `dpkg ${pkg}`;
        break;
      }
    }
    if (tensorrtFull === undefined && trtexecPath !== undefined) {
      const banner = await run(trtexecPath, ["--help"]);
      const match = banner === undefined ? null : /TensorRT v(\d{1,2})(\d{2})(\d{2})/.exec(banner);
      if (match !== null) {
        tensorrtFull = `${Number(match[1])}.${Number(match[2])}.${Number(match[3])}`;
        sources.tensorrt = "trtexec banner";
      }
    }
  }

  if (options.sm !== undefined) {
    sm = options.sm;
    sources.sm = "--sm";
  }
  if (options.jetpack !== undefined) {
    jetpack = options.jetpack;
    sources.jetpack = "--jetpack";
  }
  if (options.tensorrt !== undefined) {
    tensorrtFull = options.tensorrt;
    sources.tensorrt = "--tensorrt";
  }
  const tensorrt = tensorrtFull?.split(".").slice(0, 2).join(".");
  const backend = wantTensorrt ? "tensorrt" : "onnxruntime";

  if (backend === "tensorrt") {
    const missing: string[] = [];
    if (trtexecPath === undefined) missing.push(`trtexec (not on PATH nor at ${TRTEXEC_FALLBACK})`);
    if (sm === undefined)
      missing.push("the GPU's SM (no /proc/device-tree/compatible, no nvidia-smi answer): pass --sm");
    if (tensorrt === undefined)
      missing.push("the TensorRT version (no libnvinfer package, no trtexec banner): pass --tensorrt");
    if (l4t !== undefined && jetpack === undefined) {
      missing.push(`the JetPack release for L4T ${l4t} (not in the known table): pass --jetpack`);
    }
    if (missing.length > 0) {
      throw new HostProbeError(
        `cannot build TensorRT engines on this host: could not determine ${missing.join("; ")}`,
        {
          hint: "pass the missing values as flags, or --backend onnxruntime",
        },
      );
    }
  }

  return {
    backend,
    arch: process.arch,
    l4t,
    jetpack,
    platform: platform ?? (sm !== undefined ? "dgpu" : undefined),
    sm,
    tensorrt,
    tensorrtFull,
    cuda,
    trtexecPath,
    ortVersion: options.ortVersion,
    sources,
  };
}

/** `# R36 (release), REVISION: 4.3, GCID: …` → "36.4.3". */
export function readL4t(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const match = /#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)\.(\d+)/.exec(text);
  return match === null ? undefined : `${match[1]}.${match[2]}.${match[3]}`;
}

function readSoc(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch {
    return undefined;
  }
  for (const entry of text.split("\0")) {
    const match = /^nvidia,(tegra\d+)$/.exec(entry.trim());
    if (match !== null) return match[1];
  }
  return undefined;
}

function findExecutable(name: string, path: string, fallbacks: string[]): string | undefined {
  for (const candidate of [
    ...path
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, name)),
    ...fallbacks,
  ]) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

async function defaultRun(file: string, args: string[]): Promise<string | undefined> {
  const { execa } = await import("execa");
  try {
    const result = await execa(file, args, { timeout: 15_000, reject: false, stdin: "ignore" });
    // Missing binaries have no exit code; a non-zero exit may still carry a banner worth parsing.
    return result.exitCode === undefined ? undefined : `${result.stdout}\n${result.stderr}`;
  } catch {
    return undefined;
  }
}
