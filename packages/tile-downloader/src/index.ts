export type {
  DownloadCounts,
  DownloaderLogger,
  DownloadProgress,
  DownloadResult,
  DownloadTilesOptions,
  FailedTile,
} from "./download-tiles.js";
export { downloadTiles } from "./download-tiles.js";
export type { TileImageFormat } from "./image-check.js";
export { detectImageFormat } from "./image-check.js";
export type { Coverage, PlanTilesOptions, TilePlan, ZoomPlan } from "./plan-tiles.js";
export { planTiles, segmentBoxDistance, TilePlanTooLargeError } from "./plan-tiles.js";
export type { TileProvider } from "./provider.js";
export { defineProvider, tileUrl } from "./provider.js";
export type { CachedTile, Tileset, TilesetEntry } from "./tile-cache.js";
export {
  readTileset,
  scanTileCache,
  sha256File,
  TILESET_SCHEMA,
  tileRelativePath,
  tilesetPathFor,
} from "./tile-cache.js";
export type { LonLatBox, TileCoord, TileRange } from "./tile-math.js";
export {
  MAX_LATITUDE,
  quadkey,
  rangeSize,
  tileAt,
  tileKey,
  tileRangesForBox,
  tileToLat,
  tileToLon,
  tileXFloat,
  tileYFloat,
  tmsY,
} from "./tile-math.js";
