export type { FlightsApiServer, ScriptedResponse } from "./flights-api-server.js";
export { sampleFlight, startFlightsApi } from "./flights-api-server.js";
export type { LoopbackServer, RecordedRequest } from "./loopback-server.js";
export { freePort, startLoopbackServer } from "./loopback-server.js";
export type { CliRun, RunOptions } from "./run-operator-tool.js";
export { CLI_PATH, REPO_ROOT, runOperatorTool } from "./run-operator-tool.js";
export { makeTempDir } from "./temp-dir.js";
export type { TileFault, TileRequest, TileServer, TileServerOptions } from "./tile-server.js";
export { makeJpeg, makePng, startTileServer } from "./tile-server.js";
