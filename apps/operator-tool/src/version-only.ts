import { toolVersion } from "./version.js";

/**
 * `operator-tool --version` alone, answered before the command tree loads:
 * the readiness check asks it of the companion on every build-cache, and a
 * no-op build pays each remote process's start-up.
 */
export function answeredVersionOnly(args: readonly string[]): boolean {
  if (args.length !== 1 || (args[0] !== "--version" && args[0] !== "-V")) return false;
  process.stdout.write(`${toolVersion()}\n`);
  return true;
}
