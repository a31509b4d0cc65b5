import { describeIssues, InvalidArgumentError } from "@operator-tool/errors";
import { backoffDelay, parseRetryAfter, sleep } from "@operator-tool/retry-policy";
import {
  FlightNotFoundError,
  FlightPayloadError,
  FlightsApiAuthError,
  FlightsApiUnreachableError,
} from "./errors.js";
import { FLIGHT_ID_PATTERN, type Flight, flightPayloadSchema } from "./flight.js";

/** The few logger methods this package uses; any pino logger fits. */
export interface FlightsApiLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface FetchFlightOptions {
  baseUrl: string;
  flightId: string;
  token: string | undefined;
  userAgent: string;
  connectTimeoutMs?: number;
  /** Time allowed for the headers, and then between body chunks. */
  responseTimeoutMs?: number;
  /** Total attempts for retryable failures (connection errors, timeouts, 5xx, 429). */
  maxAttempts?: number;
  retryBaseDelayMs?: number;
  /** Upper bound on a Retry-After the API asks for. */
  maxRetryAfterMs?: number;
  maxBodyBytes?: number;
  signal?: AbortSignal;
  logger?: FlightsApiLogger;
}

const DEFAULTS = {
  connectTimeoutMs: 5_000,
  responseTimeoutMs: 15_000,
  maxAttempts: 4,
  retryBaseDelayMs: 500,
  maxRetryAfterMs: 30_000,
  maxBodyBytes: 4 * 1024 * 1024,
};

const RETRYABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

class RetryableFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * `GET {baseUrl}/flights/{id}`: returns the validated flight or throws a coded
 * error (not found, auth rejected, unreachable, invalid payload). The token is
 * only ever placed in the Authorization header, never in a message.
 */
export async function fetchFlight(options: FetchFlightOptions): Promise<Flight> {
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const url = flightUrl(options.baseUrl, options.flightId);
  const { Agent, request } = await import("undici");
  const dispatcher = new Agent({
    connect: { timeout: settings.connectTimeoutMs },
    headersTimeout: settings.responseTimeoutMs,
    bodyTimeout: settings.responseTimeoutMs,
    keepAliveTimeout: 1_000,
  });
  const headers: Record<string, string> = { accept: "application/json", "user-agent": options.userAgent };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;

  try {
    let lastFailure = "";
    for (let attempt = 1; attempt <= settings.maxAttempts; attempt++) {
      options.signal?.throwIfAborted();
      try {
        const body = await attemptFetch(request, dispatcher, url, headers, options, settings);
        return parseFlight(body, url, options.flightId);
      } catch (error) {
        if (!(error instanceof RetryableFailure)) throw error;
        lastFailure = error.message;
        if (attempt === settings.maxAttempts) break;
        const delay = error.retryAfterMs ?? backoffDelay(settings.retryBaseDelayMs, attempt - 1);
        options.logger?.warn(
          { url: url.href, attempt, maxAttempts: settings.maxAttempts, retryInMs: delay },
          `Flights API request failed (${lastFailure}); retrying`,
        );
        await sleep(delay, options.signal);
        options.signal?.throwIfAborted();
      }
    }
    throw new FlightsApiUnreachableError(
      `the Flights API at ${url.origin} could not be reached for flight "${options.flightId}": ${lastFailure} (${settings.maxAttempts} attempts)`,
      { hint: "check the network and --flights-api-url, then re-run" },
    );
  } finally {
    void dispatcher.close().catch(() => undefined);
  }
}

type UndiciRequest = typeof import("undici").request;
type Dispatcher = import("undici").Dispatcher;

async function attemptFetch(
  request: UndiciRequest,
  dispatcher: Dispatcher,
  url: URL,
  headers: Record<string, string>,
  options: FetchFlightOptions,
  settings: typeof DEFAULTS,
): Promise<string> {
  let response: Awaited<ReturnType<UndiciRequest>>;
  try {
    response = await request(url, { method: "GET", headers, dispatcher, signal: options.signal });
  } catch (error) {
    throw classifyTransportError(error, url, options);
  }
  const { statusCode } = response;
  options.logger?.debug({ url: url.href, statusCode }, "Flights API responded");
  if (statusCode >= 200 && statusCode < 300) {
    return readBounded(response.body, settings.maxBodyBytes, url, options.flightId);
  }
  await response.body.dump().catch(() => undefined);
  if (statusCode === 404 || statusCode === 410) {
    throw new FlightNotFoundError(
      `flight "${options.flightId}" was not found on the Flights API at ${url.origin} (HTTP ${statusCode})`,
      {
        hint: "check --flight-id, and that --flights-api-url points at the right environment",
      },
    );
  }
  if (statusCode === 401 || statusCode === 403) {
    throw new FlightsApiAuthError(
      `the Flights API at ${url.origin} rejected ${options.token === undefined ? "the request: no token was given" : "the token"} (HTTP ${statusCode})`,
      { hint: "set a valid token in OPERATOR_TOOL_FLIGHTS_API_TOKEN or --flights-api-token-file" },
    );
  }
  if (statusCode === 429 || statusCode >= 500) {
    const retryAfter = parseRetryAfter(headerValue(response.headers["retry-after"]));
    throw new RetryableFailure(
      `HTTP ${statusCode}`,
      retryAfter === undefined ? undefined : Math.min(retryAfter, settings.maxRetryAfterMs),
    );
  }
  throw new FlightsApiUnreachableError(
    `the Flights API at ${url.origin} answered HTTP ${statusCode} for flight "${options.flightId}"`,
    { hint: "check --flights-api-url: it should be the API's base URL, without /flights" },
  );
}

function classifyTransportError(error: unknown, url: URL, options: FetchFlightOptions): Error {
  if (options.signal?.aborted)
    return options.signal.reason instanceof Error ? options.signal.reason : (error as Error);
  const code = errorCode(error);
  if (code !== undefined && RETRYABLE_CODES.has(code))
    return new RetryableFailure(describeTransportCode(code));
  return new FlightsApiUnreachableError(
    `the Flights API at ${url.origin} could not be reached for flight "${options.flightId}": ${(error as Error).message}`,
    { hint: "check the network and --flights-api-url", cause: error },
  );
}

function describeTransportCode(code: string): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connect timed out";
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return "no response within the timeout";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
      return "connection reset";
    default:
      return code;
  }
}

async function readBounded(
  body: AsyncIterable<Buffer> & { destroy(): void },
  max: number,
  url: URL,
  flightId: string,
) {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      total += chunk.length;
      if (total > max) {
        body.destroy();
        throw new FlightPayloadError(
          `the Flights API at ${url.origin} sent more than ${Math.round(max / 1024)} KiB for flight "${flightId}"; refusing to read it`,
          { hint: "check --flights-api-url points at the Flights API" },
        );
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof FlightPayloadError) throw error;
    const code = errorCode(error);
    if (code !== undefined && RETRYABLE_CODES.has(code))
      throw new RetryableFailure(describeTransportCode(code));
    throw new RetryableFailure(`response body interrupted: ${(error as Error).message}`);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseFlight(text: string, url: URL, flightId: string): Flight {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FlightPayloadError(
      `the Flights API at ${url.origin} returned a body for flight "${flightId}" that is not JSON`,
      {
        hint: "check --flights-api-url points at the Flights API",
      },
    );
  }
  const parsed = flightPayloadSchema.safeParse(json);
  if (!parsed.success) {
    throw new FlightPayloadError(
      `the Flights API returned flight "${flightId}" in a shape operator-tool cannot use: ${describeIssues(parsed.error.issues)}`,
      { hint: "report it to the Flights API owners; nothing was changed locally" },
    );
  }
  if (parsed.data.id !== flightId) {
    throw new FlightPayloadError(
      `the Flights API answered the request for flight "${flightId}" with flight "${parsed.data.id}" (field id)`,
      { hint: "report it to the Flights API owners; nothing was changed locally" },
    );
  }
  return { ...parsed.data, source: { kind: "api", url: url.href } };
}

export function flightUrl(baseUrl: string, flightId: string): URL {
  if (!FLIGHT_ID_PATTERN.test(flightId)) {
    throw new InvalidArgumentError(
      `--flight-id "${flightId}" is not a flight id: use letters, digits, '.', '_' and '-' (up to 128)`,
    );
  }
  let base: URL;
  try {
    base = new URL(baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  } catch {
    throw new InvalidArgumentError(`--flights-api-url "${baseUrl}" is not a URL`, {
      hint: "give the API's base URL, e.g. https://flights.example.org/api",
    });
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new InvalidArgumentError(`--flights-api-url "${baseUrl}" must be http:// or https://`);
  }
  return new URL(`flights/${encodeURIComponent(flightId)}`, base);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
