import { readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { isTempFile, removeStaleTempFiles, writeJsonAtomic } from "@operator-tool/atomic-file";
import { TILE_EXTENSIONS, type TileImageFormat } from "./image-check.js";
import type { TileCoord } from "./tile-math.js";
import { tileKey } from "./tile-math.js";

export const TILESET_SCHEMA = "operator-tool/tileset@1";

export interface TilesetEntry extends TileCoord {
  /** Relative to the provider's cache directory, e.g. `17/76543/44321.jpg`. */
  path: string;
  bytes: number;
  sha256: string;
  /** The provider's validators for this version, when it sent any: revalidation asks with them. */
  etag?: string;
  lastModified?: string;
  /** When this version was fetched or last confirmed current (ISO 8601); its age is measured from here. */
  fetchedAt?: string;
}

/** Per flight: every tile it needs that exists, with size and digest, and the ones the provider lacks. */
export interface Tileset {
  schema: typeof TILESET_SCHEMA;
  flightId: string;
  providerId: string;
  /** The template with `{apiKey}` unexpanded: never the key itself. */
  urlTemplate: string;
  coverage: string;
  zooms: number[];
  bufferM: number;
  createdAt: string;
  tiles: TilesetEntry[];
  absent: TileCoord[];
}

export interface CachedTile {
  ext: TileImageFormat;
  bytes: number;
  /** The file's modification time: a tile's age when no tileset recorded when it was fetched. */
  mtimeMs: number;
}

export function tileRelativePath(tile: TileCoord, ext: TileImageFormat): string {
  return `${tile.z}/${tile.x}/${tile.y}.${ext}`;
}

export function tilesetPathFor(providerCacheDir: string, flightId: string): string {
  return join(providerCacheDir, "tilesets", `${flightId}.json`);
}

/**
 * Which of `tiles` are in the cache, reading each tile column's directory once.
 * Only complete files can be found: tiles are renamed into place whole, and
 * temp files are skipped here (and swept when their writer is dead).
 */
export async function scanTileCache(
  providerCacheDir: string,
  tiles: readonly TileCoord[],
): Promise<Map<string, CachedTile>> {
  const columns = new Map<string, TileCoord[]>();
  for (const t of tiles) {
    const dir = `${t.z}/${t.x}`;
    const list = columns.get(dir);
    if (list === undefined) columns.set(dir, [t]);
    else list.push(t);
  }
  const found = new Map<string, CachedTile>();
  // Synchronous on purpose: tens of thousands of tiny metadata calls run several
  // times faster without the thread-pool round trip, and nothing else is waiting.
  for (const [dir, wanted] of columns) {
    const abs = join(providerCacheDir, dir);
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      continue;
    }
    if (names.some(isTempFile)) await removeStaleTempFiles(abs);
    const byRow = new Map<string, TileImageFormat>();
    for (const name of names) {
      if (isTempFile(name)) continue;
      const dot = name.lastIndexOf(".");
      const ext = name.slice(dot + 1) as TileImageFormat;
      if (dot > 0 && TILE_EXTENSIONS.includes(ext)) byRow.set(name.slice(0, dot), ext);
    }
    for (const t of wanted) {
      const ext = byRow.get(String(t.y));
      if (ext === undefined) continue;
      const info = statSync(join(abs, `${t.y}.${ext}`), { throwIfNoEntry: false });
      if (info !== undefined && info.size > 0)
        found.set(tileKey(t), { ext, bytes: info.size, mtimeMs: info.mtimeMs });
    }
  }
  return found;
}

export async function readTileset(path: string): Promise<Tileset | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as Tileset;
    return parsed.schema === TILESET_SCHEMA ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export async function writeTileset(path: string, tileset: Tileset): Promise<void> {
  await writeJsonAtomic(path, tileset);
}
