/**
 * OpenSSH is the judge: for every configuration below, the expected answer
 * is what the installed `ssh -G` (and, for expanded identity files and
 * ProxyCommand, `ssh -v`) says in this very run; the test never states the
 * answer itself. Only the cases we deliberately refuse are marked, and for
 * them OpenSSH must resolve and we must name the directive we refuse.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SSH2_SUPPORTED } from "./ssh-algorithms.js";
import { parseJumpHost } from "./ssh-client-config.js";
import { type CompanionTarget, type ResolveCompanionOptions, resolveCompanion } from "./ssh-target.js";

let temp: ReturnType<typeof makeTempDir>;
/** HOME for both sides: Include's `~` (glob) and our defaults read it; OpenSSH's `~` is the passwd home. */
let home: string;
const passwdHome = userInfo().homedir;

beforeAll(() => {
  temp = makeTempDir("operator-tool-ssh-oracle-");
  home = join(temp.path, "home");
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
});
afterAll(() => temp.cleanup());

interface Flags {
  port?: number;
  user?: string;
  identityFile?: string;
  knownHosts?: string;
  acceptNew?: boolean;
  proxyJump?: string;
}

interface ResolutionCase {
  name: string;
  /** The -F file; `@T@` is this case's directory, `@H@` the temp HOME. */
  config: string;
  /** More files, relative to the case directory, or to HOME when they start with "~/". */
  files?: Record<string, string>;
  /** File modes to set, to meet OpenSSH's permission check. */
  modes?: Record<string, number>;
  host: string;
  flags?: Flags;
  /** Also compare the expanded identity files and ProxyCommand that `ssh -v` reports. */
  verbose?: boolean;
  /** We deliberately refuse what OpenSSH resolves: the directive our error must name. */
  refuses?: string;
}

const CASES: ResolutionCase[] = [
  {
    name: "an alias: HostName, Port, User",
    config: "Host jetson-7\n  HostName 10.0.0.7\n  Port 2222\n  User ops\n",
    host: "jetson-7",
  },
  {
    name: "first obtained value wins across blocks; Host * last",
    config:
      "Host jetson-*\n  Port 2200\nHost jetson-7\n  Port 2207\n  User seven\nHost *\n  User everyone\n  Port 22\n",
    host: "jetson-7",
  },
  {
    name: "`?` matches exactly one character (not zero)",
    config: "Host jet?\n  HostName one-char.example\nHost *\n  HostName other.example\n",
    host: "jet",
  },
  {
    name: "`?` matches the one character",
    config: "Host jet?\n  HostName one-char.example\nHost *\n  HostName other.example\n",
    host: "jet7",
  },
  {
    name: "Host negation: a negated match skips the block",
    config: "Host *.field !bad.field\n  User fielduser\nHost *\n  User fallback\n",
    host: "bad.field",
  },
  {
    name: "Host patterns are case-sensitive, HostName is lower-cased",
    config: "Host Jetson\n  HostName UPPER.Example\nHost jetson\n  HostName Lower.Example\n",
    host: "jetson",
  },
  {
    name: "Include: absolute path",
    config: "Include @T@/included.conf\nHost *\n  User fallback\n",
    files: { "included.conf": "Host jetson-9\n  HostName 10.9.9.9\n  User nine\n" },
    host: "jetson-9",
  },
  {
    name: "Include: a glob, files in sorted order",
    config: "Include @T@/conf.d/*.conf\n",
    files: {
      "conf.d/20-late.conf": "Host jetson-*\n  Port 2020\n  User late\n",
      "conf.d/10-early.conf": "Host jetson-*\n  Port 1010\n",
      "conf.d/ignored.txt": "Host *\n  Port 9999\n",
    },
    host: "jetson-3",
  },
  {
    name: "Include: a relative path is under ~/.ssh",
    config: "Include ot-oracle-relative.conf\n",
    files: { "~/.ssh/ot-oracle-relative.conf": "Host rel\n  HostName relative.example\n  Port 2345\n" },
    host: "rel",
  },
  {
    name: "Include inside a Host block that does not match: nothing in it applies",
    config: "Host other\n  Include @T@/inner.conf\nHost *\n  User outer\n",
    files: { "inner.conf": "Host *\n  User inner\n  Port 4444\n" },
    host: "jetson-1",
  },
  {
    name: "Include: a Match inside the included file does not leak out",
    config: "Host jetson-2\n  Include @T@/inner.conf\n  Port 2002\nHost *\n  User outer\n",
    files: { "inner.conf": "Match user nobody-at-all\n  User never\n" },
    host: "jetson-2",
  },
  {
    name: "Include: a world-writable included file is refused",
    config: "Include @T@/loose.conf\n",
    files: { "loose.conf": "Host *\n  User loose\n" },
    modes: { "loose.conf": 0o646 },
    host: "jetson-1",
  },
  {
    name: "Include: a group-writable included file (a per-user group here, as Debian allows)",
    config: "Include @T@/group.conf\n",
    files: { "group.conf": "Host *\n  User group\n" },
    modes: { "group.conf": 0o664 },
    host: "jetson-1",
  },
  {
    name: "HostName tokens: %h and %%",
    config: "Host *.field\n  HostName %h.internal%%x\n",
    host: "jetson.field",
  },
  {
    name: "Match host is tested against the HostName-substituted name",
    config:
      "Host jetson-4\n  HostName 10.1.2.4\nMatch host 10.1.2.*\n  User by-address\nMatch host jetson-4\n  User by-alias\n",
    host: "jetson-4",
  },
  {
    name: "Match originalhost sees what was typed",
    config: "Host jetson-5\n  HostName 10.1.2.5\nMatch originalhost jetson-5\n  User original\n",
    host: "jetson-5",
  },
  {
    name: "Match user (the User set so far) and localuser",
    config: `Host jetson-6\n  User ops\nMatch user ops localuser ${userInfo().username}\n  Port 6006\n`,
    host: "jetson-6",
  },
  {
    name: "Match all, and a negated criterion",
    config: "Match !host nothing-like-this\n  Port 7007\nMatch all\n  User all-users\n",
    host: "jetson-7",
  },
  {
    name: "Match exec runs the command with tokens; false skips the block",
    config:
      'Host jetson-8\n  HostName 10.8.8.8\nMatch exec "test %h = 10.8.8.9"\n  User wrong\nMatch exec "test %h:%p:%n = 10.8.8.8:22:jetson-8"\n  User by-exec\n',
    host: "jetson-8",
  },
  {
    name: "Key=Value, Key = Value, tabs, trailing comments",
    config: "Host=jetson-eq\n\tHostName = 10.0.0.42\n  Port=2242 # the field port\n  User\tfield\n",
    host: "jetson-eq",
  },
  {
    name: "quoted arguments and escapes in paths",
    config:
      'Host q\n  IdentityFile "@T@/dir with space/id key"\n  UserKnownHostsFile "@T@/kh one" @T@/kh\\ two\n',
    host: "q",
    verbose: true,
  },
  {
    name: "several IdentityFiles accumulate, -i first, duplicates dropped, missing ones kept in order",
    config:
      "Host multi\n  IdentityFile @T@/id_one\n  IdentityFile @T@/id_missing\nHost *\n  IdentityFile @T@/id_one\n  IdentityFile @T@/id_two\n",
    files: { id_one: "", id_two: "" },
    host: "multi",
    flags: { identityFile: "@T@/id_one" },
    verbose: true,
  },
  {
    name: "IdentityFile tokens %d %u %l %L %h %r %p %n %i %C %k and ~",
    config:
      "Host tok\n  HostName Tokens.Example\n  User tokuser\n  Port 2022\n  HostKeyAlias TokAlias\n  IdentityFile @T@/id_%u_%l_%L_%h_%r_%p_%n_%i_%k\n  IdentityFile @T@/id_%C\n  IdentityFile ~/.ssh/ot-oracle-missing-%r\n  IdentityFile %d/.ssh/ot-oracle-missing-2\n",
    host: "tok",
    verbose: true,
  },
  {
    name: "IdentityFile none, IdentitiesOnly, IdentityAgent none",
    config:
      "Host io\n  IdentityFile none\n  IdentityFile @T@/id_io\n  IdentitiesOnly yes\n  IdentityAgent none\n",
    host: "io",
    verbose: true,
  },
  {
    name: "IdentityAgent: a path with tokens and an environment variable",
    config: `Host ag\n  IdentityAgent \${HOME}/agent-%r.sock\n`,
    host: "ag",
  },
  {
    name: "the default IdentityFiles when none is configured",
    config: "Host plain\n  HostName 10.0.0.1\n",
    host: "plain",
  },
  {
    name: "UserKnownHostsFile: several files, tokens and ~; HostKeyAlias lower-cased",
    config:
      "Host kh\n  HostName 10.2.2.2\n  Port 2202\n  HostKeyAlias Field-Unit\n  UserKnownHostsFile ~/.ssh/kh_%h_%p %d/kh_%k @T@/kh_%n\n",
    host: "kh",
  },
  {
    name: "the default known_hosts files",
    config: "Host plain\n  HostName 10.0.0.1\n",
    host: "plain",
  },
  {
    name: "GlobalKnownHostsFile set, UserKnownHostsFile none",
    config: "Host g\n  GlobalKnownHostsFile @T@/global1 @T@/global2\n  UserKnownHostsFile none\n",
    host: "g",
  },
  {
    name: "StrictHostKeyChecking accept-new, ConnectTimeout, ConnectionAttempts, ServerAlive*",
    config:
      "Host s\n  StrictHostKeyChecking accept-new\n  ConnectTimeout 1m30s\n  ConnectionAttempts 3\n  ServerAliveInterval 20\n  ServerAliveCountMax 5\n",
    host: "s",
  },
  {
    name: "StrictHostKeyChecking no is mapped (accept-new for us), ServerAliveInterval without count",
    config: "Host s\n  StrictHostKeyChecking no\n  ServerAliveInterval 30\n  ConnectTimeout none\n",
    host: "s",
  },
  {
    name: "command-line flags win over ssh_config: -p, -l, -o UserKnownHostsFile, -o StrictHostKeyChecking; a missing -i is dropped",
    config:
      "Host jetson-7\n  HostName 10.0.0.7\n  Port 2222\n  User ops\n  IdentityFile @T@/id_config\n  UserKnownHostsFile @T@/kh_config\n  StrictHostKeyChecking yes\n",
    host: "jetson-7",
    flags: {
      port: 2999,
      user: "flaguser",
      identityFile: "@T@/id_flag_missing",
      knownHosts: "@T@/kh_flag",
      acceptNew: true,
    },
    verbose: true,
  },
  {
    name: "user@host on the command line wins over User",
    config: "Host jetson-7\n  User config-user\n",
    host: "typed-user@jetson-7",
  },
  {
    name: "-l wins over user@host",
    config: "Host jetson-7\n  User config-user\n",
    host: "typed-user@jetson-7",
    flags: { user: "flag-user" },
  },
  {
    name: "ProxyCommand: tokens %h %p %r %n %k expanded, run through the shell with exec",
    config:
      "Host pc\n  HostName 10.3.3.3\n  Port 2303\n  User pcuser\n  ProxyCommand true %h %p %r %n %k %%\n",
    host: "pc",
    verbose: true,
  },
  {
    name: "ProxyCommand before ProxyJump: the first one wins",
    config: "Host pc\n  ProxyCommand true %h\n  ProxyJump gw\n",
    host: "pc",
    verbose: true,
  },
  {
    name: "ProxyJump: a chain, user@host:port, each hop resolved through ssh_config",
    config:
      "Host jetson-7\n  HostName 10.0.0.7\n  ProxyJump ops@gw1:2201,gw2\nHost gw1\n  HostName 192.168.1.1\n  User gw1user\n  Port 22\nHost gw2\n  HostName 192.168.2.2\n  Port 2222\n  IdentityFile @T@/id_gw2\n  User gw2user\n",
    host: "jetson-7",
  },
  {
    name: "ProxyJump none exempts a host from a wildcard ProxyJump",
    config: "Host bastion\n  ProxyJump none\n  HostName 192.168.9.9\nHost *\n  ProxyJump bastion\n",
    host: "bastion",
  },
  {
    name: "ProxyJump through a host whose own entry jumps again",
    config:
      "Host jetson-7\n  ProxyJump gw\nHost gw\n  HostName 192.168.1.1\n  ProxyJump ssh://edge@outer.example:2200\n",
    host: "jetson-7",
  },
  {
    name: "a jump-host loop is an error",
    config: "Host loop\n  HostName loop\n  ProxyJump loop\n",
    host: "loop",
  },
  {
    name: "AddressFamily, Ciphers -, MACs +, HostKeyAlgorithms as a list",
    config:
      "Host alg\n  AddressFamily inet\n  Ciphers -chacha20*\n  MACs +hmac-md5\n  HostKeyAlgorithms ecdsa-sha2-nistp256,ssh-ed25519\n  KexAlgorithms curve25519-sha256\n",
    host: "alg",
  },
  {
    name: "a Debian-like Host * block: SendEnv, HashKnownHosts, GSSAPIAuthentication, ControlMaster",
    config:
      "Host *\n    SendEnv LANG LC_*\n    HashKnownHosts yes\n    GSSAPIAuthentication yes\n    ControlMaster auto\n    ControlPath ~/.ssh/cm-%C\n    ForwardAgent no\n",
    host: "deb",
  },
  {
    name: "an unknown keyword is an error",
    config: "Host *\n  NoSuchOption yes\n",
    host: "x",
  },
  {
    name: "IgnoreUnknown lets an unknown keyword pass",
    config: "IgnoreUnknown NoSuch*\nHost *\n  NoSuchOption yes\n  Port 2345\n",
    host: "x",
  },
  {
    name: "a bad port is an error even in a block that does not match",
    config: "Host never\n  Port seventy\nHost *\n  User u\n",
    host: "x",
  },
  {
    name: "an unterminated quote is an error",
    config: 'Host x\n  IdentityFile "unterminated\n',
    host: "x",
  },
  {
    name: "an unsupported Match attribute is an error",
    config: "Match tagged field\n  User t\n",
    host: "x",
  },
  {
    name: "an unknown token is an error",
    config: "Host x\n  UserKnownHostsFile @T@/kh_%z\n",
    host: "x",
  },
  {
    name: "ConnectionAttempts 0 is an error",
    config: "Host x\n  ConnectionAttempts 0\n",
    host: "x",
  },
  {
    name: "CanonicalizeHostname: OpenSSH resolves, we refuse and name it",
    config: "Host x\n  CanonicalizeHostname yes\n  CanonicalDomains example.com\n",
    host: "x",
    refuses: "CanonicalizeHostname",
  },
  {
    name: "CertificateFile: OpenSSH resolves, we refuse and name it",
    config: "Host x\n  CertificateFile @T@/id-cert.pub\n",
    host: "x",
    refuses: "CertificateFile",
  },
];

interface SshRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<SshRun> {
  return new Promise((resolve) => {
    execFile("ssh", args, { env, timeout: 30_000, encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ status: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

function sshFlags(flags: Flags | undefined): string[] {
  const args: string[] = [];
  if (flags?.port !== undefined) args.push("-p", String(flags.port));
  if (flags?.user !== undefined) args.push("-l", flags.user);
  if (flags?.identityFile !== undefined) args.push("-i", flags.identityFile);
  if (flags?.knownHosts !== undefined) args.push("-o", `UserKnownHostsFile=${flags.knownHosts}`);
  if (flags?.acceptNew) args.push("-o", "StrictHostKeyChecking=accept-new");
  if (flags?.proxyJump !== undefined) args.push("-J", flags.proxyJump);
  return args;
}

function ourOptions(host: string, config: string, flags: Flags | undefined): ResolveCompanionOptions {
  return {
    host,
    sshConfigPath: config,
    port: flags?.port,
    user: flags?.user,
    identityFile: flags?.identityFile,
    knownHostsPath: flags?.knownHosts,
    acceptNewHostKey: flags?.acceptNew,
    proxyJump: flags?.proxyJump,
    environment: { homeDir: passwdHome, env: sshEnv() },
  };
}

function sshEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    SHELL: "/bin/sh",
    SSH_AUTH_SOCK: join(home, "agent.sock"),
  };
  return env;
}

/** `ssh -G` output: keyword → its lines' values, in order. */
function parseG(stdout: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of stdout.split("\n")) {
    const space = line.indexOf(" ");
    if (space === -1) continue;
    const key = line.slice(0, space);
    map.set(key, [...(map.get(key) ?? []), line.slice(space + 1)]);
  }
  return map;
}

/** OpenSSH's IdentityAgent value, as the agent socket it means. */
function agentSocket(value: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (value === undefined || value === "SSH_AUTH_SOCK") return env.SSH_AUTH_SOCK;
  if (value === "none") return undefined;
  if (value.startsWith("$") && !value.startsWith("${")) return env[value.slice(1)];
  return value;
}

/** -G prints StrictHostKeyChecking in its own vocabulary. */
const STRICT_AS_G: Record<string, string> = {
  yes: "true",
  true: "true",
  no: "false",
  false: "false",
  off: "false",
  ask: "ask",
  "accept-new": "accept-new",
};

function jumpHops(spec: string): Array<{ user: string | undefined; host: string; port: number | undefined }> {
  return spec.split(",").map((hop) => parseJumpHost(hop)!);
}

/** Every field ssh -G reports that decides where and how we connect, compared one by one. */
function compareWithG(ours: CompanionTarget, g: Map<string, string[]>, label: string): void {
  const one = (key: string) => g.get(key)?.[0];
  const env = sshEnv();
  expect(ours.hostname, `${label}: hostname`).toBe(one("hostname"));
  expect(String(ours.port), `${label}: port`).toBe(one("port"));
  expect(ours.user, `${label}: user`).toBe(one("user"));
  expect(ours.identityFileSpecs, `${label}: identityfile`).toEqual(g.get("identityfile") ?? []);
  expect(ours.identitiesOnly ? "yes" : "no", `${label}: identitiesonly`).toBe(one("identitiesonly"));
  expect(ours.identityAgent, `${label}: identityagent`).toBe(agentSocket(one("identityagent"), env));
  expect(ours.hostKeyAlias, `${label}: hostkeyalias`).toBe(one("hostkeyalias"));
  // -G prints an empty list as "none".
  expect(ours.userKnownHostsFiles.join(" ") || "none", `${label}: userknownhostsfile`).toBe(
    one("userknownhostsfile"),
  );
  expect(ours.globalKnownHostsFiles.join(" ") || "none", `${label}: globalknownhostsfile`).toBe(
    one("globalknownhostsfile"),
  );
  expect(STRICT_AS_G[ours.strictHostKeyCheckingConfigured], `${label}: stricthostkeychecking`).toBe(
    one("stricthostkeychecking"),
  );
  expect(String(ours.connectTimeoutS ?? "none"), `${label}: connecttimeout`).toBe(one("connecttimeout"));
  expect(String(ours.connectionAttempts), `${label}: connectionattempts`).toBe(one("connectionattempts"));
  if (ours.keepaliveDefaulted) {
    // Deliberate: without ServerAliveInterval OpenSSH sends no keepalive; we use our flaky-link default.
    expect(one("serveraliveinterval"), `${label}: serveraliveinterval unset`).toBe("0");
  } else {
    expect(String(ours.serverAliveIntervalS), `${label}: serveraliveinterval`).toBe(
      one("serveraliveinterval"),
    );
    expect(String(ours.serverAliveCountMax), `${label}: serveralivecountmax`).toBe(
      one("serveralivecountmax"),
    );
  }
  expect(ours.addressFamily, `${label}: addressfamily`).toBe(one("addressfamily"));
  const supported = (list: keyof typeof SSH2_SUPPORTED, value: string | undefined) =>
    (value ?? "").split(",").filter((a) => (SSH2_SUPPORTED[list] as readonly string[]).includes(a));
  if (ours.algorithms.cipher)
    expect(ours.algorithms.cipher, `${label}: ciphers`).toEqual(supported("cipher", one("ciphers")));
  if (ours.algorithms.hmac)
    expect(ours.algorithms.hmac, `${label}: macs`).toEqual(supported("hmac", one("macs")));
  if (ours.algorithms.kex)
    expect(ours.algorithms.kex, `${label}: kexalgorithms`).toEqual(supported("kex", one("kexalgorithms")));
  if (ours.algorithms.serverHostKey)
    expect(ours.algorithms.serverHostKey, `${label}: hostkeyalgorithms`).toEqual(
      supported("serverHostKey", one("hostkeyalgorithms")),
    );
  const jump = one("proxyjump");
  expect(ours.proxy?.kind === "jump" ? jumpHops(ours.proxy.spec) : undefined, `${label}: proxyjump`).toEqual(
    jump === undefined ? undefined : jumpHops(jump),
  );
  expect(ours.proxy?.kind === "command", `${label}: proxycommand set`).toBe(
    one("proxycommand") !== undefined,
  );
}

/** The identity files (expanded) and the ProxyCommand line `ssh -v` reports while connecting. */
function parseVerbose(stderr: string): { identityFiles: string[]; proxyCommand: string | undefined } {
  const identityFiles: string[] = [];
  for (const m of stderr.matchAll(/^debug1: identity file (.*) type -?\d+$/gm)) {
    const path = m[1]!;
    if (identityFiles.at(-1) !== undefined && path === `${identityFiles.at(-1)}-cert`) continue;
    identityFiles.push(path);
  }
  const proxy = /^debug1: Executing proxy command: (.*)$/m.exec(stderr)?.[1];
  return { identityFiles, proxyCommand: proxy };
}

function materialise(
  c: ResolutionCase,
  index: number,
): { dir: string; config: string; flags: Flags | undefined } {
  const dir = join(temp.path, `case-${index}`);
  mkdirSync(dir, { recursive: true });
  const fill = (text: string) => text.replaceAll("@T@", dir).replaceAll("@H@", home);
  for (const [name, content] of Object.entries(c.files ?? {})) {
    const path = name.startsWith("~/") ? join(home, name.slice(2)) : join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, fill(content), { mode: 0o600 });
  }
  for (const [name, mode] of Object.entries(c.modes ?? {})) chmodSync(join(dir, name), mode);
  const config = join(dir, "config");
  writeFileSync(config, fill(c.config), { mode: 0o600 });
  const flags =
    c.flags === undefined
      ? undefined
      : {
          ...c.flags,
          ...(c.flags.identityFile === undefined ? {} : { identityFile: fill(c.flags.identityFile) }),
          ...(c.flags.knownHosts === undefined ? {} : { knownHosts: fill(c.flags.knownHosts) }),
        };
  return { dir, config, flags };
}

describe("ssh_config resolution agrees with `ssh -G` (OpenSSH as the oracle)", () => {
  it("covers at least 40 configurations", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c, index) => {
    const { config, flags } = materialise(c, index);
    const g = await run(["-G", "-F", config, ...sshFlags(flags), c.host], sshEnv());
    let ours: CompanionTarget | undefined;
    let error: (Error & { code?: string }) | undefined;
    try {
      ours = resolveCompanion(ourOptions(c.host, config, flags));
    } catch (e) {
      error = e as Error & { code?: string };
    }
    if (g.status !== 0) {
      expect(error?.code, `OpenSSH rejects this configuration (${g.stderr.trim()}); so must we`).toBe(
        "CONFIG_INVALID",
      );
      return;
    }
    if (c.refuses !== undefined) {
      expect(error?.code, "a deliberate refusal").toBe("CONFIG_INVALID");
      expect(error?.message).toContain(c.refuses);
      return;
    }
    expect(error, `OpenSSH resolves this configuration; we failed: ${error?.message}`).toBeUndefined();
    compareWithG(ours!, parseG(g.stdout), c.host);

    // Each jump host, as `ssh -J` resolves it: its own ssh_config entry, -l/-p/-J from the spec.
    for (let hop = ours!; hop.proxy?.kind === "jump"; hop = hop.proxy.via) {
      const spec = hop.proxy.spec;
      const comma = spec.lastIndexOf(",");
      const last = parseJumpHost(spec.slice(comma + 1))!;
      const hopFlags: Flags = {
        ...(last.user === undefined ? {} : { user: last.user }),
        ...(last.port === undefined ? {} : { port: last.port }),
        ...(comma === -1 ? {} : { proxyJump: spec.slice(0, comma) }),
      };
      const hopG = await run(["-G", "-F", config, ...sshFlags(hopFlags), last.host], sshEnv());
      expect(hopG.status, hopG.stderr).toBe(0);
      compareWithG(hop.proxy.via, parseG(hopG.stdout), `${c.host} via ${last.host}`);
    }

    if (c.verbose) {
      // ssh runs a ProxyCommand as `exec <command>`: "true" starts nothing that writes. ("exec true"
      // would become `exec exec true`, whose shell error, written in pieces, can split an ssh -v line.)
      const overrideProxy = ours!.proxy?.kind === "command" ? [] : ["-o", "ProxyCommand=true"];
      const v = await run(
        ["-v", "-F", config, "-o", "BatchMode=yes", ...overrideProxy, ...sshFlags(flags), c.host, "true"],
        sshEnv(),
      );
      const seen = parseVerbose(v.stderr);
      expect(ours!.identityFiles, "identity files as ssh -v loads them").toEqual(seen.identityFiles);
      if (ours!.proxy?.kind === "command") expect(ours!.proxy.command).toBe(seen.proxyCommand);
    }
  });
});
