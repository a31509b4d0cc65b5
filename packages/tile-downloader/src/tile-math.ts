/** Web-Mercator's latitude limit: the square world map ends here. */
export const MAX_LATITUDE = 85.05112878;
export const MAX_ZOOM = 24;

export interface TileCoord {
  z: number;
  x: number;
  y: number;
}

/** A rectangle of tiles at one zoom, inclusive on both ends. */
export interface TileRange {
  z: number;
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

export interface LonLatBox {
  west: number;
  south: number;
  east: number;
  north: number;
}

// Values this close to an integer are taken as on the tile boundary: the
// projection's floating-point error is far below this.
const SNAP = 1e-9;

export function clampLatitude(lat: number): number {
  return Math.max(-MAX_LATITUDE, Math.min(MAX_LATITUDE, lat));
}

/** Fractional tile column of a longitude at zoom z (0 at -180°, 2^z at +180°). */
export function tileXFloat(lon: number, z: number): number {
  return ((lon + 180) / 360) * 2 ** z;
}

/** Fractional tile row of a latitude at zoom z (0 at the north limit). */
export function tileYFloat(lat: number, z: number): number {
  const phi = (clampLatitude(lat) * Math.PI) / 180;
  return ((1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2) * 2 ** z;
}

export function tileToLon(x: number, z: number): number {
  return (x / 2 ** z) * 360 - 180;
}

export function tileToLat(y: number, z: number): number {
  const n = Math.PI - (2 * Math.PI * y) / 2 ** z;
  return (Math.atan(Math.sinh(n)) * 180) / Math.PI;
}

/** The tile holding a point. Longitude 180 maps to the last column, not past it. */
export function tileAt(lon: number, lat: number, z: number): TileCoord {
  const n = 2 ** z;
  return {
    z,
    x: clampIndex(Math.floor(snap(tileXFloat(lon, z))), n),
    y: clampIndex(Math.floor(snap(tileYFloat(lat, z))), n),
  };
}

/**
 * Tile ranges covering a box at zoom z. An east or south edge lying exactly on
 * a tile boundary does not pull in the next tile; a box crossing the
 * antimeridian (west > east) becomes two ranges.
 */
export function tileRangesForBox(box: LonLatBox, z: number): TileRange[] {
  if (box.west > box.east) {
    return [...tileRangesForBox({ ...box, east: 180 }, z), ...tileRangesForBox({ ...box, west: -180 }, z)];
  }
  const n = 2 ** z;
  const xMin = clampIndex(Math.floor(snap(tileXFloat(box.west, z))), n);
  const xMax = Math.max(xMin, clampIndex(lastIndexBefore(tileXFloat(box.east, z)), n));
  const yMin = clampIndex(Math.floor(snap(tileYFloat(box.north, z))), n);
  const yMax = Math.max(yMin, clampIndex(lastIndexBefore(tileYFloat(box.south, z)), n));
  return [{ z, xMin, xMax, yMin, yMax }];
}

export function rangeSize(range: TileRange): number {
  return (range.xMax - range.xMin + 1) * (range.yMax - range.yMin + 1);
}

/** Bing-style quadkey for `{q}`. */
export function quadkey({ z, x, y }: TileCoord): string {
  let key = "";
  for (let i = z; i > 0; i--) {
    const mask = 1 << (i - 1);
    key += String((x & mask ? 1 : 0) + (y & mask ? 2 : 0));
  }
  return key;
}

/** TMS row for `{-y}`: rows counted from the south. */
export function tmsY({ z, y }: TileCoord): number {
  return 2 ** z - 1 - y;
}

export function tileKey({ z, x, y }: TileCoord): string {
  return `${z}/${x}/${y}`;
}

/** An exclusive upper edge: exactly on a boundary means the tile before it. */
function lastIndexBefore(value: number): number {
  const snapped = snap(value);
  return Number.isInteger(snapped) ? snapped - 1 : Math.floor(snapped);
}

function snap(value: number): number {
  const rounded = Math.round(value);
  return Math.abs(value - rounded) < SNAP ? rounded : value;
}

function clampIndex(i: number, n: number): number {
  return Math.max(0, Math.min(n - 1, i));
}
