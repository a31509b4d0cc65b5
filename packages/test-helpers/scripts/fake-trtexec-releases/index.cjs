// The TensorRT releases the fake trtexec can play, oldest first. Each table is
// taken from NVIDIA's source for that release (see the comment atop each file).
"use strict";
const RELEASES = ["8.2", "8.4", "8.5", "8.6", "10.3", "10.16", "11.1"].map((name) =>
  require(`./trt-${name}.cjs`),
);

const numeric = (version) => version.split(".").map(Number);
const atMost = (a, b) => {
  const [x, y] = [numeric(a), numeric(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0);
  }
  return true;
};

/** The named release, else the newest one not newer than `version`, else 10.3 (JetPack 6.2). */
function pickRelease(name, version) {
  if (name) {
    const found = RELEASES.find((r) => r.release === name);
    if (!found) throw new Error(`fake trtexec: no table for TensorRT ${name}`);
    return found;
  }
  if (version) {
    const candidates = RELEASES.filter((r) => atMost(r.release, version));
    if (candidates.length > 0) return candidates[candidates.length - 1];
  }
  return RELEASES.find((r) => r.release === "10.3");
}

module.exports = { RELEASES, pickRelease };
