import { existsSync } from "node:fs";
import type { CompanionTarget } from "@operator-tool/companion-bringup";
import { InvalidArgumentError } from "@operator-tool/errors";
import type { CommandResult } from "../command-result.js";
import { resolveCompanionTarget } from "../companion.js";
import type { CommandContext } from "../context.js";

/** One hop of the route, as `companion resolve --json` reports it. */
export interface ResolvedHop {
  alias: string;
  hostname: string;
  port: number;
  user: string;
  identityFiles: Array<{ path: string; exists: boolean }>;
  identitiesOnly: boolean;
  identityAgent: string | null;
  hostKeyAlias: string | null;
  knownHostsName: string;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  strictHostKeyChecking: "yes" | "accept-new";
  connectTimeoutS: number | null;
  connectionAttempts: number;
  keepalive: { intervalS: number; countMax: number; default: boolean };
  proxyCommand: string | null;
  proxyJump: string | null;
  notes: string[];
}

export interface CompanionResolveData {
  /** The companion last; each earlier entry is the jump host the next one is reached through. */
  route: ResolvedHop[];
}

/**
 * `companion resolve HOST`: what `ssh -G HOST` would say, with the known_hosts
 * files and the whole ProxyJump route; nothing is connected.
 */
export async function companionResolve(
  ctx: CommandContext,
  options: { args?: unknown[] },
): Promise<CommandResult> {
  const host = typeof options.args?.[0] === "string" ? options.args[0] : ctx.option("companionHost");
  if (host === undefined) {
    throw new InvalidArgumentError("companion resolve needs a HOST", {
      hint: "operator-tool companion resolve jetson-7 (or set companionHost in the config file)",
    });
  }
  const target = await resolveCompanionTarget(ctx, host);
  const { DEFAULT_CONNECT_TIMEOUT_S } = await import("@operator-tool/companion-bringup");
  const route: ResolvedHop[] = [];
  for (let hop: CompanionTarget | undefined = target; hop !== undefined; ) {
    route.unshift(describeHop(hop));
    hop = hop.proxy?.kind === "jump" ? hop.proxy.via : undefined;
  }
  const data: CompanionResolveData = { route };
  return { data, text: renderRoute(route, DEFAULT_CONNECT_TIMEOUT_S) };
}

function describeHop(t: CompanionTarget): ResolvedHop {
  return {
    alias: t.alias,
    hostname: t.hostname,
    port: t.port,
    user: t.user,
    identityFiles: t.identityFiles.map((path) => ({ path, exists: existsSync(path) })),
    identitiesOnly: t.identitiesOnly,
    identityAgent: t.identityAgent ?? null,
    hostKeyAlias: t.hostKeyAlias ?? null,
    knownHostsName: t.knownHostsName,
    userKnownHostsFiles: t.userKnownHostsFiles,
    globalKnownHostsFiles: t.globalKnownHostsFiles,
    strictHostKeyChecking: t.strictHostKeyChecking,
    connectTimeoutS: t.connectTimeoutS ?? null,
    connectionAttempts: t.connectionAttempts,
    keepalive: {
      intervalS: t.serverAliveIntervalS,
      countMax: t.serverAliveCountMax,
      default: t.keepaliveDefaulted,
    },
    proxyCommand: t.proxy?.kind === "command" ? t.proxy.command : null,
    proxyJump: t.proxy?.kind === "jump" ? t.proxy.spec : null,
    notes: t.notes,
  };
}

/** ssh -G's `keyword value` lines, one block per hop, the companion last. */
export function renderRoute(route: ResolvedHop[], defaultConnectTimeoutS: number): string {
  return route
    .map((hop, index) => {
      const role = index === route.length - 1 ? "companion" : `jump host ${index + 1} of ${route.length - 1}`;
      const lines = [
        `# ${role}`,
        `host ${hop.alias}`,
        `hostname ${hop.hostname}`,
        `port ${hop.port}`,
        `user ${hop.user}`,
        ...hop.identityFiles.map((f) => `identityfile ${f.path}${f.exists ? "" : " (missing: skipped)"}`),
        `identitiesonly ${hop.identitiesOnly ? "yes" : "no"}`,
        `identityagent ${hop.identityAgent ?? "none"}`,
        ...(hop.hostKeyAlias === null ? [] : [`hostkeyalias ${hop.hostKeyAlias}`]),
        `knownhostsname ${hop.knownHostsName}`,
        `userknownhostsfile ${hop.userKnownHostsFiles.join(" ") || "none"}`,
        `globalknownhostsfile ${hop.globalKnownHostsFiles.join(" ") || "none"}`,
        `stricthostkeychecking ${hop.strictHostKeyChecking}`,
        `connecttimeout ${hop.connectTimeoutS ?? `none (operator-tool waits ${defaultConnectTimeoutS} s)`}`,
        `connectionattempts ${hop.connectionAttempts}`,
        `serveraliveinterval ${hop.keepalive.intervalS}${hop.keepalive.default ? " (operator-tool default)" : ""}`,
        `serveralivecountmax ${hop.keepalive.countMax}`,
        ...(hop.proxyJump === null ? [] : [`proxyjump ${hop.proxyJump}`]),
        ...(hop.proxyCommand === null ? [] : [`proxycommand ${hop.proxyCommand}`]),
        ...hop.notes.map((n) => `# note: ${n}`),
      ];
      return lines.join("\n");
    })
    .join("\n\n");
}
