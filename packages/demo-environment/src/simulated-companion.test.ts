import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { generateParsableEd25519 } from "./simulated-companion.js";

const { utils } = createRequire(import.meta.url)("ssh2") as typeof import("ssh2");

describe("generateParsableEd25519", () => {
  it("never hands out a key ssh2 cannot parse, although ssh2's own generator sometimes does", () => {
    // At ~1/256 per key, 3000 raw draws all parsing has odds of about 1e-5. If
    // this starts failing, ssh2 has fixed its generator and the retry can go.
    let rawFailures = 0;
    for (let i = 0; i < 3000; i++) {
      const raw = utils.generateKeyPairSync("ed25519");
      if (utils.parseKey(raw.public) instanceof Error || utils.parseKey(raw.private) instanceof Error)
        rawFailures++;
      const pair = generateParsableEd25519(utils);
      expect(utils.parseKey(pair.public)).not.toBeInstanceOf(Error);
      expect(utils.parseKey(pair.private)).not.toBeInstanceOf(Error);
    }
    expect(rawFailures).toBeGreaterThan(0);
  });
});
