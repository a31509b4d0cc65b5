import type { GeoPoint } from "./flight.js";

/** Mean Earth radius (IUGG), metres. */
export const EARTH_RADIUS_M = 6_371_008.8;
/** Web-Mercator tiles stop here; nothing beyond can be downloaded. */
export const WEB_MERCATOR_MAX_LAT = 85.05112878;

export interface BoundingBox {
  west: number;
  south: number;
  east: number;
  north: number;
}

export interface FlightBounds extends BoundingBox {
  /** True when west > east: the box runs east from `west` across ±180° to `east`. */
  crossesAntimeridian: boolean;
  /** The buffer reaches all the way round the globe in longitude (near a pole). */
  coversAllLongitudes: boolean;
  /** Which edges were cut back to the Web-Mercator limit (±85.05112878°). */
  clampedEdges: Array<"north" | "south">;
  bufferM: number;
  widthKm: number;
  heightKm: number;
}

const toRad = (deg: number) => (deg * Math.PI) / 180;
const toDeg = (rad: number) => (rad * 180) / Math.PI;

/**
 * The smallest box covering every point, grown so that each edge is at least
 * `bufferM` metres (great-circle) from every point. Longitudes are treated as a
 * circle, so points either side of ±180° give a box that crosses the
 * antimeridian (west > east) instead of one spanning the whole globe.
 */
export function flightBounds(points: readonly GeoPoint[], bufferM: number): FlightBounds {
  if (points.length === 0) throw new RangeError("flightBounds needs at least one point");
  if (!(bufferM >= 0) || !Number.isFinite(bufferM))
    throw new RangeError(`bufferM must be a finite number >= 0, got ${bufferM}`);

  const lats = points.map((p) => p.lat);
  const minLat = Math.min(...lats);
  const maxLat = Math.max(...lats);
  const arc = longitudeArc(points.map((p) => p.lon));

  const angular = bufferM / EARTH_RADIUS_M;
  const dLat = toDeg(angular);
  const maxAbsLat = Math.max(Math.abs(minLat), Math.abs(maxLat));
  // Distance from a point at latitude φ to the meridian Δλ away is asin(sin Δλ · cos φ);
  // solving for Δλ at the point nearest a pole keeps every point at least bufferM inside.
  const ratio = Math.sin(angular) / Math.cos(toRad(maxAbsLat));
  const dLon = ratio >= 1 ? Number.POSITIVE_INFINITY : toDeg(Math.asin(ratio));

  let west: number;
  let east: number;
  let coversAllLongitudes = false;
  if (arc.span + 2 * dLon >= 360) {
    west = -180;
    east = 180;
    coversAllLongitudes = true;
  } else {
    west = normalizeLon(arc.west - dLon);
    east = normalizeLon(arc.east + dLon);
    // Keep the canonical ±180 endpoints on the side that makes the box non-crossing.
    if (east === -180) east = 180;
    if (west === 180) west = -180;
  }

  const clampedEdges: Array<"north" | "south"> = [];
  let north = maxLat + dLat;
  let south = minLat - dLat;
  if (north > WEB_MERCATOR_MAX_LAT) {
    north = WEB_MERCATOR_MAX_LAT;
    clampedEdges.push("north");
  }
  if (south < -WEB_MERCATOR_MAX_LAT) {
    south = -WEB_MERCATOR_MAX_LAT;
    clampedEdges.push("south");
  }
  const crossesAntimeridian = west > east;
  const lonSpan = crossesAntimeridian ? east + 360 - west : east - west;
  const midLat = (north + south) / 2;
  return {
    west,
    south,
    east,
    north,
    crossesAntimeridian,
    coversAllLongitudes,
    clampedEdges,
    bufferM,
    widthKm: (EARTH_RADIUS_M * Math.cos(toRad(midLat)) * toRad(lonSpan)) / 1000,
    heightKm: (EARTH_RADIUS_M * toRad(north - south)) / 1000,
  };
}

/** Whether a point lies inside a (possibly antimeridian-crossing) box. */
export function boxContains(box: BoundingBox, point: { lat: number; lon: number }): boolean {
  if (point.lat < box.south || point.lat > box.north) return false;
  const inside = (lon: number) =>
    box.west <= box.east ? lon >= box.west && lon <= box.east : lon >= box.west || lon <= box.east;
  // -180 and 180 are the same meridian.
  return inside(point.lon) || (Math.abs(point.lon) === 180 && inside(-point.lon));
}

/**
 * The shortest arc of the longitude circle containing every value: the
 * complement of the largest gap between neighbours.
 */
function longitudeArc(lons: number[]): { west: number; east: number; span: number } {
  const sorted = lons.map(normalizeLon).sort((a, b) => a - b);
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  let bestGap = first + 360 - last; // the gap across ±180°: preferred on ties, so no crossing without cause
  let west = first;
  let east = last;
  for (let i = 1; i < sorted.length; i++) {
    const gap = sorted[i]! - sorted[i - 1]!;
    if (gap > bestGap) {
      bestGap = gap;
      west = sorted[i]!;
      east = sorted[i - 1]!;
    }
  }
  return { west, east, span: 360 - bestGap };
}

function normalizeLon(lon: number): number {
  if (lon >= -180 && lon <= 180) return lon;
  const wrapped = ((((lon + 180) % 360) + 360) % 360) - 180;
  return wrapped;
}
