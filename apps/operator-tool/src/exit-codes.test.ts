import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { exitCodeFor, knownErrorCodes } from "./exit-codes.js";

describe("exit-code table", () => {
  it("docs/exit-codes.md lists exactly the table the CLI uses", () => {
    const doc = readFileSync(new URL("../../../docs/exit-codes.md", import.meta.url), "utf8");
    const section = doc.split("<!-- error-codes:start -->")[1]!.split("<!-- error-codes:end -->")[0]!;
    const documented = [...section.matchAll(/\|\s*`([A-Z_]+)`\s*\|\s*(\d+)\s*\|/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    expect(documented).toEqual(knownErrorCodes());
  });

  it("unknown codes are internal errors", () => {
    expect(exitCodeFor("SOMETHING_NEW")).toBe(1);
    expect(exitCodeFor("FLIGHT_NOT_FOUND")).toBe(90);
  });
});
