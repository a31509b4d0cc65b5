import { describe, expect, it } from "vitest";
import { cacheWriteError, TileDownloadError } from "./errors.js";

const errno = (code: string, path?: string) => Object.assign(new Error(`${code}: failed`), { code, path });

describe("cacheWriteError", () => {
  it.each([
    ["EACCES", "permission denied", "make it writable by this user"],
    [
      "EPERM",
      "operation not permitted",
      "make it writable by this user (an immutable directory needs `chattr -i`)",
    ],
    ["EROFS", "the filesystem is read-only", "remount it read-write"],
    ["ENOSPC", "no space left on the device", "free space there (finished tiles are kept)"],
    ["EDQUOT", "the disk quota is used up", "free space or raise the quota (finished tiles are kept)"],
    ["ENOTDIR", "a part of the path is a file, not a directory", "move that file away"],
  ])("%s names the path, what is wrong and the fix", (code, what, fix) => {
    const cause = errno(code, "/staging/tiles/p/17/5");
    const error = cacheWriteError(cause, "/staging/tiles/p");
    expect(error).toBeInstanceOf(TileDownloadError);
    expect(error!.code).toBe("TILE_DOWNLOAD_FAILED");
    expect(error!.message).toBe(`cannot write the tile cache at /staging/tiles/p/17/5: ${what} (${code})`);
    expect(error!.hint).toBe(`${fix}, or choose another --staging-root`);
    expect(error!.cause).toBe(cause);
  });

  it("names the directory where a temp file could not be created", () => {
    const error = cacheWriteError(errno("EACCES", "/staging/tiles/p/17/5/.9.png.tmp-77-ab0"), "/x");
    expect(error!.message).toBe(
      "cannot write the tile cache at /staging/tiles/p/17/5: permission denied (EACCES)",
    );
  });

  it("falls back to the given path when the error carries none", () => {
    expect(cacheWriteError(errno("ENOSPC"), "/staging/tiles/p")!.message).toContain("at /staging/tiles/p:");
  });

  it("leaves errors the operator cannot fix (and non-errno errors) alone", () => {
    expect(cacheWriteError(errno("EIO", "/x"), "/x")).toBeUndefined();
    expect(cacheWriteError(new Error("bug"), "/x")).toBeUndefined();
  });
});
