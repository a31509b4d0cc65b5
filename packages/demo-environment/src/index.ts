export type { DemoEnvironment, DemoEnvironmentOptions, FlightPayload } from "./demo-environment.js";
export { startDemoEnvironment } from "./demo-environment.js";
export type { FlightsApiServer } from "./flights-api-server.js";
export { sampleFlight, startFlightsApi } from "./flights-api-server.js";
export { freePort } from "./loopback-server.js";
export { writeOnnxModel } from "./onnx-model.js";
export type { TileServer } from "./tile-server.js";
export { makePng, startTileServer } from "./tile-server.js";
