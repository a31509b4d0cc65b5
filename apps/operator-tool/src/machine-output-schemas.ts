import { z } from "zod";

/**
 * Every `--json` document and event the CLI prints, as the zod schema that
 * validates it. docs/schemas/*.json are generated from these
 * (`pnpm schemas`), and a test regenerates and compares them, so the
 * published schemas cannot drift from what is checked. Loaded by the
 * generator and the tests only: no command imports zod for its output.
 */
export async function machineOutputSchemas(): Promise<MachineOutputSchema[]> {
  const [{ loadReportSchemas }, { remoteEngineReportSchema }, { flightPayloadSchema }] = await Promise.all([
    import("@operator-tool/cache-build"),
    import("@operator-tool/remote-provisioner-invoker"),
    import("@operator-tool/flights-api"),
  ]);
  const { cacheBuildReportSchema, fleetReportSchema, tilePlanSummarySchema } = await loadReportSchemas();

  const errorDocument = z
    .strictObject({
      error: z.strictObject({
        code: z.string().describe("the error's stable code (docs/exit-codes.md)"),
        exitCode: z.number().int(),
        message: z.string(),
        hint: z.string().optional().describe("what to do"),
      }),
    })
    .meta({
      title: "operator-tool/error",
      description: "any command's --json output when it fails before it has a result of its own",
    });

  const geoPoint = z.object({ lat: z.number(), lon: z.number(), altM: z.number() });
  const flightsShow = z
    .strictObject({
      flight: flightPayloadSchema.extend({
        updatedAt: z.string().optional(),
        takeoff: geoPoint,
        waypoints: z.array(geoPoint),
        source: z.union([
          z.strictObject({ kind: z.literal("api"), url: z.string() }),
          z.strictObject({
            kind: z.literal("file"),
            path: z.string(),
            format: z.enum(["native-json", "qgc-plan", "qgc-wpl"]),
          }),
        ]),
      }),
      waypointCount: z.number().int().nonnegative(),
      bbox: z.strictObject({ west: z.number(), south: z.number(), east: z.number(), north: z.number() }),
      bboxInfo: z.strictObject({
        crossesAntimeridian: z.boolean(),
        coversAllLongitudes: z.boolean(),
        clampedEdges: z.array(z.enum(["north", "south"])),
        bufferM: z.number().nonnegative(),
        widthKm: z.number().nonnegative(),
        heightKm: z.number().nonnegative(),
      }),
    })
    .meta({ title: "flights show --json", description: "the flight, and the bbox the tiles will cover" });

  const runsWatchEvent = z
    .strictObject({
      runId: z.string(),
      phase: z.string(),
      status: z.enum(["running", "done", "failed"]),
      durationMs: z.number().nonnegative().nullable(),
      companion: z.string().optional().describe("a fleet run: the companion this transition is of"),
    })
    .meta({ title: "runs watch --json: one phase transition", description: "one JSON line per transition" });
  const runsWatchResult = z
    .strictObject({
      runId: z.string(),
      outcome: z.enum(["success", "no-op", "failure"]).nullable(),
      exitCode: z.number().int().nullable(),
    })
    .meta({
      title: "runs watch --json: the last line",
      description: "how the watched run ended (null: it stopped without a report)",
    });

  const tile = { z: z.number().int(), x: z.number().int(), y: z.number().int() };
  const tilesDownload = z
    .strictObject({
      outcome: z.enum(["complete", "incomplete", "aborted"]),
      abortReason: z.string().optional(),
      counts: z.strictObject({
        planned: z.number().int(),
        fetched: z.number().int(),
        cached: z.number().int(),
        absent: z.number().int(),
        failed: z.number().int(),
      }),
      bytesFetched: z.number().int().nonnegative(),
      requests: z.number().int().nonnegative(),
      rateLimitedMs: z.number().nonnegative(),
      durationMs: z.number().nonnegative(),
      failedTiles: z.array(z.strictObject({ ...tile, error: z.string() })).describe("the first failures"),
      absentTiles: z.array(z.strictObject(tile)),
      tilesetPath: z.string().optional().describe("written only when the outcome is complete"),
      tilesetWritten: z.boolean(),
      revalidation: z
        .strictObject({
          due: z.number().int().describe("cached tiles older than --max-age"),
          notModified: z.number().int().describe("answered 304: age renewed, no body"),
          replaced: z.number().int(),
          kept: z.number().int().describe("revalidation failed: the cached copy stays"),
        })
        .describe("--max-age"),
      protocols: z
        .record(z.string(), z.string())
        .describe("each tile host and the protocol spoken (h2, http/1.1)"),
      flightId: z.string(),
      provider: z.string(),
      cacheDir: z.string(),
    })
    .meta({
      title: "tiles download --json",
      description: "what the download fetched, and what it could not",
    });

  const companionCheck = z
    .strictObject({
      host: z.string(),
      hostKeyFingerprint: z.string(),
      ready: z.boolean(),
      remoteCommand: z.string().describe("how operator-tool runs there: --remote-command, or the one found"),
      checks: z.array(
        z.strictObject({
          name: z.string(),
          ok: z.boolean(),
          observed: z.string(),
          fix: z.string().optional(),
        }),
      ),
    })
    .meta({ title: "companion check --json", description: "the readiness checks; exit 30 when one failed" });

  const pushed = z.strictObject({
    planned: z.number().int(),
    sent: z.number().int().describe("files whose bytes crossed the link"),
    linked: z.number().int().describe("files copied on the companion from an installed version"),
    skipped: z.number().int(),
    bytesSent: z.number().int(),
  });
  const companionInstall = z
    .union([
      z
        .strictObject({
          host: z.string(),
          outcome: z.enum(["installed", "unchanged"]),
          version: z.string(),
          arch: z.enum(["arm64", "x64"]).describe("Node's name for the companion's architecture"),
          glibc: z.string(),
          previousVersion: z.string().nullable(),
          versionDir: z.string(),
          wrapper: z.string(),
          node: z.strictObject({
            source: z.enum(["companion", "option", "workstation", "registry"]),
            path: z.string(),
          }),
          transfer: pushed,
          verifiedVersion: z.string().describe("what the installed wrapper's --version printed"),
          durationMs: z.number().nonnegative(),
        })
        .describe("an install (or a no-op: outcome unchanged)"),
      z
        .strictObject({
          host: z.string(),
          version: z.string().describe("now current"),
          replaced: z.string().nullable().describe("was current; --rollback again returns to it"),
          verifiedVersion: z.string(),
        })
        .describe("--rollback"),
    ])
    .meta({ title: "companion install --json", description: "what the install or the rollback did" });

  const locksUnlock = z
    .strictObject({
      unlocked: z.string().describe("the lock id removed"),
      owner: z.looseObject({}).nullable().optional().describe("the owner record the lock had"),
    })
    .meta({ title: "locks unlock --json", description: "the lock removed, and whose it was" });

  const locksList = z
    .strictObject({
      stagingRoot: z.string(),
      locks: z.array(
        z.object({
          path: z.string(),
          owner: z
            .object({
              lockId: z.string(),
              pid: z.number().int(),
              hostname: z.string(),
              user: z.string(),
              command: z.string(),
              flightId: z.string(),
              runId: z.string(),
              startedAt: z.string(),
            })
            .optional(),
          liveness: z.enum(["alive", "dead", "unknown"]),
          heldForMs: z.number().optional(),
          stale: z.boolean(),
        }),
      ),
    })
    .meta({ title: "locks list --json", description: "the build lock on the staging root, if held" });

  const runState = z.union([
    z.strictObject({
      kind: z.literal("finished"),
      outcome: z.enum(["success", "no-op", "failure"]),
      exitCode: z.number().int().optional(),
    }),
    z.strictObject({ kind: z.literal("running"), phase: z.string().optional() }),
    z.strictObject({ kind: z.literal("stopped"), pid: z.number().int() }),
    z.strictObject({ kind: z.literal("unrecorded") }),
  ]);
  const runsList = z
    .strictObject({
      runs: z.array(
        z
          .object({ runId: z.string(), state: runState })
          .describe("the run's status.json as recorded (when there is one), and how it stands now"),
      ),
    })
    .meta({ title: "runs list --json", description: "every recorded run, newest first" });

  return [
    {
      id: "cache-build-report",
      commands: ["build-cache --json", "<staging-root>/runs/<run-id>/report.json"],
      schema: cacheBuildReportSchema,
    },
    {
      id: "fleet-report",
      commands: ["build-cache --json", "<staging-root>/runs/<run-id>/report.json"],
      schema: fleetReportSchema,
    },
    { id: "engine-report", commands: ["compile-engines --json"], schema: remoteEngineReportSchema },
    { id: "tile-plan", commands: ["tiles plan --json"], schema: tilePlanSummarySchema },
    { id: "flights-show", commands: ["flights show --json"], schema: flightsShow },
    { id: "tiles-download", commands: ["tiles download --json"], schema: tilesDownload },
    { id: "companion-check", commands: ["companion check --json"], schema: companionCheck },
    { id: "companion-install", commands: ["companion install --json"], schema: companionInstall },
    { id: "locks-unlock", commands: ["locks unlock --json"], schema: locksUnlock },
    { id: "locks-list", commands: ["locks list --json"], schema: locksList },
    { id: "runs-list", commands: ["runs list --json"], schema: runsList },
    {
      id: "runs-watch-event",
      commands: ["runs watch --json"],
      schema: runsWatchEvent,
    },
    { id: "runs-watch-result", commands: ["runs watch --json"], schema: runsWatchResult },
    { id: "error", commands: ["any command --json, on failure"], schema: errorDocument },
  ];
}

export interface MachineOutputSchema {
  /** docs/schemas/<id>.schema.json */
  id: string;
  commands: string[];
  schema: z.ZodType;
}

/** The JSON Schema text published for one document: what docs/schemas/<id>.schema.json holds. */
export function jsonSchemaText(entry: MachineOutputSchema): string {
  // "input": what a reader may receive; objects not declared strict accept extra fields.
  const schema = z.toJSONSchema(entry.schema, { io: "input" });
  return `${JSON.stringify({ ...schema, $id: `https://operator-tool.invalid/schemas/${entry.id}.schema.json` }, null, 2)}\n`;
}
