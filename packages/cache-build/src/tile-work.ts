import { OperatorToolError, type OperatorToolErrorOptions } from "@operator-tool/errors";

export interface TileCoordinate {
  z: number;
  x: number;
  y: number;
}

/** Used for the estimate when nothing of this provider is cached yet: a typical satellite JPEG. */
const DEFAULT_TILE_BYTES = 25_000;

export interface ZoomPlanSummary {
  z: number;
  tiles: number;
  cached: number;
  /** Recorded as absent at the provider by an earlier run: not asked for again. */
  absent: number;
  toFetch: number;
  bytesEstimate: number;
}

/** `tiles plan --json`, and `tilePlan` in the build-cache report. */
export interface TilePlanSummary {
  flightId: string;
  provider: string;
  coverage: string;
  bufferM: number;
  cacheDir: string;
  zooms: ZoomPlanSummary[];
  total: Omit<ZoomPlanSummary, "z">;
}

export interface TilePlanFacts {
  flightId: string;
  provider: string;
  coverage: string;
  bufferM: number;
  cacheDir: string;
  zooms: ReadonlyArray<{ z: number; tiles: readonly TileCoordinate[] }>;
  /** Tiles already in the cache, by `z/x/y`. */
  cached: ReadonlyMap<string, { bytes: number }>;
  /** `z/x/y` of tiles an earlier run found absent at the provider. */
  absent: ReadonlySet<string>;
}

export const tileKeyOf = (t: TileCoordinate) => `${t.z}/${t.x}/${t.y}`;

/** Per zoom: how many tiles, how many cached or known absent, and what a download would fetch. */
export function summarizeTilePlan(facts: TilePlanFacts): TilePlanSummary {
  const sizes = [...facts.cached.values()].map((c) => c.bytes);
  const fallback = sizes.length > 0 ? sizes.reduce((a, b) => a + b, 0) / sizes.length : DEFAULT_TILE_BYTES;
  const zooms = facts.zooms.map(({ z, tiles }) => {
    let hit = 0;
    let hitBytes = 0;
    let absent = 0;
    for (const t of tiles) {
      const key = tileKeyOf(t);
      const c = facts.cached.get(key);
      if (c !== undefined) {
        hit++;
        hitBytes += c.bytes;
      } else if (facts.absent.has(key)) absent++;
    }
    const mean = hit > 0 ? hitBytes / hit : fallback;
    const toFetch = tiles.length - hit - absent;
    return {
      z,
      tiles: tiles.length,
      cached: hit,
      absent,
      toFetch,
      bytesEstimate: Math.round(toFetch * mean),
    };
  });
  const total = zooms.reduce(
    (sum, zp) => ({
      tiles: sum.tiles + zp.tiles,
      cached: sum.cached + zp.cached,
      absent: sum.absent + zp.absent,
      toFetch: sum.toFetch + zp.toFetch,
      bytesEstimate: sum.bytesEstimate + zp.bytesEstimate,
    }),
    { tiles: 0, cached: 0, absent: 0, toFetch: 0, bytesEstimate: 0 },
  );
  return {
    flightId: facts.flightId,
    provider: facts.provider,
    coverage: facts.coverage,
    bufferM: facts.bufferM,
    cacheDir: facts.cacheDir,
    zooms,
    total,
  };
}

/** What the pipeline reads of a finished download (the tile-downloader's result has more). */
export interface TileDownloadOutcome {
  outcome: "complete" | "incomplete" | "aborted";
  counts: { planned: number; fetched: number; cached: number; absent: number; failed: number };
  bytesFetched: number;
  abortReason?: string | undefined;
  failedTiles: ReadonlyArray<TileCoordinate & { error: string }>;
}

/** A tile download that did not give the flight its tiles: exit 20. */
export class TileDownloadError extends OperatorToolError {
  constructor(
    message: string,
    readonly counts: TileDownloadOutcome["counts"],
    options?: OperatorToolErrorOptions,
  ) {
    super("TILE_DOWNLOAD_FAILED", message, options);
  }
}

/** Why this download fails the command, or undefined when it gave the flight its tiles. */
export function tileDownloadFailure(
  result: TileDownloadOutcome,
  allowAbsent: boolean,
): TileDownloadError | undefined {
  const { counts } = result;
  if (result.outcome === "aborted") {
    const hint = result.abortReason?.includes("API key")
      ? "check OPERATOR_TOOL_API_KEY / --api-key-file"
      : "re-run later to resume; finished tiles are kept";
    return new TileDownloadError(`tile download stopped: ${result.abortReason}`, counts, { hint });
  }
  if (result.outcome === "incomplete") {
    const first = result.failedTiles[0];
    return new TileDownloadError(
      `tile download incomplete: ${counts.failed} of ${counts.planned} tiles failed${
        first ? ` (first: ${tileKeyOf(first)} ${first.error})` : ""
      }`,
      counts,
      { hint: "re-run to resume; --json lists every failed tile" },
    );
  }
  if (counts.absent > 0 && !allowAbsent) {
    return new TileDownloadError(
      `${counts.absent} of ${counts.planned} tiles are absent at the provider (404/204)`,
      counts,
      { hint: "pass --allow-absent to accept them, or narrow --zoom" },
    );
  }
  return undefined;
}
