import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FileDigestCache } from "@operator-tool/atomic-file";
import {
  type CompanionConnection,
  connectToCompanion,
  resolveTarget,
} from "@operator-tool/companion-bringup";
import { makeTempDir, type SshdFixture, startSshd, writeOnnxModel } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ModelSyncError } from "./errors.js";
import { pushModels } from "./push-models.js";
import { listRemoteFiles } from "./remote-files.js";

let sshd: SshdFixture;
let temp: ReturnType<typeof makeTempDir>;
let connection: CompanionConnection;

beforeAll(async () => {
  sshd = await startSshd();
  temp = makeTempDir("operator-tool-push-models-");
  const knownHosts = join(temp.path, "known_hosts");
  writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
  const companionHome = join(temp.path, "companion");
  mkdirSync(companionHome);
  sshd.setAccount({ home: companionHome });
  const target = await resolveTarget({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    sshConfigPath: "/nonexistent",
  });
  connection = await connectToCompanion({ target, knownHostsPath: knownHosts, agentSocket: "" });
});
afterAll(async () => {
  connection?.close();
  await sshd?.stop();
  temp?.cleanup();
});

/**
 * A clock 10 s ahead, so the models this test has just written count as
 * settled, as they would on a real re-run. A rewrite then gets its own mtime
 * (see `rewriteModel`): within one timestamp tick, a same-size rewrite is
 * exactly what the cache's racy rule exists to catch.
 */
const settled = () => Date.now() + 10_000;

let workstation: string;
let corpusPath: string;
let cacheRoot: string;
let digestsFile: string;
let run = 0;

beforeEach(() => {
  run++;
  workstation = join(temp.path, `workstation-${run}`);
  mkdirSync(join(workstation, "onnx"), { recursive: true });
  writeOnnxModel(join(workstation, "onnx", "dinov2_vpr.onnx"), { scale: 2 });
  writeOnnxModel(join(workstation, "onnx", "aliked.onnx"), { scale: 3 });
  writeFileSync(join(workstation, "onnx", "aliked.calib"), "TRT-8601-EntropyCalibration2\ninput: 3c010a14\n");
  corpusPath = join(workstation, "corpus.json");
  cacheRoot = join(temp.path, "companion", `cache-${run}`);
  digestsFile = join(workstation, "staging", "file-digests.json");
  writeFileSync(
    corpusPath,
    JSON.stringify({
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
});

/** A retrained model: same size, new weights, written in place, with a later mtime than the one it replaces. */
function rewriteModel(path: string, scale: number): void {
  const { size, mtimeMs, atime } = statSync(path);
  writeOnnxModel(path, { scale });
  expect(statSync(path).size).toBe(size);
  utimesSync(path, atime, new Date(mtimeMs + 5000));
}

describe("pushing a corpus's models with a digest cache", () => {
  it("a re-push reads no unchanged model; a changed one is still found and sent", async () => {
    const firstRun = await FileDigestCache.open(digestsFile, { now: settled });
    const first = await pushModels({
      connection,
      corpusPath,
      companionCacheRoot: cacheRoot,
      digests: firstRun,
    });
    expect(first.transfer).toMatchObject({ planned: 4, sent: 4 });
    // Two models and a calibration cache; the generated corpus is hashed on its own.
    expect(firstRun.stats).toEqual({ reused: 0, hashed: 3 });
    expect(await firstRun.save()).toBe(true);

    const secondRun = await FileDigestCache.open(digestsFile, { now: settled });
    const second = await pushModels({
      connection,
      corpusPath,
      companionCacheRoot: cacheRoot,
      digests: secondRun,
    });
    expect(second.transfer).toMatchObject({ sent: 0, bytesSent: 0, skipped: 4 });
    expect(secondRun.stats).toEqual({ reused: 3, hashed: 0 });
    expect(await secondRun.save()).toBe(false);

    const model = join(workstation, "onnx", "dinov2_vpr.onnx");
    rewriteModel(model, 5);
    const thirdRun = await FileDigestCache.open(digestsFile, { now: settled });
    const third = await pushModels({
      connection,
      corpusPath,
      companionCacheRoot: cacheRoot,
      digests: thirdRun,
    });
    expect(third.transfer).toMatchObject({ sent: 1, skipped: 3, bytesSent: statSync(model).size });
    expect(thirdRun.stats).toEqual({ reused: 2, hashed: 1 });
    expect(
      readFileSync(join(cacheRoot, "models/dinov2_vpr/dinov2_vpr.onnx")).equals(readFileSync(model)),
    ).toBe(true);
  });

  it("with the real clock, models written just now are read on every push (never remembered)", async () => {
    const digests = await FileDigestCache.open(digestsFile);
    await pushModels({ connection, corpusPath, companionCacheRoot: cacheRoot, digests });
    await pushModels({ connection, corpusPath, companionCacheRoot: cacheRoot, digests });
    expect(digests.stats).toEqual({ reused: 0, hashed: 6 });
  });
});

describe("listPresent replaces the companion listing", () => {
  it("what it reports is what the push trusts", async () => {
    await pushModels({ connection, corpusPath, companionCacheRoot: cacheRoot });
    const asked: string[] = [];
    const listed = await pushModels({
      connection,
      corpusPath,
      companionCacheRoot: cacheRoot,
      listPresent: async (dir) => {
        asked.push(dir);
        return listRemoteFiles(connection, dir);
      },
    });
    expect(asked).toEqual([`${cacheRoot}/models`]);
    expect(listed.transfer).toMatchObject({ sent: 0, skipped: 4 });

    // A listing that says the directory is empty: everything crosses again.
    const empty = await pushModels({
      connection,
      corpusPath,
      companionCacheRoot: cacheRoot,
      listPresent: async () => new Map(),
    });
    expect(empty.transfer).toMatchObject({ sent: 4, skipped: 0 });
  });

  it("a listing that fails is a ModelSyncError with its message", async () => {
    const error = await pushModels({
      connection,
      corpusPath,
      companionCacheRoot: cacheRoot,
      listPresent: async () => {
        throw new Error("the companion session closed");
      },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelSyncError);
    expect(error).toMatchObject({ code: "MODEL_SYNC_FAILED", message: "the companion session closed" });
  });
});
