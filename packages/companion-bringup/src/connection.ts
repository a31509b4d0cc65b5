import { readFileSync } from "node:fs";
import type { Duplex, Readable, Writable } from "node:stream";
import type { AnyAuthMethod, Client, ConnectConfig, ParsedKey } from "ssh2";
import { CompanionAuthError, CompanionUnreachableError, HostKeyRejectedError } from "./errors.js";
import {
  checkHostKey,
  type HostKeyVerdict,
  preferKnownHostKeyAlgorithms,
  recordHostKey,
} from "./known-hosts.js";
import { openDirectSocket, openProxyCommand, type Transport } from "./proxy-transport.js";
import { OPENSSH_DEFAULTS, SSH2_SUPPORTED } from "./ssh-algorithms.js";
import { type IdentityAttempt, isEncryptedKey, listAgentKeys, planIdentities } from "./ssh-identities.js";
import {
  type CompanionTarget,
  DEFAULT_CONNECT_TIMEOUT_S,
  type ResolveCompanionOptions,
  resolveCompanion,
} from "./ssh-target.js";

export interface ConnectionLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface ConnectOptions {
  target: CompanionTarget;
  /** Only this known_hosts file (no global ones): for callers that manage their own. Default: the target's. */
  knownHostsPath?: string | undefined;
  /** Record an unknown host's key (first contact). Default: the target's StrictHostKeyChecking. A changed key is refused regardless. */
  acceptNewHostKey?: boolean | undefined;
  passphrase?: string | undefined;
  /** ssh-agent socket ("" for none). Default: the target's IdentityAgent (SSH_AUTH_SOCK). */
  agentSocket?: string | undefined;
  connectTimeoutMs?: number | undefined;
  /** A dead link is noticed after interval × count without an answer. Default: the target's ServerAlive*. */
  keepaliveIntervalMs?: number | undefined;
  keepaliveCountMax?: number | undefined;
  logger?: ConnectionLogger | undefined;
}

export interface OpenCompanionOptions extends ResolveCompanionOptions {
  passphrase?: string | undefined;
  logger?: ConnectionLogger | undefined;
}

/** A process running on the companion. stdin stays open until closed: the lifeline. */
export interface RemoteProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Exit status; `code` null with a `signal` when killed, both null when the connection dropped. */
  exit: Promise<{ code: number | null; signal: string | null }>;
  signal(name: string): void;
  close(): void;
}

export interface CompanionConnection {
  target: CompanionTarget;
  hostKeyFingerprint: string;
  exec(command: string): Promise<RemoteProcess>;
  /** Runs a command to completion, collecting its output (small outputs only). */
  run(
    command: string,
    input?: string | Buffer,
  ): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
  /** Resolves when the connection ends, with the error that ended it, if any. */
  closed: Promise<Error | undefined>;
  close(): void;
}

/**
 * Resolves the host through ssh_config as OpenSSH would, opens the route to
 * it (directly, through each ProxyJump host, or a ProxyCommand), verifies
 * every host key on the way against known_hosts before any credential is
 * sent, and authenticates each hop with its own keys.
 */
export async function openCompanionConnection(options: OpenCompanionOptions): Promise<CompanionConnection> {
  const target = resolveCompanion(options);
  for (const note of collectNotes(target)) options.logger?.debug({ host: target.alias }, note);
  for (const warning of target.warnings) options.logger?.warn({ host: target.alias }, warning);
  return connectToCompanion({ target, passphrase: options.passphrase, logger: options.logger });
}

function collectNotes(target: CompanionTarget): string[] {
  return [...target.notes, ...(target.proxy?.kind === "jump" ? collectNotes(target.proxy.via) : [])];
}

/** Opens an SSH connection to an already-resolved target (and the hops before it). */
export async function connectToCompanion(options: ConnectOptions): Promise<CompanionConnection> {
  const hop = await connectHop(options.target, { ...options, role: "companion" }, 0);
  return wrapConnection(hop);
}

interface HopContext extends Omit<ConnectOptions, "target"> {
  role: "companion" | "jump";
  /** The host this hop leads to, for messages about a jump host. */
  leadsTo?: string;
}

interface Hop {
  target: CompanionTarget;
  client: Client;
  fingerprint: string;
  where: string;
  close(): void;
}

async function connectHop(target: CompanionTarget, context: HopContext, depth: number): Promise<Hop> {
  const { Client, OpenSSHAgent, BaseAgent } = await import("ssh2");
  const logger = context.logger;
  const where = describe(target, context);
  const transport = await openTransport(target, context, depth, where);
  const client = new Client();
  // ssh2 re-emits every socket error; a jump host's client has no other listener once it is up,
  // and an unheard error would crash the process. What ends a connection is reported through
  // the handshake's rejection, or `closed`.
  client.on("error", (error: Error) =>
    logger?.debug({ host: where, error: error.message }, "ssh connection error"),
  );

  const userFiles =
    context.knownHostsPath === undefined ? target.userKnownHostsFiles : [context.knownHostsPath];
  const globalFiles = context.knownHostsPath === undefined ? target.globalKnownHostsFiles : [];
  const acceptNew =
    context.acceptNewHostKey === undefined
      ? target.strictHostKeyChecking === "accept-new"
      : context.acceptNewHostKey;
  const files = [...userFiles, ...globalFiles];

  const agentSocket =
    context.agentSocket === undefined ? target.identityAgent : context.agentSocket || undefined;
  const agent = agentSocket === undefined ? undefined : new OpenSSHAgent(agentSocket);
  const agentList = agent === undefined ? { keys: [] as ParsedKey[] } : await listAgentKeys(agent);
  if (agentList.error !== undefined) {
    logger?.debug(
      { host: where, agent: agentSocket, error: agentList.error.message },
      "ssh-agent not usable",
    );
  }
  const attempts = planIdentities({
    identityFiles: target.identityFiles,
    identitiesOnly: target.identitiesOnly,
    agentKeys: agentList.keys,
  });
  const offered: string[] = [];
  const skipped: string[] = [];
  let encryptedSkipped = false;

  /** Wraps one agent key so ssh2 offers exactly it: OpenSSH's order, not the agent's all at once. */
  class OneAgentKey extends BaseAgent<ParsedKey> {
    constructor(private readonly key: ParsedKey) {
      super();
    }
    getIdentities(cb: (error: Error | undefined, keys?: ParsedKey[]) => void): void {
      cb(undefined, [this.key]);
    }
    sign(pubKey: ParsedKey, data: Buffer, options: unknown, cb?: unknown): void {
      const callback = (typeof options === "function" ? options : cb) as (e?: Error, s?: Buffer) => void;
      const signOptions = typeof options === "function" ? {} : options;
      (agent as unknown as { sign: (...args: unknown[]) => void }).sign(pubKey, data, signOptions, callback);
    }
  }

  const nextAttempt = (): AnyAuthMethod | false => {
    for (let attempt = attempts.shift(); attempt !== undefined; attempt = attempts.shift()) {
      const method = materialise(attempt);
      if (method !== undefined) return method;
    }
    return false;
  };
  const materialise = (attempt: IdentityAttempt): AnyAuthMethod | undefined => {
    if (attempt.kind === "agent") {
      offered.push(`${attempt.label} (agent)`);
      return { type: "agent", username: target.user, agent: new OneAgentKey(attempt.key) };
    }
    let text: string;
    try {
      text = readFileSync(attempt.path, "latin1");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") skipped.push(`${attempt.path} (${code ?? "unreadable"})`);
      return undefined;
    }
    const encrypted = isEncryptedKey(text);
    if (encrypted && context.passphrase === undefined) {
      encryptedSkipped = true;
      skipped.push(`${attempt.path} (needs a passphrase)`);
      return undefined;
    }
    offered.push(attempt.path);
    return {
      type: "publickey",
      username: target.user,
      key: Buffer.from(text, "latin1"),
      ...(encrypted ? { passphrase: context.passphrase } : {}),
    };
  };

  let verdict: HostKeyVerdict | undefined;
  let recordFailure: Error | undefined;
  const baseHostKeyAlgorithms =
    target.algorithms.serverHostKey ??
    OPENSSH_DEFAULTS.serverHostKey.filter((a) =>
      (SSH2_SUPPORTED.serverHostKey as readonly string[]).includes(a),
    );
  const serverHostKey = target.hostKeyAlgorithmsVerbatim
    ? baseHostKeyAlgorithms
    : preferKnownHostKeyAlgorithms(target.knownHostsName, files, baseHostKeyAlgorithms);
  const connectTimeoutMs =
    context.connectTimeoutMs ?? (target.connectTimeoutS ?? DEFAULT_CONNECT_TIMEOUT_S) * 1000;
  const bareName = target.hostKeyAlias === undefined && target.port !== 22 ? target.hostname : undefined;
  const readOnly = userFiles.length === 0;

  const config: ConnectConfig = {
    sock: transport.socket,
    username: target.user,
    authHandler: (_methodsLeft, _partial, next) => next(nextAttempt() as AnyAuthMethod),
    algorithms: {
      serverHostKey: serverHostKey as NonNullable<ConnectConfig["algorithms"]>["serverHostKey"],
      // AES-GCM first: native either way (ssh2's optional addon when it was built at
      // install, else Node's crypto), while chacha20 without the addon runs in JS.
      cipher: (target.algorithms.cipher ?? [
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-ctr",
        "aes256-ctr",
        "chacha20-poly1305@openssh.com",
      ]) as NonNullable<ConnectConfig["algorithms"]>["cipher"],
      ...(target.algorithms.kex === undefined
        ? {}
        : { kex: target.algorithms.kex as NonNullable<ConnectConfig["algorithms"]>["kex"] }),
      ...(target.algorithms.hmac === undefined
        ? {}
        : { hmac: target.algorithms.hmac as NonNullable<ConnectConfig["algorithms"]>["hmac"] }),
    },
    readyTimeout: connectTimeoutMs,
    keepaliveInterval: context.keepaliveIntervalMs ?? target.serverAliveIntervalS * 1000,
    keepaliveCountMax: context.keepaliveCountMax ?? target.serverAliveCountMax,
    hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
      verdict = checkHostKey({ name: target.knownHostsName, bareName, files, key });
      if (verdict.status === "known") {
        verify(true);
        return;
      }
      if (verdict.status !== "unknown" || verdict.certAuthorities.length > 0 || !acceptNew || readOnly) {
        verify(false);
        return;
      }
      // OpenSSH records a first-contact key when it accepts it, before authenticating.
      const accepted = verdict;
      recordHostKey(userFiles[0]!, target.knownHostsName, key).then(
        () => {
          logger?.warn(
            { host: target.knownHostsName, fingerprint: accepted.fingerprint, knownHosts: userFiles[0] },
            `recorded the new host key ${accepted.fingerprint} of ${where} in ${userFiles[0]} (accept-new)`,
          );
          verify(true);
        },
        (error: Error) => {
          recordFailure = error;
          verify(false);
        },
      );
    },
  };

  logger?.debug(
    { host: where, via: transport.description, hostKeyAlgorithms: serverHostKey, knownHosts: files },
    `connecting to ${where}`,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (error: Error & { level?: string; code?: string }) => {
        if (settled) return;
        settled = true;
        client.removeAllListeners("ready");
        client.on("error", () => undefined); // later errors of a connection we gave up on
        client.end();
        // A proxy command's exit may trail the socket's close: wait (briefly) to report it.
        const waited = Promise.race([transport.settled(), new Promise((r) => setTimeout(r, 2_000).unref())]);
        void waited.then(() =>
          reject(
            classifyConnectError(error, {
              where,
              target,
              verdict,
              acceptNew,
              readOnly,
              files,
              userFiles,
              context,
              connectTimeoutMs,
              offered,
              skipped,
              encryptedSkipped,
              recordFailure,
              transportFailure: transport.failure(),
            }),
          ),
        );
      };
      client.once("ready", () => {
        settled = true;
        resolve();
      });
      client.once("error", fail);
      client.once("close", () =>
        fail(
          Object.assign(new Error("the connection closed during the SSH handshake"), {
            level: "client-socket",
          }),
        ),
      );
      client.connect(config);
    });
  } catch (error) {
    transport.close();
    throw error;
  }

  return {
    target,
    client,
    fingerprint: verdict?.fingerprint ?? "",
    where,
    close: () => {
      client.end();
      transport.close();
    },
  };
}

async function openTransport(
  target: CompanionTarget,
  context: HopContext,
  depth: number,
  where: string,
): Promise<Transport> {
  const connectTimeoutMs =
    context.connectTimeoutMs ?? (target.connectTimeoutS ?? DEFAULT_CONNECT_TIMEOUT_S) * 1000;
  if (target.proxy?.kind === "command") {
    return openProxyCommand(target.proxy.command, { where, env: process.env, logger: context.logger });
  }
  if (target.proxy?.kind === "jump") {
    const via = target.proxy.via;
    const gateway = await connectHop(
      via,
      {
        role: "jump",
        leadsTo: target.alias,
        passphrase: context.passphrase,
        logger: context.logger,
      },
      depth + 1,
    );
    let channel: Duplex;
    try {
      channel = await new Promise<Duplex>((resolve, reject) => {
        gateway.client.forwardOut("127.0.0.1", 0, target.hostname, target.port, (error, stream) => {
          if (error) {
            reject(
              new CompanionUnreachableError(
                `the jump host ${gateway.where} could not open a connection to ${target.hostname}:${target.port}: ${error.message}`,
                {
                  hint: `check ${target.hostname}:${target.port} is reachable from ${via.alias}, and that its sshd allows TCP forwarding`,
                },
              ),
            );
          } else resolve(stream);
        });
      });
    } catch (error) {
      gateway.close();
      throw error;
    }
    return {
      socket: channel,
      description: `jump host ${gateway.where}`,
      failure: () => undefined,
      settled: () => Promise.resolve(),
      close: () => {
        channel.destroy();
        gateway.close();
      },
    };
  }
  return openDirectSocket({
    host: target.hostname,
    port: target.port,
    family: target.addressFamily,
    attempts: target.connectionAttempts,
    timeoutMs: connectTimeoutMs,
    where,
    hint:
      context.role === "jump"
        ? `check ${target.alias} is up and reachable at ${target.hostname}:${target.port} (its HostName/Port in ssh_config)`
        : "check the companion is up, and --companion-host/--companion-port (or HostName/Port in ssh_config)",
  });
}

function describe(target: CompanionTarget, context: HopContext): string {
  const address = `${target.user}@${target.hostname}:${target.port}`;
  if (context.role === "jump")
    return `jump host ${target.alias} (${address}) on the way to ${context.leadsTo ?? "the companion"}`;
  return address;
}

function wrapConnection(hop: Hop): CompanionConnection {
  const { client, target, where } = hop;
  const closed = new Promise<Error | undefined>((resolve) => {
    // The first error is what ended it (a keepalive timeout); later ones are the teardown.
    let firstError: Error | undefined;
    client.on("error", (error: Error) => {
      firstError ??= error;
    });
    client.once("close", () => {
      hop.close();
      resolve(firstError);
    });
  });

  const exec = (command: string) =>
    new Promise<RemoteProcess>((resolve, reject) => {
      const unreachable = (error: Error, hint?: string) =>
        new CompanionUnreachableError(`could not start a command on ${where}: ${error.message}`, {
          ...(hint === undefined ? {} : { hint }),
          cause: error,
        });
      // ssh2 throws, rather than calls back, once the connection is gone.
      try {
        client.exec(command, (error, channel) => {
          if (error) {
            reject(unreachable(error));
            return;
          }
          const exit = new Promise<{ code: number | null; signal: string | null }>((resolveExit) => {
            let status: { code: number | null; signal: string | null } = { code: null, signal: null };
            channel.once("exit", (code: number | null, signal?: string) => {
              status = { code: typeof code === "number" ? code : null, signal: signal ?? null };
            });
            channel.once("close", () => resolveExit(status));
          });
          resolve({
            stdin: channel,
            stdout: channel,
            stderr: channel.stderr,
            exit,
            signal: (name) => {
              try {
                channel.signal(name);
              } catch {
                // the channel is already gone
              }
            },
            close: () => channel.close(),
          });
        });
      } catch (error) {
        reject(
          unreachable(error as Error, "the connection to the companion dropped: check the link, then re-run"),
        );
      }
    });

  return {
    target,
    hostKeyFingerprint: hop.fingerprint,
    exec,
    async run(command, input) {
      const process = await exec(command);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      process.stdout.on("data", (d: Buffer) => out.push(d));
      process.stderr.on("data", (d: Buffer) => err.push(d));
      process.stdin.end(input ?? "");
      const status = await process.exit;
      return {
        ...status,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      };
    },
    closed,
    close: () => hop.close(),
  };
}

interface FailureContext {
  where: string;
  target: CompanionTarget;
  verdict: HostKeyVerdict | undefined;
  acceptNew: boolean;
  readOnly: boolean;
  files: string[];
  userFiles: string[];
  context: HopContext;
  connectTimeoutMs: number;
  offered: string[];
  skipped: string[];
  encryptedSkipped: boolean;
  recordFailure: Error | undefined;
  transportFailure: Error | undefined;
}

function classifyConnectError(error: Error & { level?: string; code?: string }, f: FailureContext): Error {
  const { verdict, where } = f;
  const jump = f.context.role === "jump";
  if (
    verdict !== undefined &&
    verdict.status !== "known" &&
    !(
      verdict.status === "unknown" &&
      f.acceptNew &&
      !f.readOnly &&
      verdict.certAuthorities.length === 0 &&
      f.recordFailure === undefined
    )
  ) {
    return hostKeyRefusal(verdict, f, jump);
  }
  if (f.recordFailure !== undefined) {
    return new HostKeyRejectedError(
      `could not record the new host key of ${where} in ${f.userFiles[0]}: ${f.recordFailure.message}`,
      verdict?.fingerprint ?? "",
      [],
      { hint: `make ${f.userFiles[0]} writable`, cause: f.recordFailure },
    );
  }
  if (f.transportFailure !== undefined) return f.transportFailure;
  if (error.level === "client-socket" && verdict === undefined) {
    return new CompanionUnreachableError(
      `the connection to ${where} closed before the SSH handshake finished`,
      {
        hint: jump
          ? `check ${f.target.alias}'s sshd is running and allows TCP forwarding`
          : "check the companion's sshd is running, and --companion-host/--companion-port",
      },
    );
  }
  if (error.level === "client-authentication") {
    const tried = f.offered.length === 0 ? "no key could be offered" : `offered ${f.offered.join(", ")}`;
    const skipped = f.skipped.length === 0 ? "" : `; skipped ${f.skipped.join(", ")}`;
    const message =
      f.offered.length === 0
        ? `no usable SSH key for ${where}: ${tried}${skipped} (IdentityFile: ${f.target.identityFiles.join(", ") || "none"}; ssh-agent: ${f.target.identityAgent === undefined ? "none" : "no keys accepted"})`
        : `${where} rejected every key offered (authentication failed): ${tried}${skipped}`;
    return new CompanionAuthError(message, {
      hint: f.encryptedSkipped
        ? "set OPERATOR_TOOL_SSH_PASSPHRASE to the key's passphrase, or load the key into ssh-agent"
        : jump
          ? `check User and IdentityFile for ${f.target.alias} in ssh_config, and that the key is in its authorized_keys`
          : "check --companion-user and --identity-file (or User/IdentityFile in ssh_config), and that the key is in the companion's authorized_keys",
    });
  }
  if (error.level === "client-timeout") {
    return new CompanionUnreachableError(
      `${where} did not answer within ${Math.round(f.connectTimeoutMs / 1000)} s`,
      {
        hint: jump
          ? `check ${f.target.alias} is up and reachable (ssh_config HostName/Port for it)`
          : "check the companion is powered and on the network, and --companion-host/--companion-port",
      },
    );
  }
  if (error.level === "client-authentication" || /passphrase|encrypted/i.test(error.message)) {
    return new CompanionAuthError(`cannot use the SSH key for ${where}: ${error.message}`, {
      hint: "set OPERATOR_TOOL_SSH_PASSPHRASE to the key's passphrase",
    });
  }
  return new CompanionUnreachableError(`cannot reach ${where}: ${error.message}`, {
    hint: "check the companion is up, and --companion-host/--companion-port",
  });
}

function hostKeyRefusal(verdict: HostKeyVerdict, f: FailureContext, jump: boolean): HostKeyRejectedError {
  const { where, target } = f;
  const name = target.knownHostsName;
  const files = f.files.join(", ") || "no known_hosts file (UserKnownHostsFile none)";
  const presented = `${verdict.fingerprint} (${verdict.keyType})`;
  if (verdict.status === "changed") {
    const expected = verdict.known
      .map((k) => `${k.fingerprint} (${k.keyType}, ${k.file}:${k.line})`)
      .join(" or ");
    return new HostKeyRejectedError(
      `the host key of ${where} has CHANGED: it presented ${presented}, known_hosts expects ${expected} for ${name}; refusing to connect`,
      verdict.fingerprint,
      verdict.knownFingerprints,
      {
        hint: `if ${jump ? target.alias : "the companion"} was re-imaged, verify the new fingerprint on its console, then remove the old line (ssh-keygen -R '${name}' -f ${verdict.known[0]!.file}) and connect again`,
      },
    );
  }
  if (verdict.status === "revoked") {
    return new HostKeyRejectedError(
      `the host key of ${where} (${presented}) is marked @revoked in ${verdict.revokedBy.file}:${verdict.revokedBy.line}; refusing to connect`,
      verdict.fingerprint,
      [],
      { hint: "this key must not be trusted; investigate the companion" },
    );
  }
  if (verdict.status === "unknown" && verdict.certAuthorities.length > 0) {
    const ca = verdict.certAuthorities.map((k) => `${k.file}:${k.line}`).join(", ");
    return new HostKeyRejectedError(
      `${where} is known only through @cert-authority (${ca}), and operator-tool's SSH client (ssh2) cannot verify host certificates; it presented the plain key ${presented}; refusing to connect`,
      verdict.fingerprint,
      [],
      {
        hint: `verify ${verdict.fingerprint} on the host, then add a plain known_hosts line for ${name} (ssh-keyscan -p ${target.port} ${target.hostname})`,
      },
    );
  }
  // The message keeps the shape scripts match on; the key type and the fix go in the hint.
  const keyFile = `/etc/ssh/ssh_host_${hostKeyFileType(verdict.keyType)}_key.pub`;
  const record = f.readOnly
    ? "then add it to a known_hosts file (UserKnownHostsFile is none, so nothing is recorded)"
    : jump
      ? `then record it (ssh ${target.alias} once, or StrictHostKeyChecking accept-new for ${target.alias} in ssh_config); --accept-new-host-key applies to the companion only, as ssh -o does not reach ProxyJump hosts`
      : "then re-run with --accept-new-host-key";
  return new HostKeyRejectedError(
    `the host key of ${where} (${verdict.fingerprint}) is not in ${files}; refusing to connect`,
    verdict.fingerprint,
    [],
    {
      hint: `verify the fingerprint on ${jump ? target.alias : "the companion"} (ssh-keygen -lf ${keyFile}, a ${verdict.keyType} key), ${record}`,
    },
  );
}

/** The name OpenSSH's host key files use for a key type: ssh_host_<this>_key. */
function hostKeyFileType(keyType: string): string {
  if (keyType.startsWith("ecdsa-")) return "ecdsa";
  if (keyType === "ssh-rsa") return "rsa";
  if (keyType === "ssh-dss") return "dsa";
  return keyType.replace(/^ssh-/, "");
}
