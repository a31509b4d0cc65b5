import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, makeTempDir, type SshdFixture, startSshd } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCompanionConnection } from "./connection.js";

let sshd: SshdFixture;
let temp: ReturnType<typeof makeTempDir>;

beforeAll(async () => {
  sshd = await startSshd();
  temp = makeTempDir();
});
afterAll(async () => {
  await sshd.stop();
  temp.cleanup();
});

function config(name: string, lines: string[]): string {
  const path = join(temp.path, `${name}.ssh_config`);
  writeFileSync(
    path,
    [
      "Host companion",
      "  HostName 127.0.0.1",
      `  User ${sshd.user}`,
      `  IdentityFile ${sshd.identityFile}`,
      "  IdentityAgent none",
      `  UserKnownHostsFile ${join(temp.path, "known_hosts")}`,
      "  GlobalKnownHostsFile none",
      ...lines.map((l) => `  ${l}`),
      "",
    ].join("\n"),
  );
  writeFileSync(join(temp.path, "known_hosts"), `${sshd.knownHostsLine}\n`);
  return path;
}

const open = (sshConfigPath: string) =>
  openCompanionConnection({ host: "companion", sshConfigPath, environment: { homeDir: temp.path, env: {} } });

describe("ssh_config's connection settings take effect", () => {
  it("ConnectionAttempts: a refused port is tried that many times, then COMPANION_UNREACHABLE says so", async () => {
    const error = await open(config("attempts", [`Port ${await freePort()}`, "ConnectionAttempts 2"])).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error?.code).toBe("COMPANION_UNREACHABLE");
    expect(error?.message).toMatch(/connection refused .*\(2 attempts\)/);
  });

  it("ConnectTimeout: a server that never answers is given up on after it", async () => {
    const silent = (await import("node:net")).createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const port = (silent.address() as { port: number }).port;
      const error = await open(config("timeout", [`Port ${port}`, "ConnectTimeout 1"])).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(error?.code).toBe("COMPANION_UNREACHABLE");
      expect(error?.message).toContain("did not answer within 1 s");
    } finally {
      silent.close();
    }
  });

  it("ServerAliveInterval/CountMax: a link that goes silent ends the connection with an error", async () => {
    // The companion is reached through a ProxyCommand relay that we freeze: the TCP
    // connection stays up, but nothing answers, as on a dead radio link.
    const relay = join(temp.path, "relay.mjs");
    const pidFile = join(temp.path, "relay.pid");
    writeFileSync(
      relay,
      `import { connect } from "node:net";
import { writeFileSync } from "node:fs";
writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
const socket = connect(Number(process.argv[3]), process.argv[2]);
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on("close", () => process.exit(0));
`,
    );
    const connection = await open(
      config("keepalive", [
        `Port ${sshd.port}`,
        `ProxyCommand ${process.execPath} ${relay} %h %p`,
        "ServerAliveInterval 1",
        "ServerAliveCountMax 2",
      ]),
    );
    expect(connection.target).toMatchObject({
      serverAliveIntervalS: 1,
      serverAliveCountMax: 2,
      keepaliveDefaulted: false,
    });
    expect((await connection.run("echo alive")).stdout).toBe("alive\n");
    expect(existsSync(pidFile)).toBe(true);
    const pid = Number(readFileSync(pidFile, "utf8"));
    process.kill(pid, "SIGSTOP");
    try {
      const ended = await Promise.race([
        connection.closed.then((error) => ({ error })),
        new Promise<"still open">((r) => setTimeout(() => r("still open"), 20_000).unref()),
      ]);
      expect(ended).not.toBe("still open");
      expect((ended as { error?: Error }).error?.message).toMatch(/keepalive/i);
    } finally {
      process.kill(pid, "SIGCONT");
      connection.close();
    }
  });

  it("unset ServerAliveInterval: our flaky-link default, not OpenSSH's none", async () => {
    const connection = await open(config("default-keepalive", [`Port ${sshd.port}`]));
    try {
      expect(connection.target).toMatchObject({
        serverAliveIntervalS: 15,
        serverAliveCountMax: 4,
        keepaliveDefaulted: true,
      });
      expect((await connection.run("true")).code).toBe(0);
    } finally {
      connection.close();
    }
  });

  it("a ProxyCommand that fails says why, with what it printed", async () => {
    const error = await open(
      config("bad-proxy", [
        `Port ${sshd.port}`,
        "ProxyCommand sh -c 'echo no route to the radio >&2; exit 3'",
      ]),
    ).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error?.code).toBe("COMPANION_UNREACHABLE");
    expect(error?.message).toContain("ProxyCommand");
    expect(error?.message).toContain("exited with status 3: no route to the radio");
  });

  it("a jump host that dies mid-session ends the companion's connection cleanly (closed resolves, nothing thrown)", async () => {
    const gateway = await startSshd();
    try {
      writeFileSync(join(temp.path, "gateway_known_hosts"), `${gateway.knownHostsLine}\n`);
      const path = config("dying-gateway", [`Port ${sshd.port}`, "ProxyJump gw"]);
      writeFileSync(
        path,
        `${readFileSync(path, "utf8")}Host gw\n  HostName 127.0.0.1\n  Port ${gateway.port}\n  User ${gateway.user}\n  IdentityFile ${gateway.identityFile}\n  IdentityAgent none\n  UserKnownHostsFile ${join(temp.path, "gateway_known_hosts")}\n`,
      );
      const connection = await open(path);
      expect((await connection.run("echo via-gateway")).stdout).toBe("via-gateway\n");
      const running = await connection.exec("sleep 60");
      running.stdout.resume();
      running.stderr.resume();
      gateway.kill();
      const ended = await Promise.race([
        connection.closed.then(() => "closed" as const),
        new Promise<"still open">((r) => setTimeout(() => r("still open"), 20_000).unref()),
      ]);
      expect(ended).toBe("closed");
      expect(await running.exit).toEqual({ code: null, signal: null });
    } finally {
      await gateway.stop();
    }
  });
});
