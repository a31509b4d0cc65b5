import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type CompanionConnection,
  connectToCompanion,
  resolveTarget,
} from "@operator-tool/companion-bringup";
import {
  makeTempDir,
  REPO_ROOT,
  type SshdFixture,
  startSshd,
  writeOnnxModel,
} from "@operator-tool/test-helpers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CompanionInstallError,
  type InstallCompanionOptions,
  installCompanion,
  rollbackCompanion,
} from "./index.js";
import { pushModels } from "./push-models.js";

const COMPANION_ENTRY = join(REPO_ROOT, "apps/operator-tool/dist/companion-main.js");

let sshd: SshdFixture;
let temp: ReturnType<typeof makeTempDir>;
let knownHosts: string;
let stagingRoot: string;
const open: CompanionConnection[] = [];

beforeAll(async () => {
  sshd = await startSshd();
  temp = makeTempDir("operator-tool-install-");
  knownHosts = join(temp.path, "known_hosts");
  writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
  stagingRoot = join(temp.path, "staging");
});
afterAll(async () => {
  for (const c of open.splice(0)) c.close();
  await sshd?.stop();
  temp?.cleanup();
});

/**
 * The companion account: its own empty home and PATH, set the way an
 * operator's sshd would (a forced command in authorized_keys), so the install
 * lands in a temp prefix and a fake `ldd` or `node` can come first on PATH.
 */
function companionAccount(name: string): { home: string; fakeBin: string } {
  const home = join(temp.path, name);
  const fakeBin = join(home, "fake-bin");
  mkdirSync(fakeBin, { recursive: true });
  sshd.setAccount({ home, path: `${fakeBin}:/usr/local/bin:/usr/bin:/bin` });
  return { home, fakeBin };
}

function fakeCommand(fakeBin: string, name: string, output: string): void {
  writeFileSync(join(fakeBin, name), `#!/bin/sh\necho '${output}'\n`, { mode: 0o755 });
}

async function connect(): Promise<CompanionConnection> {
  const target = await resolveTarget({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    sshConfigPath: "/nonexistent",
  });
  const connection = await connectToCompanion({ target, knownHostsPath: knownHosts, agentSocket: "" });
  open.push(connection);
  return connection;
}

function installOptions(connection: CompanionConnection, version = "0.1.0"): InstallCompanionOptions {
  return { connection, version, stagingRoot, companionEntry: COMPANION_ENTRY };
}

async function failure(promise: Promise<unknown>): Promise<CompanionInstallError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CompanionInstallError);
  return error as CompanionInstallError;
}

describe("companion install over the real sshd", () => {
  let home: string;
  let connection: CompanionConnection;
  const wrapper = () => join(home, ".local/bin/operator-tool");
  const runWrapper = (args: string) => connection.run(`"$HOME/.local/bin/operator-tool" ${args}`);

  beforeAll(async () => {
    const account = companionAccount("companion");
    home = account.home;
    // Ubuntu's apt Node: too old to reuse, so the runtime is shipped.
    fakeCommand(account.fakeBin, "node", "v18.19.1");
    connection = await connect();
  });

  it("installs into an empty prefix with a shipped runtime; compile-engines runs through the wrapper on real onnxruntime", async () => {
    expect(existsSync(wrapper())).toBe(false);
    const result = await installCompanion(installOptions(connection));
    expect(result).toMatchObject({
      outcome: "installed",
      version: "0.1.0",
      arch: "x64",
      verifiedVersion: "0.1.0",
    });
    expect(result.node.source).toBe("workstation");
    expect(result.transfer.sent).toBe(result.transfer.planned);
    expect(readFileSync(wrapper(), "utf8")).toContain("/current/bin/operator-tool");
    expect(
      execFileSync("readlink", [join(home, ".local/share/operator-tool/current")], {
        encoding: "utf8",
      }).trim(),
    ).toBe("0.1.0");
    expect(existsSync(join(home, ".local/share/operator-tool/0.1.0/runtime/node"))).toBe(true);
    expect(
      existsSync(
        join(home, ".local/share/operator-tool/0.1.0/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64"),
      ),
    ).toBe(false);

    const models = join(home, "models");
    mkdirSync(models, { recursive: true });
    writeOnnxModel(join(models, "tiny.onnx"));
    writeFileSync(
      join(models, "corpus.json"),
      JSON.stringify({
        backbones: [
          {
            modelName: "tiny",
            onnxPath: "tiny.onnx",
            inputName: "input",
            inputShape: [1, 3, 8, 8],
            precision: "fp32",
          },
        ],
      }),
    );
    const run = await runWrapper(
      `compile-engines --corpus "$HOME/models/corpus.json" --cache-root "$HOME/engines" --json`,
    );
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    expect(report).toMatchObject({
      outcome: "success",
      host: { backend: "onnxruntime", arch: "x64" },
      summary: { built: 1 },
    });
  });

  it("a second install of the same version sends nothing", async () => {
    const result = await installCompanion(installOptions(connection));
    expect(result.outcome).toBe("unchanged");
    expect(result.transfer).toMatchObject({ sent: 0, linked: 0, bytesSent: 0 });
    expect(result.verifiedVersion).toBe("0.1.0");
  });

  it("upgrades (files already installed are copied there, not sent) and rolls back, atomically switching current", async () => {
    const upgrade = await installCompanion(installOptions(connection, "0.2.0"));
    expect(upgrade).toMatchObject({
      outcome: "installed",
      previousVersion: "0.1.0",
      verifiedVersion: "0.2.0",
    });
    // package.json and the launcher name the version; the runtime, onnxruntime and the script are unchanged.
    expect(upgrade.transfer.sent).toBe(2);
    expect(upgrade.transfer.linked).toBeGreaterThan(3);
    expect((await runWrapper("--version")).stdout.trim()).toBe("0.2.0");

    const back = await rollbackCompanion({ connection });
    expect(back).toMatchObject({ version: "0.1.0", replaced: "0.2.0", verifiedVersion: "0.1.0" });
    expect((await runWrapper("--version")).stdout.trim()).toBe("0.1.0");
  });

  it("kill -9 of the workstation mid-install leaves the previous version working; the next install completes", async () => {
    const marker = join(temp.path, "paused-after-first-file");
    const script = join(temp.path, "install-and-pause.mjs");
    writeFileSync(
      script,
      `import { writeFileSync } from "node:fs";
import { connectToCompanion, resolveTarget } from ${JSON.stringify(join(REPO_ROOT, "packages/companion-bringup/dist/index.js"))};
import { installCompanion } from ${JSON.stringify(join(REPO_ROOT, "packages/companion-installer/dist/index.js"))};
const target = await resolveTarget({ host: "127.0.0.1", port: ${sshd.port}, user: ${JSON.stringify(sshd.user)}, identityFile: ${JSON.stringify(sshd.identityFile)}, sshConfigPath: "/nonexistent" });
const connection = await connectToCompanion({ target, knownHostsPath: ${JSON.stringify(knownHosts)}, agentSocket: "" });
await installCompanion({ connection, version: "0.3.0", stagingRoot: ${JSON.stringify(stagingRoot)}, companionEntry: ${JSON.stringify(COMPANION_ENTRY)},
  onProgress: async (p) => { if (p.event === "sent") { writeFileSync(${JSON.stringify(marker)}, p.path); await new Promise(() => {}); } } });
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const deadline = Date.now() + 60_000;
    while (!existsSync(marker)) {
      if (child.exitCode !== null) throw new Error(`the installer exited before pausing: ${stderr}`);
      if (Date.now() > deadline) throw new Error("the installer never reached its pause point");
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    await exited;

    expect((await runWrapper("--version")).stdout.trim()).toBe("0.1.0");
    const sentBeforeKill = readFileSync(marker, "utf8");
    const resumed = await installCompanion(installOptions(connection, "0.3.0"));
    expect(resumed).toMatchObject({
      outcome: "installed",
      previousVersion: "0.1.0",
      verifiedVersion: "0.3.0",
    });
    // What crossed before the kill was verified and kept.
    expect(resumed.transfer.skipped).toBeGreaterThanOrEqual(1);
    expect(sentBeforeKill).not.toBe("");
    expect((await runWrapper("--version")).stdout.trim()).toBe("0.3.0");
  });

  it("pushes a corpus's models: unchanged re-push sends nothing, a changed model crosses and compile-engines rebuilds it", async () => {
    const local = join(temp.path, "workstation-models");
    mkdirSync(join(local, "onnx"), { recursive: true });
    writeOnnxModel(join(local, "onnx", "dinov2_vpr.onnx"), { scale: 2 });
    writeOnnxModel(join(local, "onnx", "aliked.onnx"), { scale: 3 });
    writeFileSync(join(local, "onnx", "aliked.calib"), "TRT-8601-EntropyCalibration2\ninput: 3c010a14\n");
    const corpusPath = join(local, "corpus.json");
    writeFileSync(
      corpusPath,
      JSON.stringify({
        cacheRoot: join(home, "engines"),
        backbones: [
          {
            modelName: "dinov2_vpr",
            onnxPath: "onnx/dinov2_vpr.onnx",
            inputName: "input",
            inputShape: [1, 3, 8, 8],
            precision: "fp32",
          },
          {
            modelName: "aliked",
            onnxPath: "onnx/aliked.onnx",
            inputName: "input",
            inputShape: [1, 3, 8, 8],
            precision: "int8",
            calibrationPath: "onnx/aliked.calib",
          },
        ],
      }),
    );
    const cacheRoot = join(home, "cache");
    const first = await pushModels({ connection, corpusPath, companionCacheRoot: cacheRoot });
    expect(first.remoteCorpusPath).toBe(join(cacheRoot, "models", "corpus.json"));
    expect(first.transfer).toMatchObject({ planned: 4, sent: 4 });
    const remoteCorpus = JSON.parse(readFileSync(first.remoteCorpusPath, "utf8"));
    expect(remoteCorpus.backbones[1]).toMatchObject({
      onnxPath: join(cacheRoot, "models/aliked/aliked.onnx"),
      calibrationPath: join(cacheRoot, "models/aliked/aliked.calib"),
      precision: "int8",
    });
    expect(
      readFileSync(join(cacheRoot, "models/dinov2_vpr/dinov2_vpr.onnx")).equals(
        readFileSync(join(local, "onnx", "dinov2_vpr.onnx")),
      ),
    ).toBe(true);

    const again = await pushModels({ connection, corpusPath, companionCacheRoot: cacheRoot });
    expect(again.transfer).toMatchObject({ sent: 0, bytesSent: 0, skipped: 4 });

    const onlyFp32 = join(local, "fp32.json");
    writeFileSync(
      onlyFp32,
      JSON.stringify({
        ...JSON.parse(readFileSync(corpusPath, "utf8")),
        backbones: [JSON.parse(readFileSync(corpusPath, "utf8")).backbones[0]],
      }),
    );
    const fp32 = await pushModels({ connection, corpusPath: onlyFp32, companionCacheRoot: cacheRoot });
    const build = await runWrapper(`compile-engines --corpus '${fp32.remoteCorpusPath}' --json`);
    expect(build.code, build.stderr).toBe(0);

    writeOnnxModel(join(local, "onnx", "dinov2_vpr.onnx"), { scale: 5 });
    const changed = await pushModels({ connection, corpusPath: onlyFp32, companionCacheRoot: cacheRoot });
    expect(changed.transfer).toMatchObject({ sent: 1, skipped: 1 });
    const dry = await runWrapper(`compile-engines --corpus '${fp32.remoteCorpusPath}' --dry-run --json`);
    expect(dry.code, dry.stderr).toBe(0);
    const report = JSON.parse(dry.stdout.trim().split("\n").at(-1)!);
    expect(report.results[0]).toMatchObject({ modelName: "dinov2_vpr", outcome: "would-build" });
    expect(report.results[0].reasons.join(",")).toMatch(/onnx/i);
  });
});

describe("companions that cannot take the install are refused (COMPANION_NOT_READY, exit 30)", () => {
  it("glibc 2.27 (JetPack 4.x / Ubuntu 18.04)", async () => {
    const { fakeBin } = companionAccount("bionic");
    fakeCommand(fakeBin, "ldd", "ldd (Ubuntu GLIBC 2.27-3ubuntu1.6) 2.27");
    const error = await failure(installCompanion(installOptions(await connect())));
    expect(error).toMatchObject({ code: "COMPANION_NOT_READY", reason: "glibc" });
    expect(error.message).toContain("glibc 2.27");
    expect(error.hint).toMatch(/JetPack 4\.x/);
  });

  it("a prefix the companion user cannot write (a file where a directory must be)", async () => {
    const { home } = companionAccount("blocked");
    mkdirSync(join(home, ".local"), { recursive: true });
    writeFileSync(join(home, ".local/share"), "not a directory\n");
    const error = await failure(installCompanion(installOptions(await connect())));
    expect(error).toMatchObject({ code: "COMPANION_NOT_READY", reason: "prefix" });
    expect(error.message).toContain(join(home, ".local/share/operator-tool"));
    expect(error.hint).toMatch(/--prefix/);
  });

  it("not enough free space under the prefix", async () => {
    const { fakeBin } = companionAccount("full");
    writeFileSync(
      join(fakeBin, "df"),
      "#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\necho '/dev/mmcblk0p1 14000000 13990000 10240 100% /'\n",
      { mode: 0o755 },
    );
    const error = await failure(installCompanion(installOptions(await connect())));
    expect(error).toMatchObject({ code: "COMPANION_NOT_READY", reason: "space" });
    expect(error.message).toMatch(/has 10 MiB free under .*; the install needs \d+ MiB/);
    expect(error.hint).toMatch(/free space/);
  });

  it("an unsupported architecture", async () => {
    const { fakeBin } = companionAccount("armhf");
    fakeCommand(fakeBin, "uname", "armv7l");
    const error = await failure(installCompanion(installOptions(await connect())));
    expect(error).toMatchObject({ reason: "architecture" });
    expect(error.message).toContain("armv7l");
  });
});
