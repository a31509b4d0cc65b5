import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { freePort } from "./loopback-server.js";

export const SSHD_PATH = ["/usr/sbin/sshd", "/usr/bin/sshd"].find((p) => existsSync(p)) ?? "sshd";

export type HostKeyType = "ed25519" | "ecdsa" | "rsa";

export interface HostKey {
  type: HostKeyType;
  /** The OpenSSH name of the key type: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`. */
  keyType: string;
  base64: string;
  /** `[127.0.0.1]:port <keyType> AAAA…`: a known_hosts line for this key. */
  knownHostsLine: string;
}

export interface SshdOptions {
  /** Protects the authorised user key. */
  passphrase?: string;
  /** The server's host keys, in the order its sshd_config lists them (default: one ED25519 key). */
  hostKeyTypes?: HostKeyType[];
  /** Sign every host key with this CA private key (ssh-keygen -s) and serve the certificates. */
  hostCertificateAuthority?: { caKeyPath: string; principals: string[] };
  /** More public keys (OpenSSH one-line form) that may log in. */
  authorizedKeys?: string[];
  /** sshd's LogLevel (default ERROR); its stderr is kept for `log()`. */
  logLevel?: "ERROR" | "INFO" | "VERBOSE" | "DEBUG1";
}

export interface SshdFixture {
  host: "127.0.0.1";
  port: number;
  user: string;
  dir: string;
  /** The authorised user key (passphrase-protected when asked). */
  identityFile: string;
  /** A valid key that is *not* authorised. */
  wrongIdentityFile: string;
  /** `[127.0.0.1]:port ssh-ed25519 AAAA…`, a known_hosts line for the first host key. */
  knownHostsLine: string;
  hostKeyBase64: string;
  /** Every host key the server has, in its sshd_config order. */
  hostKeys: HostKey[];
  /** What sshd wrote on stderr so far (at the LogLevel asked for). */
  log(): string;
  /** The listening daemon's process id (undefined once stopped). */
  pid(): number | undefined;
  /** The same server, its host keys replaced: for "changed key" tests. */
  rotateHostKey(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL the daemon and every session it runs, as a crash would. */
  kill(): void;
  /**
   * The account every later session runs in: its HOME (sessions start there)
   * and PATH, as a fresh companion account would have them; undefined for the
   * test process's own. sshd's ForceCommand overrides a forced command in
   * authorized_keys, so this is the way to give a session its own account.
   */
  setAccount(account: { home: string; path?: string } | undefined): void;
}

const KEY_TYPE_NAMES: Record<HostKeyType, string> = {
  ed25519: "ssh-ed25519",
  ecdsa: "ecdsa-sha2-nistp256",
  rsa: "ssh-rsa",
};

/** Every daemon started in this process, so none outlives it (see reapOnExit). */
const live = new Set<{ pid(): number | undefined }>();
let exitHookInstalled = false;

/**
 * A worker that exits (normally, or because a test timed out and the pool
 * tore it down) kills what it started, synchronously. A worker that dies
 * outright closes the lifeline pipe instead, and the daemon's wrapper kills
 * it (see launch).
 */
function reapOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const daemon of live) {
      const pid = daemon.pid();
      if (pid !== undefined) killTree(pid, "SIGKILL");
    }
  });
}

/**
 * A real OpenSSH sshd on 127.0.0.1 and a random port, with generated host and
 * user keys and its own config, run in the foreground by the test. Remote
 * commands run as the current user, on this machine: the "companion" is here.
 * Every command runs under `/bin/sh -c`, never the account's login shell
 * start-up files, so a developer's .bashrc cannot slow or change a test.
 */
export async function startSshd(options: SshdOptions = {}): Promise<SshdFixture> {
  reapOnExit();
  const dir = mkdtempSync(join(tmpdir(), "operator-tool-sshd-"));
  const keygen = (file: string, type: HostKeyType, passphrase = "") =>
    execFileSync(
      "ssh-keygen",
      [
        "-q",
        "-t",
        type,
        ...(type === "rsa" ? ["-b", "2048"] : []),
        "-N",
        passphrase,
        "-C",
        "operator-tool-test",
        "-f",
        file,
      ],
      { stdio: "ignore" },
    );
  const hostKeyTypes = options.hostKeyTypes ?? ["ed25519"];
  const hostKeyFile = (type: HostKeyType) => join(dir, `host_${type}`);
  const makeHostKeys = () => {
    for (const type of hostKeyTypes) {
      rmSync(hostKeyFile(type), { force: true });
      rmSync(`${hostKeyFile(type)}.pub`, { force: true });
      rmSync(`${hostKeyFile(type)}-cert.pub`, { force: true });
      keygen(hostKeyFile(type), type);
      const ca = options.hostCertificateAuthority;
      if (ca !== undefined) {
        execFileSync(
          "ssh-keygen",
          [
            "-q",
            "-s",
            ca.caKeyPath,
            "-I",
            `operator-tool-test-${type}`,
            "-h",
            "-n",
            ca.principals.join(","),
            `${hostKeyFile(type)}.pub`,
          ],
          { stdio: "ignore" },
        );
      }
    }
  };
  makeHostKeys();
  keygen(join(dir, "id_ed25519"), "ed25519", options.passphrase ?? "");
  keygen(join(dir, "id_wrong"), "ed25519");
  writeFileSync(
    join(dir, "authorized_keys"),
    [readFileSync(join(dir, "id_ed25519.pub"), "utf8").trim(), ...(options.authorizedKeys ?? [])].join("\n") +
      "\n",
  );
  // An empty directory for shells' own start-up files (zsh reads $ZDOTDIR/.zshenv).
  mkdirSync(join(dir, "no-dotfiles"));
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
      ...hostKeyTypes.map((type) => `HostKey ${hostKeyFile(type)}`),
      ...(options.hostCertificateAuthority === undefined
        ? []
        : hostKeyTypes.map((type) => `HostCertificate ${hostKeyFile(type)}-cert.pub`)),
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin yes",
      "X11Forwarding no",
      "AllowTcpForwarding yes",
      "PrintMotd no",
      `LogLevel ${options.logLevel ?? "ERROR"}`,
      "MaxStartups 100",
      "MaxSessions 100",
      // sshd still starts the login shell, which execs /bin/sh at once. SHLVL=1 makes
      // bash a nested shell, which skips ~/.bashrc; ZDOTDIR keeps zsh off ~/.zshenv.
      `SetEnv PATH=${path} SHLVL=1 ZDOTDIR=${join(dir, "no-dotfiles")}`,
      // Every command under /bin/sh, in the account setAccount gave (session.sh).
      `ForceCommand exec /bin/sh ${join(dir, "session.sh")}`,
      "",
    ].join("\n"),
  );
  // The variable is the harness's doing, not the companion's: the command does not see it.
  writeFileSync(
    join(dir, "session.sh"),
    [
      `if [ -f ${join(dir, "account.sh")} ]; then . ${join(dir, "account.sh")}; fi`,
      'c=$SSH_ORIGINAL_COMMAND; unset SSH_ORIGINAL_COMMAND; exec /bin/sh -c "$c"',
      "",
    ].join("\n"),
  );
  let daemon = await launch(dir, port);
  const handle = { pid: () => daemon.sshdPid };
  live.add(handle);
  const hostKeys = (): HostKey[] =>
    hostKeyTypes.map((type) => {
      const base64 = readFileSync(`${hostKeyFile(type)}.pub`, "utf8").split(" ")[1]!;
      const keyType = KEY_TYPE_NAMES[type];
      return { type, keyType, base64, knownHostsLine: `[127.0.0.1]:${port} ${keyType} ${base64}` };
    });
  const fixture: SshdFixture = {
    host: "127.0.0.1",
    port,
    user: userInfo().username,
    dir,
    identityFile: join(dir, "id_ed25519"),
    wrongIdentityFile: join(dir, "id_wrong"),
    get knownHostsLine() {
      return hostKeys()[0]!.knownHostsLine;
    },
    get hostKeyBase64() {
      return hostKeys()[0]!.base64;
    },
    get hostKeys() {
      return hostKeys();
    },
    log: () => daemon.log(),
    pid: () => daemon.sshdPid,
    async rotateHostKey() {
      await daemon.stop();
      makeHostKeys();
      daemon = await launch(dir, port);
    },
    async stop() {
      await daemon.stop();
      live.delete(handle);
      rmSync(dir, { recursive: true, force: true });
    },
    setAccount(account) {
      const file = join(dir, "account.sh");
      if (account === undefined) {
        rmSync(file, { force: true });
        return;
      }
      const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;
      const lines = [`HOME=${quote(account.home)}; export HOME; cd "$HOME" || exit 1`];
      if (account.path !== undefined) lines.push(`PATH=${quote(account.path)}; export PATH`);
      writeFileSync(file, `${lines.join("\n")}\n`);
    },
    kill() {
      // Each session runs in sshd processes forked (and re-executed) below the
      // listener: kill that whole tree, as a crash or power cut would.
      const pid = daemon.sshdPid;
      if (pid !== undefined) killTree(pid, "SIGKILL");
    },
  };
  return fixture;
}

interface Daemon {
  sshdPid: number | undefined;
  log(): string;
  stop(): Promise<void>;
}

/**
 * sshd runs under a small shell that holds a pipe from this process on its
 * stdin: when the pipe closes (a normal stop, or this process dying in any
 * way, SIGKILL included) the shell kills the daemon, and after a death it
 * removes the daemon's directory too.
 */
async function launch(dir: string, port: number): Promise<Daemon> {
  const wrapper: ChildProcess = spawn(
    "/bin/sh",
    [
      "-c",
      // A "stop" line is an orderly stop (the fixture removes its directory itself);
      // end of file means the test process is gone, so the wrapper also removes it.
      [
        'trap "" INT',
        '"$0" -D -e -f "$1/sshd_config" </dev/null &',
        'echo "$!"',
        "if read -r _stop; then orphaned=no; else orphaned=yes; fi",
        'kill -TERM "$!" 2>/dev/null',
        "wait",
        'if [ "$orphaned" = yes ]; then rm -rf "$1"; fi',
      ].join("\n"),
      SSHD_PATH,
      dir,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let log = "";
  wrapper.stderr!.setEncoding("utf8").on("data", (d: string) => {
    log = (log + d).slice(-1_000_000);
  });
  const exited = new Promise<void>((resolve) => wrapper.once("exit", () => resolve()));
  const sshdPid = await new Promise<number>((resolve, reject) => {
    let out = "";
    wrapper.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const line = out.split("\n")[0];
      if (out.includes("\n") && line !== undefined) resolve(Number(line));
    });
    wrapper.once("exit", () => reject(new Error(`sshd's wrapper exited before starting sshd: ${log}`)));
  });
  const daemon: Daemon = {
    sshdPid,
    log: () => log,
    async stop() {
      // Sessions first (they would outlive the listener), then the listener through its wrapper.
      for (const child of descendants(sshdPid)) signal(child, "SIGKILL");
      wrapper.stdin!.end("stop\n");
      await exited;
      daemon.sshdPid = undefined;
    },
  };
  try {
    await waitForPort(port, () => log);
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  return daemon;
}

function killTree(pid: number, name: NodeJS.Signals): void {
  for (const child of [pid, ...descendants(pid)]) signal(child, name);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
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

async function waitForPort(port: number, log: () => string): Promise<void> {
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
    if (Date.now() > deadline) throw new Error(`sshd did not start on port ${port}: ${log()}`);
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
