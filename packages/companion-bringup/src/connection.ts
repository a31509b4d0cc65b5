import { readFileSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { CompanionAuthError, CompanionUnreachableError, HostKeyRejectedError } from "./errors.js";
import { type HostKeyVerdict, recordHostKey, verifyHostKey } from "./known-hosts.js";
import type { CompanionTarget } from "./ssh-target.js";

export interface ConnectOptions {
  target: CompanionTarget;
  knownHostsPath: string;
  /** Record an unknown host's key (first contact). A changed key is refused regardless. */
  acceptNewHostKey?: boolean;
  passphrase?: string | undefined;
  /** ssh-agent socket; SSH_AUTH_SOCK by default. */
  agentSocket?: string | undefined;
  connectTimeoutMs?: number;
  /** A dead link is noticed after interval × count without an answer. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  logger?: { debug(fields: object, message: string): void; warn(fields: object, message: string): void };
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
 * Opens an SSH connection with the host key verified against known_hosts
 * before any credential is sent, a connect timeout, and keepalives on.
 */
export async function connectToCompanion(options: ConnectOptions): Promise<CompanionConnection> {
  const { Client } = await import("ssh2");
  const { target } = options;
  const client = new Client();
  let verdict: HostKeyVerdict | undefined;
  let presentedKey: Buffer | undefined;
  const privateKey = readPrivateKey(target);
  const agent = options.agentSocket ?? process.env.SSH_AUTH_SOCK;
  if (privateKey === undefined && !agent) {
    throw new CompanionAuthError(
      `no SSH key for ${target.user}@${target.alias}: no --identity-file, no IdentityFile in ~/.ssh/config, no ssh-agent`,
      {
        hint: "pass --identity-file, or start ssh-agent with the key loaded",
      },
    );
  }
  const where = `${target.user}@${target.hostname}:${target.port}`;

  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error) => {
      client.removeAllListeners("ready");
      client.on("error", () => undefined); // later errors of a connection we gave up on
      client.end();
      reject(error);
    };
    client.once("ready", () => resolve());
    client.once("error", (error: Error & { level?: string; code?: string }) =>
      fail(classifyConnectError(error, where, verdict, options)),
    );
    try {
      client.connect({
        host: target.hostname,
        port: target.port,
        username: target.user,
        ...(privateKey === undefined ? {} : { privateKey }),
        ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
        ...(agent ? { agent } : {}),
        // AES-GCM first: native either way (ssh2's optional addon when it was built at
        // install, else Node's crypto), while chacha20 without the addon runs in JS.
        algorithms: {
          cipher: [
            "aes128-gcm@openssh.com",
            "aes256-gcm@openssh.com",
            "aes128-ctr",
            "aes256-ctr",
            "chacha20-poly1305@openssh.com",
          ],
        },
        readyTimeout: options.connectTimeoutMs ?? 15_000,
        keepaliveInterval: options.keepaliveIntervalMs ?? 5_000,
        keepaliveCountMax: options.keepaliveCountMax ?? 3,
        hostVerifier: (key: Buffer) => {
          presentedKey = key;
          verdict = verifyHostKey(options.knownHostsPath, target.hostname, target.port, key);
          return (
            verdict.status === "known" || (verdict.status === "unknown" && options.acceptNewHostKey === true)
          );
        },
      });
    } catch (error) {
      const message = (error as Error).message;
      fail(
        /passphrase|encrypted/i.test(message)
          ? new CompanionAuthError(`cannot use the SSH key for ${where}: ${message}`, {
              hint: "set OPERATOR_TOOL_SSH_PASSPHRASE to the key's passphrase",
            })
          : new CompanionAuthError(`cannot use the SSH key for ${where}: ${message}`, {
              hint: "check --identity-file",
            }),
      );
    }
  });

  if (verdict?.status === "unknown" && presentedKey !== undefined) {
    await recordHostKey(options.knownHostsPath, target.hostname, target.port, presentedKey);
    options.logger?.warn(
      {
        host: target.hostname,
        port: target.port,
        fingerprint: verdict.fingerprint,
        knownHosts: options.knownHostsPath,
      },
      `recorded the companion's new host key ${verdict.fingerprint} (--accept-new-host-key)`,
    );
  }

  const closed = new Promise<Error | undefined>((resolve) => {
    let lastError: Error | undefined;
    client.on("error", (error: Error) => {
      lastError = error;
    });
    client.once("close", () => resolve(lastError));
  });

  const exec = (command: string) =>
    new Promise<RemoteProcess>((resolve, reject) => {
      client.exec(command, (error, channel) => {
        if (error) {
          reject(new CompanionUnreachableError(`could not start a command on ${where}: ${error.message}`));
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
    });

  return {
    target,
    hostKeyFingerprint: verdict?.fingerprint ?? "",
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
    close: () => client.end(),
  };
}

function readPrivateKey(target: CompanionTarget): Buffer | undefined {
  for (const path of target.identityFiles) {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new CompanionAuthError(
        `the SSH key ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
        {
          hint: "check --identity-file (or IdentityFile in ~/.ssh/config)",
        },
      );
    }
  }
  return undefined;
}

function classifyConnectError(
  error: Error & { level?: string; code?: string },
  where: string,
  verdict: HostKeyVerdict | undefined,
  options: ConnectOptions,
): Error {
  if (
    verdict !== undefined &&
    verdict.status !== "known" &&
    !(verdict.status === "unknown" && options.acceptNewHostKey)
  ) {
    const knownHosts = options.knownHostsPath;
    if (verdict.status === "changed") {
      return new HostKeyRejectedError(
        `the host key of ${where} has CHANGED: it presented ${verdict.fingerprint}, ${knownHosts} expects ${verdict.knownFingerprints.join(" or ")}; refusing to connect`,
        verdict.fingerprint,
        verdict.knownFingerprints,
        {
          hint: "if the companion was re-imaged, verify the new fingerprint on its console, then remove the old line (ssh-keygen -R) and connect again",
        },
      );
    }
    if (verdict.status === "revoked") {
      return new HostKeyRejectedError(
        `the host key of ${where} (${verdict.fingerprint}) is marked @revoked in ${knownHosts}`,
        verdict.fingerprint,
        [],
        {
          hint: "this key must not be trusted; investigate the companion",
        },
      );
    }
    return new HostKeyRejectedError(
      `the host key of ${where} (${verdict.fingerprint}) is not in ${knownHosts}; refusing to connect`,
      verdict.fingerprint,
      [],
      {
        hint: "verify the fingerprint on the companion (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then re-run with --accept-new-host-key",
      },
    );
  }
  if (error.level === "client-authentication") {
    return new CompanionAuthError(`${where} rejected every key offered (authentication failed)`, {
      hint: "check --companion-user and --identity-file, and that the key is in the companion's authorized_keys",
    });
  }
  if (error.level === "client-timeout") {
    return new CompanionUnreachableError(
      `${where} did not answer within ${Math.round((options.connectTimeoutMs ?? 15_000) / 1000)} s`,
      {
        hint: "check the companion is powered and on the network, and --companion-host/--companion-port",
      },
    );
  }
  const reason =
    error.code === "ECONNREFUSED" ? "connection refused (no SSH server on that port?)" : error.message;
  return new CompanionUnreachableError(`cannot reach ${where}: ${reason}`, {
    hint: "check the companion is up, and --companion-host/--companion-port",
  });
}
