import type {
  CompanionConnection,
  CompanionNotReadyError,
  CompanionSession,
  CompanionTarget,
  ReadinessCheck,
  SessionStart,
} from "@operator-tool/companion-bringup";
import type { CommandContext, LogSink } from "./context.js";
import { renderChecks } from "./render.js";
import { toolVersion } from "./version.js";

/**
 * One companion's connection settings where they differ from the command's
 * (a fleet's inventory host): each given one wins over its flag; ssh config
 * still resolves the host as an alias.
 */
export interface CompanionOverrides {
  host?: string | undefined;
  port?: number | undefined;
  user?: string | undefined;
  identityFile?: string | undefined;
}

/**
 * The companion's SSH settings as `ssh` itself would take them: the
 * --companion-* flags are ssh's -p/-l/-i, --known-hosts is
 * UserKnownHostsFile, --accept-new-host-key is StrictHostKeyChecking
 * accept-new, --ssh-config is -F; ssh_config decides the rest.
 */
function companionSshOptions(ctx: CommandContext, host: string, overrides: CompanionOverrides = {}) {
  return {
    host,
    port: overrides.port ?? ctx.option("companionPort"),
    user: overrides.user ?? ctx.option("companionUser"),
    identityFile: overrides.identityFile ?? ctx.option("identityFile"),
    sshConfigPath: ctx.option("sshConfig"),
    knownHostsPath: ctx.option("knownHosts"),
    acceptNewHostKey: ctx.option("acceptNewHostKey") === true,
  };
}

/** Phase 3's first step: resolve through ssh_config, verify every host key on the route, authenticate. */
export async function openCompanion(
  ctx: CommandContext,
  logger: LogSink = ctx.logger,
  overrides: CompanionOverrides = {},
): Promise<CompanionConnection> {
  const { openCompanionConnection } = await import("@operator-tool/companion-bringup");
  const options = companionSshOptions(ctx, overrides.host ?? ctx.requireOption("companionHost"), overrides);
  logger.debug({ host: options.host }, "connecting to the companion");
  return openCompanionConnection({ ...options, passphrase: ctx.secrets.sshPassphrase, logger });
}

/** What openCompanion would do for HOST, without connecting: `companion resolve`. */
export async function resolveCompanionTarget(ctx: CommandContext, host: string): Promise<CompanionTarget> {
  const { resolveCompanion } = await import("@operator-tool/companion-bringup");
  return resolveCompanion(companionSshOptions(ctx, host));
}

export interface CompanionCheckData {
  host: string;
  hostKeyFingerprint: string;
  ready: boolean;
  /** How operator-tool runs there: --remote-command, or the one the checks found. */
  remoteCommand: string;
  checks: ReadinessCheck[];
}

/**
 * The readiness checks, and the error naming every failed one (with the table)
 * when the companion is not ready; with `keepSession`, the companion session
 * the checks opened, for the build's further questions (undefined when its
 * operator-tool has none).
 */
export async function checkCompanion(
  ctx: CommandContext,
  connection: CompanionConnection,
  requiredBytes: number,
  overrides: {
    remoteCommand?: string | undefined;
    cacheRoot?: string | undefined;
    dryRun?: boolean;
    keepSession?: boolean;
    started?: Promise<SessionStart | undefined> | undefined;
  } = {},
): Promise<{
  data: CompanionCheckData;
  notReady: CompanionNotReadyError | undefined;
  session: CompanionSession | undefined;
  noSessionReason: string | undefined;
}> {
  const { checkReadiness, CompanionNotReadyError } = await import("@operator-tool/companion-bringup");
  const { checks, remoteCommand, session, noSessionReason } = await checkReadiness(connection, {
    remoteCommand: overrides.remoteCommand ?? ctx.option("remoteCommand"),
    cacheRoot: overrides.cacheRoot ?? ctx.option("companionCacheRoot"),
    requiredBytes,
    localVersion: toolVersion(),
    dryRun: overrides.dryRun === true,
    keepSession: overrides.keepSession === true,
    started: overrides.started,
  });
  const data: CompanionCheckData = {
    host: `${connection.target.user}@${connection.target.hostname}:${connection.target.port}`,
    hostKeyFingerprint: connection.hostKeyFingerprint,
    ready: checks.every((c) => c.ok),
    remoteCommand,
    checks,
  };
  const failed = checks.filter((c) => !c.ok);
  const notReady =
    failed.length === 0
      ? undefined
      : new CompanionNotReadyError(
          `companion not ready: ${failed.map((c) => `${c.name} (${c.observed})`).join("; ")}\n${renderChecks(data)}`,
          checks,
          failed[0]!.fix === undefined ? {} : { hint: failed[0]!.fix },
        );
  return { data, notReady, session, noSessionReason };
}
