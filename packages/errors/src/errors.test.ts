import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, open, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { describeFailure } from "./describe-failure.js";
import { ERROR_CODES, EXIT_CODE_MEANINGS, EXIT_CODES, exitCodeFor } from "./exit-codes.js";
import { InterruptedError, InvalidArgumentError, OperatorToolError } from "./operator-tool-error.js";
import { type PathUnusableError, pathUnusableErrorFrom } from "./path-unusable.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "operator-tool-errors-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const failureOf = async (work: () => Promise<unknown>) => {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error("expected the work to fail");
};

describe("the exit-code table", () => {
  it("maps every error code to a documented exit status, unknown codes to 1", () => {
    for (const exit of Object.values(ERROR_CODES)) expect(EXIT_CODE_MEANINGS[exit]).toBeDefined();
    expect(exitCodeFor("FLIGHT_NOT_FOUND")).toBe(EXIT_CODES.FLIGHT_NOT_FOUND);
    expect(exitCodeFor("PATH_UNUSABLE")).toBe(EXIT_CODES.USAGE);
    expect(exitCodeFor("SOMETHING_NEW")).toBe(EXIT_CODES.INTERNAL);
  });
});

describe("describeFailure", () => {
  it("a coded error: its code, exit status, class and one line with the hint", () => {
    const error = new InvalidArgumentError("--zoom is bad\nsecond line", { hint: "give 16-18" });
    expect(describeFailure(error)).toMatchObject({
      code: "INVALID_ARGUMENT",
      exitCode: EXIT_CODES.USAGE,
      className: "InvalidArgumentError",
      message: "--zoom is bad\nsecond line",
      line: "--zoom is bad — give 16-18",
      internal: false,
    });
  });

  it("a coded error from another copy of the package counts by its shape", () => {
    const foreign = Object.assign(new Error("flight F-1 not found"), {
      code: "FLIGHT_NOT_FOUND",
      hint: undefined,
    });
    expect(describeFailure(foreign)).toMatchObject({
      code: "FLIGHT_NOT_FOUND",
      exitCode: EXIT_CODES.FLIGHT_NOT_FOUND,
      internal: false,
    });
  });

  it("once the run was interrupted, the interruption is what is reported", () => {
    const controller = new AbortController();
    controller.abort(new InterruptedError("SIGINT"));
    const described = describeFailure(new Error("socket hang up"), { signal: controller.signal });
    expect(described).toMatchObject({
      code: "INTERRUPTED",
      exitCode: EXIT_CODES.INTERRUPTED,
      line: "interrupted by SIGINT — re-run the same command to finish: what was done is kept, and the lock was released",
    });
  });

  it("anything unrecognised is internal (exit 1), keeping the error for its stack", () => {
    const bug = new TypeError("cannot read properties of undefined");
    expect(describeFailure(bug)).toMatchObject({
      code: "INTERNAL",
      exitCode: EXIT_CODES.INTERNAL,
      className: "TypeError",
      internal: true,
      error: bug,
    });
    expect(describeFailure(new OperatorToolError("INVALID_ARGUMENT", "x")).internal).toBe(false);
  });

  it("a filesystem error an operator caused names the path, the fix and keeps the cause", async () => {
    writeFileSync(join(dir, "tiles"), "a file");
    const error = await failureOf(() => mkdir(join(dir, "tiles", "esri", "17"), { recursive: true }));
    const described = describeFailure(error);
    expect(described).toMatchObject({
      code: "PATH_UNUSABLE",
      exitCode: EXIT_CODES.USAGE,
      internal: false,
    });
    expect(described.line).toBe(
      `cannot create the directory ${join(dir, "tiles", "esri", "17")}: ${join(dir, "tiles")} is a file, where a directory belongs (ENOTDIR) — move ${join(dir, "tiles")} out of the way, or choose another location`,
    );
    expect((described.error as PathUnusableError).cause).toBe(error);
  });
});

describe("pathUnusableErrorFrom", () => {
  it("names the destination of a rename, and leads with the subject when given", async () => {
    mkdirSync(join(dir, "report.json"));
    writeFileSync(join(dir, "new"), "{}");
    const error = await failureOf(() => rename(join(dir, "new"), join(dir, "report.json")));
    const plain = pathUnusableErrorFrom(error)!;
    expect(plain.path).toBe(join(dir, "report.json"));
    expect(plain.message).toMatch(
      /^cannot write .*report\.json: .*report\.json is a directory, where a file belongs \(EISDIR\)$/,
    );
    const named = pathUnusableErrorFrom(error, { subject: "--staging-root /srv" })!;
    expect(named.message).toMatch(/^--staging-root \/srv cannot be used: .*\(EISDIR\)$/);
  });

  it("leaves errors that are not an operator's to fix alone", async () => {
    expect(pathUnusableErrorFrom(new TypeError("bug"))).toBeUndefined();
    // Reading a directory fails without naming a path: nothing to point the operator at.
    const handle = await open(dir, "r");
    const unnamed = await failureOf(() => handle.readFile()).finally(() => handle.close());
    expect((unnamed as NodeJS.ErrnoException).code).toBe("EISDIR");
    expect(pathUnusableErrorFrom(unnamed)).toBeUndefined();
    expect(pathUnusableErrorFrom(Object.assign(new Error("x"), { code: "EIO", path: dir }))).toBeUndefined();
  });
});
