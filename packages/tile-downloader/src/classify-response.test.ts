import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { classifyRequestError, classifyTileResponse, type TileOutcome } from "./classify-response.js";
import type { TileResponse } from "./tile-request.js";

const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.alloc(40, 7),
]);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(40, 3)]);
const WEBP = Buffer.concat([Buffer.from("RIFF"), Buffer.alloc(4), Buffer.from("WEBPVP8 "), Buffer.alloc(20)]);
const BLANK = Buffer.concat([PNG, Buffer.from("blank")]);
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const NOW = Date.parse("2026-01-01T00:00:00Z");

function response(status: number, headers: TileResponse["headers"] = {}, body?: Buffer): TileResponse {
  return { status, headers, body: status === 200 ? body : Buffer.alloc(0) };
}
const image = (body: Buffer, type = "image/png") =>
  response(200, { "content-type": type, "content-length": String(body.length) }, body);

/** An outcome without the body the `ok` cases carry along. */
type WithoutBody<T> = T extends unknown ? Omit<T, "body"> : never;

function classify(r: TileResponse): WithoutBody<TileOutcome> {
  const { body: _, ...rest } = classifyTileResponse(r, {
    blankTileSha256: new Set([sha256(BLANK)]),
    now: NOW,
  }) as {
    body?: unknown;
  } & TileOutcome;
  return rest;
}

describe("classifyTileResponse", () => {
  it.each<[string, TileResponse, WithoutBody<TileOutcome>]>([
    ["a PNG", image(PNG), { kind: "ok", ext: "png" }],
    ["a JPEG served as image/jpeg", image(JPEG, "image/jpeg"), { kind: "ok", ext: "jpg" }],
    ["a WebP whatever image/* type it claims", image(WEBP, "IMAGE/png"), { kind: "ok", ext: "webp" }],
    [
      "a body without content-length",
      response(200, { "content-type": "image/png" }, PNG),
      { kind: "ok", ext: "png" },
    ],
    ["the provider's blank placeholder", image(BLANK), { kind: "absent", reason: "blank placeholder tile" }],
    ["204 No Content", response(204), { kind: "absent", reason: "HTTP 204" }],
    ["404 Not Found", response(404), { kind: "absent", reason: "HTTP 404" }],
    ["410 Gone", response(410), { kind: "absent", reason: "HTTP 410" }],
    ["401 Unauthorized", response(401), { kind: "fatal", reason: "HTTP 401" }],
    ["403 Forbidden", response(403), { kind: "fatal", reason: "HTTP 403" }],
    [
      "429 with Retry-After in seconds",
      response(429, { "retry-after": "3" }),
      { kind: "rate-limited", retryAfterMs: 3000 },
    ],
    [
      "429 with Retry-After as an HTTP date",
      response(429, { "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" }),
      { kind: "rate-limited", retryAfterMs: 5000 },
    ],
    [
      "429 with Retry-After given twice: the first counts",
      response(429, { "retry-after": ["2", "9"] }),
      { kind: "rate-limited", retryAfterMs: 2000 },
    ],
    ["429 without Retry-After", response(429), { kind: "rate-limited", retryAfterMs: undefined }],
    ["500", response(500), { kind: "transient", reason: "HTTP 500" }],
    ["503", response(503), { kind: "transient", reason: "HTTP 503" }],
    ["408 Request Timeout", response(408), { kind: "transient", reason: "HTTP 408" }],
    ["400 Bad Request", response(400), { kind: "rejected", reason: "HTTP 400" }],
    ["a redirect left unfollowed", response(302), { kind: "rejected", reason: "HTTP 302" }],
    [
      "a body over the size limit",
      { status: 200, headers: {}, body: undefined },
      { kind: "transient", reason: "body larger than 16 MiB" },
    ],
    [
      "a body shorter than its content-length",
      response(200, { "content-type": "image/png", "content-length": "100" }, PNG),
      { kind: "transient", reason: `truncated body (${PNG.length} of 100 bytes)` },
    ],
    [
      "an empty body",
      response(200, { "content-type": "image/png" }, Buffer.alloc(0)),
      { kind: "transient", reason: "empty body" },
    ],
    [
      "an HTML error page with status 200",
      response(200, { "content-type": "text/html" }, Buffer.from("<html>quota</html>")),
      { kind: "transient", reason: 'content-type "text/html" is not an image' },
    ],
    [
      "no content-type",
      response(200, {}, PNG),
      { kind: "transient", reason: 'content-type "none" is not an image' },
    ],
    [
      "image/png that is not an image",
      image(Buffer.from("definitely not a png")),
      { kind: "transient", reason: "body is not a PNG, JPEG or WebP image (image/png)" },
    ],
  ])("%s", (_, r, expected) => {
    expect(classify(r)).toEqual(expected);
  });

  it("hands the body of a good tile on as it is", () => {
    const outcome = classifyTileResponse(image(PNG), { blankTileSha256: new Set() });
    expect(outcome).toEqual({ kind: "ok", ext: "png", body: PNG });
  });

  it("without placeholder digests, a blank-looking tile is just a tile", () => {
    expect(classifyTileResponse(image(BLANK), { blankTileSha256: new Set() })).toMatchObject({ kind: "ok" });
  });
});

describe("classifyRequestError", () => {
  it.each([
    ["ECONNRESET", "connection reset"],
    ["UND_ERR_SOCKET", "connection reset"],
    ["ECONNREFUSED", "connection refused"],
    ["UND_ERR_HEADERS_TIMEOUT", "timed out"],
    ["UND_ERR_BODY_TIMEOUT", "timed out"],
    ["UND_ERR_CONNECT_TIMEOUT", "timed out"],
    ["UND_ERR_RES_CONTENT_LENGTH_MISMATCH", "truncated body"],
    ["EAI_AGAIN", "EAI_AGAIN"],
  ])("%s is worth another try: %s", (code, reason) => {
    expect(classifyRequestError(Object.assign(new Error("x"), { code }))).toEqual({
      kind: "transient",
      reason,
    });
  });

  it("an error without a code is described by its message", () => {
    expect(classifyRequestError(new Error("socket hang up"))).toEqual({
      kind: "transient",
      reason: "socket hang up",
    });
  });
});
