import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadFlightFile } from "./load-flight-file.js";

const fixture = (name: string) => fileURLToPath(new URL(`../test-fixtures/${name}`, import.meta.url));

async function loadError(name: string): Promise<{ code: string; message: string }> {
  const error = await loadFlightFile(fixture(name)).then(
    () => undefined,
    (e: unknown) => e as { code: string; message: string },
  );
  expect(error, `${name} should not load`).toBeDefined();
  return error!;
}

describe("loadFlightFile", () => {
  it("loads the native flight JSON", async () => {
    const flight = await loadFlightFile(fixture("native.json"));
    expect(flight.id).toBe("F-2024-0042");
    expect(flight.takeoff).toEqual({ lat: 50.4501, lon: 30.5234, altM: 180 });
    expect(flight.waypoints).toHaveLength(5);
    expect(flight.source).toMatchObject({ kind: "file", format: "native-json" });
  });

  it("loads a QGroundControl plan: home as takeoff, positional items only, survey transects included", async () => {
    const flight = await loadFlightFile(fixture("survey.plan"));
    expect(flight.source).toMatchObject({ format: "qgc-plan" });
    expect(flight.id).toBe("survey");
    expect(flight.takeoff).toEqual({ lat: 47.3977, lon: 8.5456, altM: 488 });
    // takeoff item at 0,0 (current position), speed change, camera trigger and RTL are skipped
    expect(flight.waypoints.map((w) => [w.lat, w.lon])).toEqual([
      [47.398, 8.546],
      [47.4001, 8.5501],
      [47.4099, 8.5599],
    ]);
  });

  it("loads a QGC WPL 110 file: line 0 is home, non-positional commands skipped", async () => {
    const flight = await loadFlightFile(fixture("canberra.waypoints"));
    expect(flight.source).toMatchObject({ format: "qgc-wpl" });
    expect(flight.takeoff.lat).toBeCloseTo(-35.3632621);
    expect(flight.waypoints.map((w) => w.lat)).toEqual([-35.3627, -35.361, -35.3632]);
  });

  it("skips # comment lines and blank lines in a .waypoints file, as pymavlink's reader does (MAVProxy writes them)", async () => {
    const flight = await loadFlightFile(fixture("mavproxy-comments.waypoints"));
    expect(flight.source).toMatchObject({ format: "qgc-wpl" });
    expect(flight.takeoff).toEqual({ lat: -35.363262, lon: 149.165237, altM: 584.090027 });
    // The commented-out waypoint at -35.1 is not one; takeoff at 0,0 and RTL carry no position.
    expect(flight.waypoints.map((w) => [w.lat, w.lon])).toEqual([
      [-35.359833, 149.164703],
      [-35.359585, 149.161392],
    ]);
  });

  it("detects the format from content, not the extension", async () => {
    const flight = await loadFlightFile(fixture("mislabelled-wpl.txt"));
    expect(flight.source).toMatchObject({ format: "qgc-wpl" });
    expect(flight.waypoints).toHaveLength(3);
  });

  it.each([
    ["truncated.json", "not valid JSON"],
    ["bad-schema.json", "waypoints[1].lon"],
    ["no-mission.plan", "without a mission"],
    ["bad-version.waypoints", "only QGC WPL 110"],
    ["bad-number.waypoints", "line 3"],
    ["waypoints.csv", "not a known flight format"],
    ["geojson.json", "neither a flight"],
  ])("%s is an invalid flight file and the message says why: %s", async (name, fragment) => {
    const error = await loadError(name);
    expect(error.code).toBe("FLIGHT_FILE_INVALID");
    expect(error.message).toContain(name);
    expect(error.message).toContain(fragment);
  });

  it("a missing file or a directory is an unreadable flight file", async () => {
    const missing = await loadError("does-not-exist.json");
    expect(missing.code).toBe("FLIGHT_FILE_UNREADABLE");
    expect(missing.message).toContain("does not exist");
    const dir = await loadFlightFile(fixture("")).catch((e: { code: string }) => e);
    expect((dir as { code: string }).code).toBe("FLIGHT_FILE_UNREADABLE");
  });
});
