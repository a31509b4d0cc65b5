import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  filesUnder,
  runOperatorTool,
  type SshdFixture,
  startSshd,
  startWorld,
  type World,
} from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The companion of the loopback world, reachable only as the operator's
 * ssh_config says: through a ground gateway (a second real sshd) by
 * ProxyJump. The gateway logs each forwarded connection, so the route is
 * proven, not assumed.
 */
let world: World;
let gateway: SshdFixture;
let sshConfig: string;
let gatewayKnownHosts: string;

beforeAll(async () => {
  [world, gateway] = await Promise.all([startWorld(), startSshd({ logLevel: "DEBUG1" })]);
  gatewayKnownHosts = join(world.temp.path, "gateway_known_hosts");
  writeFileSync(gatewayKnownHosts, `${gateway.knownHostsLine}\n`);
  sshConfig = join(world.temp.path, "ssh_config");
  writeFileSync(
    sshConfig,
    [
      "Host jetson-7",
      "  HostName 127.0.0.1",
      "  ProxyJump ground-gw",
      "Host ground-gw",
      "  HostName 127.0.0.1",
      `  Port ${gateway.port}`,
      `  User ${gateway.user}`,
      `  IdentityFile ${gateway.identityFile}`,
      `  UserKnownHostsFile ${gatewayKnownHosts}`,
      "  IdentityAgent none",
      "",
    ].join("\n"),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([world?.close(), gateway?.stop()]);
});

/** build-cache as the world runs it, but for the alias `jetson-7` of this ssh_config. */
const throughTheJump = (extra: string[] = []) =>
  world.run(["--companion-host", "jetson-7", "--ssh-config", sshConfig, "--json", ...extra]);

const forwardsTo = (port: number) =>
  new RegExp(
    `server_request_direct_tcpip: originator \\S+ port \\d+, target 127\\.0\\.0\\.1 port ${port}\\b`,
  );

describe("build-cache through a ProxyJump gateway (two real sshd on loopback)", () => {
  it("a wrong gateway host key refuses (31) before anything reaches the companion", async () => {
    const stranger = join(world.temp.path, "stranger");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger], { stdio: "ignore" });
    const wrongKey = readFileSync(`${stranger}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    writeFileSync(gatewayKnownHosts, `[127.0.0.1]:${gateway.port} ${wrongKey}\n`);
    const freshRoot = join(world.temp.path, "never-reached");
    try {
      const run = await throughTheJump(["--companion-cache-root", freshRoot]);
      expect(run.exitCode, run.stderr).toBe(31);
      expect(run.stderr).toContain("jump host ground-gw");
      expect(run.stderr).toContain("CHANGED");
      expect(JSON.parse(run.stdout)).toMatchObject({ outcome: "failure", failurePhase: "companion-bringup" });
      expect(existsSync(freshRoot)).toBe(false);
      expect(gateway.log()).not.toMatch(forwardsTo(world.sshd.port));
      expect(readFileSync(gatewayKnownHosts, "utf8")).toBe(`[127.0.0.1]:${gateway.port} ${wrongKey}\n`);
    } finally {
      writeFileSync(gatewayKnownHosts, `${gateway.knownHostsLine}\n`);
    }
  });

  it("syncs the tiles and streams the remote engine build through the gateway; the rerun is a no-op", async () => {
    const first = await throughTheJump();
    expect(first.exitCode, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout) as {
      outcome: string;
      runId: string;
      sync: { sent: number };
      remote: { summary: { built: number } };
    };
    expect(report.outcome).toBe("success");
    expect(report.sync.sent).toBeGreaterThan(1);
    expect(report.remote.summary.built).toBe(1);
    // Every tile of the local cache arrived, byte for byte, at the same place under the companion's root.
    const localTiles = filesUnder(join(world.staging, "tiles")).filter((f) =>
      /\/\d+\/\d+\/\d+\.\w+$/.test(f),
    );
    expect(localTiles.length).toBeGreaterThan(0);
    for (const tile of localTiles) {
      expect(readFileSync(join(world.companionRoot, tile.slice(world.staging.length)))).toEqual(
        readFileSync(tile),
      );
    }
    // The remote run's lines were streamed back while it ran, through the same jump.
    const log = readFileSync(join(world.staging, "runs", report.runId, "log.jsonl"), "utf8");
    expect(log).toContain('"remote":"stdout"');
    expect(gateway.log()).toMatch(forwardsTo(world.sshd.port));

    const second = await throughTheJump();
    expect(second.exitCode, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ outcome: "no-op", sync: { sent: 0 } });
  });

  it("companion resolve shows the route hop by hop, as ssh -G would", async () => {
    const run = await runOperatorTool(
      ["companion", "resolve", "jetson-7", "--ssh-config", sshConfig, "--json"],
      {
        env: { HOME: world.temp.path },
      },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const { route } = JSON.parse(run.stdout) as {
      route: Array<{ alias: string; hostname: string; port: number; userKnownHostsFiles: string[] }>;
    };
    expect(route.map((h) => [h.alias, h.hostname, h.port])).toEqual([
      ["ground-gw", "127.0.0.1", gateway.port],
      ["jetson-7", "127.0.0.1", 22],
    ]);
    expect(route[0]!.userKnownHostsFiles).toEqual([gatewayKnownHosts]);
    expect(route[1]!.userKnownHostsFiles).toEqual([
      join(world.temp.path, ".ssh", "known_hosts"),
      join(world.temp.path, ".ssh", "known_hosts2"),
    ]);
  });
});
