import { type FlightsApiServer, freePort, sampleFlight, startFlightsApi } from "@operator-tool/test-helpers";
import { afterEach, describe, expect, it } from "vitest";
import { fetchFlight } from "./fetch-flight.js";

const TOKEN = "tok-Zq8v1-flights-secret";
const flight = sampleFlight("F-7");
let api: FlightsApiServer | undefined;

afterEach(async () => {
  await api?.close();
  api = undefined;
});

const fast = { retryBaseDelayMs: 10, responseTimeoutMs: 2_000, connectTimeoutMs: 1_000 };

async function fetchFrom(
  server: FlightsApiServer,
  overrides: Partial<Parameters<typeof fetchFlight>[0]> = {},
) {
  return fetchFlight({
    baseUrl: server.url,
    flightId: "F-7",
    token: TOKEN,
    userAgent: "operator-tool/test",
    ...fast,
    ...overrides,
  });
}

async function failure(promise: Promise<unknown>): Promise<Error & { code: string; hint?: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "expected the call to fail").toBeInstanceOf(Error);
  const typed = error as Error & { code: string; hint?: string };
  // The token must never be part of what an operator or a log sees.
  expect(`${typed.message} ${typed.hint ?? ""}`).not.toContain(TOKEN);
  return typed;
}

describe("fetchFlight against a loopback Flights API", () => {
  it("returns the validated flight and sends bearer token and user agent", async () => {
    api = await startFlightsApi({ flights: [flight], token: TOKEN });
    const result = await fetchFrom(api);
    expect(result.id).toBe("F-7");
    expect(result.waypoints).toHaveLength(3);
    expect(result.source).toEqual({ kind: "api", url: `${api.url}/flights/F-7` });
    expect(api.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(api.requests[0]?.headers["user-agent"]).toBe("operator-tool/test");
  });

  it("keeps a base path and encodes the id", async () => {
    api = await startFlightsApi({ flights: [flight], token: TOKEN, always: { status: 404 } });
    await failure(fetchFrom(api, { baseUrl: `${api.url}/api/v2` }));
    expect(api.requests[0]?.url).toBe("/api/v2/flights/F-7");
  });

  it.each([
    [401, "FLIGHTS_API_AUTH_REJECTED"],
    [403, "FLIGHTS_API_AUTH_REJECTED"],
    [404, "FLIGHT_NOT_FOUND"],
  ])("HTTP %i → %s without retrying", async (status, code) => {
    api = await startFlightsApi({ flights: [flight], always: { status } });
    const error = await failure(fetchFrom(api));
    expect(error.code).toBe(code);
    expect(error.message).toContain(`HTTP ${status}`);
    expect(api.requests).toHaveLength(1);
  });

  it("says when no token was given on 401", async () => {
    api = await startFlightsApi({ flights: [flight], token: TOKEN });
    const error = await failure(fetchFrom(api, { token: undefined }));
    expect(error.code).toBe("FLIGHTS_API_AUTH_REJECTED");
    expect(error.message).toContain("no token was given");
    expect(error.hint).toContain("OPERATOR_TOOL_FLIGHTS_API_TOKEN");
  });

  it("retries a 500 and succeeds on the next answer", async () => {
    api = await startFlightsApi({
      flights: [flight],
      token: TOKEN,
      script: [{ status: 500 }, { status: 503 }],
    });
    const result = await fetchFrom(api);
    expect(result.id).toBe("F-7");
    expect(api.requests).toHaveLength(3);
  });

  it("gives up after the retry budget on 500 forever", async () => {
    api = await startFlightsApi({ flights: [flight], always: { status: 500 } });
    const error = await failure(fetchFrom(api, { maxAttempts: 3 }));
    expect(error.code).toBe("FLIGHTS_API_UNREACHABLE");
    expect(error.message).toContain("HTTP 500 (3 attempts)");
    expect(api.requests).toHaveLength(3);
  });

  it("honours Retry-After on 429 before retrying", async () => {
    api = await startFlightsApi({
      flights: [flight],
      token: TOKEN,
      script: [{ status: 429, headers: { "retry-after": "1" } }],
    });
    await fetchFrom(api);
    const [first, second] = api.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
  });

  it("reports connection refused as unreachable after retries", async () => {
    const port = await freePort();
    const error = await failure(
      fetchFlight({
        baseUrl: `http://127.0.0.1:${port}`,
        flightId: "F-7",
        token: TOKEN,
        userAgent: "t",
        ...fast,
        maxAttempts: 2,
      }),
    );
    expect(error.code).toBe("FLIGHTS_API_UNREACHABLE");
    expect(error.message).toContain("connection refused");
  });

  it("times out a server that never answers", async () => {
    api = await startFlightsApi({ flights: [flight], always: { hang: true } });
    // Without the timeout this would wait on the hung server until the test itself timed out.
    const error = await failure(fetchFrom(api, { responseTimeoutMs: 200, maxAttempts: 2 }));
    expect(error.code).toBe("FLIGHTS_API_UNREACHABLE");
    expect(error.message).toContain("no response within the timeout");
    expect(api.requests).toHaveLength(2);
  });

  it("retries a connection reset", async () => {
    api = await startFlightsApi({ flights: [flight], token: TOKEN, script: [{ reset: true }] });
    expect((await fetchFrom(api)).id).toBe("F-7");
    expect(api.requests).toHaveLength(2);
  });

  it("rejects a body that is not JSON", async () => {
    api = await startFlightsApi({
      flights: [flight],
      always: { body: "<html>oops</html>", contentType: "text/html" },
    });
    const error = await failure(fetchFrom(api));
    expect(error.code).toBe("FLIGHT_PAYLOAD_INVALID");
    expect(error.message).toContain("not JSON");
  });

  it("rejects a schema-violating body naming the field path", async () => {
    const bad = { ...flight, waypoints: [{ lat: 123, lon: 30, altM: 100 }] };
    api = await startFlightsApi({ flights: [flight], always: { body: JSON.stringify(bad) } });
    const error = await failure(fetchFrom(api));
    expect(error.code).toBe("FLIGHT_PAYLOAD_INVALID");
    expect(error.message).toContain("waypoints[0].lat");
  });

  it("rejects an answer for a different flight", async () => {
    api = await startFlightsApi({
      flights: [flight],
      always: { body: JSON.stringify({ ...flight, id: "F-8" }) },
    });
    const error = await failure(fetchFrom(api));
    expect(error.code).toBe("FLIGHT_PAYLOAD_INVALID");
    expect(error.message).toContain('"F-8"');
  });

  it("stops reading a huge body at the bound", async () => {
    api = await startFlightsApi({ flights: [flight], always: { hugeBodyBytes: 512 * 1024 * 1024 } });
    const error = await failure(fetchFrom(api, { maxBodyBytes: 256 * 1024 }));
    expect(error.code).toBe("FLIGHT_PAYLOAD_INVALID");
    expect(error.message).toContain("more than 256 KiB");
    // The client hung up long before the server could push its 512 MiB.
    expect(api.hugeBytesSent).toBeLessThan(64 * 1024 * 1024);
  });

  it("refuses a flight id that is not one, before any request", async () => {
    api = await startFlightsApi({ flights: [flight] });
    const error = await failure(fetchFrom(api, { flightId: "../etc/passwd" }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("--flight-id");
    expect(api.requests).toHaveLength(0);
  });
});
