import { homedir } from "node:os";
import { join } from "node:path";
import type { CompanionConnection } from "@operator-tool/companion-bringup";
import type { CommandContext } from "./context.js";

/** Phase 3's first step: resolve the alias, verify the host key, authenticate. */
export async function openCompanion(ctx: CommandContext): Promise<CompanionConnection> {
  const { connectToCompanion, resolveTarget } = await import("@operator-tool/companion-bringup");
  const target = await resolveTarget({
    host: ctx.requireOption("companionHost"),
    port: ctx.option("companionPort"),
    user: ctx.option("companionUser"),
    identityFile: ctx.option("identityFile"),
    sshConfigPath: ctx.option("sshConfig"),
  });
  ctx.logger.debug({ target }, "connecting to the companion");
  return connectToCompanion({
    target,
    knownHostsPath: ctx.option("knownHosts") ?? join(homedir(), ".ssh", "known_hosts"),
    acceptNewHostKey: ctx.option("acceptNewHostKey") === true,
    passphrase: ctx.secrets.sshPassphrase,
    logger: ctx.logger,
  });
}
