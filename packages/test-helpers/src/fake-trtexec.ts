import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Installs an executable `trtexec` into `dir` (put `dir` first on PATH). It
 * speaks the real tool's interface: `--onnx= --saveEngine= --memPoolSize=
 * --fp16 --int8 --calib= --best --minShapes= --optShapes= --maxShapes=
 * --timingCacheFile= --skipInference`, rejects the removed `--workspace`,
 * prints the `&&&& RUNNING TensorRT.trtexec [TensorRT v100300]` banner and a
 * `&&&& PASSED` or `&&&& FAILED` line, and writes a plan file starting with
 * TensorRT's "ftrt" magic. Behaviour switches through the environment:
 *
 *   FAKE_TRTEXEC_VERSION      e.g. 10.3.0 (default)
 *   FAKE_TRTEXEC_FAIL         comma list of ONNX file basenames whose build fails
 *   FAKE_TRTEXEC_NO_PASSED    1: exit 0 without the PASSED line
 *   FAKE_TRTEXEC_DELAY_MS     sleep mid-build, after writing half the engine
 *   FAKE_TRTEXEC_ENGINE_BYTES engine size (default 64 KiB)
 *   FAKE_TRTEXEC_CALLS        file to append each invocation's argv to
 *   FAKE_TRTEXEC_ECHO         a line to print during the build (e.g. to test redaction)
 */
export function installFakeTrtexec(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "trtexec");
  const script = readFileSync(new URL("../scripts/fake-trtexec.cjs", import.meta.url), "utf8");
  writeFileSync(path, `#!${process.execPath}\n${script}`);
  chmodSync(path, 0o755);
  return path;
}

/** A Jetson's identifying files under `root`, for the host probe's injectable root. */
export function writeJetsonRoot(root: string, options: { l4t?: string; soc?: string } = {}): string {
  const [major, minor, patch] = (options.l4t ?? "36.4.3").split(".");
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "proc/device-tree"), { recursive: true });
  writeFileSync(
    join(root, "etc/nv_tegra_release"),
    `# R${major} (release), REVISION: ${minor}.${patch}, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n`,
  );
  writeFileSync(
    join(root, "proc/device-tree/compatible"),
    `nvidia,p3768-0000+p3767-0005\0nvidia,p3767-0005\0nvidia,${options.soc ?? "tegra234"}\0`,
  );
  return root;
}
