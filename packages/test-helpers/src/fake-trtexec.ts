import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ENGINE = fileURLToPath(new URL("../scripts/fake-trtexec.cjs", import.meta.url));

/** The TensorRT releases the fake trtexec plays, oldest first. */
export const FAKE_TRTEXEC_RELEASES = ["8.2", "8.4", "8.5", "8.6", "10.3", "10.16", "11.1"] as const;
export type FakeTrtexecRelease = (typeof FAKE_TRTEXEC_RELEASES)[number];

export interface FakeTrtexecTable {
  release: string;
  /** The version on the release branch (include/NvInferVersion.h). */
  version: string;
  /** Every option that release's parser consumes, with its line in sampleOptions.cpp. */
  options: Record<string, number>;
}

/** A release's table, as the fake plays it (scripts/fake-trtexec-releases/trt-<release>.cjs). */
export function fakeTrtexecTable(release: FakeTrtexecRelease): FakeTrtexecTable {
  const require = createRequire(import.meta.url);
  return require(join(dirname(ENGINE), "fake-trtexec-releases", `trt-${release}.cjs`)) as FakeTrtexecTable;
}

/**
 * Installs an executable `trtexec` into `dir` that behaves as the given
 * release's trtexec (scripts/fake-trtexec.cjs; default: from
 * FAKE_TRTEXEC_VERSION, else 10.3). Returns its path. The environment switches
 * the script reads are listed at its top (FAKE_TRTEXEC_FAIL, _DELAY_MS, _CALLS…).
 */
export function installFakeTrtexec(
  dir: string,
  options: { release?: FakeTrtexecRelease; version?: string } = {},
): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "trtexec");
  const settings = {
    ...(options.release === undefined ? {} : { release: options.release }),
    ...(options.version === undefined ? {} : { version: options.version }),
  };
  writeFileSync(
    path,
    `#!${process.execPath}\nrequire(${JSON.stringify(ENGINE)}).main(${JSON.stringify(settings)});\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

/**
 * A Jetson as each TensorRT release ships on one: the files and package answers
 * the host probe reads. Test fixtures, not facts about NVIDIA's products: the
 * L4T release and the TensorRT package are a plausible pairing (JetPack 4.6.1
 * ships TensorRT 8.2, 5.0.2 8.4, 5.1.x 8.5, 6.0 8.6, 6.1/6.2 10.3); 10.16 and 11.1
 * are placed on a Thor with L4T 38.4 to exercise the newest releases.
 */
export interface JetsonFixture {
  l4t: string;
  jetpack: string;
  soc: string;
  sm: number;
  model: string;
  compatible: string[];
  /** dpkg-query answers: package → ${Version}. */
  packages: Record<string, string>;
  tensorrtFull: string;
  /** The CUDA toolkit file under /usr/local/cuda. */
  cuda: { file: "version.json" | "version.txt"; version: string };
}

export const JETSON_FIXTURES: Readonly<Record<FakeTrtexecRelease, JetsonFixture>> = {
  "8.2": {
    l4t: "32.7.1",
    jetpack: "4.6.1",
    soc: "tegra194",
    sm: 72,
    model: "NVIDIA Jetson Xavier NX Developer Kit",
    compatible: ["nvidia,p3509-0000+p3668-0001", "nvidia,jetson-xavier-nx", "nvidia,tegra194"],
    packages: { "libnvinfer-bin": "8.2.1-1+cuda10.2", libnvinfer8: "8.2.1-1+cuda10.2" },
    tensorrtFull: "8.2.1",
    cuda: { file: "version.txt", version: "10.2.300" },
  },
  "8.4": {
    l4t: "35.1.0",
    jetpack: "5.0.2",
    soc: "tegra234",
    sm: 87,
    model: "Jetson AGX Orin",
    compatible: ["nvidia,p3737-0000+p3701-0000", "nvidia,p3701-0000", "nvidia,tegra234"],
    packages: { "libnvinfer-bin": "8.4.1-1+cuda11.4", libnvinfer8: "8.4.1-1+cuda11.4" },
    tensorrtFull: "8.4.1",
    cuda: { file: "version.json", version: "11.4.19" },
  },
  "8.5": {
    l4t: "35.4.1",
    jetpack: "5.1.2",
    soc: "tegra234",
    sm: 87,
    model: "NVIDIA Orin NX Developer Kit",
    compatible: ["nvidia,p3768-0000+p3767-0000", "nvidia,p3767-0000", "nvidia,tegra234"],
    packages: { "libnvinfer-bin": "8.5.2-1+cuda11.4", libnvinfer8: "8.5.2-1+cuda11.4" },
    tensorrtFull: "8.5.2",
    cuda: { file: "version.json", version: "11.4.19" },
  },
  "8.6": {
    l4t: "36.3.0",
    jetpack: "6.0",
    soc: "tegra234",
    sm: 87,
    model: "NVIDIA Jetson Orin Nano Developer Kit",
    compatible: ["nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"],
    packages: { "libnvinfer-bin": "8.6.2.3-1+cuda12.2", libnvinfer8: "8.6.2.3-1+cuda12.2" },
    tensorrtFull: "8.6.2.3",
    cuda: { file: "version.json", version: "12.2.140" },
  },
  "10.3": {
    l4t: "36.4.3",
    jetpack: "6.2",
    soc: "tegra234",
    sm: 87,
    model: "NVIDIA Jetson Orin NX Engineering Reference Developer Kit",
    compatible: ["nvidia,p3768-0000+p3767-0001", "nvidia,p3767-0001", "nvidia,tegra234"],
    packages: { "libnvinfer-bin": "10.3.0.30-1+cuda12.5", libnvinfer10: "10.3.0.30-1+cuda12.5" },
    tensorrtFull: "10.3.0.30",
    cuda: { file: "version.json", version: "12.6.68" },
  },
  "10.16": {
    l4t: "38.4.0",
    jetpack: "7.1",
    soc: "tegra264",
    sm: 110,
    model: "NVIDIA Jetson AGX Thor Developer Kit",
    compatible: ["nvidia,p3971-0080+p3834-0008", "nvidia,p3834-0008", "nvidia,tegra264"],
    packages: { "libnvinfer-bin": "10.16.0.72-1+cuda13.0", libnvinfer10: "10.16.0.72-1+cuda13.0" },
    tensorrtFull: "10.16.0.72",
    cuda: { file: "version.json", version: "13.0.48" },
  },
  "11.1": {
    l4t: "38.4.0",
    jetpack: "7.1",
    soc: "tegra264",
    sm: 110,
    model: "NVIDIA Jetson AGX Thor Developer Kit",
    compatible: ["nvidia,p3971-0080+p3834-0008", "nvidia,p3834-0008", "nvidia,tegra264"],
    packages: { "libnvinfer-bin": "11.1.0.106-1+cuda13.0" },
    tensorrtFull: "11.1.0.106",
    cuda: { file: "version.json", version: "13.0.48" },
  },
};

export interface JetsonRootOptions {
  /** A whole Jetson for this TensorRT release: every file below, trtexec, and dpkg answers. */
  release?: FakeTrtexecRelease;
  /** Without `release`: just these identifying files (default L4T 36.4.3 on tegra234). */
  l4t?: string;
  soc?: string;
}

/**
 * A Jetson's files under `root`, for the host probe's injectable root:
 * /etc/nv_tegra_release, /proc/device-tree/{model,compatible}; with a release,
 * also /usr/local/cuda's version file, trtexec at /usr/src/tensorrt/bin (where
 * JetPack puts it, off PATH) and a `dpkg-query` in `jetsonBinDir(root)` that
 * answers for the TensorRT packages (put that directory on PATH).
 */
export function writeJetsonRoot(root: string, options: JetsonRootOptions = {}): string {
  const fixture = options.release === undefined ? undefined : JETSON_FIXTURES[options.release];
  const l4t = fixture?.l4t ?? options.l4t ?? "36.4.3";
  const soc = fixture?.soc ?? options.soc ?? "tegra234";
  const [major, minor, patch] = l4t.split(".");
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "proc/device-tree"), { recursive: true });
  writeFileSync(
    join(root, "etc/nv_tegra_release"),
    `# R${major} (release), REVISION: ${minor}.${patch}, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n`,
  );
  const compatible = fixture?.compatible ?? [
    "nvidia,p3768-0000+p3767-0005",
    "nvidia,p3767-0005",
    `nvidia,${soc}`,
  ];
  writeFileSync(join(root, "proc/device-tree/compatible"), `${compatible.join("\0")}\0`);
  writeFileSync(join(root, "proc/device-tree/model"), `${fixture?.model ?? "NVIDIA Jetson"}\0`);
  if (fixture === undefined || options.release === undefined) return root;

  mkdirSync(join(root, "usr/local/cuda"), { recursive: true });
  writeFileSync(
    join(root, "usr/local/cuda", fixture.cuda.file),
    fixture.cuda.file === "version.json"
      ? `${JSON.stringify({ cuda: { name: "CUDA SDK", version: fixture.cuda.version } }, null, 3)}\n`
      : `CUDA Version ${fixture.cuda.version}\n`,
  );
  installFakeTrtexec(join(root, "usr/src/tensorrt/bin"), {
    release: options.release,
    version: fixture.tensorrtFull.split(".").slice(0, 3).join("."),
  });
  const bin = jetsonBinDir(root);
  mkdirSync(bin, { recursive: true });
  const cases = Object.entries(fixture.packages)
    .map(([pkg, version]) => `  ${pkg}) printf '%s' '${version}' ;;`)
    .join("\n");
  writeFileSync(
    join(bin, "dpkg-query"),
    `#!/bin/sh\n# dpkg-query -W -f=\${Version} PKG, as on the fixture's Jetson\nfor pkg in "$@"; do :; done\ncase "$pkg" in\n${cases}\n  *) echo "dpkg-query: no packages found matching $pkg" >&2; exit 1 ;;\nesac\n`,
  );
  chmodSync(join(bin, "dpkg-query"), 0o755);
  return root;
}

/** Where writeJetsonRoot puts its `dpkg-query`: put it on PATH. */
export function jetsonBinDir(root: string): string {
  return join(root, "usr/bin");
}
