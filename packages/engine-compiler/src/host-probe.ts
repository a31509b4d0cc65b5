import { readFileSync } from "node:fs";
import { join } from "node:path";
import { findExecutable } from "@operator-tool/executable-lookup";
import { HostProbeError } from "./errors.js";
import { trtexecRuleFor } from "./trtexec-flags.js";
import { parseTrtexecVersion } from "./trtexec-output.js";

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
  /** The CUDA toolkit's version (12.6.68), else the one TensorRT's package was built for (12.5). */
  cuda: string | undefined;
  /** Jetson only: /proc/device-tree/model, e.g. "NVIDIA Jetson Orin NX Engineering Reference Developer Kit". */
  deviceModel: string | undefined;
  /** Jetson only: /proc/device-tree/compatible; names the module SKU (p3767-0000 is Orin NX 16 GB). */
  compatible: string[] | undefined;
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

/*
 * L4T (Jetson Linux) release → JetPack, for every public L4T 32.x, 34.x, 35.x,
 * 36.x and 38.x release. A release not listed is reported unknown, never guessed.
 * Each entry says where it comes from: an NVIDIA page (developer.nvidia.com, whose
 * JetPack archive lists them), a third-party page that quotes NVIDIA's JetPack
 * archive, or "unverified" where no page could be consulted for it (kept so that
 * those devices are recognised; see docs/supported-platforms.md).
 */
const NVIDIA = "https://developer.nvidia.com/";
const ARCHIVE_QUOTED_BY_ASTUTE =
  "https://github.com/Astute-Systems/bsp/releases (quotes developer.nvidia.com/embedded/jetpack-archive)";
const UNVERIFIED = "unverified: no NVIDIA page for it was found";
export const L4T_RELEASES: Readonly<Record<string, { jetpack: string; source: string }>> = {
  "32.1.0": { jetpack: "4.2", source: UNVERIFIED },
  "32.2.0": { jetpack: "4.2.1", source: UNVERIFIED },
  "32.2.1": { jetpack: "4.2.2", source: `${NVIDIA}jetpack-4_3_dp` },
  "32.3.1": { jetpack: "4.3", source: UNVERIFIED },
  "32.4.2": { jetpack: "4.4", source: `${UNVERIFIED} (4.4 Developer Preview)` },
  "32.4.3": { jetpack: "4.4", source: `${NVIDIA}embedded/linux-tegra-r32.4.3` },
  "32.4.4": { jetpack: "4.4.1", source: `${NVIDIA}embedded/linux-tegra-r3244` },
  "32.5.0": { jetpack: "4.5", source: `${NVIDIA}embedded/linux-tegra-r325` },
  "32.5.1": { jetpack: "4.5.1", source: `${NVIDIA}embedded/linux-tegra-r3251` },
  "32.6.1": { jetpack: "4.6", source: UNVERIFIED },
  "32.7.1": { jetpack: "4.6.1", source: `${NVIDIA}embedded/linux-tegra-r3271` },
  "32.7.2": { jetpack: "4.6.2", source: `${NVIDIA}embedded/linux-tegra-r3272` },
  "32.7.3": { jetpack: "4.6.3", source: "https://github.com/OE4T/meta-tegra/wiki/L4T-R32.7.3-Notes" },
  "32.7.4": { jetpack: "4.6.4", source: UNVERIFIED },
  "32.7.5": { jetpack: "4.6.5", source: UNVERIFIED },
  "32.7.6": { jetpack: "4.6.6", source: UNVERIFIED },
  "34.1.0": { jetpack: "5.0", source: `${NVIDIA}ja-jp/jetpack-sdk-50dp (Developer Preview)` },
  "34.1.1": { jetpack: "5.0.1", source: `${NVIDIA}jetpack-sdk-50dp (Developer Preview)` },
  "35.1.0": { jetpack: "5.0.2", source: `${NVIDIA}embedded/jetpack-sdk-502` },
  "35.2.1": { jetpack: "5.1", source: `${NVIDIA}embedded/jetpack-sdk-51` },
  "35.3.1": { jetpack: "5.1.1", source: `${NVIDIA}embedded/jetpack-sdk-511` },
  "35.4.1": { jetpack: "5.1.2", source: `${NVIDIA}embedded/jetpack-sdk-512` },
  "35.5.0": { jetpack: "5.1.3", source: UNVERIFIED },
  "35.6.0": { jetpack: "5.1.4", source: `${NVIDIA}embedded/jetpack-sdk-514` },
  "35.6.1": { jetpack: "5.1.5", source: UNVERIFIED },
  "36.2.0": { jetpack: "6.0", source: `${UNVERIFIED} (6.0 Developer Preview)` },
  "36.3.0": { jetpack: "6.0", source: ARCHIVE_QUOTED_BY_ASTUTE },
  "36.4.0": { jetpack: "6.1", source: ARCHIVE_QUOTED_BY_ASTUTE },
  "36.4.3": { jetpack: "6.2", source: ARCHIVE_QUOTED_BY_ASTUTE },
  "36.4.4": { jetpack: "6.2.1", source: ARCHIVE_QUOTED_BY_ASTUTE },
  "38.2.0": { jetpack: "7.0", source: `${NVIDIA}embedded/jetpack/downloads/archive-7.0` },
  "38.2.1": { jetpack: "7.0", source: `${NVIDIA}embedded/jetpack/downloads/archive-7.0` },
  "38.4.0": { jetpack: "7.1", source: `${NVIDIA}embedded/jetpack/downloads/archive-7.1` },
};

/** L4T release → JetPack (the table above without its sources). */
export const L4T_TO_JETPACK: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(L4T_RELEASES).map(([l4t, { jetpack }]) => [l4t, jetpack]),
);

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
  const run = options.run ?? ((file, args) => defaultRun(file, args, env));
  const sources: Record<string, string> = {};

  const l4t = readL4t(join(root, "etc/nv_tegra_release"));
  let jetpack: string | undefined;
  if (l4t !== undefined) {
    sources.l4t = "/etc/nv_tegra_release";
    jetpack = L4T_TO_JETPACK[l4t];
    if (jetpack !== undefined) sources.jetpack = `L4T ${l4t}`;
  }
  const compatible = readDeviceTreeStrings(join(root, "proc/device-tree/compatible"));
  const deviceModel = readDeviceTreeStrings(join(root, "proc/device-tree/model"))?.[0];
  const soc = compatible?.map((entry) => /^nvidia,(tegra\d+)$/.exec(entry)?.[1]).find(Boolean);
  let sm = soc === undefined ? undefined : SOC_TO_SM[soc];
  if (sm !== undefined) sources.sm = `/proc/device-tree/compatible (${soc})`;
  let platform: string | undefined = soc;

  const trtexecPath = findExecutable("trtexec", {
    searchPath: env.PATH ?? "",
    fallbacks: [join(root, TRTEXEC_FALLBACK.slice(1))],
  });
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
    // libnvinfer-bin is the package that ships trtexec itself.
    for (const pkg of ["libnvinfer-bin", "libnvinfer10", "libnvinfer8", "tensorrt"]) {
      // dpkg's own format syntax, not a template.
      const version = await run("dpkg-query", ["-W", `-f=\${Version}`, pkg]);
      const match =
        version === undefined
          ? null
          : /^(\d+\.\d+\.\d+(?:\.\d+)?)(?:-\d+\+cuda(\d+\.\d+))?/.exec(version.trim());
      if (match !== null) {
        tensorrtFull = match[1];
        if (match[2] !== undefined) {
          cuda = match[2];
          sources.cuda = `dpkg ${pkg} (the CUDA it was built for)`;
        }
        sources.tensorrt = `dpkg ${pkg}`;
        break;
      }
    }
    if (tensorrtFull === undefined && trtexecPath !== undefined) {
      const output = await run(trtexecPath, ["--help"]);
      const parsed = output === undefined ? undefined : parseTrtexecVersion(output);
      if (parsed !== undefined) {
        tensorrtFull = parsed.version;
        sources.tensorrt = "trtexec banner";
      }
    }
    const toolkit = readCudaVersion(root);
    if (toolkit !== undefined) {
      cuda = toolkit.version;
      sources.cuda = toolkit.source;
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
    if (trtexecRuleFor(tensorrt!) === undefined) {
      throw new HostProbeError(
        `cannot build TensorRT engines on this host: TensorRT ${tensorrtFull} is older than 8.0, the oldest release whose trtexec flags are known`,
        { hint: "upgrade the companion to JetPack 4.6.1 or later, or pass --backend onnxruntime" },
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
    deviceModel,
    compatible,
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

/** A device-tree property: NUL-separated strings (compatible) or one NUL-terminated string (model). */
function readDeviceTreeStrings(path: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch {
    return undefined;
  }
  const strings = text
    .split("\0")
    .map((entry) => entry.trim())
    .filter(Boolean);
  return strings.length > 0 ? strings : undefined;
}

/** The CUDA toolkit under the root: version.json (CUDA 11.1+), else version.txt (10.2). */
function readCudaVersion(root: string): { version: string; source: string } | undefined {
  try {
    const json = JSON.parse(readFileSync(join(root, "usr/local/cuda/version.json"), "utf8")) as {
      cuda?: { version?: unknown };
    };
    if (typeof json.cuda?.version === "string") {
      return { version: json.cuda.version, source: "/usr/local/cuda/version.json" };
    }
  } catch {
    // not there, or not this format: try the older file
  }
  try {
    const match = /CUDA Version (\d+(?:\.\d+)+)/.exec(
      readFileSync(join(root, "usr/local/cuda/version.txt"), "utf8"),
    );
    if (match !== null) return { version: match[1]!, source: "/usr/local/cuda/version.txt" };
  } catch {
    // no toolkit file
  }
  return undefined;
}

async function defaultRun(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const { execa } = await import("execa");
  try {
    const result = await execa(file, args, {
      timeout: 15_000,
      reject: false,
      stdin: "ignore",
      env,
    });
    // Missing binaries have no exit code; a non-zero exit may still carry a banner worth parsing.
    return result.exitCode === undefined ? undefined : `${result.stdout}\n${result.stderr}`;
  } catch {
    return undefined;
  }
}
