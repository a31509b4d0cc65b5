import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, EXIT_CODE_ACTIONS, EXIT_CODE_MEANINGS, isErrorCode } from "./exit-codes.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));

/** Every non-test TypeScript source of the app and the packages. */
function sources(): Array<{ file: string; text: string }> {
  const roots = ["apps", "packages"].flatMap((top) =>
    readdirSync(join(REPO, top)).map((name) => join(REPO, top, name, "src")),
  );
  return roots.flatMap((root) => {
    let entries: string[];
    try {
      entries = readdirSync(root, { recursive: true, encoding: "utf8" });
    } catch {
      return [];
    }
    return entries
      .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".d.ts"))
      .map((name) => ({
        file: relative(REPO, join(root, name)),
        text: readFileSync(join(root, name), "utf8"),
      }));
  });
}

function section(doc: string, name: string): string {
  return doc.split(`<!-- ${name}:start -->`)[1]!.split(`<!-- ${name}:end -->`)[0]!;
}

describe("the one exit-code table", () => {
  const doc = readFileSync(join(REPO, "docs/exit-codes.md"), "utf8");

  it("docs/exit-codes.md lists exactly its exit statuses and their meanings", () => {
    const rows = [...section(doc, "exit-codes").matchAll(/^\|\s*(\d+)\s*\|\s*(.+?)\s*\|/gm)].map((m) => [
      Number(m[1]),
      m[2],
    ]);
    expect(rows).toEqual(
      Object.entries(EXIT_CODE_MEANINGS).map(([code, meaning]) => [Number(code), meaning]),
    );
  });

  it("docs/exit-codes.md's what-to-do column is the one the error lines use", () => {
    const rows = [...section(doc, "exit-codes").matchAll(/^\|\s*(\d+)\s*\|\s*.+?\s*\|\s*(.+?)\s*\|$/gm)].map(
      (m) => [Number(m[1]), m[2]],
    );
    expect(rows).toEqual(Object.entries(EXIT_CODE_ACTIONS).map(([code, action]) => [Number(code), action]));
  });

  it("docs/exit-codes.md lists exactly its error codes", () => {
    const rows = [...section(doc, "error-codes").matchAll(/\|\s*`([A-Z_]+)`\s*\|\s*(\d+)\s*\|/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    expect(rows).toEqual(Object.entries(ERROR_CODES));
  });

  it("every error code a package constructs is in it", () => {
    const constructed = sources().flatMap(({ file, text }) =>
      [...text.matchAll(/(?:super|OperatorToolError)\(\s*"([A-Z][A-Z0-9_]+)"/g)].map((m) => ({
        file,
        code: m[1]!,
      })),
    );
    expect(constructed.length).toBeGreaterThan(20);
    expect(constructed.filter(({ code }) => !isErrorCode(code))).toEqual([]);
  });

  it("no exit status is written as a number anywhere else", () => {
    const literal = /exitCode: [0-9]|return [0-9]{2}\b|exit\([0-9]/;
    const offending = sources()
      .filter(({ file }) => !file.endsWith("exit-codes.ts"))
      .flatMap(({ file, text }) =>
        text
          .split("\n")
          .map((line, i) => ({ where: `${file}:${i + 1}`, line }))
          .filter(({ line }) => literal.test(line)),
      );
    expect(offending).toEqual([]);
  });
});
