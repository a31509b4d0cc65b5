import { openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "./create-logger.js";
import { REDACTED, SecretRedactor } from "./secret-redactor.js";

const API_KEY = 'k3y-"quoted"&slash/+=';
const TOKEN = "flights-tok-77aa";
let temp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  temp = makeTempDir();
});
afterEach(() => temp.cleanup());

describe("SecretRedactor", () => {
  it("replaces raw, JSON-escaped and URL-encoded forms", () => {
    const r = new SecretRedactor([API_KEY, TOKEN, undefined, ""]);
    const text = `a ${API_KEY} b ${JSON.stringify(API_KEY)} c ?key=${encodeURIComponent(API_KEY)} d ${TOKEN}${TOKEN}`;
    const out = r.redact(text);
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain("quoted");
    expect(out).not.toContain(encodeURIComponent(API_KEY));
    expect(out.split(REDACTED).length - 1).toBe(5);
  });

  it("prefers the longest secret when one contains another", () => {
    const r = new SecretRedactor(["abc", "abcdef"]);
    expect(r.redact("xabcdefx")).toBe(`x${REDACTED}x`);
  });

  it("redacts nested values without touching the original", () => {
    const r = new SecretRedactor([TOKEN]);
    const value = { a: [`t=${TOKEN}`], b: { c: TOKEN, n: 3 } };
    expect(r.redactValue(value)).toEqual({ a: [`t=${REDACTED}`], b: { c: REDACTED, n: 3 } });
    expect(value.b.c).toBe(TOKEN);
  });
});

describe("createLogger", () => {
  it.each(["json", "pretty"] as const)(
    "never writes a secret in %s format, in fields, messages or stacks",
    async (format) => {
      const consolePath = join(temp.path, `console-${format}.log`);
      const filePath = join(temp.path, "run", "log.jsonl");
      const redactor = new SecretRedactor([API_KEY]);
      const logger = await createLogger({
        level: "info",
        format,
        redactor,
        fd: openSync(consolePath, "w"),
        colorize: false,
        files: [{ path: filePath, level: "debug" }],
      });
      redactor.add(TOKEN); // secrets learned after creation count too
      logger.info(
        { url: `https://tiles/1/2/3?key=${encodeURIComponent(API_KEY)}`, token: TOKEN },
        `using ${API_KEY}`,
      );
      logger.debug({ nested: { deep: [TOKEN] } }, "debug goes only to the file");
      logger.error({ err: new Error(`failed with ${TOKEN}`) }, "boom");
      const consoleText = readFileSync(consolePath, "utf8");
      const fileText = readFileSync(filePath, "utf8");
      for (const text of [consoleText, fileText]) {
        expect(text).not.toContain(TOKEN);
        expect(text).not.toContain("quoted");
        expect(text).toContain(REDACTED);
      }
      expect(consoleText).not.toContain("debug goes only to the file");
      expect(fileText).toContain("debug goes only to the file");
      for (const line of fileText.trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow();
    },
  );

  it("pretty records are one line each, their fields inline; JSON records are unchanged", async () => {
    const written: Record<"pretty" | "json", string[]> = { pretty: [], json: [] };
    for (const format of ["pretty", "json"] as const) {
      const logger = await createLogger({
        level: "info",
        format,
        redactor: new SecretRedactor([TOKEN]),
        colorize: false,
        write: (text) => written[format].push(text),
      });
      logger.info({ phase: "tile-download", runId: "r-1", token: TOKEN }, "phase tile-download");
    }
    const [pretty] = written.pretty;
    expect(written.pretty).toHaveLength(1);
    expect(pretty?.trimEnd().split("\n")).toHaveLength(1);
    expect(pretty).toMatch(/INFO.*phase tile-download.*"phase":"tile-download".*"runId":"r-1"/);
    expect(pretty).not.toContain(TOKEN);
    const [json] = written.json;
    expect(JSON.parse(json ?? "")).toMatchObject({ level: "info", phase: "tile-download", token: REDACTED });
  });
});
