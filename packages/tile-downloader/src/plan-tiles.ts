import { OperatorToolError } from "@operator-tool/errors";
import {
  clampLatitude,
  type LonLatBox,
  MAX_ZOOM,
  rangeSize,
  type TileCoord,
  tileRangesForBox,
  tileXFloat,
  tileYFloat,
} from "./tile-math.js";

const EARTH_RADIUS_M = 6_371_008.8;
const EARTH_CIRCUMFERENCE_M = 2 * Math.PI * EARTH_RADIUS_M;

export type Coverage = "corridor" | "bbox";

export interface PlanTilesOptions {
  /** The flight path in order: takeoff, then waypoints. */
  path: ReadonlyArray<{ lat: number; lon: number }>;
  /** The flight's bbox, already grown by the buffer. */
  bbox: LonLatBox;
  zooms: readonly number[];
  coverage: Coverage;
  bufferM: number;
  /** Refuse (before enumerating more) once the plan exceeds this many tiles. */
  maxTiles: number;
}

export interface ZoomPlan {
  z: number;
  tiles: TileCoord[];
}

export interface TilePlan {
  coverage: Coverage;
  zooms: ZoomPlan[];
  total: number;
}

export class TilePlanTooLargeError extends OperatorToolError {
  constructor(
    readonly counted: number,
    readonly maxTiles: number,
    detail: string,
  ) {
    super("TILE_PLAN_TOO_LARGE", `the tile plan needs ${detail} tiles, more than --max-tiles ${maxTiles}`, {
      hint: "narrow --zoom, use --coverage corridor, reduce --bbox-buffer-m, or raise --max-tiles",
    });
  }
}

/**
 * Which tiles a flight needs at each zoom, without touching network or disk.
 * `bbox` covers the buffered bounding box; `corridor` only tiles within
 * `bufferM` of the path (far fewer for a long, thin flight), never more than
 * the bbox would.
 */
export function planTiles(options: PlanTilesOptions): TilePlan {
  for (const z of options.zooms) {
    if (!Number.isInteger(z) || z < 0 || z > MAX_ZOOM)
      throw new RangeError(`zoom ${z} is outside 0..${MAX_ZOOM}`);
  }
  // The bbox count is arithmetic and bounds the corridor's, so an absurd plan is refused before any enumeration.
  const bboxCounts = options.zooms.map((z) =>
    tileRangesForBox(options.bbox, z).reduce((sum, r) => sum + rangeSize(r), 0),
  );
  const bboxTotal = bboxCounts.reduce((a, b) => a + b, 0);
  if (options.coverage === "bbox" && bboxTotal > options.maxTiles) {
    throw new TilePlanTooLargeError(bboxTotal, options.maxTiles, describeCounts(options.zooms, bboxCounts));
  }
  const zooms: ZoomPlan[] = [];
  let total = 0;
  for (const z of options.zooms) {
    const tiles =
      options.coverage === "bbox"
        ? bboxTiles(options.bbox, z)
        : corridorTiles(options, z, options.maxTiles - total);
    if (tiles === undefined || total + tiles.length > options.maxTiles) {
      const counted = total + (tiles?.length ?? options.maxTiles - total + 1);
      throw new TilePlanTooLargeError(
        counted,
        options.maxTiles,
        `at least ${counted} (corridor, zooms ${options.zooms.join(",")})`,
      );
    }
    zooms.push({ z, tiles });
    total += tiles.length;
  }
  return { coverage: options.coverage, zooms, total };
}

function describeCounts(zooms: readonly number[], counts: number[]): string {
  const total = counts.reduce((a, b) => a + b, 0);
  return `${total} (${zooms.map((z, i) => `z${z}: ${counts[i]}`).join(", ")})`;
}

function bboxTiles(box: LonLatBox, z: number): TileCoord[] {
  const tiles: TileCoord[] = [];
  for (const r of tileRangesForBox(box, z)) {
    for (let x = r.xMin; x <= r.xMax; x++) for (let y = r.yMin; y <= r.yMax; y++) tiles.push({ z, x, y });
  }
  return tiles;
}

/**
 * Works in Web-Mercator world units (the map as a unit square), where tiles are
 * axis-aligned squares and a path leg is a straight segment. A ground distance
 * becomes a world distance through the projection's scale, 1/cos(lat); using
 * the scale at the leg's most poleward reach over-covers slightly, never under.
 */
function corridorTiles(options: PlanTilesOptions, z: number, budget: number): TileCoord[] | undefined {
  const n = 2 ** z;
  const ranges = tileRangesForBox(options.bbox, z);
  const inBbox = (x: number, y: number) =>
    ranges.some((r) => x >= r.xMin && x <= r.xMax && y >= r.yMin && y <= r.yMax);
  const points = unwrappedWorldPoints(options.path, z);
  const chosen = new Set<number>();
  const bufferDeg = (options.bufferM / EARTH_RADIUS_M) * (180 / Math.PI);
  const legs =
    points.length === 1
      ? [[points[0]!, points[0]!] as const]
      : points.slice(1).map((p, i) => [points[i]!, p] as const);
  for (const [a, b] of legs) {
    const poleward = Math.min(89.9, Math.max(Math.abs(a.lat), Math.abs(b.lat)) + bufferDeg);
    const bufferTiles =
      (options.bufferM / (EARTH_CIRCUMFERENCE_M * Math.cos((poleward * Math.PI) / 180))) * n;
    const x0 = Math.floor(Math.min(a.x, b.x) - bufferTiles);
    const x1 = Math.floor(Math.max(a.x, b.x) + bufferTiles);
    for (let tx = x0; tx <= x1; tx++) {
      // Only the part of the leg near this column can reach its tiles.
      const span = clipSegmentX(a, b, tx - bufferTiles, tx + 1 + bufferTiles);
      if (span === undefined) continue;
      const y0 = Math.max(0, Math.floor(span.yMin - bufferTiles));
      const y1 = Math.min(n - 1, Math.floor(span.yMax + bufferTiles));
      const wrappedX = ((tx % n) + n) % n;
      for (let ty = y0; ty <= y1; ty++) {
        const key = wrappedX * n + ty;
        if (chosen.has(key) || !inBbox(wrappedX, ty)) continue;
        if (segmentBoxDistance(a, b, tx, ty, tx + 1, ty + 1) <= bufferTiles) {
          chosen.add(key);
          if (chosen.size > budget) return undefined;
        }
      }
    }
  }
  return [...chosen].sort((p, q) => p - q).map((key) => ({ z, x: Math.floor(key / n), y: key % n }));
}

interface WorldPoint {
  x: number;
  y: number;
  lat: number;
}

/** Path points in tile units at zoom z, longitudes unwrapped so no leg jumps across the map. */
function unwrappedWorldPoints(path: PlanTilesOptions["path"], z: number): WorldPoint[] {
  const n = 2 ** z;
  const out: WorldPoint[] = [];
  for (const p of path) {
    let x = tileXFloat(p.lon, z);
    const prev = out[out.length - 1];
    if (prev !== undefined) {
      while (x - prev.x > n / 2) x -= n;
      while (prev.x - x > n / 2) x += n;
    }
    out.push({ x, y: tileYFloat(clampLatitude(p.lat), z), lat: p.lat });
  }
  return out;
}

function clipSegmentX(
  a: WorldPoint,
  b: WorldPoint,
  xLo: number,
  xHi: number,
): { yMin: number; yMax: number } | undefined {
  if (Math.max(a.x, b.x) < xLo || Math.min(a.x, b.x) > xHi) return undefined;
  if (a.x === b.x) return { yMin: Math.min(a.y, b.y), yMax: Math.max(a.y, b.y) };
  const yAt = (x: number) => a.y + ((b.y - a.y) * (x - a.x)) / (b.x - a.x);
  const lo = Math.max(xLo, Math.min(a.x, b.x));
  const hi = Math.min(xHi, Math.max(a.x, b.x));
  const ya = yAt(lo);
  const yb = yAt(hi);
  return { yMin: Math.min(ya, yb), yMax: Math.max(ya, yb) };
}

/** Euclidean distance between segment ab and an axis-aligned box; 0 when they touch. */
export function segmentBoxDistance(
  a: { x: number; y: number },
  b: { x: number; y: number },
  x0: number,
  y0: number,
  x1: number,
  y1: number,
): number {
  if (segmentIntersectsBox(a, b, x0, y0, x1, y1)) return 0;
  const corners = [
    [x0, y0],
    [x1, y0],
    [x0, y1],
    [x1, y1],
  ] as const;
  let best = Math.min(pointBoxDistance(a, x0, y0, x1, y1), pointBoxDistance(b, x0, y0, x1, y1));
  for (const [cx, cy] of corners) best = Math.min(best, pointSegmentDistance(cx, cy, a, b));
  return best;
}

function segmentIntersectsBox(
  a: { x: number; y: number },
  b: { x: number; y: number },
  x0: number,
  y0: number,
  x1: number,
  y1: number,
) {
  // Liang–Barsky clipping.
  let t0 = 0;
  let t1 = 1;
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const checks: Array<[number, number]> = [
    [-dx, a.x - x0],
    [dx, x1 - a.x],
    [-dy, a.y - y0],
    [dy, y1 - a.y],
  ];
  for (const [p, q] of checks) {
    if (p === 0) {
      if (q < 0) return false;
    } else {
      const r = q / p;
      if (p < 0) t0 = Math.max(t0, r);
      else t1 = Math.min(t1, r);
      if (t0 > t1) return false;
    }
  }
  return true;
}

function pointBoxDistance(
  p: { x: number; y: number },
  x0: number,
  y0: number,
  x1: number,
  y1: number,
): number {
  const dx = Math.max(x0 - p.x, 0, p.x - x1);
  const dy = Math.max(y0 - p.y, 0, p.y - y1);
  return Math.hypot(dx, dy);
}

function pointSegmentDistance(
  px: number,
  py: number,
  a: { x: number; y: number },
  b: { x: number; y: number },
): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - a.x) * dx + (py - a.y) * dy) / len2));
  return Math.hypot(px - (a.x + t * dx), py - (a.y + t * dy));
}
