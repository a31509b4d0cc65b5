export type {
  FakeTrtexecRelease,
  FakeTrtexecTable,
  JetsonFixture,
  JetsonRootOptions,
} from "./fake-trtexec.js";
export {
  FAKE_TRTEXEC_RELEASES,
  fakeTrtexecTable,
  installFakeTrtexec,
  JETSON_FIXTURES,
  jetsonBinDir,
  writeJetsonRoot,
} from "./fake-trtexec.js";
export type { FlightsApiServer, ScriptedResponse } from "./flights-api-server.js";
export { sampleFlight, startFlightsApi } from "./flights-api-server.js";
export type { LoopbackServer, RecordedRequest } from "./loopback-server.js";
export { freePort, startLoopbackServer } from "./loopback-server.js";
export type { BuildProcess, World } from "./loopback-world.js";
export { API_KEY, fakeRemote, filesUnder, readAll, startWorld, TOKEN, waitFor } from "./loopback-world.js";
export type { OnnxModelOptions } from "./onnx-model.js";
export { onnxModelBytes, writeOnnxModel } from "./onnx-model.js";
export type { CliRun, RunOptions } from "./run-operator-tool.js";
export { CLI_PATH, REPO_ROOT, runOperatorTool } from "./run-operator-tool.js";
export type { SimulatedCompanion } from "./simulated-companion.js";
export { startSimulatedCompanion } from "./simulated-companion.js";
export type { SshdFixture } from "./sshd.js";
export { SSHD_PATH, ssh2NativeCrypto, startSshd } from "./sshd.js";
export { makeTempDir } from "./temp-dir.js";
export type { TileFault, TileRequest, TileServer, TileServerOptions } from "./tile-server.js";
export { makeJpeg, makePng, startTileServer } from "./tile-server.js";
