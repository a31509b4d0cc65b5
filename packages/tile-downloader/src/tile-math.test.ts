import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { quadkey, rangeSize, tileAt, tileRangesForBox, tileToLat, tileToLon, tmsY } from "./tile-math.js";

/** Reference: every tile whose area overlaps the box with positive area, by checking each tile's bounds. */
function bruteForceTiles(
  box: { west: number; south: number; east: number; north: number },
  z: number,
): Set<string> {
  const n = 2 ** z;
  const out = new Set<string>();
  // Both edges clamp to the projection's limit: a box beyond it keeps the edge row.
  const limit = tileToLat(0, 0);
  const clamp = (v: number) => Math.max(-limit, Math.min(limit, v));
  const south = clamp(box.south);
  const north = clamp(box.north);
  const lonSpans =
    box.west <= box.east
      ? [[box.west, box.east]]
      : [
          [box.west, 180],
          [-180, box.east],
        ];
  for (let x = 0; x < n; x++) {
    const w = tileToLon(x, z);
    const e = tileToLon(x + 1, z);
    const xHit = lonSpans.some(([a, b]) =>
      a! === b! ? a! >= w && a! < e + (x === n - 1 ? 1e-12 : 0) : a! < e && b! > w,
    );
    if (!xHit) continue;
    for (let y = 0; y < n; y++) {
      const top = tileToLat(y, z);
      const bottom = tileToLat(y + 1, z);
      const yHit =
        south === north
          ? south <= top && south > bottom - (y === n - 1 ? 1e-9 : 0)
          : south < top && north > bottom;
      if (yHit) out.add(`${x}/${y}`);
    }
  }
  return out;
}

function rangeTiles(box: Parameters<typeof tileRangesForBox>[0], z: number): Set<string> {
  const out = new Set<string>();
  for (const r of tileRangesForBox(box, z))
    for (let x = r.xMin; x <= r.xMax; x++) for (let y = r.yMin; y <= r.yMax; y++) out.add(`${x}/${y}`);
  return out;
}

describe("tile maths", () => {
  it("matches a brute-force reference for random boxes, antimeridian included", () => {
    // A 1e-4° grid: exact boundaries (0°, ±90°…) happen often; slivers thinner than float error do not.
    const lon = fc.integer({ min: -1_800_000, max: 1_800_000 }).map((i) => i / 1e4);
    const lat = fc.integer({ min: -890_000, max: 890_000 }).map((i) => i / 1e4);
    fc.assert(
      fc.property(lon, lon, lat, lat, fc.integer({ min: 0, max: 5 }), (w, e, a, b, z) => {
        const box = { west: w, east: e, south: Math.min(a, b), north: Math.max(a, b) };
        if (box.south === box.north) return;
        expect(rangeTiles(box, z)).toEqual(bruteForceTiles(box, z));
      }),
      { numRuns: 400 },
    );
  });

  it("an east/south edge exactly on a tile boundary does not pull in the next tile", () => {
    const z = 10;
    const box = {
      west: tileToLon(100, z),
      east: tileToLon(103, z),
      north: tileToLat(200, z),
      south: tileToLat(202, z),
    };
    expect(tileRangesForBox(box, z)).toEqual([{ z, xMin: 100, xMax: 102, yMin: 200, yMax: 201 }]);
  });

  it("longitude 180 is the last column; latitudes beyond the limit clamp", () => {
    expect(tileAt(180, 0, 3)).toEqual({ z: 3, x: 7, y: 4 });
    expect(tileAt(-180, 90, 3)).toEqual({ z: 3, x: 0, y: 0 });
    expect(tileAt(0, -90, 3)).toEqual({ z: 3, x: 4, y: 7 });
    expect(tileRangesForBox({ west: -180, east: 180, south: -90, north: 90 }, 2).map(rangeSize)).toEqual([
      16,
    ]);
  });

  it("splits a box across the antimeridian into two ranges", () => {
    const ranges = tileRangesForBox({ west: 179, east: -179, south: -1, north: 1 }, 8);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]!.xMax).toBe(255);
    expect(ranges[1]!.xMin).toBe(0);
  });

  it("quadkey and TMS row agree with the published examples", () => {
    // Bing Maps Tile System documentation: tile (3, 5) at level 3 is quadkey "213".
    expect(quadkey({ z: 3, x: 3, y: 5 })).toBe("213");
    expect(quadkey({ z: 0, x: 0, y: 0 })).toBe("");
    expect(tmsY({ z: 3, x: 0, y: 0 })).toBe(7);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(), fc.nat(), (z, a, b) => {
        const n = 2 ** z;
        const tile = { z, x: a % n, y: b % n };
        expect(quadkey(tile)).toHaveLength(z);
        expect(tmsY({ ...tile, y: tmsY(tile) })).toBe(tile.y);
      }),
    );
  });
});
