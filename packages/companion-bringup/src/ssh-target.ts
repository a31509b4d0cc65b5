import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "@operator-tool/errors";

export interface CompanionTarget {
  /** What the operator typed: a host or an ~/.ssh/config alias. */
  alias: string;
  /** The address to connect to (HostName when the alias sets one). */
  hostname: string;
  port: number;
  user: string;
  identityFiles: string[];
}

export interface ResolveTargetOptions {
  host: string;
  port?: number | undefined;
  user?: string | undefined;
  identityFile?: string | undefined;
  /** Default ~/.ssh/config; missing is fine. */
  sshConfigPath?: string | undefined;
}

/** Directives that change how the connection is made; ignoring them would connect somewhere else. */
const UNSUPPORTED = ["ProxyJump", "ProxyCommand", "LocalCommand", "RemoteCommand"];

/**
 * Resolves a host the way OpenSSH would, through ~/.ssh/config (HostName,
 * User, Port, IdentityFile). Flags win over the config, as on the ssh command
 * line. A directive we cannot honour is an error, never silently dropped.
 */
export async function resolveTarget(options: ResolveTargetOptions): Promise<CompanionTarget> {
  const configPath = options.sshConfigPath ?? join(homedir(), ".ssh", "config");
  let computed: Record<string, string | string[]> = {};
  let text: string | undefined;
  try {
    text = readFileSync(configPath, "utf8");
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    const { default: SSHConfig } = await import("ssh-config");
    computed = SSHConfig.parse(text).compute(options.host);
  }
  const get = (key: string): string | undefined => {
    const value = Object.entries(computed).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
    return Array.isArray(value) ? value[0] : value;
  };
  for (const directive of UNSUPPORTED) {
    const value = get(directive);
    if (value !== undefined && value.toLowerCase() !== "none") {
      throw new InvalidArgumentError(
        `~/.ssh/config sets ${directive} ${value} for "${options.host}", which operator-tool does not support`,
        {
          hint: `reach the companion directly (--companion-host ADDRESS), or remove ${directive} for this host`,
        },
      );
    }
  }
  const identities = Object.entries(computed)
    .filter(([k]) => k.toLowerCase() === "identityfile")
    .flatMap(([, v]) => (Array.isArray(v) ? v : [v]))
    .map((p) => p.replace(/^~(?=\/)/, homedir()));
  const port = options.port ?? (get("Port") === undefined ? 22 : Number(get("Port")));
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new InvalidArgumentError(`the port for "${options.host}" is not a port number (${get("Port")})`);
  }
  const user =
    options.user ?? get("User") ?? process.env.USER ?? (await import("node:os")).userInfo().username;
  return {
    alias: options.host,
    hostname: get("HostName") ?? options.host,
    port,
    user,
    identityFiles: options.identityFile !== undefined ? [options.identityFile] : identities,
  };
}
