/**
 * OpenSSH is the judge of trust: each case runs the real `ssh` client
 * (BatchMode) and our client against the same harness sshd with the same
 * ssh_config and identical copies of the known_hosts files, and compares
 * what happened: connected or refused, and what was recorded. The expected
 * outcome is never written down; only our deliberate refusals are marked.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, type SshdFixture, startSshd } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCompanionConnection } from "./connection.js";
import { listAgentKeys, planIdentities } from "./ssh-identities.js";
import { resolveCompanion } from "./ssh-target.js";

let temp: ReturnType<typeof makeTempDir>;
let home: string;
const servers: Record<"plain" | "dual" | "rsa" | "certified" | "gateway", SshdFixture> = {} as never;
/** Keys no server has: the "other" keys of changed-key cases. */
const strangers: Record<"ed25519" | "ecdsa", string> = {} as never;
let caPublic: string;
let relay: string;

beforeAll(async () => {
  temp = makeTempDir("operator-tool-trust-oracle-");
  home = join(temp.path, "home");
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  const ca = join(temp.path, "host_ca");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", ca], { stdio: "ignore" });
  caPublic = readFileSync(`${ca}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  for (const type of ["ed25519", "ecdsa"] as const) {
    const file = join(temp.path, `stranger_${type}`);
    execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", file], { stdio: "ignore" });
    strangers[type] = readFileSync(`${file}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  }
  const [plain, dual, rsa, certified, gateway] = await Promise.all([
    startSshd(),
    startSshd({ hostKeyTypes: ["ed25519", "ecdsa"] }),
    startSshd({ hostKeyTypes: ["rsa"] }),
    startSshd({ hostCertificateAuthority: { caKeyPath: ca, principals: ["127.0.0.1"] } }),
    startSshd({ logLevel: "DEBUG1" }),
  ]);
  Object.assign(servers, { plain, dual, rsa, certified, gateway });
  relay = join(temp.path, "relay.mjs");
  writeFileSync(
    relay,
    `import { connect } from "node:net";
const socket = connect(Number(process.argv[3]), process.argv[2]);
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on("error", () => process.exit(1));
socket.on("close", () => process.exit(0));
`,
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s?.stop()));
  temp?.cleanup();
});

/** What a case's known_hosts lines can refer to. */
interface Keys {
  server: SshdFixture;
  /** `[127.0.0.1]:port`, the name OpenSSH looks up off port 22. */
  name: string;
  /** The server's key line: `<keyType> <base64>` for its first (or the given) host key type. */
  key(type?: string): string;
  stranger: typeof strangers;
  caPublic: string;
}

interface TrustCase {
  name: string;
  server: "plain" | "dual" | "rsa" | "certified";
  strict: "yes" | "accept-new" | "no" | "ask";
  knownHosts?: (k: Keys) => string;
  knownHosts2?: (k: Keys) => string;
  globalKnownHosts?: (k: Keys) => string;
  /** Hash the user known_hosts file with ssh-keygen -H first. */
  hashed?: boolean;
  /** More lines in the companion's Host block. */
  extra?: (k: Keys) => string;
  /** Reach the companion through the gateway sshd: its known_hosts lines, and its own StrictHostKeyChecking. */
  jump?: { knownHosts: (gateway: Keys) => string; strict?: "yes" | "accept-new" };
  proxyCommand?: boolean;
  /** We deliberately refuse where OpenSSH connects: what our refusal must say. */
  refuses?: string;
}

const TRUST_CASES: TrustCase[] = [
  {
    name: "the key is known as [host]:port",
    server: "plain",
    strict: "yes",
    knownHosts: (k) => `${k.name} ${k.key()}`,
  },
  { name: "nothing is known, StrictHostKeyChecking yes", server: "plain", strict: "yes" },
  { name: "nothing is known, ask (BatchMode): refused", server: "plain", strict: "ask" },
  {
    name: "nothing is known, accept-new: recorded in the first UserKnownHostsFile",
    server: "plain",
    strict: "accept-new",
  },
  {
    name: "a hashed entry (ssh-keygen -H)",
    server: "plain",
    strict: "yes",
    knownHosts: (k) => `${k.name} ${k.key()}`,
    hashed: true,
  },
  {
    name: "a wildcard pattern in a comma list",
    server: "plain",
    strict: "yes",
    knownHosts: (k) => `other-host,[127.0.0.?]:* ${k.key()}`,
  },
  {
    name: "a negated pattern excludes the host",
    server: "plain",
    strict: "yes",
    knownHosts: (k) => `!${k.name},[127.0.0.*]:* ${k.key()}`,
  },
  {
    name: "names are matched case-insensitively (HostKeyAlias lowered, known_hosts upper)",
    server: "plain",
    strict: "yes",
    extra: () => "HostKeyAlias Jetson-Alias",
    knownHosts: (k) => `JETSON-ALIAS ${k.key()}`,
  },
  {
    name: "off port 22, a key known only under the bare host name",
    server: "plain",
    strict: "yes",
    knownHosts: (k) => `127.0.0.1 ${k.key()}`,
  },
  {
    name: "off port 22, the bare name knows another key: accept-new records the port's",
    server: "plain",
    strict: "accept-new",
    knownHosts: (k) => `127.0.0.1 ${k.stranger.ed25519}`,
  },
  {
    name: "a changed key of the same type: refused even with accept-new",
    server: "plain",
    strict: "accept-new",
    knownHosts: (k) => `${k.name} ${k.stranger.ed25519}`,
  },
  {
    name: "a key of another type than the known one: CHANGED, refused even with accept-new",
    server: "plain",
    strict: "accept-new",
    knownHosts: (k) => `${k.name} ${k.stranger.ecdsa}`,
  },
  {
    name: "@revoked beats a matching known key",
    server: "plain",
    strict: "accept-new",
    knownHosts: (k) => `${k.name} ${k.key()}\n@revoked * ${k.key()}`,
  },
  {
    name: "the key only in the second UserKnownHostsFile",
    server: "plain",
    strict: "yes",
    knownHosts2: (k) => `${k.name} ${k.key()}`,
  },
  {
    name: "the key only in the GlobalKnownHostsFile",
    server: "plain",
    strict: "yes",
    globalKnownHosts: (k) => `${k.name} ${k.key()}`,
  },
  {
    name: "a changed key in the global file, the right one in the user file: changed",
    server: "plain",
    strict: "yes",
    knownHosts: (k) => `${k.name} ${k.key()}`,
    globalKnownHosts: (k) => `${k.name} ${k.stranger.ed25519}`,
  },
  {
    name: "HostKeyAlias: looked up under the alias only",
    server: "plain",
    strict: "yes",
    extra: () => "HostKeyAlias jetson-7",
    knownHosts: (k) => `jetson-7 ${k.key()}`,
  },
  {
    name: "HostKeyAlias: the [host]:port entry no longer counts",
    server: "plain",
    strict: "yes",
    extra: () => "HostKeyAlias jetson-7",
    knownHosts: (k) => `${k.name} ${k.key()}`,
  },
  {
    name: "UserKnownHostsFile none: the global file still verifies",
    server: "plain",
    strict: "yes",
    extra: () => "UserKnownHostsFile none",
    globalKnownHosts: (k) => `${k.name} ${k.key()}`,
  },
  {
    name: "UserKnownHostsFile none with accept-new: nowhere to record, refused",
    server: "plain",
    strict: "accept-new",
    extra: () => "UserKnownHostsFile none",
  },
  {
    name: "comments, blank lines and a malformed line are skipped",
    server: "plain",
    strict: "yes",
    knownHosts: (k) =>
      `# fleet keys\n\n${k.name} ssh-ed25519 not-base64!\n${k.name}\n   ${k.name} ${k.key()} jetson comment`,
  },
  {
    name: "two host keys, only the ECDSA one known: the known algorithm is preferred",
    server: "dual",
    strict: "accept-new",
    knownHosts: (k) => `${k.name} ${k.key("ecdsa-sha2-nistp256")}`,
  },
  {
    name: "two host keys, nothing known, accept-new: the preferred type is recorded",
    server: "dual",
    strict: "accept-new",
  },
  {
    name: "two host keys, both known",
    server: "dual",
    strict: "yes",
    knownHosts: (k) => `${k.name} ${k.key("ecdsa-sha2-nistp256")}\n${k.name} ${k.key("ssh-ed25519")}`,
  },
  {
    name: "an RSA host key known as ssh-rsa (signed with rsa-sha2-*)",
    server: "rsa",
    strict: "yes",
    knownHosts: (k) => `${k.name} ${k.key()}`,
  },
  {
    name: "@cert-authority and a host certificate: OpenSSH verifies the certificate, ssh2 cannot",
    server: "certified",
    strict: "yes",
    knownHosts: (k) => `@cert-authority [127.0.0.1]:* ${k.caPublic}`,
    refuses: "@cert-authority",
  },
  {
    name: "@cert-authority only and a plain server, accept-new: OpenSSH records the plain key, we refuse",
    server: "plain",
    strict: "accept-new",
    knownHosts: (k) => `@cert-authority [127.0.0.1]:* ${k.caPublic}`,
    refuses: "@cert-authority",
  },
  {
    name: "StrictHostKeyChecking no and an unknown key: recorded (accept-new for us)",
    server: "plain",
    strict: "no",
  },
  {
    name: "StrictHostKeyChecking no and a changed key: OpenSSH connects anyway, we refuse",
    server: "plain",
    strict: "no",
    knownHosts: (k) => `${k.name} ${k.stranger.ed25519}`,
    refuses: "CHANGED",
  },
  {
    name: "ProxyCommand: the command's stdio is the transport, the companion's key is checked",
    server: "plain",
    strict: "yes",
    knownHosts: (k) => `${k.name} ${k.key()}`,
    proxyCommand: true,
  },
  {
    name: "ProxyJump: gateway and companion both known",
    server: "plain",
    strict: "yes",
    knownHosts: (k) => `${k.name} ${k.key()}`,
    jump: { knownHosts: (g) => `${g.name} ${g.key()}` },
  },
  {
    name: "ProxyJump: a wrong gateway key refuses before the companion is reached",
    server: "plain",
    strict: "accept-new",
    knownHosts: (k) => `${k.name} ${k.key()}`,
    jump: { knownHosts: (g) => `${g.name} ${g.stranger.ed25519}`, strict: "accept-new" },
  },
  {
    name: "ProxyJump: an unknown gateway is refused under StrictHostKeyChecking yes",
    server: "plain",
    strict: "accept-new",
    knownHosts: (k) => `${k.name} ${k.key()}`,
    jump: { knownHosts: () => "", strict: "yes" },
  },
  {
    name: "ProxyJump: accept-new for both records both",
    server: "plain",
    strict: "accept-new",
    jump: { knownHosts: () => "", strict: "accept-new" },
  },
];

function keysOf(server: SshdFixture): Keys {
  return {
    server,
    name: `[127.0.0.1]:${server.port}`,
    key: (type) => {
      const key = type === undefined ? server.hostKeys[0]! : server.hostKeys.find((k) => k.keyType === type)!;
      return `${key.keyType} ${key.base64}`;
    },
    stranger: strangers,
    caPublic,
  };
}

function writeCase(c: TrustCase, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const server = servers[c.server];
  const k = keysOf(server);
  const write = (file: string, lines: ((k: Keys) => string) | undefined, keys = k) =>
    writeFileSync(join(dir, file), lines === undefined ? "" : `${lines(keys)}\n`);
  write("known_hosts", c.knownHosts);
  write("known_hosts2", c.knownHosts2);
  write("global_known_hosts", c.globalKnownHosts);
  if (c.hashed) execFileSync("ssh-keygen", ["-H", "-f", join(dir, "known_hosts")], { stdio: "ignore" });
  const gateway = servers.gateway;
  if (c.jump !== undefined) write("gateway_known_hosts", c.jump.knownHosts, keysOf(gateway));
  const lines = [
    "Host companion",
    "  HostName 127.0.0.1",
    `  Port ${server.port}`,
    `  IdentityFile ${server.identityFile}`,
    `  StrictHostKeyChecking ${c.strict}`,
    ...(c.extra === undefined ? [] : [`  ${c.extra(k)}`]),
    ...(c.jump === undefined ? [] : ["  ProxyJump gateway"]),
    ...(c.proxyCommand ? [`  ProxyCommand ${process.execPath} ${relay} %h %p`] : []),
    `  UserKnownHostsFile ${join(dir, "known_hosts")} ${join(dir, "known_hosts2")}`,
    "Host gateway",
    "  HostName 127.0.0.1",
    `  Port ${gateway.port}`,
    `  IdentityFile ${gateway.identityFile}`,
    `  StrictHostKeyChecking ${c.jump?.strict ?? "yes"}`,
    `  UserKnownHostsFile ${join(dir, "gateway_known_hosts")}`,
    "Host *",
    `  User ${server.user}`,
    `  GlobalKnownHostsFile ${join(dir, "global_known_hosts")}`,
    "  BatchMode yes",
    "  IdentitiesOnly yes",
    "  IdentityAgent none",
    "  HashKnownHosts yes",
    "  ConnectTimeout 20",
    "  LogLevel ERROR",
  ];
  const config = join(dir, "config");
  writeFileSync(config, `${lines.join("\n")}\n`, { mode: 0o600 });
  return config;
}

function env(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, SHELL: "/bin/sh" };
}

type Outcome =
  | { kind: "connected" }
  | { kind: "refused"; message: string }
  | { kind: "failed"; message: string };

function runOpenSsh(config: string): Promise<{ outcome: Outcome; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "ssh",
      ["-F", config, "-o", "LogLevel=INFO", "companion", "true"],
      { env: env(), timeout: 60_000, encoding: "utf8" },
      (error, _stdout, stderr) => {
        const outcome: Outcome =
          error === null
            ? { kind: "connected" }
            : /Host key verification failed/.test(stderr)
              ? { kind: "refused", message: stderr }
              : { kind: "failed", message: stderr };
        resolve({ outcome, stderr });
      },
    );
  });
}

async function runOurs(config: string): Promise<Outcome> {
  try {
    const connection = await openCompanionConnection({
      host: "companion",
      sshConfigPath: config,
      environment: { homeDir: home, env: env() },
    });
    try {
      const result = await connection.run("true");
      return result.code === 0 ? { kind: "connected" } : { kind: "failed", message: `exit ${result.code}` };
    } finally {
      connection.close();
    }
  } catch (error) {
    const e = error as Error & { code?: string };
    return e.code === "HOST_KEY_REJECTED"
      ? { kind: "refused", message: e.message }
      : { kind: "failed", message: `${e.code}: ${e.message}` };
  }
}

/** What a known_hosts file says about a name, through OpenSSH's own lookup (ssh-keygen -F). */
function lookup(file: string, name: string): string[] {
  if (!existsSync(file)) return [];
  try {
    return execFileSync("ssh-keygen", ["-F", name, "-f", file], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    })
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))
      .map((l) => l.split(" ").slice(1, 3).join(" "))
      .sort();
  } catch {
    return [];
  }
}

function lineCount(file: string): number {
  return existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "").length
    : 0;
}

describe("host keys: trust exactly what OpenSSH trusts (the real ssh client as the oracle)", () => {
  it.each(TRUST_CASES.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c, index) => {
    const theirsDir = join(temp.path, `trust-${index}`, "openssh");
    const oursDir = join(temp.path, `trust-${index}`, "ours");
    const theirs = await runOpenSsh(writeCase(c, theirsDir));
    const ours = await runOurs(writeCase(c, oursDir));

    if (c.refuses !== undefined) {
      expect(theirs.outcome.kind, `OpenSSH connects here (${theirs.stderr})`).toBe("connected");
      expect(ours.kind, "a deliberate refusal").toBe("refused");
      expect((ours as { message: string }).message).toContain(c.refuses);
      return;
    }
    expect(theirs.outcome.kind, `OpenSSH: ${theirs.stderr}`).not.toBe("failed");
    expect(ours.kind, JSON.stringify(ours)).toBe(theirs.outcome.kind);

    // What each side recorded: the same lines, the same keys under each name OpenSSH would look up.
    const server = servers[c.server];
    for (const file of ["known_hosts", "known_hosts2", "gateway_known_hosts"]) {
      const names = [`[127.0.0.1]:${server.port}`, `[127.0.0.1]:${servers.gateway.port}`, "127.0.0.1"];
      expect(lineCount(join(oursDir, file)), `${file} lines`).toBe(lineCount(join(theirsDir, file)));
      for (const name of names) {
        expect(lookup(join(oursDir, file), name), `${file} for ${name}`).toEqual(
          lookup(join(theirsDir, file), name),
        );
      }
    }

    // A changed key: our refusal names the key presented, as OpenSSH's warning does, and where the known one is.
    const presented = /key sent by the remote host is\s+(SHA256:\S+)\./.exec(theirs.stderr)?.[1];
    if (presented !== undefined && ours.kind === "refused") {
      expect(ours.message).toContain(presented);
      const offending = /Offending \S+ key in (\S+):(\d+)/.exec(theirs.stderr);
      if (offending !== undefined && offending !== null) {
        const relative = offending[1]!.slice(theirsDir.length);
        expect(ours.message).toContain(`${oursDir}${relative}:${offending[2]}`);
      }
    }
  });
});

describe('which keys are offered, in which order (ssh -v\'s "Will attempt key" as the oracle)', () => {
  let agentSocket: string;
  let agent: ReturnType<typeof spawn>;
  const keyFile = (name: string) => join(temp.path, "keys", name);

  beforeAll(async () => {
    mkdirSync(join(temp.path, "keys"), { recursive: true });
    for (const name of ["in_agent_and_file", "agent_only", "file_only"]) {
      execFileSync(
        "ssh-keygen",
        ["-q", "-t", "ed25519", "-N", "", "-C", `comment-${name}`, "-f", keyFile(name)],
        {
          stdio: "ignore",
        },
      );
    }
    agentSocket = join(temp.path, "agent.sock");
    agent = spawn("ssh-agent", ["-D", "-a", agentSocket], { stdio: "ignore" });
    const deadline = Date.now() + 10_000;
    while (!existsSync(agentSocket) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const name of ["in_agent_and_file", "agent_only"]) {
      execFileSync("ssh-add", [keyFile(name)], {
        env: { ...process.env, SSH_AUTH_SOCK: agentSocket },
        stdio: "ignore",
      });
    }
  });
  afterAll(() => {
    agent?.kill();
  });

  function identityConfig(dir: string, identitiesOnly: boolean): string {
    mkdirSync(dir, { recursive: true });
    const server = servers.plain;
    writeFileSync(
      join(dir, "known_hosts"),
      `[127.0.0.1]:${server.port} ${server.hostKeys[0]!.keyType} ${server.hostKeyBase64}\n`,
    );
    const config = join(dir, "config");
    writeFileSync(
      config,
      [
        "Host companion",
        "  HostName 127.0.0.1",
        `  Port ${server.port}`,
        `  User ${server.user}`,
        `  IdentityFile ${keyFile("missing")}`,
        `  IdentityFile ${keyFile("in_agent_and_file")}`,
        `  IdentityFile ${keyFile("file_only")}`,
        `  IdentitiesOnly ${identitiesOnly ? "yes" : "no"}`,
        `  IdentityAgent ${agentSocket}`,
        `  UserKnownHostsFile ${join(dir, "known_hosts")}`,
        "  GlobalKnownHostsFile none",
        "  BatchMode yes",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    return config;
  }

  function willAttempt(stderr: string): Array<{ name: string; agent: boolean }> {
    return [...stderr.matchAll(/^debug1: Will attempt key: (\S+)(.*)$/gm)].map((m) => ({
      name: m[1]!,
      agent: / agent$/.test(m[2]!.trimEnd()),
    }));
  }

  it.each([
    [
      "agent keys first (those IdentityFile names before the others), then the files, a missing one included",
      false,
    ],
    ["IdentitiesOnly yes: only agent keys that IdentityFile names, then the files", true],
  ] as const)("%s", async (_name, identitiesOnly) => {
    const config = identityConfig(join(temp.path, `identities-${identitiesOnly}`), identitiesOnly);
    const theirs = await new Promise<string>((resolve) =>
      execFile(
        "ssh",
        ["-v", "-F", config, "companion", "true"],
        { env: env(), timeout: 60_000, encoding: "utf8" },
        (_e, _o, stderr) => resolve(stderr),
      ),
    );
    const expected = willAttempt(theirs);
    expect(expected.length, theirs).toBeGreaterThan(0);

    const target = resolveCompanion({
      host: "companion",
      sshConfigPath: config,
      environment: { homeDir: home, env: env() },
    });
    const { OpenSSHAgent } = await import("ssh2");
    const { keys } = await listAgentKeys(new OpenSSHAgent(target.identityAgent!));
    const plan = planIdentities({
      identityFiles: target.identityFiles,
      identitiesOnly: target.identitiesOnly,
      agentKeys: keys,
    });
    expect(
      plan.map((a) => (a.kind === "agent" ? { name: a.label, agent: true } : { name: a.path, agent: false })),
    ).toEqual(expected);
  });

  it("an agent-only key authenticates when no file does", async () => {
    const server = servers.plain;
    const authorized = readFileSync(`${keyFile("agent_only")}.pub`, "utf8").trim();
    const withAgentKey = await startSshd({ authorizedKeys: [authorized] });
    try {
      const dir = join(temp.path, "agent-auth");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "known_hosts"), `${withAgentKey.knownHostsLine}\n`);
      const config = join(dir, "config");
      writeFileSync(
        config,
        `Host companion\n  HostName 127.0.0.1\n  Port ${withAgentKey.port}\n  User ${server.user}\n  IdentityFile ${keyFile("file_only")}\n  IdentityAgent ${agentSocket}\n  UserKnownHostsFile ${join(dir, "known_hosts")}\n`,
      );
      const connection = await openCompanionConnection({
        host: "companion",
        sshConfigPath: config,
        environment: { homeDir: home, env: env() },
      });
      try {
        expect((await connection.run("echo through-the-agent")).stdout).toBe("through-the-agent\n");
      } finally {
        connection.close();
      }
    } finally {
      await withAgentKey.stop();
    }
  });
});
