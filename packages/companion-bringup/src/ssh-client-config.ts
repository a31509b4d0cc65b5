import { spawnSync } from "node:child_process";
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { SshConfigError } from "./errors.js";
import {
  argvSplit,
  commandText,
  convtime,
  parseInteger,
  strdelim,
  trimLineEnd,
} from "./ssh-config-syntax.js";
import { asciiLower, matchHostname, matchPattern, matchPatternList } from "./ssh-patterns.js";
import { connectionHash, percentExpand, TokenExpansionError, tildeExpand } from "./ssh-tokens.js";

/** Where a value came from: a config file line, or the command line. */
export interface ConfigOrigin {
  file: string;
  line: number;
}

/** One directive's first obtained value: its words, its raw text (commands), where it was set. */
export interface Setting {
  args: string[];
  text: string;
  origin: ConfigOrigin;
}

/** Who and where we are: what `%u %d %i %l %L` and `~` stand for. */
export interface LocalContext {
  userName: string;
  uid: number;
  homeDir: string;
  hostName: string;
  env: NodeJS.ProcessEnv;
}

export type ProxySetting =
  | { kind: "command"; command: string; origin: ConfigOrigin }
  | { kind: "jump"; spec: string; origin: ConfigOrigin }
  | { kind: "none"; origin: ConfigOrigin };

/** What the command line sets before any file is read: it wins, as OpenSSH's own flags do. */
export interface CommandLineSettings {
  user?: string | undefined;
  port?: number | undefined;
  identityFiles?: string[] | undefined;
  proxyJump?: string | undefined;
  /** `-o Keyword=value` equivalents (UserKnownHostsFile, StrictHostKeyChecking, …). */
  options?: Array<[keyword: string, value: string]>;
}

export interface ReadClientConfigOptions {
  /** The host as given (OpenSSH's host_arg): what `Host` and `Match originalhost` see. */
  hostArg: string;
  /** `ssh -F FILE`: only this file ("none": no file at all). Unset: user config, then system config. */
  configFile?: string | undefined;
  userConfigFile: string;
  systemConfigFile: string;
  commandLine: CommandLineSettings;
  local: LocalContext;
}

export interface ClientConfig {
  /** The first obtained value of each single-valued directive, by lower-case name. */
  first: Map<string, Setting>;
  /**
   * Accumulated IdentityFile entries, in order. OpenSSH drops a duplicate only
   * when it comes from the same kind of source (-i, the user's file, the
   * system file), so `-i k` and `IdentityFile k` both stay.
   */
  identityFiles: Array<{ path: string; source: IdentitySource; origin: ConfigOrigin }>;
  certificateFiles: Setting[];
  forwards: Array<Setting & { keyword: string }>;
  proxy: ProxySetting | undefined;
  /** `Match final` or `Match canonical` asked for a second pass. */
  finalPassRequested: ConfigOrigin | undefined;
  /** Every file read, in order. */
  filesRead: string[];
  notes: string[];
}

/** Where an IdentityFile came from: ssh -i, a user config file, the system config file. */
export type IdentitySource = "command line" | "user config" | "system config";

type Kind =
  | "host"
  | "match"
  | "include"
  | "string"
  | "flag"
  | "time"
  | "int"
  | "port"
  | "identityfile"
  | "certificatefile"
  | "filelist"
  | "command"
  | "proxycommand"
  | "proxyjump"
  | "forward"
  | "multistate"
  | "agent"
  | "any"
  | "ignore";

const FLAG = ["true", "false", "yes", "no"];

/** readconf.c's keyword table (OpenSSH 9.2): name → what it takes, and the canonical name of aliases. */
const KEYWORDS: Record<string, { kind: Kind; canonical?: string; values?: string[] }> = {
  protocol: { kind: "ignore" },
  cipher: { kind: "ignore" },
  fallbacktorsh: { kind: "ignore" },
  globalknownhostsfile2: { kind: "ignore" },
  rhostsauthentication: { kind: "ignore" },
  userknownhostsfile2: { kind: "ignore" },
  useroaming: { kind: "ignore" },
  usersh: { kind: "ignore" },
  useprivilegedport: { kind: "ignore" },
  afstokenpassing: { kind: "ignore" },
  kerberosauthentication: { kind: "ignore" },
  kerberostgtpassing: { kind: "ignore" },
  rsaauthentication: { kind: "ignore" },
  rhostsrsaauthentication: { kind: "ignore" },
  compressionlevel: { kind: "ignore" },
  gssapiauthentication: { kind: "flag" },
  gssapidelegatecredentials: { kind: "flag" },
  pkcs11provider: { kind: "string" },
  smartcarddevice: { kind: "string", canonical: "pkcs11provider" },
  forwardagent: { kind: "any" },
  forwardx11: { kind: "flag" },
  forwardx11trusted: { kind: "flag" },
  forwardx11timeout: { kind: "time" },
  exitonforwardfailure: { kind: "flag" },
  xauthlocation: { kind: "string" },
  gatewayports: { kind: "flag" },
  passwordauthentication: { kind: "flag" },
  kbdinteractiveauthentication: { kind: "flag" },
  kbdinteractivedevices: { kind: "string" },
  challengeresponseauthentication: { kind: "flag", canonical: "kbdinteractiveauthentication" },
  skeyauthentication: { kind: "flag", canonical: "kbdinteractiveauthentication" },
  tisauthentication: { kind: "flag", canonical: "kbdinteractiveauthentication" },
  pubkeyauthentication: {
    kind: "multistate",
    values: [...FLAG, "unbound", "host-bound"],
  },
  dsaauthentication: {
    kind: "multistate",
    canonical: "pubkeyauthentication",
    values: [...FLAG, "unbound", "host-bound"],
  },
  hostbasedauthentication: { kind: "flag" },
  identityfile: { kind: "identityfile" },
  identityfile2: { kind: "identityfile", canonical: "identityfile" },
  identitiesonly: { kind: "flag" },
  certificatefile: { kind: "certificatefile" },
  addkeystoagent: { kind: "any" },
  identityagent: { kind: "agent" },
  hostname: { kind: "string" },
  hostkeyalias: { kind: "string" },
  proxycommand: { kind: "proxycommand" },
  port: { kind: "port" },
  ciphers: { kind: "string" },
  macs: { kind: "string" },
  remoteforward: { kind: "forward" },
  localforward: { kind: "forward" },
  permitremoteopen: { kind: "any" },
  user: { kind: "string" },
  host: { kind: "host" },
  match: { kind: "match" },
  escapechar: { kind: "any" },
  globalknownhostsfile: { kind: "filelist" },
  userknownhostsfile: { kind: "filelist" },
  connectionattempts: { kind: "int" },
  batchmode: { kind: "flag" },
  checkhostip: { kind: "flag" },
  stricthostkeychecking: {
    kind: "multistate",
    values: [...FLAG, "ask", "off", "accept-new"],
  },
  compression: { kind: "multistate", values: ["yes", "no"] },
  tcpkeepalive: { kind: "flag" },
  keepalive: { kind: "flag", canonical: "tcpkeepalive" },
  numberofpasswordprompts: { kind: "int" },
  syslogfacility: { kind: "any" },
  loglevel: { kind: "any" },
  logverbose: { kind: "any" },
  dynamicforward: { kind: "forward" },
  preferredauthentications: { kind: "string" },
  hostkeyalgorithms: { kind: "string" },
  casignaturealgorithms: { kind: "string" },
  bindaddress: { kind: "string" },
  bindinterface: { kind: "string" },
  clearallforwardings: { kind: "flag" },
  enablesshkeysign: { kind: "flag" },
  verifyhostkeydns: { kind: "multistate", values: [...FLAG, "ask"] },
  nohostauthenticationforlocalhost: { kind: "flag" },
  rekeylimit: { kind: "any" },
  connecttimeout: { kind: "time" },
  addressfamily: { kind: "multistate", values: ["inet", "inet6", "any"] },
  serveraliveinterval: { kind: "time" },
  serveralivecountmax: { kind: "int" },
  sendenv: { kind: "any" },
  setenv: { kind: "any" },
  controlpath: { kind: "string" },
  controlmaster: { kind: "multistate", values: [...FLAG, "auto", "ask", "autoask"] },
  controlpersist: { kind: "any" },
  hashknownhosts: { kind: "flag" },
  include: { kind: "include" },
  tunnel: { kind: "multistate", values: ["ethernet", "point-to-point", ...FLAG] },
  tunneldevice: { kind: "any" },
  localcommand: { kind: "command" },
  permitlocalcommand: { kind: "flag" },
  remotecommand: { kind: "command" },
  visualhostkey: { kind: "flag" },
  kexalgorithms: { kind: "string" },
  ipqos: { kind: "any" },
  requesttty: { kind: "multistate", values: [...FLAG, "force", "auto"] },
  sessiontype: { kind: "multistate", values: ["none", "subsystem", "default"] },
  stdinnull: { kind: "flag" },
  forkafterauthentication: { kind: "flag" },
  proxyusefdpass: { kind: "flag" },
  canonicaldomains: { kind: "any" },
  canonicalizefallbacklocal: { kind: "flag" },
  canonicalizehostname: { kind: "multistate", values: [...FLAG, "always"] },
  canonicalizemaxdots: { kind: "int" },
  canonicalizepermittedcnames: { kind: "any" },
  streamlocalbindmask: { kind: "any" },
  streamlocalbindunlink: { kind: "flag" },
  revokedhostkeys: { kind: "string" },
  fingerprinthash: { kind: "any" },
  updatehostkeys: { kind: "multistate", values: [...FLAG, "ask"] },
  hostbasedacceptedalgorithms: { kind: "string" },
  hostbasedkeytypes: { kind: "string", canonical: "hostbasedacceptedalgorithms" },
  pubkeyacceptedalgorithms: { kind: "string" },
  pubkeyacceptedkeytypes: { kind: "string", canonical: "pubkeyacceptedalgorithms" },
  ignoreunknown: { kind: "string" },
  proxyjump: { kind: "proxyjump" },
  securitykeyprovider: { kind: "string" },
  knownhostscommand: { kind: "command" },
  requiredrsasize: { kind: "int" },
  enableescapecommandline: { kind: "flag" },
};

const MAX_INCLUDE_DEPTH = 16;
const COMMAND_LINE: ConfigOrigin = { file: "command line", line: 0 };

/**
 * Reads ssh_config the way OpenSSH 9.2's ssh does for one host (first pass):
 * the command line first, then the user's file and the system file (or the
 * one `-F` file); for each directive the first obtained value wins, except
 * IdentityFile, CertificateFile and the forwards, which accumulate. `Host`,
 * `Match` (host, originalhost, user, localuser, all, exec), `Include`
 * (absolute, globbed, relative to ~/.ssh or /etc/ssh), `Key=Value` and
 * quoting follow readconf.c. A line OpenSSH rejects is an error here too.
 */
export function readClientConfig(options: ReadClientConfigOptions): ClientConfig {
  const config: ClientConfig = {
    first: new Map(),
    identityFiles: [],
    certificateFiles: [],
    forwards: [],
    proxy: undefined,
    finalPassRequested: undefined,
    filesRead: [],
    notes: [],
  };
  const reader = new ConfigReader(options, config);
  reader.applyCommandLine(options.commandLine);
  if (options.configFile !== undefined) {
    if (options.configFile.toLowerCase() !== "none") {
      if (
        !reader.readFile(options.configFile, { userConfig: true, checkPermissions: false }, 0, "explicit")
      ) {
        config.notes.push(`ssh_config ${options.configFile} does not exist: no ssh_config applied`);
      }
    }
  } else {
    reader.readFile(options.userConfigFile, { userConfig: true, checkPermissions: true }, 0, "default");
    reader.readFile(options.systemConfigFile, { userConfig: false, checkPermissions: false }, 0, "default");
  }
  return config;
}

interface FileFlags {
  userConfig: boolean;
  checkPermissions: boolean;
  /** Inside an inactive block's Include: Host and Match never activate. */
  neverMatch?: boolean;
}

class ConfigReader {
  constructor(
    private readonly options: ReadClientConfigOptions,
    private readonly config: ClientConfig,
  ) {}

  applyCommandLine(commandLine: CommandLineSettings): void {
    const set = (keyword: string, value: string) =>
      this.config.first.set(keyword, { args: [value], text: value, origin: COMMAND_LINE });
    if (commandLine.user !== undefined) set("user", commandLine.user);
    if (commandLine.port !== undefined) set("port", String(commandLine.port));
    for (const path of commandLine.identityFiles ?? [])
      this.addIdentityFile(path, "command line", COMMAND_LINE);
    if (commandLine.proxyJump !== undefined) {
      this.config.proxy =
        commandLine.proxyJump.toLowerCase() === "none"
          ? { kind: "none", origin: COMMAND_LINE }
          : { kind: "jump", spec: commandLine.proxyJump, origin: COMMAND_LINE };
    }
    for (const [keyword, value] of commandLine.options ?? []) {
      const lower = keyword.toLowerCase();
      if (lower === "userknownhostsfile" || lower === "globalknownhostsfile") {
        const args = argvSplit(value) ?? [value];
        if (!this.config.first.has(lower))
          this.config.first.set(lower, { args, text: value, origin: COMMAND_LINE });
      } else if (!this.config.first.has(lower)) {
        set(lower, value);
      }
    }
  }

  /**
   * Returns false when the file does not exist. Any other failure to open it
   * is an error, except for the default user and system files, which ssh
   * skips silently when it cannot open them.
   */
  readFile(path: string, flags: FileFlags, depth: number, kind: "explicit" | "default" | "include"): boolean {
    if (depth > MAX_INCLUDE_DEPTH) throw this.error(path, 0, "Too many recursive configuration includes");
    let text: string;
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || kind === "default") return false;
      throw this.error(path, 0, `Can't open user config file ${path}: ${code ?? "error"}`);
    }
    try {
      const stat = fstatSync(fd);
      if (stat.isDirectory()) return true;
      if (flags.checkPermissions) {
        if (!securePermissions(stat, this.options.local.uid)) {
          throw this.error(path, 0, `Bad owner or permissions on ${path}`, {
            hint: `chmod go-w ${path} (OpenSSH refuses a config file others can write)`,
          });
        }
      }
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
    this.config.filesRead.push(path);
    let active = { value: true };
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    lines.forEach((line, index) => {
      active = this.processLine(line, path, index + 1, active, flags, depth);
    });
    return true;
  }

  private processLine(
    rawLine: string,
    file: string,
    line: number,
    active: { value: boolean },
    flags: FileFlags,
    depth: number,
  ): { value: boolean } {
    const origin = { file, line };
    const trimmed = trimLineEnd(rawLine);
    if (trimmed === "") return active;
    let { token: keyword, rest } = strdelim(trimmed);
    if (keyword === "") ({ token: keyword, rest } = strdelim(rest));
    if (keyword === undefined || keyword === "" || keyword.startsWith("#")) return active;
    const lower = asciiLower(keyword);
    if (rest !== undefined) rest = rest.replace(/^[ \t\r\n]+/, "");
    if (rest === undefined || rest === "")
      throw this.error(file, line, `no argument after keyword "${lower}"`);
    const entry = KEYWORDS[lower];
    if (entry === undefined) {
      const ignore = this.config.first.get("ignoreunknown");
      if (ignore !== undefined && matchPatternList(lower, ignore.args[0] ?? "", true) === 1) return active;
      throw this.error(file, line, `Bad configuration option: ${lower}`);
    }
    const name = entry.canonical ?? lower;
    const args = argvSplit(rest);
    if (args === undefined) throw this.error(file, line, "invalid quotes");
    const isActive = active.value;
    const setFirst = (value: Setting) => {
      if (isActive && !this.config.first.has(name)) this.config.first.set(name, value);
    };
    const one = (): string => {
      if (args.length === 0 || args[0] === "") throw this.error(file, line, `Missing argument for ${lower}.`);
      if (args.length > 1) throw this.error(file, line, `keyword ${lower} extra arguments at end of line`);
      return args[0]!;
    };

    switch (entry.kind) {
      case "ignore":
      case "any":
        if (entry.kind === "any") setFirst({ args, text: rest, origin });
        return active;
      case "host":
        return { value: flags.neverMatch ? false : this.hostMatches(args, file, line) };
      case "match": {
        const matched = this.matchLine(rest, origin);
        return { value: flags.neverMatch ? false : matched };
      }
      case "include":
        for (const arg of args) this.include(arg, origin, isActive, flags, depth);
        return active;
      case "string": {
        const value = one();
        setFirst({ args: [value], text: value, origin });
        return active;
      }
      case "agent": {
        const value = one();
        if (
          value.startsWith("$") &&
          !value.startsWith("${") &&
          !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value.slice(1))
        ) {
          throw this.error(file, line, `Invalid environment name ${value}.`);
        }
        setFirst({ args: [value], text: value, origin });
        return active;
      }
      case "flag":
      case "multistate": {
        const value = one();
        const allowed = entry.values ?? FLAG;
        if (!allowed.includes(value.toLowerCase())) {
          throw this.error(file, line, `unsupported option "${value}" for ${lower}.`);
        }
        setFirst({ args: [value.toLowerCase()], text: value, origin });
        return active;
      }
      case "time": {
        const value = one();
        if (!(lower === "connecttimeout" && value === "none") && convtime(value) === undefined) {
          throw this.error(file, line, `invalid time value "${value}" for ${lower}.`);
        }
        setFirst({ args: [value], text: value, origin });
        return active;
      }
      case "int": {
        const value = one();
        if (parseInteger(value) === undefined) {
          throw this.error(file, line, `integer value "${value}" is invalid for ${lower}.`);
        }
        setFirst({ args: [value], text: value, origin });
        return active;
      }
      case "port": {
        const value = one();
        const port = portNumber(value);
        if (port === undefined || port <= 0) throw this.error(file, line, `Bad port '${value}'.`);
        setFirst({ args: [String(port)], text: value, origin });
        return active;
      }
      case "identityfile":
        if (isActive) this.addIdentityFile(one(), flags.userConfig ? "user config" : "system config", origin);
        else one();
        return active;
      case "certificatefile":
        if (isActive) this.config.certificateFiles.push({ args: [one()], text: rest, origin });
        else one();
        return active;
      case "forward":
        if (isActive) this.config.forwards.push({ keyword: name, args, text: rest, origin });
        return active;
      case "filelist":
        if (args.some((a) => a === "")) throw this.error(file, line, `keyword ${lower} empty argument`);
        if (args.some((a, i) => a.toLowerCase() === "none" && (i > 0 || args.length > 1))) {
          throw this.error(file, line, `keyword ${lower} "none" argument must appear alone.`);
        }
        setFirst({ args, text: rest, origin });
        return active;
      case "command":
        setFirst({ args: [commandText(rest)], text: commandText(rest), origin });
        return active;
      case "proxycommand":
        if (isActive && this.config.proxy === undefined) {
          const command = commandText(rest);
          this.config.proxy =
            command.toLowerCase() === "none"
              ? { kind: "none", origin }
              : { kind: "command", command, origin };
        }
        return active;
      case "proxyjump": {
        const spec = commandText(rest)
          .replace(/#.*$/, "")
          .replace(/[ \t\r\n]+$/, "");
        for (const hop of spec.split(",")) {
          if (spec.toLowerCase() === "none") break;
          if (parseJumpHost(hop) === undefined) throw this.error(file, line, `Invalid ProxyJump "${spec}"`);
        }
        if (isActive && this.config.proxy === undefined) {
          this.config.proxy =
            commandText(rest).toLowerCase() === "none"
              ? { kind: "none", origin }
              : { kind: "jump", spec, origin };
        }
        return active;
      }
    }
  }

  private addIdentityFile(path: string, source: IdentitySource, origin: ConfigOrigin): void {
    if (this.config.identityFiles.some((f) => f.path === path && f.source === source)) return;
    this.config.identityFiles.push({ path, source, origin });
  }

  /** readconf.c oHost: any positive pattern activates the block, a negated match deactivates it outright. */
  private hostMatches(patterns: string[], file: string, line: number): boolean {
    let active = false;
    for (const raw of patterns) {
      if (raw === "") throw this.error(file, line, "keyword host empty argument");
      const negated = raw.startsWith("!");
      if (matchPattern(this.options.hostArg, negated ? raw.slice(1) : raw)) {
        if (negated) return false;
        active = true;
      }
    }
    return active;
  }

  /** readconf.c match_cfg_line, first pass: every criterion must hold. */
  private matchLine(rest: string, origin: ConfigOrigin): boolean {
    const { local, hostArg } = this.options;
    const hostname = this.config.first.get("hostname");
    const host = hostname === undefined ? hostArg : this.expand(hostname.args[0]!, { h: hostArg }, origin);
    const user = this.config.first.get("user")?.args[0] ?? local.userName;
    const port = this.config.first.get("port")?.args[0] ?? "22";
    let cursor: string | undefined = rest;
    let result = true;
    let attributes = 0;
    for (;;) {
      const next = strdelim(cursor);
      cursor = next.rest;
      const raw = next.token;
      if (raw === undefined || raw === "") break;
      if (raw.startsWith("#")) break;
      const negate = raw.startsWith("!");
      const attribute = asciiLower(negate ? raw.slice(1) : raw);
      if (attribute === "all") {
        const after = strdelim(cursor);
        if (
          attributes > 1 ||
          (after.token !== undefined && after.token !== "" && !after.token.startsWith("#"))
        ) {
          throw this.error(
            origin.file,
            origin.line,
            `'${raw}' cannot be combined with other Match attributes`,
          );
        }
        return result ? !negate : false;
      }
      attributes++;
      if (attribute === "canonical" || attribute === "final") {
        // Both only hold on the second pass, after canonicalisation, which we refuse.
        this.config.finalPassRequested ??= origin;
        if (!negate) result = false;
        continue;
      }
      const argument = strdelim(cursor);
      cursor = argument.rest;
      const arg = argument.token;
      if (arg === undefined || arg === "" || arg.startsWith("#")) {
        throw this.error(origin.file, origin.line, `Missing Match criteria for ${attribute}`);
      }
      let matched: boolean;
      switch (attribute) {
        case "host":
          matched = matchHostname(host, arg) === 1;
          break;
        case "originalhost":
          matched = matchHostname(hostArg, arg) === 1;
          break;
        case "user":
          matched = matchPatternList(user, arg, false) === 1;
          break;
        case "localuser":
          matched = matchPatternList(local.userName, arg, false) === 1;
          break;
        case "exec": {
          if (!result) continue; // OpenSSH skips the command once an earlier criterion failed
          const keyAlias = this.config.first.get("hostkeyalias")?.args[0] ?? host;
          const command = this.expand(
            arg,
            {
              C: connectionHash(local.hostName, host, port, user),
              L: local.hostName.split(".")[0]!,
              d: local.homeDir,
              h: host,
              k: keyAlias,
              l: local.hostName,
              n: hostArg,
              p: port,
              r: user,
              u: local.userName,
              i: String(local.uid),
            },
            origin,
          );
          matched = runMatchExec(command, local, origin) === 0;
          break;
        }
        default:
          throw this.error(origin.file, origin.line, `Unsupported Match attribute ${attribute}`);
      }
      if (matched === negate) result = false;
    }
    if (attributes === 0)
      throw this.error(origin.file, origin.line, "One or more attributes required for Match");
    return result;
  }

  private include(arg: string, origin: ConfigOrigin, active: boolean, flags: FileFlags, depth: number): void {
    if (arg === "") throw this.error(origin.file, origin.line, "keyword include empty argument");
    if (arg.startsWith("~") && !flags.userConfig) {
      throw this.error(origin.file, origin.line, `bad include path ${arg}.`);
    }
    const pattern =
      !isAbsolute(arg) && !arg.startsWith("~") ? `${flags.userConfig ? "~/.ssh" : "/etc/ssh"}/${arg}` : arg;
    const paths = globPaths(pattern, this.options.local);
    for (const path of paths) {
      this.readFile(
        path,
        {
          userConfig: flags.userConfig,
          checkPermissions: true,
          neverMatch: flags.neverMatch === true || !active,
        },
        depth + 1,
        "include",
      );
    }
  }

  private expand(template: string, tokens: Record<string, string>, origin: ConfigOrigin): string {
    try {
      return percentExpand(template, tokens);
    } catch (error) {
      if (error instanceof TokenExpansionError) throw this.error(origin.file, origin.line, error.message);
      throw error;
    }
  }

  private error(file: string, line: number, message: string, extra: { hint?: string } = {}): SshConfigError {
    const where = line > 0 ? `${file} line ${line}` : file;
    return new SshConfigError(`${where}: ${message}`, {
      hint: extra.hint ?? `fix ${where}; \`ssh -G HOST\` reports the same line`,
    });
  }
}

/**
 * Whether OpenSSH (as Debian builds it) trusts a config file's ownership and
 * mode: owned by root or us, not writable by others, and writable by its
 * group only when that group has no member but the owner (Debian's
 * "harmless group-writability" for per-user groups).
 */
function securePermissions(stat: { uid: number; gid: number; mode: number }, uid: number): boolean {
  if (stat.uid !== 0 && stat.uid !== uid) return false;
  if ((stat.mode & 0o002) !== 0) return false;
  if ((stat.mode & 0o020) === 0) return true;
  let passwd: string[][];
  let groups: string[][];
  try {
    passwd = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((l) => l.split(":"));
    groups = readFileSync("/etc/group", "utf8")
      .split("\n")
      .map((l) => l.split(":"));
  } catch {
    return false;
  }
  const group = groups.find((g) => g[2] === String(stat.gid));
  const owner = passwd.find((p) => p[2] === String(stat.uid));
  if (group === undefined || owner === undefined) return false;
  const primary = passwd.filter((p) => p[3] === String(stat.gid));
  if (primary.some((p) => p[2] !== String(uid))) return false;
  const supplementary = (group[3] ?? "").split(",").filter((m) => m !== "");
  if (supplementary.length > 1 || (supplementary.length === 1 && supplementary[0] !== owner[0])) return false;
  return primary.length + supplementary.length > 0;
}

/** Match exec: the command through the user's shell, stdin and stdout on /dev/null, true when it exits 0. */
function runMatchExec(command: string, local: LocalContext, origin: ConfigOrigin): number {
  const shell = local.env.SHELL !== undefined && local.env.SHELL !== "" ? local.env.SHELL : "/bin/sh";
  const result = spawnSync(shell, ["-c", command], {
    stdio: ["ignore", "ignore", "pipe"],
    env: local.env,
    timeout: 60_000,
  });
  if (result.error !== undefined || result.status === null) {
    throw new SshConfigError(
      `${origin.file} line ${origin.line}: Match exec '${command}' ${result.error === undefined ? `was killed (${result.signal})` : `failed: ${result.error.message}`}`,
      { hint: "make the Match exec command finish and exit with a status" },
    );
  }
  return result.status;
}

/** misc.c a2port: 1…65535 (0 for "0"), or a service name from /etc/services. */
export function portNumber(value: string): number | undefined {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return n <= 65_535 ? n : undefined;
  }
  let services = "";
  try {
    services = readFileSync("/etc/services", "utf8");
  } catch {
    return undefined;
  }
  for (const line of services.split("\n")) {
    const fields = line.replace(/#.*/, "").trim().split(/\s+/);
    const [name, portProto, ...aliases] = fields;
    if (portProto?.endsWith("/tcp") && (name === value || aliases.includes(value))) {
      return Number(portProto.slice(0, -4));
    }
  }
  return undefined;
}

export interface JumpHost {
  user: string | undefined;
  host: string;
  port: number | undefined;
}

/** One ProxyJump element: `ssh://[user@]host[:port]` or `[user@]host[:port]` (`[v6]:port` too). */
export function parseJumpHost(spec: string): JumpHost | undefined {
  if (spec.startsWith("ssh://")) {
    const rest = spec.slice("ssh://".length);
    const at = rest.indexOf("@");
    let user: string | undefined;
    let hostPort = rest;
    if (at !== -1) {
      const userInfo = rest.slice(0, at).split(";")[0]!;
      if (userInfo === "") return undefined;
      try {
        user = decodeURIComponent(userInfo);
      } catch {
        return undefined;
      }
      hostPort = rest.slice(at + 1);
    }
    const parsed = splitHostPort(hostPort, true);
    if (parsed === undefined || parsed.path) return undefined;
    return { user, host: parsed.host, port: parsed.port };
  }
  const at = spec.lastIndexOf("@");
  let user: string | undefined;
  let hostPort = spec;
  if (at !== -1) {
    if (at === 0) return undefined;
    user = spec.slice(0, at);
    hostPort = spec.slice(at + 1);
  }
  const parsed = splitHostPort(hostPort, false);
  if (parsed === undefined || parsed.path) return undefined;
  return { user, host: parsed.host, port: parsed.port };
}

function splitHostPort(
  s: string,
  allowSlash: boolean,
): { host: string; port: number | undefined; path: boolean } | undefined {
  let end: number;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close === -1) return undefined;
    end = close + 1;
  } else {
    const m = /[:/]/.exec(s);
    end = m === null ? s.length : m.index;
  }
  const delimiter = s[end];
  if (delimiter !== undefined && delimiter !== ":" && delimiter !== "/") return undefined;
  if (delimiter === "/" && !allowSlash) return undefined;
  let host = s.slice(0, end);
  if (host === "") return undefined;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  let rest = delimiter === undefined ? "" : s.slice(end + 1);
  let port: number | undefined;
  let path = false;
  if (delimiter === ":" && rest !== "") {
    const slash = rest.indexOf("/");
    const portText = slash === -1 ? rest : rest.slice(0, slash);
    const value = portNumber(portText);
    if (value === undefined || value <= 0) return undefined;
    port = value;
    rest = slash === -1 ? "" : rest.slice(slash + 1);
    path = rest !== "";
  } else if (delimiter === "/") {
    path = rest !== "";
  }
  return { host, port, path };
}

/**
 * glob(3) as OpenSSH calls it for Include (GLOB_TILDE, sorted, no braces):
 * `*`, `?` and `[…]` per path component, a leading dot only matched
 * explicitly; no match is no file.
 */
export function globPaths(pattern: string, local: LocalContext): string[] {
  let path = pattern;
  if (path.startsWith("~")) {
    const slash = path.indexOf("/");
    const user = slash === -1 ? path.slice(1) : path.slice(1, slash);
    // glibc's GLOB_TILDE takes $HOME for a bare "~".
    const home = user === "" ? (local.env.HOME ?? local.homeDir) : tildeExpandUser(user);
    if (home === undefined) return [];
    path = home + (slash === -1 ? "" : path.slice(slash));
  }
  const parts = path.split("/");
  let candidates = [parts[0] === "" ? "/" : "."];
  const first = parts[0] === "" ? 1 : 0;
  for (let i = first; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === "") continue;
    const next: string[] = [];
    for (const dir of candidates) {
      const join = (name: string) =>
        dir === "/" ? `/${name}` : dir === "." && first === 0 && i === 0 ? name : `${dir}/${name}`;
      if (!/[*?[]/.test(part)) {
        next.push(join(part.replace(/\\(.)/g, "$1")));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(dir === "." ? "." : dir);
      } catch {
        continue;
      }
      for (const name of names.sort(byteOrder)) {
        if (name.startsWith(".") && !part.startsWith(".")) continue;
        if (fnmatch(part, name)) next.push(join(name));
      }
    }
    candidates = next;
  }
  return candidates.filter((p) => {
    try {
      statSync(p);
      return true;
    } catch {
      return false;
    }
  });
}

function tildeExpandUser(user: string): string | undefined {
  try {
    return tildeExpand(`~${user}`, "/").replace(/\/$/, "");
  } catch {
    return undefined;
  }
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** fnmatch(3) on one path component: `*`, `?`, `[set]`, `[!set]`, ranges and backslash escapes. */
function fnmatch(pattern: string, name: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) re += escapeRegex(pattern[++i]!);
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close === -1) {
        re += "\\[";
        continue;
      }
      let set = pattern.slice(i + 1, close);
      const negated = set.startsWith("!") || set.startsWith("^");
      if (negated) set = set.slice(1);
      re += `[${negated ? "^" : ""}${set.replace(/[\\\]^]/g, "\\$&")}]`;
      i = close;
    } else re += escapeRegex(c);
  }
  return new RegExp(`${re}$`, "s").test(name);
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
