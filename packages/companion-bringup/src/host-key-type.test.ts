import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, type SshdFixture, startSshd } from "@operator-tool/test-helpers";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectToCompanion } from "./connection.js";
import { resolveTarget } from "./ssh-target.js";

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

/** A known_hosts that knows the companion only by an ECDSA key; the server presents its ED25519 key. */
function knownByOtherType(name: string): { path: string; text: string } {
  const key = join(temp.path, `${name}_ecdsa`);
  execFileSync("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-f", key], { stdio: "ignore" });
  const [type, blob] = readFileSync(`${key}.pub`, "utf8").split(" ");
  const path = join(temp.path, `${name}_known_hosts`);
  const text = `[127.0.0.1]:${sshd.port} ${type} ${blob}\n`;
  writeFileSync(path, text);
  return { path, text };
}

it("a key of another type than the known ones is CHANGED: refused even with --accept-new-host-key, nothing recorded, as OpenSSH does", async () => {
  const ours = knownByOtherType("ours");
  const target = await resolveTarget({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    sshConfigPath: "/nonexistent",
  });
  const error = await connectToCompanion({
    target,
    knownHostsPath: ours.path,
    acceptNewHostKey: true,
    agentSocket: "",
  }).then(
    (c) => {
      c.close();
      return undefined;
    },
    (e: unknown) => e as { code: string; message: string },
  );
  expect(error?.code).toBe("HOST_KEY_REJECTED");
  expect(error?.message).toContain("CHANGED");
  expect(readFileSync(ours.path, "utf8")).toBe(ours.text);

  // OpenSSH, the judge, with accept-new: the same refusal, the same untouched file.
  const theirs = knownByOtherType("theirs");
  const ssh = spawnSync(
    "ssh",
    [
      "-F",
      "none",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=accept-new",
      "-o",
      `UserKnownHostsFile=${theirs.path}`,
      "-o",
      "GlobalKnownHostsFile=none",
      "-o",
      "IdentitiesOnly=yes",
      "-i",
      sshd.identityFile,
      "-p",
      String(sshd.port),
      `${sshd.user}@127.0.0.1`,
      "true",
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  expect(ssh.status).toBe(255);
  expect(ssh.stderr).toContain("REMOTE HOST IDENTIFICATION HAS CHANGED");
  expect(readFileSync(theirs.path, "utf8")).toBe(theirs.text);
});
