import { sha256Hex } from "@operator-tool/atomic-file";
import { parseRetryAfter } from "@operator-tool/retry-policy";
import { detectImageFormat, type TileImageFormat } from "./image-check.js";
import { MAX_TILE_BYTES, type TileResponse } from "./tile-request.js";

/** What one answer from the provider means for the tile asked for. */
export type TileOutcome =
  /** A whole image: store it. */
  | { kind: "ok"; body: Buffer; ext: TileImageFormat }
  /** The provider has no imagery here (404, 410, 204, a known placeholder): record it, do not ask again. */
  | { kind: "absent"; reason: string }
  /** The credentials are refused (401, 403): no other tile will fare better. */
  | { kind: "fatal"; reason: string }
  /** 429: every request waits, for Retry-After when given. */
  | { kind: "rate-limited"; retryAfterMs: number | undefined }
  /** Worth asking again (5xx, 408, resets, timeouts, cut or non-image bodies). */
  | { kind: "transient"; reason: string }
  /** 304 to a conditional request: the cached tile is still current. */
  | { kind: "not-modified" }
  /** A refusal asking again will not change (other 4xx, odd statuses). */
  | { kind: "rejected"; reason: string };

export interface ClassifyOptions {
  /** Digests of the provider's "no imagery here" placeholder tiles. */
  blankTileSha256: ReadonlySet<string>;
  /** The request carried If-None-Match / If-Modified-Since, so a 304 means "unchanged". */
  conditional?: boolean;
  /** The clock a Retry-After date is measured against. */
  now?: number;
}

/** Classifies a complete HTTP answer; the body is checked to be a whole image before it counts as one. */
export function classifyTileResponse(response: TileResponse, options: ClassifyOptions): TileOutcome {
  const { status, headers, body } = response;
  if (status !== 200) {
    if (status === 204 || status === 404 || status === 410)
      return { kind: "absent", reason: `HTTP ${status}` };
    if (status === 401 || status === 403) return { kind: "fatal", reason: `HTTP ${status}` };
    if (status === 304 && options.conditional) return { kind: "not-modified" };
    if (status === 429)
      return {
        kind: "rate-limited",
        retryAfterMs: parseRetryAfter(header(headers["retry-after"]), options.now),
      };
    if (status >= 500 || status === 408) return { kind: "transient", reason: `HTTP ${status}` };
    return { kind: "rejected", reason: `HTTP ${status}` };
  }
  if (body === undefined)
    return { kind: "transient", reason: `body larger than ${MAX_TILE_BYTES / 1024 / 1024} MiB` };
  const declared = Number(header(headers["content-length"]) ?? Number.NaN);
  if (Number.isFinite(declared) && declared !== body.length)
    return { kind: "transient", reason: `truncated body (${body.length} of ${declared} bytes)` };
  if (body.length === 0) return { kind: "transient", reason: "empty body" };
  const contentType = header(headers["content-type"]) ?? "";
  if (!contentType.toLowerCase().startsWith("image/"))
    return { kind: "transient", reason: `content-type "${contentType || "none"}" is not an image` };
  const ext = detectImageFormat(body);
  if (ext === undefined)
    return { kind: "transient", reason: `body is not a PNG, JPEG or WebP image (${contentType})` };
  // Hashed here only to spot a placeholder: the writer hashes every tile anyway, off this thread.
  if (options.blankTileSha256.size > 0 && options.blankTileSha256.has(sha256Hex(body)))
    return { kind: "absent", reason: "blank placeholder tile" };
  return { kind: "ok", body, ext };
}

/** A request that got no complete answer (reset, refused, timed out, cut short): always worth another try. */
export function classifyRequestError(error: unknown): TileOutcome {
  return { kind: "transient", reason: describeRequestError(error) };
}

function describeRequestError(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "connection reset";
    case "ECONNREFUSED":
      return "connection refused";
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "timed out";
    case "UND_ERR_RES_CONTENT_LENGTH_MISMATCH":
      return "truncated body";
    default:
      if (code !== undefined && TLS_TRUST_CODES.has(code))
        return `the provider's TLS certificate is not trusted (${code}); for a private CA pass --ca-file`;
      return code ?? (error as Error).message;
  }
}

const TLS_TRUST_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

export function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
