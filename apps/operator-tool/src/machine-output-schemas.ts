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
  const { cacheBuildReportSchema, tilePlanSummarySchema } = await loadReportSchemas();

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

  return [
    {
      id: "cache-build-report",
      commands: ["build-cache --json", "<staging-root>/runs/<run-id>/report.json"],
      schema: cacheBuildReportSchema,
    },
    { id: "engine-report", commands: ["compile-engines --json"], schema: remoteEngineReportSchema },
    { id: "tile-plan", commands: ["tiles plan --json"], schema: tilePlanSummarySchema },
    { id: "flights-show", commands: ["flights show --json"], schema: flightsShow },
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
