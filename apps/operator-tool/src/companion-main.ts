#!/usr/bin/env node
/**
 * operator-tool as installed on a companion (`companion install` bundles this
 * entry): `--version`, `tiles receive` and `compile-engines` under the same
 * error boundary as the workstation's tool.
 */
import { answeredVersionOnly } from "./version-only.js";

if (!answeredVersionOnly(process.argv.slice(2))) {
  const [{ buildCompanionProgram }, { runAsProcess }, { runProgram }] = await Promise.all([
    import("./companion-program.js"),
    import("./process-entry.js"),
    import("./run-program.js"),
  ]);
  await runAsProcess((args, io) => runProgram(args, io, buildCompanionProgram));
}
