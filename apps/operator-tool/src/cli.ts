#!/usr/bin/env node
import { answeredVersionOnly } from "./version-only.js";

if (!answeredVersionOnly(process.argv.slice(2))) {
  const [{ runAsProcess }, { runCli }] = await Promise.all([
    import("./process-entry.js"),
    import("./run-cli.js"),
  ]);
  await runAsProcess(runCli);
}
