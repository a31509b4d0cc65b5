import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface SimulatedCompanion {
  host: "127.0.0.1";
  port: number;
  user: string;
  identityFile: string;
  knownHostsFile: string;
  /** The companion user's home: what `companion install` puts there lands here. */
  home: string;
  /** Commands currently running for SSH sessions. */
  running(): number;
  close(): Promise<void>;
}

/**
 * A companion reachable over SSH without any system service: an in-process
 * ssh2 server with a generated host key that accepts one generated client key
 * and runs each `exec` request as a local shell command — the companion-side
 * operator-tool included. For the demo and tests on machines without sshd.
 */
export async function startSimulatedCompanion(dir: string, user = "demo"): Promise<SimulatedCompanion> {
  // A fresh companion: its own home, and a PATH with a Node (as JetPack 6 images
  // can have) but no operator-tool, whatever this workstation has installed.
  const home = join(dir, "companion-home");
  const bin = join(dir, "companion-bin");
  mkdirSync(home, { recursive: true });
  mkdirSync(bin, { recursive: true });
  symlinkSync(process.execPath, join(bin, "node"));
  const env = {
    HOME: home,
    USER: user,
    LANG: "C.UTF-8",
    PATH: `${bin}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin`,
  };
  // ssh2 is CommonJS: not every export is visible as a named ESM export (utils is not).
  const loaded = (await import("ssh2")) as typeof import("ssh2") & { default?: typeof import("ssh2") };
  const { Server, utils } = loaded.default ?? loaded;
  const hostKey = generateParsableEd25519(utils);
  const clientKey = generateParsableEd25519(utils);
  const allowed = utils.parseKey(clientKey.public);
  if (allowed instanceof Error) throw allowed;
  const identityFile = join(dir, "demo_id_ed25519");
  writeFileSync(identityFile, clientKey.private, { mode: 0o600 });
  const children = new Set<ChildProcess>();
  const sockets = new Set<import("node:net").Socket>();

  const server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    client
      .on("authentication", (ctx) => {
        if (
          ctx.method !== "publickey" ||
          ctx.username !== user ||
          ctx.key.algo !== allowed.type ||
          !ctx.key.data.equals(allowed.getPublicSSH())
        ) {
          ctx.reject(["publickey"]);
          return;
        }
        if (ctx.signature === undefined) ctx.accept();
        else if (ctx.blob !== undefined && allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo))
          ctx.accept();
        else ctx.reject(["publickey"]);
      })
      .on("ready", () => {
        client.on("session", (acceptSession) => {
          const session = acceptSession();
          session.on("exec", (accept, _reject, info) => {
            const channel = accept();
            const child = spawn("/bin/sh", ["-c", info.command], {
              stdio: ["pipe", "pipe", "pipe"],
              cwd: home,
              env,
            });
            children.add(child);
            channel.on("data", (data: Buffer) => child.stdin.write(data));
            channel.on("end", () => child.stdin.end());
            child.stdin.on("error", () => undefined);
            child.stdout.pipe(channel, { end: false });
            child.stderr.pipe(channel.stderr, { end: false });
            session.on("signal", (_accept, _reject, signal) =>
              child.kill(`SIG${String(signal.name).replace(/^SIG/, "")}` as NodeJS.Signals),
            );
            child.on("close", (code, signal) => {
              children.delete(child);
              if (code !== null) channel.exit(code);
              else channel.exit(String(signal).replace(/^SIG/, ""), false, "");
              channel.end();
            });
            channel.on("close", () => {
              if (child.exitCode === null) child.stdin.end();
            });
          });
        });
      })
      .on("error", () => undefined);
  });
  server.on("connection", (socket: import("node:net").Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const knownHostsFile = join(dir, "known_hosts");
  writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKey.public.split(" ").slice(0, 2).join(" ")}\n`);
  return {
    host: "127.0.0.1",
    port,
    user,
    identityFile,
    knownHostsFile,
    home,
    running: () => children.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const child of children) child.kill("SIGKILL");
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

type Ssh2Utils = typeof import("ssh2").utils;

/**
 * ssh2's ed25519 generator strips leading zero bytes from the public key, so
 * about one key in 256 comes out malformed and ssh2 itself refuses to parse it
 * (mscdex/ssh2#1390, #1513). Draw again until both halves parse.
 */
export function generateParsableEd25519(utils: Ssh2Utils): { private: string; public: string } {
  for (let attempt = 1; ; attempt++) {
    const pair = utils.generateKeyPairSync("ed25519");
    const usable =
      !(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error);
    if (usable) return pair;
    if (attempt >= 32) throw new Error("ssh2 generated 32 unparsable ed25519 keys in a row");
  }
}
