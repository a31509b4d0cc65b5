import { backoffDelay, HostPacer, PauseGate, sleep } from "@operator-tool/retry-policy";
import { classifyRequestError, classifyTileResponse, header } from "./classify-response.js";
import type { TileImageFormat } from "./image-check.js";
import { type TileProvider, tileUrl } from "./provider.js";
import { type TileCoord, tileKey } from "./tile-math.js";
import type { TileTransport } from "./tile-transport.js";

export interface TileFetcherSettings {
  maxRequestsPerSecond: number;
  maxAttempts: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  maxRateLimitWaitMs: number;
  breakerThreshold: number;
  breakerCooldownMs: number;
  breakerMaxTrips: number;
}

/** What the provider said identifies this version of a tile, for asking "has it changed?" later. */
export interface TileValidators {
  etag?: string | undefined;
  lastModified?: string | undefined;
}

/** Where asking for one tile ended, retries included. */
export type TileResult =
  | { kind: "fetched"; body: Buffer; ext: TileImageFormat; validators: TileValidators }
  /** Asked conditionally and the provider answered 304: the cached copy is current. */
  | { kind: "not-modified"; validators: TileValidators }
  | { kind: "absent" }
  | { kind: "failed"; error: string }
  /** Nothing more is worth asking: the run stops, and this tile fails with `error`. */
  | { kind: "stop"; reason: string; error: string }
  /** The signal aborted first. */
  | { kind: "interrupted" };

/** Logged as it happens: the warnings an operator should see during a long download. */
export interface FetchEvents {
  rateLimited(host: string, retryAfterMs: number): void;
  hostPaused(host: string, consecutiveFailures: number, pauseMs: number): void;
}

/**
 * Asks for tiles with the retry policy: every request waits at the shared
 * pause gate (a 429 pauses all of them) and for its host's turn (rate cap,
 * circuit breaker); transient failures are retried with backoff up to
 * `maxAttempts`; refused credentials, a host that keeps failing and rate
 * limiting past its budget stop the run.
 */
export class TileFetcher {
  readonly #gate = new PauseGate();
  readonly #hosts = new Map<string, HostPacer>();
  readonly #blank: ReadonlySet<string>;
  /** Requests sent, retries included. */
  requests = 0;
  /** Time every request was held back by 429s. */
  rateLimitedMs = 0;

  constructor(
    private readonly transport: Pick<TileTransport, "request">,
    private readonly provider: TileProvider,
    private readonly headers: Record<string, string>,
    private readonly settings: TileFetcherSettings,
    blankTileSha256: readonly string[],
    private readonly events: FetchEvents,
  ) {
    this.#blank = new Set(blankTileSha256);
  }

  /** With `cached` validators the request is conditional (If-None-Match / If-Modified-Since). */
  async fetch(tile: TileCoord, signal: AbortSignal, cached?: TileValidators): Promise<TileResult> {
    const { settings } = this;
    const conditional = cached?.etag !== undefined || cached?.lastModified !== undefined;
    const headers = conditional ? { ...this.headers } : this.headers;
    if (cached?.etag !== undefined) headers["if-none-match"] = cached.etag;
    if (cached?.lastModified !== undefined) headers["if-modified-since"] = cached.lastModified;
    const url = tileUrl(this.provider, tile);
    const host = new URL(url).host;
    const pacer = this.#pacer(host);
    let attempt = 0;
    for (;;) {
      if (signal.aborted) return { kind: "interrupted" };
      await this.#gate.wait(signal);
      await pacer.waitTurn(signal);
      if (signal.aborted) return { kind: "interrupted" };
      this.requests++;
      let outcome: ReturnType<typeof classifyTileResponse>;
      let validators: TileValidators = {};
      try {
        const response = await this.transport.request(url, headers, signal);
        outcome = classifyTileResponse(response, { blankTileSha256: this.#blank, conditional });
        validators = {
          etag: header(response.headers.etag),
          lastModified: header(response.headers["last-modified"]),
        };
      } catch (error) {
        if (signal.aborted) return { kind: "interrupted" };
        outcome = classifyRequestError(error);
      }
      switch (outcome.kind) {
        case "ok":
          pacer.succeeded();
          return { kind: "fetched", body: outcome.body, ext: outcome.ext, validators };
        case "not-modified":
          pacer.succeeded();
          // A 304 may repeat or update the validators; what it leaves out stays as it was.
          return {
            kind: "not-modified",
            validators: {
              etag: validators.etag ?? cached?.etag,
              lastModified: validators.lastModified ?? cached?.lastModified,
            },
          };
        case "absent":
          pacer.succeeded();
          return { kind: "absent" };
        case "rejected":
          pacer.succeeded();
          return { kind: "failed", error: outcome.reason };
        case "fatal":
          return {
            kind: "stop",
            reason: `the provider rejected the API key (${outcome.reason} for tile ${tileKey(tile)})`,
            error: outcome.reason,
          };
        case "rate-limited": {
          const wait =
            outcome.retryAfterMs ??
            backoffDelay(settings.retryBaseDelayMs * 4, pacer.rateLimitStreak++, settings.retryMaxDelayMs);
          this.rateLimitedMs += this.#gate.pauseFor(wait);
          this.events.rateLimited(host, wait);
          if (this.rateLimitedMs > settings.maxRateLimitWaitMs) {
            const budget = Math.round(settings.maxRateLimitWaitMs / 1000);
            return {
              kind: "stop",
              reason: `the provider kept rate-limiting (429) for more than ${budget} s`,
              error: "HTTP 429",
            };
          }
          continue;
        }
        case "transient": {
          attempt++;
          const pause = pacer.failed();
          if (pause !== undefined) {
            this.events.hostPaused(host, settings.breakerThreshold, pause);
            if (pacer.trips > settings.breakerMaxTrips) {
              return {
                kind: "stop",
                reason: `${host} keeps failing (${outcome.reason}); stopped after ${pacer.trips} pauses`,
                error: outcome.reason,
              };
            }
          }
          if (attempt >= settings.maxAttempts)
            return { kind: "failed", error: `${outcome.reason} (after ${attempt} attempts)` };
          await sleep(backoffDelay(settings.retryBaseDelayMs, attempt - 1, settings.retryMaxDelayMs), signal);
          continue;
        }
      }
    }
  }

  #pacer(host: string): HostPacer {
    let pacer = this.#hosts.get(host);
    if (pacer === undefined) {
      pacer = new HostPacer(this.settings);
      this.#hosts.set(host, pacer);
    }
    return pacer;
  }
}
