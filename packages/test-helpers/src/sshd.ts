import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { freePort } from "./loopback-server.js";

export const SSHD_PATH = ["/usr/sbin/sshd", "/usr/bin/sshd"].find((p) => existsSync(p)) ?? "sshd";

export interface SshdFixture {
  host: "127.0.0.1";
  port: number;
  user: string;
  dir: string;
  /** The authorised user key (passphrase-protected when asked). */
  identityFile: string;
  /** A valid key that is *not* authorised. */
  wrongIdentityFile: string;
  /** `[127.0.0.1]:port ssh-ed25519 AAAA…`, a known_hosts line for this server. */
  knownHostsLine: string;
  hostKeyBase64: string;
  /** The same server, its host key replaced: for "changed key" tests. */
  rotateHostKey(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL the daemon and every session it runs, as a crash would. */
  kill(): void;
}

/**
 * A real OpenSSH sshd on 127.0.0.1 and a random port, with generated host and
 * user keys and its own config, run in the foreground by the test. Remote
 * commands run as the current user, on this machine: the "companion" is here.
 */
export async function startSshd(options: { passphrase?: string } = {}): Promise<SshdFixture> {
  const dir = mkdtempSync(join(tmpdir(), "operator-tool-sshd-"));
  const keygen = (file: string, passphrase = "") =>
    execFileSync(
      "ssh-keygen",
      ["-q", "-t", "ed25519", "-N", passphrase, "-C", "operator-tool-test", "-f", file],
      { stdio: "ignore" },
    );
  keygen(join(dir, "host_ed25519"));
  keygen(join(dir, "id_ed25519"), options.passphrase ?? "");
  keygen(join(dir, "id_wrong"));
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "id_ed25519.pub")));
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const port = await freePort();
  const path = [dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"].join(
    ":",
  );
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_ed25519")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin yes",
      "X11Forwarding no",
      "PrintMotd no",
      "LogLevel ERROR",
      "MaxStartups 100",
      "MaxSessions 100",
      `SetEnv PATH=${path}`,
      "",
    ].join("\n"),
  );
  let daemon: ChildProcess = launch(dir);
  await waitForPort(port);
  const hostKeyBase64 = () => readFileSync(join(dir, "host_ed25519.pub"), "utf8").split(" ")[1]!;
  const fixture: SshdFixture = {
    host: "127.0.0.1",
    port,
    user: userInfo().username,
    dir,
    identityFile: join(dir, "id_ed25519"),
    wrongIdentityFile: join(dir, "id_wrong"),
    get knownHostsLine() {
      return `[127.0.0.1]:${port} ssh-ed25519 ${hostKeyBase64()}`;
    },
    get hostKeyBase64() {
      return hostKeyBase64();
    },
    async rotateHostKey() {
      daemon.kill("SIGTERM");
      await new Promise((r) => daemon.once("exit", r));
      rmSync(join(dir, "host_ed25519"));
      rmSync(join(dir, "host_ed25519.pub"));
      keygen(join(dir, "host_ed25519"));
      daemon = launch(dir);
      await waitForPort(port);
    },
    async stop() {
      if (daemon.exitCode === null && daemon.signalCode === null) {
        daemon.kill("SIGTERM");
        await new Promise((r) => daemon.once("exit", r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
    kill() {
      // Each session runs in sshd processes forked (and re-executed) below the
      // listener: kill that whole tree, as a crash or power cut would.
      const tree = descendants(daemon.pid!);
      for (const pid of [daemon.pid!, ...tree]) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    },
  };
  return fixture;
}

function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((line) => Number(line.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function launch(dir: string): ChildProcess {
  const child = spawn(SSHD_PATH, ["-D", "-e", "-f", join(dir, "sshd_config")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.on("data", () => undefined);
  return child;
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("data", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Whether ssh2 found its optional native crypto addon (built at install when
 * a C++ toolchain is present): benchmark figures over SSH depend on it.
 */
export function ssh2NativeCrypto(): boolean {
  const require = createRequire(import.meta.url);
  return (require("ssh2/lib/protocol/crypto.js") as { bindingAvailable?: boolean }).bindingAvailable === true;
}
