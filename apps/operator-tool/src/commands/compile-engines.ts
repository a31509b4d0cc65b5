import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Corpus, EngineReport, HostInfo } from "@operator-tool/engine-compiler";
import {
  describeFailure,
  InvalidArgumentError,
  isOperatorToolError,
  pathUnusableErrorFrom,
} from "@operator-tool/errors";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { formatBytes } from "../units.js";

export interface CompileEnginesCommandOptions {
  corpus?: string;
  cacheRoot?: string;
  backend?: "auto" | "tensorrt" | "onnxruntime";
  dryRun?: boolean;
  force?: boolean | string[];
  prune?: boolean;
  sm?: number;
  jetpack?: string;
  tensorrt?: string;
  hostRoot?: string;
}

/**
 * The companion-side step. With `--json`, stdout is one JSON document, the
 * report, on one line (DESIGN.md), even when the run fails, so the
 * workstation always has something to parse; progress is on stderr, as log
 * records (docs/machine-output.md).
 */
export async function compileEnginesCommand(
  ctx: CommandContext,
  options: CompileEnginesCommandOptions,
): Promise<CommandResult> {
  if (ctx.json) await readSecretsAndWatchLifeline(ctx);
  const engine = await import("@operator-tool/engine-compiler");
  let host: HostInfo | undefined;
  try {
    const corpusPath = options.corpus ?? ctx.option("corpus");
    if (corpusPath === undefined) {
      throw new InvalidArgumentError("no corpus given", {
        hint: 'pass --corpus FILE, or set "corpus" in operator-tool.config.json',
      });
    }
    const corpus: Corpus = await engine.loadCorpus(corpusPath);
    host = await engine.probeHost({
      root: options.hostRoot ?? "/",
      backend: options.backend ?? "auto",
      ortVersion: await engine.onnxruntimeVersion(),
      ...(options.sm === undefined ? {} : { sm: options.sm }),
      ...(options.jetpack === undefined ? {} : { jetpack: options.jetpack }),
      ...(options.tensorrt === undefined ? {} : { tensorrt: options.tensorrt }),
    });
    ctx.logger.debug({ host }, "probed host");
    const cacheRoot = options.cacheRoot ?? corpus.cacheRoot ?? join(ctx.option("stagingRoot"), "engines");
    const force = options.force === true ? true : Array.isArray(options.force) ? options.force : false;
    if (Array.isArray(force)) {
      const unknown = force.filter((name) => !corpus.backbones.some((b) => b.modelName === name));
      if (unknown.length > 0)
        throw new InvalidArgumentError(`--force names unknown model(s): ${unknown.join(", ")}`, {
          hint: `the corpus has ${corpus.backbones.map((b) => b.modelName).join(", ") || "no models"}`,
        });
    }
    const { report, error, pruned } = await engine.compileEngines({
      corpus,
      cacheRoot,
      host,
      force,
      dryRun: options.dryRun === true,
      prune: options.prune === true,
      signal: ctx.signal,
      logger: ctx.logger,
      onBuilderLine: (modelName, line) =>
        ctx.logger.debug({ model: modelName, builder: host?.backend }, line),
    });
    for (const name of pruned) ctx.logger.info({ engine: name }, "pruned an engine built for another host");
    return {
      data: report,
      text: renderReport(report, cacheRoot),
      ...(error === undefined ? {} : { failure: describeFailure(error) }),
    };
  } catch (caught) {
    // The report is the contract even for failures before any model (bad corpus, probe, a
    // cache root it cannot write): emit one.
    const error = pathUnusableErrorFrom(caught) ?? caught;
    if (!ctx.json || !isOperatorToolError(error) || ctx.signal.aborted) throw caught;
    return { data: failureReport(error, host), text: "", failure: describeFailure(error) };
  }
}

function failureReport(error: Error & { code: string }, host: HostInfo | undefined): EngineReport {
  return {
    schema: "operator-tool/engine-report@1",
    outcome: "failure",
    dryRun: false,
    host: {
      backend: host?.backend ?? "onnxruntime",
      sm: host?.sm ?? null,
      jetpack: host?.jetpack ?? null,
      tensorrt: host?.tensorrt ?? null,
      arch: process.arch,
      ort: null,
    },
    results: [],
    summary: { built: 0, reused: 0, failed: 0 },
    error: {
      modelName: (error as { modelName?: string }).modelName ?? null,
      class: error.name,
      code: error.code,
      message: error.message,
    },
  };
}

/**
 * The workstation sends one JSON line of secrets, then keeps stdin open as a
 * lifeline: when it closes, the connection is gone and the run cancels. A
 * stdin that ends without sending anything (a shell, /dev/null) is no lifeline.
 */
async function readSecretsAndWatchLifeline(ctx: CommandContext): Promise<void> {
  if (process.stdin.isTTY) return;
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) {
    lines.close();
    return;
  }
  try {
    const secrets = JSON.parse(first.value) as Record<string, unknown>;
    for (const value of Object.values(secrets)) if (typeof value === "string") ctx.redactor.add(value);
  } catch (error) {
    throw new InvalidArgumentError("stdin's first line is not a JSON object of secrets", {
      hint: "run compile-engines --json only as build-cache runs it, or with stdin closed",
      cause: error,
    });
  }
  lines.on("close", () => ctx.interrupt("the workstation closing the connection (stdin lifeline)"));
  // Keep reading so "close" fires at EOF, without holding the process open for it.
  process.stdin.unref?.();
}

function renderReport(report: EngineReport, cacheRoot: string): string {
  const h = report.host;
  const hostLine =
    h.backend === "tensorrt"
      ? `TensorRT ${h.tensorrt} on sm${h.sm}${h.jetpack ? `, JetPack ${h.jetpack}` : ""}`
      : `onnxruntime ${h.ort} on ${h.arch}`;
  const header = ["model", report.dryRun ? "decision" : "outcome", "reasons", "time", "size"];
  const rows = report.results.map((r) => [
    r.modelName,
    r.outcome,
    r.reasons.join(",") || "-",
    r.compileDurationS === null ? "-" : `${r.compileDurationS.toFixed(1)} s`,
    r.bytes === null ? "-" : formatBytes(r.bytes),
  ]);
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const s = report.summary;
  return [
    `${hostLine}; engines in ${cacheRoot}`,
    "",
    line(header),
    ...rows.map(line),
    "",
    report.dryRun
      ? `dry run: ${report.results.filter((r) => r.outcome === "would-build").length} to build, ${report.results.filter((r) => r.outcome === "would-reuse").length} to reuse`
      : `${s.built} built, ${s.reused} reused, ${s.failed} failed`,
  ].join("\n");
}
