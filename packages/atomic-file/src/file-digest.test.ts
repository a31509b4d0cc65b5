import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestFile, sha256Hex, sha256OfFile, sha256OfFileSync } from "./file-digest.js";

let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

describe("sha256 of a file", () => {
  // Empty, one read, and several 4 MiB chunks with a short last one.
  it.each([0, 20_000, 9 * 1024 * 1024 + 7])(
    "agrees with node:crypto over the whole content (%i bytes)",
    async (size) => {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4096) data[i] = i % 251;
      const path = join(temp.path, "f");
      writeFileSync(path, data);
      const expected = createHash("sha256").update(data).digest("hex");
      expect(sha256Hex(data)).toBe(expected);
      expect(await sha256OfFile(path)).toBe(expected);
      expect(sha256OfFileSync(path)).toBe(expected);
      expect(await digestFile(path)).toEqual({ sha256: expected, bytes: size });
    },
  );

  it("a missing file is the filesystem's error", async () => {
    await expect(sha256OfFile(join(temp.path, "missing"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(digestFile(join(temp.path, "missing"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(() => sha256OfFileSync(join(temp.path, "missing"))).toThrow(/ENOENT/);
  });
});
