import { readFile, stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import { describeIssues } from "@operator-tool/errors";
import { FlightFileInvalidError, FlightFileUnreadableError } from "./errors.js";
import { type Flight, type FlightFileFormat, flightPayloadSchema, type GeoPoint } from "./flight.js";

const MAX_FILE_BYTES = 32 * 1024 * 1024;

/**
 * MAVLink NAV commands that carry a position the vehicle flies to or over.
 * Everything else in a mission (speed changes, camera triggers, RTL, jumps)
 * has no coordinates worth covering and is skipped.
 */
const POSITIONAL_COMMANDS = new Set([
  16, // NAV_WAYPOINT
  17, // NAV_LOITER_UNLIM
  18, // NAV_LOITER_TURNS
  19, // NAV_LOITER_TIME
  21, // NAV_LAND
  22, // NAV_TAKEOFF
  31, // NAV_LOITER_TO_ALT
  82, // NAV_SPLINE_WAYPOINT
  84, // NAV_VTOL_TAKEOFF
  85, // NAV_VTOL_LAND
]);

/**
 * Reads a flight from a file. The format is detected from the content (native
 * JSON, QGroundControl `.plan`, QGC WPL 110 `.waypoints`), so a mis-named file
 * still loads.
 */
export async function loadFlightFile(path: string): Promise<Flight> {
  const text = await readFlightFile(path);
  const trimmed = text.replace(/^\uFEFF/, "").trimStart();
  if (trimmed.startsWith("QGC WPL")) return parseWaypointsFile(trimmed, path);
  if (trimmed.startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (error) {
      throw invalid(path, `is not valid JSON (${(error as Error).message})`);
    }
    const record = json as Record<string, unknown>;
    if (record.fileType === "Plan") return parsePlanFile(record, path);
    if ("takeoff" in record || "waypoints" in record) return parseNativeFile(record, path);
    throw invalid(
      path,
      'is JSON but neither a flight (takeoff + waypoints) nor a QGroundControl plan (fileType "Plan")',
    );
  }
  throw invalid(
    path,
    "is not a known flight format: expected flight JSON, a QGroundControl .plan or a QGC WPL 110 .waypoints file",
  );
}

async function readFlightFile(path: string): Promise<string> {
  try {
    const info = await stat(path);
    if (info.isDirectory()) {
      throw new FlightFileUnreadableError(`flight file ${path} is a directory`, {
        hint: "give the path of a flight file",
      });
    }
    if (info.size > MAX_FILE_BYTES) {
      throw invalid(
        path,
        `is ${Math.round(info.size / 1024 / 1024)} MiB, larger than any flight plan (limit 32 MiB)`,
      );
    }
    return await readFile(path, "utf8");
  } catch (error) {
    if (error instanceof FlightFileUnreadableError || error instanceof FlightFileInvalidError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT"
        ? "does not exist"
        : code === "EACCES"
          ? "is not readable (permission denied)"
          : (error as Error).message;
    throw new FlightFileUnreadableError(`flight file ${path} ${reason}`, {
      hint: "check --flight-file",
      cause: error,
    });
  }
}

function parseNativeFile(record: unknown, path: string): Flight {
  const parsed = flightPayloadSchema.safeParse(record);
  if (!parsed.success) throw invalid(path, `is not a valid flight: ${describeIssues(parsed.error.issues)}`);
  return { ...parsed.data, source: { kind: "file", path, format: "native-json" } };
}

function parsePlanFile(plan: Record<string, unknown>, path: string): Flight {
  const mission = plan.mission as Record<string, unknown> | undefined;
  if (mission === undefined || typeof mission !== "object" || mission === null) {
    throw invalid(path, "is a QGroundControl plan without a mission (field mission)");
  }
  const items = mission.items;
  if (!Array.isArray(items))
    throw invalid(path, "is a QGroundControl plan whose mission.items is not a list");
  const waypoints: GeoPoint[] = [];
  collectPlanItems(items, "mission.items", waypoints, path);

  let takeoff: GeoPoint | undefined;
  const home = mission.plannedHomePosition;
  if (home !== undefined) {
    if (!Array.isArray(home) || home.length < 2) {
      throw invalid(path, "has a mission.plannedHomePosition that is not [lat, lon, alt]");
    }
    takeoff = point(home[0], home[1], home[2] ?? 0, "mission.plannedHomePosition", path);
  }
  takeoff ??= waypoints[0];
  if (takeoff === undefined) throw invalid(path, "has no plannedHomePosition and no positional mission item");
  if (waypoints.length === 0)
    throw invalid(path, "has no positional mission items (waypoints, loiters, landings) to cover");
  return flightFromFile(path, "qgc-plan", takeoff, waypoints);
}

function collectPlanItems(items: unknown[], field: string, out: GeoPoint[], path: string): void {
  items.forEach((raw, index) => {
    const item = raw as Record<string, unknown>;
    const where = `${field}[${index}]`;
    if (item === null || typeof item !== "object")
      throw invalid(path, `has a mission item that is not an object (${where})`);
    if (item.type === "ComplexItem") {
      // Surveys and corridor scans carry their generated flight path as simple items.
      const transect = (item.TransectStyleComplexItem as Record<string, unknown> | undefined)?.Items;
      if (Array.isArray(transect)) {
        collectPlanItems(transect, `${where}.TransectStyleComplexItem.Items`, out, path);
        return;
      }
      const polygon = item.polygon ?? item.corridorPolyline;
      if (Array.isArray(polygon)) {
        polygon.forEach((vertex, i) => {
          if (Array.isArray(vertex)) out.push(point(vertex[0], vertex[1], 0, `${where}.polygon[${i}]`, path));
        });
      }
      return;
    }
    const command = item.command;
    const params = item.params;
    if (typeof command !== "number" || !POSITIONAL_COMMANDS.has(command)) return;
    if (!Array.isArray(params) || params.length < 7) {
      throw invalid(path, `has a positional item without 7 params (${where}.params)`);
    }
    const [lat, lon, alt] = [params[4], params[5], params[6]];
    if (lat === 0 && lon === 0) return; // "current position" placeholders, e.g. a takeoff with no coordinates
    if (lat === null || lon === null) return;
    out.push(point(lat, lon, alt ?? 0, `${where}.params`, path));
  });
}

function parseWaypointsFile(text: string, path: string): Flight {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.trim() ?? "";
  if (!/^QGC WPL 110$/.test(header)) {
    throw invalid(path, `has header "${header}"; only QGC WPL 110 is supported`);
  }
  let takeoff: GeoPoint | undefined;
  const waypoints: GeoPoint[] = [];
  for (let n = 1; n < lines.length; n++) {
    // pymavlink's reader (what MAVProxy and ArduPilot's autotest use) skips a line
    // that starts with "#", and its writer puts each waypoint's comment on one.
    if (lines[n]?.startsWith("#")) continue;
    const line = lines[n]?.trim() ?? "";
    if (line === "") continue;
    const cols = line.split(/\s+/);
    if (cols.length < 12) throw invalid(path, `line ${n + 1} has ${cols.length} columns, expected 12`);
    const nums = cols.map(Number);
    if (nums.some((v) => Number.isNaN(v)))
      throw invalid(path, `line ${n + 1} has a column that is not a number`);
    const [index, , , command, , , , , lat, lon, alt] = nums as [number, ...number[]];
    const where = `line ${n + 1}`;
    if (index === 0 && takeoff === undefined) {
      takeoff = point(lat, lon, alt, where, path);
      continue;
    }
    if (command === undefined || !POSITIONAL_COMMANDS.has(command)) continue;
    if (lat === 0 && lon === 0) continue;
    waypoints.push(point(lat, lon, alt, where, path));
  }
  if (takeoff === undefined) throw invalid(path, "has no home line (index 0)");
  if (waypoints.length === 0) throw invalid(path, "has no positional waypoints after the home line");
  return flightFromFile(path, "qgc-wpl", takeoff, waypoints);
}

function point(lat: unknown, lon: unknown, alt: unknown, where: string, path: string): GeoPoint {
  if (typeof lat !== "number" || !Number.isFinite(lat) || lat < -90 || lat > 90) {
    throw invalid(path, `has latitude ${String(lat)} at ${where}; expected -90..90`);
  }
  if (typeof lon !== "number" || !Number.isFinite(lon) || lon < -180 || lon > 180) {
    throw invalid(path, `has longitude ${String(lon)} at ${where}; expected -180..180`);
  }
  return { lat, lon, altM: typeof alt === "number" && Number.isFinite(alt) ? alt : 0 };
}

function flightFromFile(
  path: string,
  format: FlightFileFormat,
  takeoff: GeoPoint,
  waypoints: GeoPoint[],
): Flight {
  const stem = basename(path, extname(path))
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "");
  return {
    id: stem === "" ? "flight" : stem.slice(0, 128),
    name: basename(path),
    updatedAt: undefined,
    takeoff,
    waypoints,
    source: { kind: "file", path, format },
  };
}

function invalid(path: string, what: string): FlightFileInvalidError {
  return new FlightFileInvalidError(`flight file ${path} ${what}`, {
    hint: "fix the file, or export it again from the planner (flight JSON, QGroundControl .plan, or QGC WPL 110)",
  });
}
