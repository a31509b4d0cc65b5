import { existsSync } from "node:fs";
import { homedir, hostname as osHostname, userInfo } from "node:os";
import { join } from "node:path";
import { SshConfigError } from "./errors.js";
import { knownHostsName } from "./known-hosts.js";
import { type AlgorithmList, assembleAlgorithms } from "./ssh-algorithms.js";
import {
  type ClientConfig,
  type ConfigOrigin,
  type LocalContext,
  parseJumpHost,
  readClientConfig,
  type Setting,
} from "./ssh-client-config.js";
import { convtime } from "./ssh-config-syntax.js";
import { asciiLower } from "./ssh-patterns.js";
import { connectionHash, percentExpand, TokenExpansionError, tildeExpand } from "./ssh-tokens.js";

/** How we reach a host before SSH starts: directly, through a jump host, or through a command's stdio. */
export type ProxyRoute =
  | { kind: "jump"; spec: string; via: CompanionTarget }
  | { kind: "command"; command: string };

/** Everything needed to reach and verify one SSH server, resolved as OpenSSH would. */
export interface CompanionTarget {
  /** What the operator typed: a host or an ssh_config alias (OpenSSH's host_arg). */
  alias: string;
  /** The address to connect to: HostName with `%h` expanded, lower-cased unless an IP address. */
  hostname: string;
  port: number;
  user: string;
  /** IdentityFile entries, expanded, in the order OpenSSH offers them (missing files included). */
  identityFiles: string[];
  /** The same entries as written (what `ssh -G` prints), the defaults when none is configured. */
  identityFileSpecs: string[];
  identitiesOnly: boolean;
  /** The ssh-agent socket, or undefined when there is none (IdentityAgent none, no SSH_AUTH_SOCK). */
  identityAgent: string | undefined;
  hostKeyAlias: string | undefined;
  /** The name looked up in known_hosts: HostKeyAlias, or `host` / `[host]:port`. */
  knownHostsName: string;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  /** `yes`: only known keys; `accept-new`: record a first-contact key. A changed key is always refused. */
  strictHostKeyChecking: "yes" | "accept-new";
  /** What ssh_config (or the command line) said, before we mapped it; `ask` when unset. */
  strictHostKeyCheckingConfigured: string;
  /** Seconds; undefined when ConnectTimeout is unset or none (our default applies). */
  connectTimeoutS: number | undefined;
  connectionAttempts: number;
  serverAliveIntervalS: number;
  serverAliveCountMax: number;
  /** True when ServerAliveInterval was not set and our flaky-link default applies. */
  keepaliveDefaulted: boolean;
  addressFamily: "any" | "inet" | "inet6";
  /** Algorithm lists the config sets, already narrowed to what ssh2 negotiates. */
  algorithms: Partial<Record<AlgorithmList, string[]>>;
  /** When HostKeyAlgorithms is a whole list (not `+`/`-`), it is used verbatim, without known_hosts ordering. */
  hostKeyAlgorithmsVerbatim: boolean;
  proxy: ProxyRoute | undefined;
  /** Where each honoured value came from, for `companion resolve`. */
  sources: Record<string, string>;
  /** Things the operator should know: defaults applied, values mapped. */
  notes: string[];
  /** Things the operator must know (ssh prints them as warnings): a -i file that is not there. */
  warnings: string[];
}

/** The environment resolution reads: injectable so tests never touch the operator's ~/.ssh or /etc/ssh. */
export interface SshEnvironment {
  homeDir: string;
  userName: string;
  uid: number;
  /** gethostname(): what `%l` and `%L` stand for. */
  hostName: string;
  env: NodeJS.ProcessEnv;
  /** ~/.ssh/config when no --ssh-config is given. */
  userConfigFile: string;
  /** /etc/ssh/ssh_config, read after the user's file when no --ssh-config is given. */
  systemConfigFile: string;
  /** GlobalKnownHostsFile when ssh_config does not set it: /etc/ssh/ssh_known_hosts{,2}. */
  globalKnownHostsFiles: string[];
}

export interface ResolveCompanionOptions {
  /** `host`, `user@host`, `ssh://user@host:port` or an ssh_config alias. */
  host: string;
  /** `ssh -p`: wins over Port in ssh_config. */
  port?: number | undefined;
  /** `ssh -l`: wins over User in ssh_config and over `user@`. */
  user?: string | undefined;
  /** `ssh -i`: offered before the IdentityFile entries of ssh_config. */
  identityFile?: string | readonly string[] | undefined;
  /** `ssh -F`: this file only ("none": no file). Default: ~/.ssh/config, then /etc/ssh/ssh_config. */
  sshConfigPath?: string | undefined;
  /** `ssh -o UserKnownHostsFile=…`. */
  knownHostsPath?: string | undefined;
  /** `ssh -o StrictHostKeyChecking=accept-new`. */
  acceptNewHostKey?: boolean | undefined;
  /** `ssh -J`: the jump hosts before this one (used when resolving a chain). */
  proxyJump?: string | undefined;
  environment?: Partial<SshEnvironment> | undefined;
}

/** Our keepalive when ssh_config sets none: a link silent for a minute is declared dead. */
export const DEFAULT_SERVER_ALIVE_INTERVAL_S = 15;
export const DEFAULT_SERVER_ALIVE_COUNT_MAX = 4;
/** Our connect timeout when ssh_config sets none (OpenSSH would wait for the kernel's). */
export const DEFAULT_CONNECT_TIMEOUT_S = 15;
const MAX_JUMP_DEPTH = 8;

/** The environment of this process: $HOME, the current user, /etc/ssh. */
export function defaultSshEnvironment(overrides: Partial<SshEnvironment> = {}): SshEnvironment {
  const env = overrides.env ?? process.env;
  const homeDir = overrides.homeDir ?? (env.HOME !== undefined && env.HOME !== "" ? env.HOME : homedir());
  let userName = overrides.userName;
  let uid = overrides.uid;
  if (userName === undefined || uid === undefined) {
    const info = userInfo();
    userName ??= info.username;
    uid ??= info.uid;
  }
  return {
    homeDir,
    userName,
    uid,
    hostName: overrides.hostName ?? osHostname(),
    env,
    userConfigFile: overrides.userConfigFile ?? join(homeDir, ".ssh", "config"),
    systemConfigFile: overrides.systemConfigFile ?? "/etc/ssh/ssh_config",
    globalKnownHostsFiles: overrides.globalKnownHostsFiles ?? [
      "/etc/ssh/ssh_known_hosts",
      "/etc/ssh/ssh_known_hosts2",
    ],
  };
}

/**
 * Resolves a host the way OpenSSH 9.2's ssh does (ssh.c main, readconf.c):
 * the command-line values first, then ssh_config (first obtained value
 * wins), HostName with `%h`, defaults, tokens and `~` in the directives that
 * take them, and the ProxyJump chain, each hop resolved through ssh_config
 * as its own host, as `ssh -J` does. A directive that would change where or
 * how we connect and that we cannot honour is an error naming it.
 */
export function resolveCompanion(options: ResolveCompanionOptions): CompanionTarget {
  return resolveHop(options, defaultSshEnvironment(options.environment), 0);
}

function resolveHop(
  options: ResolveCompanionOptions,
  environment: SshEnvironment,
  depth: number,
): CompanionTarget {
  const local: LocalContext = {
    userName: environment.userName,
    uid: environment.uid,
    homeDir: environment.homeDir,
    hostName: environment.hostName,
    env: environment.env,
  };
  const {
    host: hostArg,
    user: userFromArg,
    port: portFromArg,
  } = parseHostArgument(options.host, depth === 0);
  const warnings: string[] = [];
  // ssh -i: expanded at once, and dropped with a warning when it cannot be read.
  const identityFiles: string[] = [];
  for (const path of typeof options.identityFile === "string"
    ? [options.identityFile]
    : (options.identityFile ?? [])) {
    const expanded = tildeExpand(path, environment.homeDir);
    if (existsSync(expanded)) identityFiles.push(expanded);
    else warnings.push(`identity file ${expanded} is not accessible: it is not offered`);
  }
  const cliOptions: Array<[string, string]> = [];
  if (options.knownHostsPath !== undefined) cliOptions.push(["UserKnownHostsFile", options.knownHostsPath]);
  if (options.acceptNewHostKey === true) cliOptions.push(["StrictHostKeyChecking", "accept-new"]);
  if (options.user !== undefined && depth === 0) validateUser(options.user);
  const config = readClientConfig({
    hostArg,
    configFile: options.sshConfigPath,
    userConfigFile: environment.userConfigFile,
    systemConfigFile: environment.systemConfigFile,
    commandLine: {
      user: options.user ?? userFromArg,
      port: options.port ?? portFromArg,
      identityFiles,
      proxyJump: options.proxyJump,
      options: cliOptions,
    },
    local,
  });
  refuseUnsupported(config, hostArg);

  const get = (keyword: string): Setting | undefined => config.first.get(keyword);
  const value = (keyword: string): string | undefined => get(keyword)?.args[0];
  const sources: Record<string, string> = {};
  const from = (keyword: string) => {
    const setting = get(keyword);
    if (setting !== undefined) sources[keyword] = originText(setting.origin);
  };

  // ssh.c: HostName replaces the host, %h standing for what was typed.
  let host = hostArg;
  const hostName = get("hostname");
  if (hostName !== undefined) {
    host = expandTokens(hostName.args[0]!, { h: hostArg }, hostName.origin, "HostName");
    from("hostname");
  }
  if (!isAddress(host)) host = asciiLower(host);

  const portSetting = value("port");
  const port = portSetting === undefined || portSetting === "0" ? 22 : Number(portSetting);
  from("port");
  const user = value("user") ?? local.userName;
  from("user");

  const notes = [...config.notes];
  const hostKeyAliasRaw = value("hostkeyalias");
  const hostKeyAlias = hostKeyAliasRaw === undefined ? undefined : asciiLower(hostKeyAliasRaw);
  from("hostkeyalias");

  const connectionAttempts =
    value("connectionattempts") === undefined ? 1 : Number(value("connectionattempts"));
  if (connectionAttempts <= 0) {
    throw configError(
      get("connectionattempts")!,
      "Invalid number of ConnectionAttempts",
      "set ConnectionAttempts 1 or more",
    );
  }
  from("connectionattempts");

  const tokens: Record<string, string> = {
    C: connectionHash(local.hostName, host, String(port), user),
    L: local.hostName.split(".")[0]!,
    i: String(local.uid),
    k: hostKeyAlias ?? hostArg,
    l: local.hostName,
    n: hostArg,
    p: String(port),
    d: local.homeDir,
    h: host,
    r: user,
    u: local.userName,
  };

  const identityAgent = resolveIdentityAgent(get("identityagent"), tokens, local);
  from("identityagent");

  const userKnownHostsSetting = get("userknownhostsfile");
  let userKnownHostsFiles: string[];
  if (userKnownHostsSetting === undefined) {
    userKnownHostsFiles = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"].map((p) =>
      tildeExpand(p, local.homeDir),
    );
  } else if (userKnownHostsSetting.args[0]!.toLowerCase() === "none") {
    userKnownHostsFiles = [];
  } else {
    userKnownHostsFiles = userKnownHostsSetting.args.map((p) =>
      expandPath(p, tokens, local, userKnownHostsSetting.origin, "UserKnownHostsFile"),
    );
  }
  from("userknownhostsfile");
  const globalSetting = get("globalknownhostsfile");
  const globalKnownHostsFiles =
    globalSetting === undefined
      ? [...environment.globalKnownHostsFiles]
      : globalSetting.args[0]!.toLowerCase() === "none"
        ? []
        : [...globalSetting.args];
  from("globalknownhostsfile");

  const identitySetting = config.identityFiles;
  const rawIdentityFiles =
    identitySetting.length > 0
      ? identitySetting
      : ["id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa"].map(
          (name) => ({
            path: `~/.ssh/${name}`,
            source: "system config" as const,
            origin: { file: "default", line: 0 },
          }),
        );
  const expandedIdentityFiles = rawIdentityFiles
    .filter((f) => f.path.toLowerCase() !== "none")
    .map((f) => expandPath(f.path, tokens, local, f.origin, "IdentityFile"));
  if (identitySetting.length > 0)
    sources.identityfile = identitySetting.map((f) => originText(f.origin)).join(", ");

  const strictConfigured = value("stricthostkeychecking") ?? "ask";
  from("stricthostkeychecking");
  let strictHostKeyChecking: "yes" | "accept-new";
  if (strictConfigured === "yes" || strictConfigured === "true" || strictConfigured === "ask") {
    strictHostKeyChecking = "yes";
  } else if (strictConfigured === "accept-new") {
    strictHostKeyChecking = "accept-new";
  } else {
    strictHostKeyChecking = "accept-new";
    notes.push(
      `StrictHostKeyChecking ${strictConfigured} is treated as accept-new: operator-tool never connects to an unverified or changed host key`,
    );
  }

  const timeout = value("connecttimeout");
  const connectTimeoutS = timeout === undefined || timeout === "none" ? undefined : convtime(timeout);
  from("connecttimeout");
  const intervalSetting = value("serveraliveinterval");
  const keepaliveDefaulted = intervalSetting === undefined;
  const serverAliveIntervalS = keepaliveDefaulted
    ? DEFAULT_SERVER_ALIVE_INTERVAL_S
    : convtime(intervalSetting!)!;
  const countSetting = value("serveralivecountmax");
  const serverAliveCountMax =
    countSetting === undefined
      ? keepaliveDefaulted
        ? DEFAULT_SERVER_ALIVE_COUNT_MAX
        : 3
      : Number(countSetting);
  from("serveraliveinterval");
  from("serveralivecountmax");

  const family = value("addressfamily") ?? "any";
  from("addressfamily");

  const algorithms: Partial<Record<AlgorithmList, string[]>> = {};
  const listKeywords: Array<[string, AlgorithmList, string]> = [
    ["ciphers", "cipher", "Ciphers"],
    ["macs", "hmac", "MACs"],
    ["kexalgorithms", "kex", "KexAlgorithms"],
    ["hostkeyalgorithms", "serverHostKey", "HostKeyAlgorithms"],
  ];
  for (const [keyword, list, directive] of listKeywords) {
    const setting = get(keyword);
    if (setting === undefined) continue;
    const names = assembleAlgorithms(setting.args[0]!, list);
    if (names.length === 0) {
      throw configError(
        setting,
        `${directive} ${setting.args[0]} leaves nothing operator-tool's SSH client (ssh2) can negotiate`,
        `allow one of ${assembleAlgorithms("*", list).join(",")} for this host`,
      );
    }
    algorithms[list] = names;
    from(keyword);
  }
  const hostKeySpec = value("hostkeyalgorithms");
  const hostKeyAlgorithmsVerbatim = hostKeySpec !== undefined && !/^[+-]/.test(hostKeySpec);

  let proxy: ProxyRoute | undefined;
  if (config.proxy?.kind === "command") {
    if (config.proxy.command.trim() === "-") {
      throw configError(
        { args: [], text: "-", origin: config.proxy.origin },
        `ProxyCommand - (stdin and stdout of ssh itself) cannot be honoured by operator-tool`,
        "reach the companion directly, or through ProxyJump or a ProxyCommand that connects",
      );
    }
    proxy = {
      kind: "command",
      command: expandTokens(
        `exec ${config.proxy.command}`,
        { h: host, k: hostKeyAlias ?? hostArg, n: hostArg, p: String(port), r: user },
        config.proxy.origin,
        "ProxyCommand",
      ),
    };
    sources.proxycommand = originText(config.proxy.origin);
  } else if (config.proxy?.kind === "jump") {
    if (depth >= MAX_JUMP_DEPTH) {
      throw new SshConfigError(
        `the ProxyJump chain to "${hostArg}" is more than ${MAX_JUMP_DEPTH} hops deep; it loops`,
        {
          hint: `give the jump hosts themselves ProxyJump none (${originText(config.proxy.origin)})`,
        },
      );
    }
    const spec = expandTokens(
      config.proxy.spec,
      { h: host, k: hostKeyAlias ?? hostArg, n: hostArg, p: String(port), r: user },
      config.proxy.origin,
      "ProxyJump",
    );
    const lastComma = spec.lastIndexOf(",");
    const last = parseJumpHost(lastComma === -1 ? spec : spec.slice(lastComma + 1))!;
    const extra = lastComma === -1 ? undefined : spec.slice(0, lastComma);
    const jumpPort = last.port ?? 22;
    const jumpUser = last.user ?? user;
    if (last.host === host && jumpPort === port && jumpUser === user) {
      throw new SshConfigError(`jumphost loop via ${last.host} (${originText(config.proxy.origin)})`, {
        hint: `give ${last.host} ProxyJump none in ssh_config`,
      });
    }
    const via = resolveHop(
      {
        host: last.host,
        user: last.user,
        port: last.port,
        proxyJump: extra,
        sshConfigPath: options.sshConfigPath,
      },
      environment,
      depth + 1,
    );
    proxy = { kind: "jump", spec, via };
    sources.proxyjump = originText(config.proxy.origin);
  }

  return {
    alias: hostArg,
    hostname: host,
    port,
    user,
    identityFiles: expandedIdentityFiles,
    identityFileSpecs: rawIdentityFiles.map((f) => f.path),
    identitiesOnly: value("identitiesonly") === "yes" || value("identitiesonly") === "true",
    identityAgent,
    hostKeyAlias,
    knownHostsName: hostKeyAlias ?? knownHostsName(host, port),
    userKnownHostsFiles,
    globalKnownHostsFiles,
    strictHostKeyChecking,
    strictHostKeyCheckingConfigured: strictConfigured,
    connectTimeoutS,
    connectionAttempts,
    serverAliveIntervalS,
    serverAliveCountMax,
    keepaliveDefaulted,
    addressFamily: family === "inet" || family === "inet6" ? family : "any",
    algorithms,
    hostKeyAlgorithmsVerbatim,
    proxy,
    sources,
    notes,
    warnings,
  };
}

/** The first-pass values OpenSSH would act on but we cannot: each is an error naming the directive. */
function refuseUnsupported(config: ClientConfig, hostArg: string): void {
  const get = (keyword: string) => config.first.get(keyword);
  const refuse = (setting: Setting, directive: string, why: string, neutral: string | undefined) => {
    const where = originText(setting.origin);
    throw new SshConfigError(
      `ssh_config sets ${directive} ${setting.text} for "${hostArg}" (${where}); operator-tool cannot honour it: ${why}`,
      {
        hint:
          neutral === undefined
            ? `remove ${directive} for this host, or reach it with ssh itself`
            : `set "${directive} ${neutral}" in a "Host ${hostArg}" block above ${where} (the first value wins), or remove it`,
      },
    );
  };
  if (config.finalPassRequested !== undefined) {
    throw new SshConfigError(
      `ssh_config uses Match canonical/final (${originText(config.finalPassRequested)}), which needs hostname canonicalisation that operator-tool does not do`,
      { hint: "use Match host/originalhost instead for the companion's entries" },
    );
  }
  const isYes = (v: string) => v === "yes" || v === "true";
  const isSet = (v: string) => v.toLowerCase() !== "none";
  const rules: Array<[string, string, (v: string) => boolean, string, string | undefined]> = [
    [
      "canonicalizehostname",
      "CanonicalizeHostname",
      (v) => v !== "no" && v !== "false",
      "hostname canonicalisation is not supported",
      "no",
    ],
    [
      "canonicalizepermittedcnames",
      "CanonicalizePermittedCNAMEs",
      isSet,
      "CNAME following is not supported",
      "none",
    ],
    [
      "proxyusefdpass",
      "ProxyUseFdpass",
      isYes,
      "a ProxyCommand that passes back a descriptor is not supported",
      "no",
    ],
    ["bindaddress", "BindAddress", () => true, "choosing the local address is not supported", undefined],
    [
      "bindinterface",
      "BindInterface",
      () => true,
      "choosing the local interface is not supported",
      undefined,
    ],
    ["knownhostscommand", "KnownHostsCommand", isSet, "host keys from a command are not supported", "none"],
    [
      "revokedhostkeys",
      "RevokedHostKeys",
      isSet,
      "a revoked-keys file is not supported (@revoked lines in known_hosts are)",
      "none",
    ],
    [
      "verifyhostkeydns",
      "VerifyHostKeyDNS",
      (v) => v !== "no" && v !== "false",
      "SSHFP host-key checks are not supported",
      "no",
    ],
    [
      "nohostauthenticationforlocalhost",
      "NoHostAuthenticationForLocalhost",
      isYes,
      "operator-tool always verifies the host key",
      "no",
    ],
    ["checkhostip", "CheckHostIP", isYes, "the separate IP-address host-key check is not supported", "no"],
    ["pkcs11provider", "PKCS11Provider", isSet, "keys on a PKCS#11 token are not supported", "none"],
    ["remotecommand", "RemoteCommand", isSet, "operator-tool runs its own commands on the companion", "none"],
    [
      "pubkeyauthentication",
      "PubkeyAuthentication",
      (v) => v === "no" || v === "false",
      "operator-tool authenticates only with keys",
      "yes",
    ],
    [
      "preferredauthentications",
      "PreferredAuthentications",
      (v) => !v.split(",").includes("publickey"),
      "operator-tool authenticates only with keys (publickey)",
      "publickey",
    ],
  ];
  for (const [keyword, directive, applies, why, neutral] of rules) {
    const setting = get(keyword);
    if (setting !== undefined && applies(setting.args[0] ?? "")) refuse(setting, directive, why, neutral);
  }
  const localCommand = get("localcommand");
  const permitLocal = get("permitlocalcommand")?.args[0];
  if (
    localCommand !== undefined &&
    isSet(localCommand.text) &&
    permitLocal !== undefined &&
    isYes(permitLocal)
  ) {
    refuse(
      localCommand,
      "LocalCommand",
      "with PermitLocalCommand yes it runs a local command, which operator-tool does not",
      "none",
    );
  }
  const certificate = config.certificateFiles[0];
  if (certificate !== undefined) {
    refuse(certificate, "CertificateFile", "ssh2 has no certificate authentication", undefined);
  }
}

/** OpenSSH 9.6+'s check on a host typed on the command line: no shell metacharacters, no leading dash. */
function parseHostArgument(
  arg: string,
  validate: boolean,
): { host: string; user: string | undefined; port: number | undefined } {
  let host = arg;
  let user: string | undefined;
  let port: number | undefined;
  if (arg.startsWith("ssh://")) {
    const parsed = parseJumpHost(arg);
    if (parsed === undefined)
      throw new SshConfigError(`"${arg}" is not a valid ssh:// host`, {
        hint: "use ssh://[user@]host[:port]",
      });
    ({ host, user, port } = parsed);
  } else {
    const at = arg.lastIndexOf("@");
    if (at === 0)
      throw new SshConfigError(`"${arg}" has no user before @`, { hint: "use user@host or just host" });
    if (at > 0) {
      user = arg.slice(0, at);
      host = arg.slice(at + 1);
    }
  }
  if (validate) {
    if (host === "" || host.startsWith("-") || /['`"$\\;&<>|(){}\s\p{Cc}]/u.test(host)) {
      throw new SshConfigError(`"${host}" is not a valid host name`, {
        hint: "give a host name, an address or an ssh_config alias (no spaces or shell characters)",
      });
    }
    if (user !== undefined) validateUser(user);
  }
  return { host, user, port };
}

function validateUser(user: string): void {
  if (user === "" || user.startsWith("-") || /['`";&<>|(){}\s\p{Cc}]/u.test(user) || /\\/.test(user)) {
    throw new SshConfigError(`"${user}" is not a valid remote user name`, {
      hint: "give the companion account's login name (no spaces or shell characters)",
    });
  }
}

function resolveIdentityAgent(
  setting: Setting | undefined,
  tokens: Record<string, string>,
  local: LocalContext,
): string | undefined {
  const fromEnv = (name: string) => {
    const value = local.env[name];
    return value === undefined || value === "" ? undefined : value;
  };
  if (setting === undefined) return fromEnv("SSH_AUTH_SOCK");
  const expanded = expandPath(setting.args[0]!, tokens, local, setting.origin, "IdentityAgent");
  if (expanded === "SSH_AUTH_SOCK") return fromEnv("SSH_AUTH_SOCK");
  if (expanded === "none") return undefined;
  if (expanded.startsWith("$") && !expanded.startsWith("${")) return fromEnv(expanded.slice(1));
  return expanded;
}

/** `~`, then `%` tokens and `${VAR}`: what OpenSSH does to IdentityFile, UserKnownHostsFile, IdentityAgent. */
function expandPath(
  path: string,
  tokens: Record<string, string>,
  local: LocalContext,
  origin: ConfigOrigin,
  directive: string,
): string {
  try {
    return percentExpand(tildeExpand(path, local.homeDir), tokens, { dollar: true, env: local.env });
  } catch (error) {
    if (error instanceof TokenExpansionError) {
      throw new SshConfigError(`${directive} ${path} (${originText(origin)}): ${error.message}`, {
        hint: `${directive} accepts %C %d %h %i %k %L %l %n %p %r %u, %% and \${VAR}`,
      });
    }
    throw error;
  }
}

function expandTokens(
  template: string,
  tokens: Record<string, string>,
  origin: ConfigOrigin,
  directive: string,
): string {
  try {
    return percentExpand(template, tokens);
  } catch (error) {
    if (error instanceof TokenExpansionError) {
      throw new SshConfigError(`${directive} (${originText(origin)}): ${error.message}`, {
        hint: `${directive} accepts only ${Object.keys(tokens)
          .map((t) => `%${t}`)
          .join(" ")} and %%`,
      });
    }
    throw error;
  }
}

function configError(setting: Setting, message: string, hint: string): SshConfigError {
  return new SshConfigError(`${message} (${originText(setting.origin)})`, { hint });
}

function originText(origin: ConfigOrigin): string {
  return origin.line > 0 ? `${origin.file} line ${origin.line}` : origin.file;
}

function isAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** The options of resolveTarget: the companion flags alone. */
export interface ResolveTargetOptions {
  host: string;
  port?: number | undefined;
  user?: string | undefined;
  identityFile?: string | undefined;
  sshConfigPath?: string | undefined;
}

/** resolveCompanion, as a promise: for callers written against the earlier asynchronous API. */
export async function resolveTarget(options: ResolveTargetOptions): Promise<CompanionTarget> {
  return resolveCompanion(options);
}
