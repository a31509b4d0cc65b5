import { killSpawnedProcesses } from "@operator-tool/test-helpers";
import { afterEach } from "vitest";

// A test that timed out leaves its CLI processes running (holding a lock,
// a port, a companion session): end them before the next test starts.
afterEach(async () => {
  await killSpawnedProcesses();
});
