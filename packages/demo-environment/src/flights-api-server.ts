import { type LoopbackServer, startLoopbackServer } from "./loopback-server.js";

/** One scripted answer; requests consume the script in order, then get normal service. */
export type ScriptedResponse =
  | { status: number; body?: string; headers?: Record<string, string> }
  | { hang: true }
  | { reset: true }
  | { body: string; contentType?: string }
  | { hugeBodyBytes: number };

export interface FlightsApiServer extends LoopbackServer {
  /** Bytes written by "huge body" responses before the client hung up. */
  hugeBytesSent: number;
}

export interface FlightsApiOptions {
  flights: Array<{ id: string } & Record<string, unknown>>;
  /** When set, requests without `Authorization: Bearer <token>` get 401. */
  token?: string;
  script?: ScriptedResponse[];
  /** Applied to every request after the script runs out. */
  always?: ScriptedResponse;
}

export function sampleFlight(id = "F-2024-0042"): { id: string } & Record<string, unknown> {
  return {
    id,
    name: "Kyiv north survey",
    updatedAt: "2026-05-13T08:00:00Z",
    takeoff: { lat: 50.4501, lon: 30.5234, altM: 180 },
    waypoints: [
      { lat: 50.451, lon: 30.5301, altM: 120 },
      { lat: 50.4562, lon: 30.5388, altM: 120 },
      { lat: 50.4611, lon: 30.5302, altM: 130 },
    ],
  };
}

/** The Flights API on loopback: `GET /flights/{id}`, bearer auth, scripted faults. */
export async function startFlightsApi(options: FlightsApiOptions): Promise<FlightsApiServer> {
  const script = [...(options.script ?? [])];
  const state = { hugeBytesSent: 0 };
  const server = await startLoopbackServer(async (req, res) => {
    const scripted = script.shift() ?? options.always;
    if (scripted !== undefined) {
      if ("hang" in scripted) return; // never answer; the client must time out
      if ("reset" in scripted) {
        req.socket.destroy();
        return;
      }
      if ("hugeBodyBytes" in scripted) {
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        while (state.hugeBytesSent < scripted.hugeBodyBytes && !res.destroyed) {
          state.hugeBytesSent += chunk.length;
          if (!res.write(chunk)) await drainOrClose(res);
        }
        res.end();
        return;
      }
      if ("status" in scripted) {
        res.writeHead(scripted.status, { "content-type": "application/json", ...scripted.headers });
        res.end(scripted.body ?? JSON.stringify({ error: `scripted ${scripted.status}` }));
        return;
      }
      res.writeHead(200, { "content-type": scripted.contentType ?? "application/json" });
      res.end(scripted.body);
      return;
    }
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "unauthorized" }));
      return;
    }
    const match = /^\/flights\/([^/?]+)$/.exec(req.url ?? "");
    const flight = match ? options.flights.find((f) => f.id === decodeURIComponent(match[1]!)) : undefined;
    if (flight === undefined) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "not found" }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(flight));
  });
  return Object.defineProperty(server, "hugeBytesSent", {
    get: () => state.hugeBytesSent,
  }) as FlightsApiServer;
}

function drainOrClose(res: import("node:http").ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
