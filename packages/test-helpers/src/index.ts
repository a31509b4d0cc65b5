export type { FlightsApiServer, TileServer, TlsTileServer } from "@operator-tool/demo-environment";
export {
  freePort,
  makePng,
  sampleFlight,
  startFlightsApi,
  startTileServer,
  startTlsTileServer,
  writeOnnxModel,
} from "@operator-tool/demo-environment";
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
export { checkJsonOutput, jsonDocumentsOf } from "./json-output-check.js";
export type { BuildProcess, World } from "./loopback-world.js";
export {
  API_KEY,
  fakeRemote,
  filesUnder,
  isProcessAlive,
  readAll,
  startWorld,
  TOKEN,
  waitFor,
} from "./loopback-world.js";
export type { CliRun } from "./run-operator-tool.js";
export { CLI_PATH, killSpawnedProcesses, REPO_ROOT, runOperatorTool } from "./run-operator-tool.js";
export type { SshdFixture } from "./sshd.js";
export { ssh2NativeCrypto, startSshd } from "./sshd.js";
export { makeTempDir } from "./temp-dir.js";
