import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { describe, expect, it } from "vitest";
import { configFileSchema } from "./config-schema.js";
import { loadConfig } from "./load-config.js";

describe("docs/configuration.md", () => {
  it("documents every config key the schema accepts", () => {
    const doc = readFileSync(new URL("../../../../docs/configuration.md", import.meta.url), "utf8");
    const undocumented = Object.keys(configFileSchema.shape).filter((key) => !doc.includes(`\`${key}\``));
    expect(undocumented).toEqual([]);
  });
});

describe("loadConfig", () => {
  it("an unknown key names the closest known key, as an unknown flag does", async () => {
    const temp = makeTempDir();
    try {
      const path = join(temp.path, "operator-tool.config.json");
      writeFileSync(path, JSON.stringify({ zoomm: "16-18", concurency: 4, frobnicate: true }));
      const loading = loadConfig(path, temp.path);
      await expect(loading).rejects.toThrow('unknown key "zoomm" (did you mean "zoom"?)');
      await expect(loading).rejects.toThrow('unknown key "concurency" (did you mean "concurrency"?)');
      await expect(loading).rejects.toThrow(/unknown key "frobnicate"(?! \(did)/);
    } finally {
      temp.cleanup();
    }
  });

  it('accepts what docs/configuration.md allows for zoom: "MIN-MAX", one level, or a number', () => {
    expect(configFileSchema.parse({ zoom: 17 }).zoom).toBe("17");
    expect(configFileSchema.parse({ zoom: "17" }).zoom).toBe("17");
    expect(configFileSchema.parse({ zoom: "16-18" }).zoom).toBe("16-18");
    expect(configFileSchema.safeParse({ zoom: 23 }).success).toBe(false);
    expect(configFileSchema.safeParse({ zoom: "16..18" }).success).toBe(false);
  });
});
