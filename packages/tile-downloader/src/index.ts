/** The digest the tileset records for a file; the same helper as `sha256OfFile` in @operator-tool/atomic-file. */
export { sha256OfFile as sha256File } from "@operator-tool/atomic-file";
export type {
  DownloadCounts,
  DownloaderLogger,
  DownloadProgress,
  DownloadResult,
  DownloadTilesOptions,
  FailedTile,
} from "./download-tiles.js";
export { downloadTiles } from "./download-tiles.js";
export { TileDownloadError } from "./errors.js";
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
