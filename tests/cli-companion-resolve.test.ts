import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runOperatorTool } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let temp: ReturnType<typeof makeTempDir>;
let config: string;

beforeAll(() => {
  temp = makeTempDir("operator-tool-resolve-");
  mkdirSync(join(temp.path, ".ssh"), { mode: 0o700 });
  config = join(temp.path, "ssh_config");
  writeFileSync(
    config,
    [
      "Host jetson-7",
      "  HostName 10.0.0.7",
      "  Port 2222",
      "  User ops",
      "  IdentityFile ~/.ssh/jetson",
      "  IdentityFile ~/.ssh/fallback",
      "  ProxyJump gw",
      "  ServerAliveInterval 20",
      "Host gw",
      "  HostName gw.field.example",
      "  StrictHostKeyChecking accept-new",
      "Host weird",
      "  CheckHostIP yes",
      "",
    ].join("\n"),
  );
  writeFileSync(join(temp.path, ".ssh", "jetson"), "");
});
afterAll(() => temp.cleanup());

const resolve = (...args: string[]) =>
  runOperatorTool(["companion", "resolve", ...args, "--ssh-config", config], { env: { HOME: temp.path } });

describe("operator-tool companion resolve", () => {
  it("prints, like ssh -G, each hop of the route: address, port, user, keys in order, known_hosts, keepalive", async () => {
    const run = await resolve("jetson-7");
    expect(run.exitCode, run.stderr).toBe(0);
    const [gateway, companion] = run.stdout.split("\n\n");
    expect(gateway).toContain("# jump host 1 of 1\nhost gw\nhostname gw.field.example\nport 22\n");
    expect(gateway).toContain("stricthostkeychecking accept-new");
    expect(companion).toContain("# companion\nhost jetson-7\nhostname 10.0.0.7\nport 2222\nuser ops\n");
    expect(companion).toContain(
      `identityfile ${temp.path}/.ssh/jetson\nidentityfile ${temp.path}/.ssh/fallback (missing: skipped)\n`,
    );
    expect(companion).toContain(
      `userknownhostsfile ${temp.path}/.ssh/known_hosts ${temp.path}/.ssh/known_hosts2`,
    );
    expect(companion).toContain("globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2");
    expect(companion).toContain("knownhostsname [10.0.0.7]:2222");
    expect(companion).toContain("serveraliveinterval 20\nserveralivecountmax 3");
    expect(companion).toContain("proxyjump gw");
    expect(gateway).toMatch(/serveraliveinterval 15 \(operator-tool default\)/);
  });

  it("--json: the same route as data; flags win over ssh_config as on the ssh command line", async () => {
    const run = await resolve(
      "jetson-7",
      "--json",
      "--companion-port",
      "2999",
      "--companion-user",
      "flag-user",
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const { route } = JSON.parse(run.stdout) as {
      route: Array<{
        alias: string;
        port: number;
        user: string;
        identityFiles: Array<{ path: string; exists: boolean }>;
      }>;
    };
    expect(route.map((h) => h.alias)).toEqual(["gw", "jetson-7"]);
    expect(route[1]).toMatchObject({ port: 2999, user: "flag-user" });
    expect(route[1]!.identityFiles).toEqual([
      { path: join(temp.path, ".ssh", "jetson"), exists: true },
      { path: join(temp.path, ".ssh", "fallback"), exists: false },
    ]);
  });

  it("a directive operator-tool cannot honour: exit 2, one line naming it and where it is set", async () => {
    const run = await resolve("weird");
    expect(run.exitCode).toBe(2);
    expect(run.firstErrorLine).toContain("CheckHostIP yes");
    expect(run.firstErrorLine).toContain(`${config} line 13`);
  });

  it("--help teaches with two examples", async () => {
    const run = await runOperatorTool(["companion", "resolve", "--help"]);
    expect(run.exitCode).toBe(0);
    const examples = run.stdout.split("Examples:")[1] ?? "";
    expect(examples.match(/^\s+\$ /gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });
});
