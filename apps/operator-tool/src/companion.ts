import type { CompanionConnection, CompanionTarget } from "@operator-tool/companion-bringup";
import type { CommandContext } from "./context.js";

/**
 * The companion's SSH settings as `ssh` itself would take them: the
 * --companion-* flags are ssh's -p/-l/-i, --known-hosts is
 * UserKnownHostsFile, --accept-new-host-key is StrictHostKeyChecking
 * accept-new, --ssh-config is -F; ssh_config decides the rest.
 */
function companionSshOptions(ctx: CommandContext, host: string) {
  return {
    host,
    port: ctx.option("companionPort"),
    user: ctx.option("companionUser"),
    identityFile: ctx.option("identityFile"),
    sshConfigPath: ctx.option("sshConfig"),
    knownHostsPath: ctx.option("knownHosts"),
    acceptNewHostKey: ctx.option("acceptNewHostKey") === true,
  };
}

/** Phase 3's first step: resolve through ssh_config, verify every host key on the route, authenticate. */
export async function openCompanion(ctx: CommandContext): Promise<CompanionConnection> {
  const { openCompanionConnection } = await import("@operator-tool/companion-bringup");
  const options = companionSshOptions(ctx, ctx.requireOption("companionHost"));
  ctx.logger.debug({ host: options.host }, "connecting to the companion");
  return openCompanionConnection({ ...options, passphrase: ctx.secrets.sshPassphrase, logger: ctx.logger });
}

/** What openCompanion would do for HOST, without connecting: `companion resolve`. */
export async function resolveCompanionTarget(ctx: CommandContext, host: string): Promise<CompanionTarget> {
  const { resolveCompanion } = await import("@operator-tool/companion-bringup");
  return resolveCompanion(companionSshOptions(ctx, host));
}
