// A stand-in for NVIDIA trtexec that behaves as one TensorRT release's trtexec
// does: the option parser (which options exist, how values are read, what is
// refused and how), the banner, the log format and streams, the build's log
// lines and its failure chains, and the exit codes. What each release does is
// in ./fake-trtexec-releases/trt-<release>.cjs, taken from NVIDIA's source for
// that release; this file is the machinery that plays a table.
//
// It cannot run a builder: the "engine" it writes is a plan-shaped file (the
// "ftrt" magic) derived from the ONNX bytes and the options. Messages that come
// from inside libnvinfer (closed source) are not in any table; the few failure
// modes below that need one print a plain "[TRT]" line instead.
//
// Test switches (environment):
//   FAKE_TRTEXEC_RELEASE      which table to play (default: from FAKE_TRTEXEC_VERSION, else 10.3)
//   FAKE_TRTEXEC_VERSION      the full version it reports, e.g. 8.5.2 (default: the branch's)
//   FAKE_TRTEXEC_FAIL         comma list of ONNX basenames whose build fails; "name:oom" fails
//                             for lack of memory, "name:parse" as an unparseable model
//   FAKE_TRTEXEC_NO_PASSED    1: exit 0 without the result line
//   FAKE_TRTEXEC_DELAY_MS     sleep mid-build, after writing half the engine
//   FAKE_TRTEXEC_ENGINE_BYTES engine size (default 64 KiB)
//   FAKE_TRTEXEC_CALLS        file to append each invocation's argv to (JSON lines)
//   FAKE_TRTEXEC_ECHO         a line to print during the build (e.g. to test redaction)
"use strict";
const fs = require("node:fs");
const crypto = require("node:crypto");
const path = require("node:path");
const { pickRelease } = require("./fake-trtexec-releases/index.cjs");

class InvalidArgument extends Error {}

function main(options = {}) {
  const env = process.env;
  const args = process.argv.slice(2);
  const rel = pickRelease(options.release || env.FAKE_TRTEXEC_RELEASE, env.FAKE_TRTEXEC_VERSION);
  const version = env.FAKE_TRTEXEC_VERSION || options.version || rel.version;
  const [maj, min, pat] = version.split(".").map(Number);
  const number =
    rel.bannerDigits === 4 ? maj * 1000 + min * 100 + (pat || 0) : maj * 10000 + min * 100 + (pat || 0);
  const name = `TensorRT.trtexec [TensorRT v${number}]${rel.bannerBuildTag ? ` [b${rel.build}]` : ""}`;
  const cmdline = [process.argv[1], ...args].join(" ");

  if (env.FAKE_TRTEXEC_CALLS) fs.appendFileSync(env.FAKE_TRTEXEC_CALLS, `${JSON.stringify(args)}\n`);

  // Writes to pipes are synchronous on Linux, so the order on each stream holds.
  const stdout = (text) => fs.writeSync(1, `${text}\n`);
  const stderr = (text) => fs.writeSync(2, `${text}\n`);
  const log = (severity, text) =>
    (severity === "I" || severity === "V" ? stdout : stderr)(`${timestamp()} [${severity}] ${text}`);
  const result = (word) => stdout(`&&&& ${word} ${name} # ${cmdline}`);
  const exit = (code) => process.exit(code);
  const failed = () => {
    result("FAILED");
    exit(1);
  };
  const help = () => printHelp(rel, stdout);

  result("RUNNING");
  const entries = args.map((arg, i) => {
    const eq = arg.indexOf("=");
    return eq === -1
      ? { key: arg, value: "", pos: i + 1 }
      : { key: arg.slice(0, eq), value: arg.slice(eq + 1), pos: i + 1 };
  });
  if (entries.some((e) => e.key === "--help" || e.key === "-h")) {
    help();
    exit(0);
  }
  if (entries.length === 0) {
    help();
    if (rel.resultLineOnNoArgs) result("PASSED");
    exit(0);
  }

  let parsed;
  const parseErrors = [];
  try {
    parsed = parseOptions(rel, entries, (text) => log("W", text));
    for (const e of parsed.unknown) parseErrors.push(`Unknown option: ${e.key} ${e.value}`);
  } catch (error) {
    if (!(error instanceof InvalidArgument)) throw error;
    parseErrors.push(error.message);
  }
  if (parseErrors.length > 0) {
    if (rel.helpBeforeErrors) help();
    for (const text of parseErrors) log("E", text);
    if (!rel.helpBeforeErrors) help();
    if (rel.resultLineOnParseError) failed();
    exit(1);
  }
  const o = parsed.values;

  log("I", "=== Model Options ===");
  log("I", "Format: ONNX");
  log("I", `Model: ${o["--onnx"]}`);
  log("I", "=== Build Options ===");
  log(
    "I",
    `Precision: ${o["--best"] ? "FP32+FP16+INT8" : ["FP32", o["--fp16"] && "FP16", o["--int8"] && "INT8"].filter(Boolean).join("+")}`,
  );
  log("I", "");
  log("I", `TensorRT version: ${maj}.${min}.${pat || 0}`);
  if (rel.lines.loadingPlugins) log("I", "Loading standard plugins");
  if (env.FAKE_TRTEXEC_ECHO) log("I", env.FAKE_TRTEXEC_ECHO);

  const modelName = path.basename(o["--onnx"]);
  const failing = (env.FAKE_TRTEXEC_FAIL || "")
    .split(",")
    .filter(Boolean)
    .map((item) => item.split(":"))
    .find(([file]) => file === modelName);
  const failMode = failing === undefined ? undefined : (failing[1] ?? "build");
  if (failMode !== undefined && !["oom", "parse", "build"].includes(failMode)) {
    throw new Error(`fake trtexec: unknown FAKE_TRTEXEC_FAIL mode ${failMode}`);
  }
  const buildFailed = (...errors) => {
    for (const text of errors) log("E", text);
    log("E", rel.lines.failedToCreate);
    log("E", "Engine set up failed");
    failed();
  };
  const setupFailed = (...errors) =>
    buildFailed(...errors, "Network And Config setup failed", "Building engine failed");

  // Parsing the model (sampleEngines.cpp modelToNetwork).
  const started = Date.now();
  log("I", rel.lines.startParsing);
  let network;
  try {
    if (failMode === "parse") throw new Error("scripted parse failure");
    network = readOnnxNetwork(fs.readFileSync(o["--onnx"]));
  } catch {
    const { file, line, bang } = rel.onnxParser;
    log("E", `[TRT] ${file}:${line}: Failed to parse ONNX model from file: ${o["--onnx"]}${bang ? "!" : ""}`);
    log("E", "Failed to parse onnx file");
    log("I", finishParsing(rel, started));
    buildFailed("Parsing model failed");
  }
  log("I", finishParsing(rel, started));

  // The optimization profile (sampleEngines.cpp setupNetworkAndConfig).
  const shapes = parsed.shapes;
  for (const tensor of Object.keys(shapes)) {
    if (!network.inputs.some((input) => input.name === tensor)) {
      setupFailed(
        `Cannot find input tensor with name "${tensor}" in the network inputs! Please make sure the input tensor names are correct.`,
      );
    }
  }
  let dynamic = false;
  for (const input of network.inputs) {
    if (!input.dims.some((d) => d === -1)) continue;
    dynamic = true;
    const range = shapes[input.name];
    if (range === undefined) {
      log(
        "W",
        `Dynamic dimensions required for input: ${input.name}, but no shapes were provided. Automatically overriding shape to: ${input.dims.map((d) => (d > 0 ? d : 1)).join("x")}`,
      );
      continue;
    }
    for (const [selector, dims] of [
      ["MIN", range.min],
      ["OPT", range.opt],
      ["MAX", range.max],
    ]) {
      const fits =
        dims.length === input.dims.length &&
        dims.every((d, i) => input.dims[i] === -1 || input.dims[i] === d);
      if (!fits) setupFailed(`Error in set dimensions to profile ${selector}`);
    }
    if (!range.min.every((d, i) => d <= range.opt[i] && range.opt[i] <= range.max[i])) {
      setupFailed("Required optimization profile is invalid");
    }
  }
  if (rel.lines.createdEngineSize && network.outputs.some((output) => output.dims.some((d) => d === -1))) {
    // From 10.0 a dynamic output also makes the network dynamic (release/10.3 sampleEngines.cpp L826-836).
    dynamic = true;
  }
  if (!dynamic && Object.keys(shapes).length > 0) {
    setupFailed(
      "Static model does not take explicit shapes since the shape of inference tensors will be determined by the model itself",
    );
  }

  if (failMode === "oom" || failMode === "build") {
    // libnvinfer's own message (closed source): the shape of the line is the logger's, the words are ours.
    log(
      "E",
      failMode === "oom"
        ? "[TRT] 2: [builder] Error Code 2: OutOfMemory (requested more GPU memory than is available)"
        : "[TRT] 10: [optimizer] Error Code 10: Internal Error (Could not find any implementation for node mul)",
    );
    buildFailed("Engine could not be created from network", "Building engine failed");
  }
  // The build.
  const size = Number(env.FAKE_TRTEXEC_ENGINE_BYTES || 65536);
  const seed = crypto
    .createHash("sha256")
    .update(fs.readFileSync(o["--onnx"]))
    .update(
      JSON.stringify(
        Object.keys(o)
          .filter((k) => k !== "--saveEngine" && k !== "--timingCacheFile")
          .sort()
          .map((k) => [k, o[k]]),
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
  const engineBuilt = () => {
    log("I", `Engine built in ${((Date.now() - started) / 1000).toFixed(4)} sec.`);
    if (rel.lines.createdEngineSize) log("I", `Created engine with size: ${(size / 1048576).toFixed(4)} MiB`);
  };
  if (o["--saveEngine"]) {
    const fd = fs.openSync(o["--saveEngine"], "w");
    fs.writeSync(fd, header);
    fs.writeSync(fd, body.subarray(0, body.length >> 1));
    const delay = Number(env.FAKE_TRTEXEC_DELAY_MS || 0);
    if (delay > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
    if (rel.lines.engineBuiltWhere === "before-save") engineBuilt();
    fs.writeSync(fd, body.subarray(body.length >> 1));
    fs.closeSync(fd);
    if (rel.lines.engineBuiltWhere === "after-save") engineBuilt();
  } else {
    engineBuilt();
  }
  if (o["--timingCacheFile"]) fs.writeFileSync(o["--timingCacheFile"], `timing ${version}`);

  if (parsed.skipInference) {
    if (rel.buildOnly.skippedLine) log("I", rel.buildOnly.skippedLine);
  } else {
    log("I", "Starting inference");
    log("I", "=== Performance summary ===");
  }
  if (env.FAKE_TRTEXEC_NO_PASSED === "1") exit(0);
  result("PASSED");
  exit(0);
}

function finishParsing(rel, started) {
  return rel.lines.parseTimeSuffix
    ? `${rel.lines.finishParsing}${((Date.now() - started) / 1000).toFixed(5)}`
    : rel.lines.finishParsing;
}

/**
 * argsToArgumentsMap + AllOptions::parse: each option the release knows is
 * taken once (repeatable ones every time); what is left is an unknown option.
 * Values are read as the release reads them, for the options whose values
 * decide whether a build is attempted.
 */
function parseOptions(rel, entries, warn) {
  const has = (option) => Object.hasOwn(rel.options, option);
  const isUff = entries.some((e) => e.key === "--uff");
  const isOnnx = entries.some((e) => e.key === "--onnx");
  // UffInput::parse and --deploy only run for UFF / Caffe models (ModelOptions::parse).
  const applies = (option) =>
    option === "--uffInput" || option === "--uffNHWC" ? isUff : option === "--deploy" ? !isOnnx : true;
  const values = {};
  const unknown = [];
  const taken = new Set();
  for (const e of entries) {
    if (!has(e.key) || !applies(e.key) || (taken.has(e.key) && !rel.repeatable.includes(e.key))) {
      unknown.push(e);
      continue;
    }
    taken.add(e.key);
    values[e.key] = e.value;
  }
  const flag = (option) => Object.hasOwn(values, option);

  if (flag("--explicitBatch")) for (const text of rel.deprecatedNoEffect["--explicitBatch"] ?? []) warn(text);
  const shapes = {};
  for (const [option, selector] of [
    ["--minShapes", "min"],
    ["--optShapes", "opt"],
    ["--maxShapes", "max"],
  ]) {
    if (!flag(option)) continue;
    for (const spec of values[option].split(",").filter(Boolean)) {
      const colon = spec.lastIndexOf(":");
      const tensor = spec.slice(0, colon).replace(/'/g, "");
      const dims = spec
        .slice(colon + 1)
        .split("x")
        .map((d) => stoi(d, rel, "minShapes/optShapes/maxShapes"));
      shapes[tensor] = { ...shapes[tensor], [selector]: dims };
    }
  }
  for (const range of Object.values(shapes)) {
    // processShapes: a missing bound is broadcast from the others.
    range.opt ??= range.max ?? range.min;
    range.min ??= range.opt;
    range.max ??= range.opt;
  }
  if (flag("--workspace")) {
    if (rel.workspace === null) throw new Error("unreachable: --workspace is not an option here");
    if (rel.workspace.parse === "stoi") stoi(values["--workspace"], rel);
    else stod(values["--workspace"], rel);
    if (rel.workspace.deprecation) warn(rel.workspace.deprecation);
  }
  if (flag("--memPoolSize")) {
    for (const spec of values["--memPoolSize"].split(",").filter(Boolean)) {
      const colon = spec.lastIndexOf(":");
      const pool = colon === -1 ? "" : spec.slice(0, colon);
      let size = spec.slice(colon + 1);
      let mib;
      if (rel.memPool.unitSuffix) {
        if (/\d$/.test(size)) size += "M";
        const unit = size.at(-1).toUpperCase();
        const multiplier = { B: 1, K: 1024, M: 1048576, G: 1073741824 }[unit];
        if (multiplier === undefined) {
          throw new InvalidArgument(
            `Error parsing "${size}": invalid unit specifier '${unit}'. Valid base-2 unit suffixes include: B (Bytes), G (Gibibytes), K (Kibibytes), M (Mebibytes). conversion failure: failed to parse --memPoolSize. Please double check your input string.`,
          );
        }
        mib = (stod(size, rel, "--memPoolSize") * multiplier) / 1048576;
      } else {
        mib = stod(size, rel);
      }
      if (mib < 0) throw new InvalidArgument(`Negative memory pool size: ${mib.toFixed(6)}`);
      if (pool !== "" && !rel.memPool.pools.includes(pool))
        throw new InvalidArgument(`Unknown memory pool: ${pool}`);
    }
  }
  if (flag("--best") && flag("--stronglyTyped") && rel.stronglyTypedConflicts?.bestIsError) {
    throw new InvalidArgument(rel.stronglyTypedConflicts.bestIsError);
  }
  if (flag("--stronglyTyped") && rel.stronglyTypedConflicts) {
    for (const [option, mode, builderFlag] of [
      ["--fp16", "fp16", "kFP16"],
      ["--int8", "int8", "kINT8"],
    ]) {
      if (flag(option)) {
        warn(
          `Invalid usage, setting ${mode} mode is not allowed if graph is strongly typed. Disabling BuilderFlag::${builderFlag}.`,
        );
      }
    }
  }
  if (rel.precisionDeprecation && (flag("--fp16") || flag("--int8") || flag("--best"))) {
    warn(rel.precisionDeprecation);
  }
  let skipInference = flag(rel.buildOnly.option);
  if (rel.buildOnly.deprecation && flag(rel.buildOnly.deprecation.option)) {
    warn(rel.buildOnly.deprecation.warning);
    skipInference = true;
  }
  if (flag("--loadEngine") && flag("--saveEngine")) {
    throw new InvalidArgument("Incompatible load and save engine options selected");
  }
  if (!flag("--onnx") && !flag("--loadEngine") && !flag("--uff") && !flag("--model")) {
    throw new InvalidArgument("Model missing or format not recognized");
  }
  if (!flag("--onnx")) throw new Error("fake trtexec: only ONNX models are played");
  return { values, unknown, shapes, skipInference };
}

// std::stoi / std::stod throw std::invalid_argument whose what() is the function's name;
// from 10.0 the option's parser appends which option failed.
function stoi(text, rel, what) {
  if (!/^\s*[-+]?\d/.test(text)) throw conversionFailure("stoi", rel, what);
  return Number.parseInt(text, 10);
}
function stod(text, rel, what) {
  const value = Number.parseFloat(text);
  if (Number.isNaN(value)) throw conversionFailure("stod", rel, what);
  return value;
}
function conversionFailure(fn, rel, what) {
  return new InvalidArgument(
    what && rel.bannerDigits === 6
      ? `${fn} conversion failure: failed to parse ${what}. Please double check your input string.`
      : fn,
  );
}

/** Not NVIDIA's help text: the release's options, one a line, where trtexec prints its help. */
function printHelp(rel, stdout) {
  stdout("=== Options ===");
  for (const option of Object.keys(rel.options).sort()) stdout(`  ${option}`);
}

/** logging.h: "[MM/DD/YYYY-HH:MM:SS]" in local time. */
function timestamp() {
  const d = new Date();
  const two = (n) => String(n).padStart(2, "0");
  return `[${two(d.getMonth() + 1)}/${two(d.getDate())}/${d.getFullYear()}-${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}]`;
}

/**
 * The network's inputs and outputs from an ONNX ModelProto: graph (7) →
 * input (11) / output (12) / initializer (5); ValueInfo name (1), type (2) →
 * tensor_type (1) → shape (2) → dim (1): dim_value (1), else dynamic (-1).
 * Inputs that are initializers are weights, not network inputs.
 */
function readOnnxNetwork(bytes) {
  const graph = fieldsOf(bytes).find((f) => f.field === 7 && f.bytes);
  if (!graph) throw new Error("not an ONNX model");
  const graphFields = fieldsOf(graph.bytes);
  const initializers = new Set(
    graphFields
      .filter((f) => f.field === 5 && f.bytes)
      .map((f) =>
        fieldsOf(f.bytes)
          .find((g) => g.field === 8)
          ?.bytes?.toString("utf8"),
      ),
  );
  const valueInfo = (f) => {
    const info = fieldsOf(f.bytes);
    const name = info.find((g) => g.field === 1)?.bytes?.toString("utf8") ?? "";
    const type = info.find((g) => g.field === 2)?.bytes;
    const tensor = type && fieldsOf(type).find((g) => g.field === 1)?.bytes;
    const shape = tensor && fieldsOf(tensor).find((g) => g.field === 2)?.bytes;
    const dims = shape
      ? fieldsOf(shape)
          .filter((g) => g.field === 1)
          .map((dim) => {
            const value = fieldsOf(dim.bytes).find((g) => g.field === 1 && g.varint !== undefined)?.varint;
            return value !== undefined && value > 0 ? value : -1;
          })
      : [];
    return { name, dims };
  };
  const inputs = graphFields.filter((f) => f.field === 11 && f.bytes).map(valueInfo);
  const outputs = graphFields.filter((f) => f.field === 12 && f.bytes).map(valueInfo);
  return { inputs: inputs.filter((i) => !initializers.has(i.name)), outputs };
}

function fieldsOf(buffer) {
  const fields = [];
  let pos = 0;
  const varint = () => {
    let value = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buffer.length) throw new Error("truncated protobuf");
      const byte = buffer[pos++];
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return Number(value);
      shift += 7n;
    }
  };
  while (pos < buffer.length) {
    const key = varint();
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ field, varint: varint() });
    else if (wire === 2) {
      const length = varint();
      if (pos + length > buffer.length) throw new Error("truncated protobuf");
      fields.push({ field, bytes: buffer.subarray(pos, pos + length) });
      pos += length;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return fields;
}

module.exports = { main, readOnnxNetwork };
if (require.main === module) main();
