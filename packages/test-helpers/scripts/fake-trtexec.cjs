// A stand-in for NVIDIA trtexec (see installFakeTrtexec): real flags, real output lines.
"use strict";
const fs = require("node:fs");
const crypto = require("node:crypto");
const path = require("node:path");
const args = process.argv.slice(2);
const env = process.env;
const version = env.FAKE_TRTEXEC_VERSION || "10.3.0";
const [maj, min, pat] = version.split(".").map(Number);
const tag = `v${String(maj)}${String(min).padStart(2, "0")}${String(pat || 0).padStart(2, "0")}`;
const cmd = `trtexec ${args.join(" ")}`;
const log = (level, text) => console.log(`[11/22/2026-06:00:00] [${level}] ${text}`);
if (env.FAKE_TRTEXEC_CALLS) fs.appendFileSync(env.FAKE_TRTEXEC_CALLS, `${JSON.stringify(args)}\n`);
console.log(`&&&& RUNNING TensorRT.trtexec [TensorRT ${tag}] # ${cmd}`);
function fail(message) {
  log("E", message);
  console.log(`&&&& FAILED TensorRT.trtexec [TensorRT ${tag}] # ${cmd}`);
  process.exit(1);
}
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "=== Model Options ===\n  --onnx=<file>  ONNX model\n=== Build Options ===\n  --memPoolSize=poolspec ...",
  );
  process.exit(0);
}
const opts = {};
const known = new Set([
  "onnx",
  "saveEngine",
  "memPoolSize",
  "fp16",
  "int8",
  "best",
  "calib",
  "minShapes",
  "optShapes",
  "maxShapes",
  "shapes",
  "timingCacheFile",
  "skipInference",
  "verbose",
]);
for (const arg of args) {
  const m = /^--([A-Za-z0-9]+)(?:=(.*))?$/.exec(arg);
  if (!m) fail(`Invalid argument: ${arg}`);
  if (m[1] === "workspace")
    fail("Unknown option: --workspace (removed in TensorRT 10; use --memPoolSize=workspace:<N>M)");
  if (!known.has(m[1])) fail(`Unknown option: --${m[1]}`);
  opts[m[1]] = m[2] === undefined ? true : m[2];
}
if (!opts.onnx) fail("Model missing or format not recognized");
if (!fs.existsSync(opts.onnx)) fail(`Cannot open ONNX file ${opts.onnx}`);
if (opts.memPoolSize && !/^workspace:\d+M?$/.test(opts.memPoolSize))
  fail(`Invalid memPoolSize: ${opts.memPoolSize}`);
if (opts.int8 && opts.calib && !fs.existsSync(opts.calib)) fail(`Calibration cache ${opts.calib} not found`);
log("I", "=== Build Options ===");
log("I", `Precision: ${opts.fp16 ? "FP32+FP16" : opts.int8 ? "FP32+INT8" : opts.best ? "Best" : "FP32"}`);
log("I", `Min/Opt/Max shapes: ${[opts.minShapes, opts.optShapes, opts.maxShapes].join(" / ")}`);
log("I", "[MemUsageChange] Init CUDA: CPU +2, GPU +0, now: CPU 30, GPU 1830 (MiB)");
if (env.FAKE_TRTEXEC_ECHO) log("I", env.FAKE_TRTEXEC_ECHO);
const failing = (env.FAKE_TRTEXEC_FAIL || "").split(",").filter(Boolean);
if (failing.includes(path.basename(opts.onnx))) {
  log(
    "E",
    "Error[10]: IBuilder::buildSerializedNetwork: Error Code 10: Internal Error (Could not find any implementation for node /mul.)",
  );
  fail("Engine could not be created from network");
}
const size = Number(env.FAKE_TRTEXEC_ENGINE_BYTES || 65536);
const onnx = fs.readFileSync(opts.onnx);
const seed = crypto
  .createHash("sha256")
  .update(onnx)
  .update(
    JSON.stringify(
      opts,
      Object.keys(opts)
        .filter((k) => k !== "saveEngine" && k !== "timingCacheFile")
        .sort(),
    ),
  )
  .update(version)
  .digest();
const header = Buffer.alloc(12);
header.write("ftrt", 0, "latin1");
header.writeUInt32LE(1, 4);
header.writeUInt32LE(200 + maj * 10 + min, 8);
const body = Buffer.alloc(Math.max(size - 12, 32));
for (let i = 0; i < body.length; i += 32) seed.copy(body, i, 0, Math.min(32, body.length - i));
if (opts.saveEngine) {
  const fd = fs.openSync(opts.saveEngine, "w");
  fs.writeSync(fd, header);
  fs.writeSync(fd, body.subarray(0, body.length >> 1));
  const delay = Number(env.FAKE_TRTEXEC_DELAY_MS || 0);
  if (delay > 0) {
    log("I", "Building engine, this may take a while...");
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
  }
  fs.writeSync(fd, body.subarray(body.length >> 1));
  fs.closeSync(fd);
  log("I", "Engine built in 0.5 sec.");
  log("I", `Saved engine to ${opts.saveEngine}`);
}
if (opts.timingCacheFile) fs.writeFileSync(opts.timingCacheFile, `timing ${version}`);
if (env.FAKE_TRTEXEC_NO_PASSED === "1") process.exit(0);
console.log(`&&&& PASSED TensorRT.trtexec [TensorRT ${tag}] # ${cmd}`);
