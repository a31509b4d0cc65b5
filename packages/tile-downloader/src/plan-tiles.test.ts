import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planTiles, TilePlanTooLargeError } from "./plan-tiles.js";
import { tileAt, tileRangesForBox, tileToLat, tileXFloat, tileYFloat } from "./tile-math.js";

const R = 6_371_008.8;
const rad = (d: number) => (d * Math.PI) / 180;
const deg = (r: number) => (r * 180) / Math.PI;

/** Box grown by the buffer the way flightBounds does it (enough for these mid-latitude tests). */
function bufferedBox(path: Array<{ lat: number; lon: number }>, bufferM: number) {
  const lats = path.map((p) => p.lat);
  const lons = path.map((p) => p.lon);
  const maxAbs = Math.max(...lats.map(Math.abs));
  const dLat = deg(bufferM / R);
  const dLon = deg(Math.asin(Math.sin(bufferM / R) / Math.cos(rad(maxAbs))));
  return {
    west: Math.min(...lons) - dLon,
    east: Math.max(...lons) + dLon,
    south: Math.min(...lats) - dLat,
    north: Math.max(...lats) + dLat,
  };
}

function destination(lat: number, lon: number, bearing: number, distanceM: number) {
  const d = distanceM / R;
  const φ1 = rad(lat);
  const λ1 = rad(lon);
  const φ2 = Math.asin(Math.sin(φ1) * Math.cos(d) + Math.cos(φ1) * Math.sin(d) * Math.cos(bearing));
  const λ2 =
    λ1 +
    Math.atan2(Math.sin(bearing) * Math.sin(d) * Math.cos(φ1), Math.cos(d) - Math.sin(φ1) * Math.sin(φ2));
  return { lat: deg(φ2), lon: deg(λ2) };
}

/** A point on a leg, interpolated in Web-Mercator space (the leg is straight on the map). */
function alongLeg(a: { lat: number; lon: number }, b: { lat: number; lon: number }, t: number) {
  const z = 0;
  const y = tileYFloat(a.lat, z) + (tileYFloat(b.lat, z) - tileYFloat(a.lat, z)) * t;
  return { lat: tileToLat(y, z), lon: a.lon + (b.lon - a.lon) * t };
}

const flightPath = fc
  .tuple(
    fc.double({ min: -60, max: 60, noNaN: true }),
    fc.double({ min: -170, max: 170, noNaN: true }),
    fc.array(
      fc.tuple(
        fc.double({ min: -0.05, max: 0.05, noNaN: true }),
        fc.double({ min: -0.05, max: 0.05, noNaN: true }),
      ),
      {
        minLength: 1,
        maxLength: 6,
      },
    ),
  )
  .map(([lat, lon, steps]) => {
    const path = [{ lat, lon }];
    for (const [dLat, dLon] of steps) {
      const last = path[path.length - 1]!;
      path.push({ lat: last.lat + dLat, lon: last.lon + dLon });
    }
    return path;
  });

function corridor(path: Array<{ lat: number; lon: number }>, bufferM: number, z: number) {
  const plan = planTiles({
    path,
    bbox: bufferedBox(path, bufferM),
    zooms: [z],
    coverage: "corridor",
    bufferM,
    maxTiles: 1e6,
  });
  return new Set(plan.zooms[0]!.tiles.map((t) => `${t.x}/${t.y}`));
}

/** Reference by sampling: tiles whose box comes within the buffer of sampled path points (world units). */
function bruteCorridor(
  path: Array<{ lat: number; lon: number }>,
  bufferM: number,
  z: number,
  extraTiles: number,
) {
  const n = 2 ** z;
  const dLat = deg(bufferM / R);
  const out = new Set<string>();
  const samples: Array<{ x: number; y: number; buffer: number }> = [];
  for (let i = 0; i < Math.max(1, path.length - 1); i++) {
    const a = path[i]!;
    const b = path[Math.min(i + 1, path.length - 1)]!;
    const poleward = Math.max(Math.abs(a.lat), Math.abs(b.lat)) + dLat;
    const buffer = (bufferM / (2 * Math.PI * R * Math.cos(rad(poleward)))) * n;
    for (let k = 0; k <= 400; k++) {
      const p = alongLeg(a, b, k / 400);
      samples.push({ x: tileXFloat(p.lon, z), y: tileYFloat(p.lat, z), buffer });
    }
  }
  const [range] = tileRangesForBox(bufferedBox(path, bufferM), z);
  for (let x = range!.xMin; x <= range!.xMax; x++) {
    for (let y = range!.yMin; y <= range!.yMax; y++) {
      const near = samples.some((s) => {
        const dx = Math.max(x - s.x, 0, s.x - (x + 1));
        const dy = Math.max(y - s.y, 0, s.y - (y + 1));
        return Math.hypot(dx, dy) <= s.buffer + extraTiles;
      });
      if (near) out.add(`${x % n}/${y}`);
    }
  }
  return out;
}

describe("planTiles: corridor", () => {
  it("covers every ground point within the buffer of the path", () => {
    fc.assert(
      fc.property(
        flightPath,
        fc.integer({ min: 50, max: 3000 }),
        fc.integer({ min: 12, max: 16 }),
        fc.array(
          fc.tuple(
            fc.nat(),
            fc.double({ min: 0, max: 1, noNaN: true }),
            fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
            fc.double({ min: 0, max: 0.999, noNaN: true }),
          ),
          { minLength: 20, maxLength: 20 },
        ),
        (path, bufferM, z, probes) => {
          const tiles = corridor(path, bufferM, z);
          for (const [leg, t, bearing, fraction] of probes) {
            const i = leg % Math.max(1, path.length - 1);
            const on = alongLeg(path[i]!, path[Math.min(i + 1, path.length - 1)]!, t);
            const p = destination(on.lat, on.lon, bearing, fraction * bufferM);
            const tile = tileAt(p.lon, p.lat, z);
            expect(
              tiles.has(`${tile.x}/${tile.y}`),
              `tile of a point ${Math.round(fraction * bufferM)} m off the path`,
            ).toBe(true);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("agrees with a brute-force sampling reference", () => {
    fc.assert(
      fc.property(
        flightPath,
        fc.integer({ min: 50, max: 2000 }),
        fc.integer({ min: 12, max: 15 }),
        (path, bufferM, z) => {
          const ours = corridor(path, bufferM, z);
          // Sampling finds distances up to half a sample step too long: allow that much either way.
          const step =
            Math.max(
              ...path
                .slice(1)
                .map(
                  (p, i) =>
                    Math.abs(tileXFloat(p.lon, z) - tileXFloat(path[i]!.lon, z)) +
                    Math.abs(tileYFloat(p.lat, z) - tileYFloat(path[i]!.lat, z)),
                ),
              0,
            ) / 400;
          for (const key of bruteCorridor(path, bufferM, z, 0))
            expect(ours.has(key), `missing ${key}`).toBe(true);
          const loose = bruteCorridor(path, bufferM, z, step);
          for (const key of ours) expect(loose.has(key), `extra ${key}`).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("is a subset of the bbox plan and far smaller for a long thin flight", () => {
    const path = [
      { lat: 48.0, lon: 11.0 },
      { lat: 48.3, lon: 11.6 },
    ];
    const bbox = bufferedBox(path, 300);
    const common = { path, bbox, zooms: [15, 16], bufferM: 300, maxTiles: 1e6 };
    const inBbox = planTiles({ ...common, coverage: "bbox" });
    const inCorridor = planTiles({ ...common, coverage: "corridor" });
    const bboxKeys = new Set(inBbox.zooms.flatMap((zp) => zp.tiles.map((t) => `${t.z}/${t.x}/${t.y}`)));
    for (const zp of inCorridor.zooms)
      for (const t of zp.tiles) expect(bboxKeys.has(`${t.z}/${t.x}/${t.y}`)).toBe(true);
    expect(inCorridor.total * 10).toBeLessThan(inBbox.total);
  });

  it("crosses the antimeridian without spanning the globe", () => {
    const path = [
      { lat: -17, lon: 179.99 },
      { lat: -17.01, lon: -179.99 },
    ];
    const plan = planTiles({
      path,
      bbox: { west: 179.98, east: -179.98, south: -17.02, north: -16.99 },
      zooms: [14],
      coverage: "corridor",
      bufferM: 200,
      maxTiles: 1000,
    });
    const xs = new Set(plan.zooms[0]!.tiles.map((t) => t.x));
    expect(xs.has(0)).toBe(true);
    expect(xs.has(2 ** 14 - 1)).toBe(true);
    expect(plan.total).toBeLessThan(20);
  });
});

describe("planTiles: limits", () => {
  it("refuses a bbox plan above --max-tiles before enumerating it, with the numbers", () => {
    let error: unknown;
    try {
      planTiles({
        path: [{ lat: 50, lon: 30 }],
        bbox: { west: 20, east: 40, south: 45, north: 55 },
        zooms: [18, 19, 20],
        coverage: "bbox",
        bufferM: 500,
        maxTiles: 50_000,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TilePlanTooLargeError);
    expect((error as Error).message).toMatch(
      /needs \d+ \(z18: \d+, z19: \d+, z20: \d+\) tiles, more than --max-tiles 50000/,
    );
    // Billions of tiles: counted from the ranges; listing them would not finish (or fit in memory).
    const total = Number(/needs (\d+)/.exec((error as Error).message)?.[1]);
    expect(total).toBeGreaterThan(1e9);
  });

  it("refuses a corridor plan as soon as it passes the limit", () => {
    expect(() =>
      planTiles({
        path: [
          { lat: 50, lon: 30 },
          { lat: 50.5, lon: 31 },
        ],
        bbox: { west: 29.9, east: 31.1, south: 49.9, north: 50.6 },
        zooms: [18],
        coverage: "corridor",
        bufferM: 500,
        maxTiles: 100,
      }),
    ).toThrow(TilePlanTooLargeError);
  });
});
