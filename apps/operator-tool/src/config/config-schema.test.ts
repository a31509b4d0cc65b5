import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configFileSchema } from "./config-schema.js";

describe("docs/configuration.md", () => {
  it("documents every config key the schema accepts", () => {
    const doc = readFileSync(new URL("../../../../docs/configuration.md", import.meta.url), "utf8");
    const undocumented = Object.keys(configFileSchema.shape).filter((key) => !doc.includes(`\`${key}\``));
    expect(undocumented).toEqual([]);
  });
});
