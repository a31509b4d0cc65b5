import { ERROR_CODES } from "@operator-tool/errors";
import { z } from "zod";
import { PHASES } from "./run-record.js";

const count = z.number().int().nonnegative();
const phase = z.enum(PHASES);

const zoomPlan = z.strictObject({
  z: z.number().int().min(0).max(22),
  tiles: count,
  cached: count,
  absent: count.describe("recorded as absent at the provider by an earlier run: not asked for again"),
  toFetch: count,
  bytesEstimate: z.number().nonnegative(),
});

/** `tiles plan --json`, and `tilePlan` in the build-cache report. */
export const tilePlanSummarySchema = z
  .strictObject({
    flightId: z.string(),
    provider: z.string(),
    coverage: z.string(),
    bufferM: z.number().nonnegative(),
    cacheDir: z.string(),
    zooms: z.array(zoomPlan),
    total: zoomPlan.omit({ z: true }),
  })
  .meta({ title: "tiles plan --json", description: "per zoom: planned, cached, known absent, to fetch" });

const errorCode = z.enum([...(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES]), "INTERNAL"]);

/**
 * `operator-tool/cache-build-report@1`: what `build-cache --json` prints and
 * the run record keeps as report.json. Strict: a field added to the report
 * without being added here (and so to docs/schemas/) fails the tests.
 */
export const cacheBuildReportSchema = z
  .strictObject({
    schema: z.literal("operator-tool/cache-build-report@1"),
    runId: z.string().nullable().describe("null on --dry-run: a dry run leaves no record"),
    flightId: z.string().nullable(),
    outcome: z.enum(["success", "no-op", "failure"]),
    failurePhase: phase.nullable(),
    error: z
      .strictObject({
        code: errorCode,
        class: z.string(),
        message: z.string(),
        hint: z.string().nullable(),
      })
      .nullable(),
    exitCode: z.number().int().min(0).max(255),
    dryRun: z.boolean(),
    phases: z
      .partialRecord(
        phase,
        z.strictObject({ status: z.enum(["done", "failed"]), durationMs: z.number().int().nonnegative() }),
      )
      .describe("the phases that ran, in order"),
    totalDurationMs: z.number().int().nonnegative(),
    tiles: z
      .strictObject({
        planned: count,
        fetched: count,
        cached: count,
        absent: count,
        failed: count,
        bytesFetched: count,
      })
      .nullable(),
    tilePlan: tilePlanSummarySchema.nullable(),
    companion: z
      .strictObject({
        host: z.string(),
        hostKeyFingerprint: z.string(),
        checks: z.array(
          z.strictObject({
            name: z.string(),
            ok: z.boolean(),
            observed: z.string(),
            fix: z.string().optional(),
          }),
        ),
      })
      .nullable(),
    install: z
      .strictObject({
        outcome: z.enum(["installed", "unchanged"]),
        version: z.string(),
        wrapper: z.string(),
        filesSent: count,
        bytesSent: count,
      })
      .nullable()
      .describe("--install-companion: what the install did; null when not needed or not asked for"),
    sync: z.strictObject({ planned: count, sent: count, skipped: count, bytesSent: count }).nullable(),
    models: z
      .strictObject({ remoteCorpus: z.string(), sent: count, skipped: count, bytesSent: count })
      .nullable()
      .describe("--corpus: the corpus and models pushed from the workstation"),
    remote: z
      .looseObject({
        outcome: z.enum(["success", "failure"]),
        summary: z.strictObject({ built: count, reused: count, failed: count }),
        results: z.array(
          z.looseObject({ modelName: z.string(), outcome: z.string(), reasons: z.array(z.string()) }),
        ),
      })
      .nullable()
      .describe("the companion's operator-tool/engine-report@1, whole"),
    logPath: z.string().nullable(),
  })
  .meta({ title: "operator-tool/cache-build-report@1", description: "the result of one build-cache run" });

const shape = cacheBuildReportSchema.shape;

/** One companion in a fleet: its build-cache report, plus what the engine store did for it. */
const fleetHostReportSchema = z.strictObject({
  ...shape,
  target: z.string().describe("the host as the inventory or --companion-host named it"),
  engines: z.strictObject({ built: count, imported: count, reused: count, failed: count }).nullable(),
  imports: z.array(
    z.strictObject({
      modelName: z.string(),
      sourceHost: z.string().describe("the companion that built it"),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
  storeRefused: z.array(z.strictObject({ modelName: z.string(), reason: z.string() })),
});

/**
 * `operator-tool/fleet-report@1`: `build-cache --json` for several companions
 * (--inventory, or a list in --companion-host), and the fleet's report.json.
 */
export const fleetReportSchema = z
  .strictObject({
    schema: z.literal("operator-tool/fleet-report@1"),
    runId: shape.runId,
    outcome: shape.outcome,
    failurePhase: shape.failurePhase.describe("a shared phase's failure; a host's is in its own report"),
    error: shape.error,
    exitCode: shape.exitCode,
    dryRun: shape.dryRun,
    forks: z.number().int().positive(),
    phases: shape.phases,
    totalDurationMs: shape.totalDurationMs,
    flights: z.array(
      z.strictObject({
        flightId: z.string().nullable(),
        targets: z.array(z.string()),
        tiles: shape.tiles,
        tilePlan: shape.tilePlan,
      }),
    ),
    hosts: z.array(fleetHostReportSchema),
    summary: z.strictObject({
      hosts: count,
      succeeded: count,
      failed: count,
      built: count,
      imported: count,
    }),
    logPath: shape.logPath,
  })
  .meta({
    title: "operator-tool/fleet-report@1",
    description: "the result of one build-cache run over several companions: every host's report",
  });
