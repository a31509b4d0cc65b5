import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts", "tests/**/*.test.ts"],
    // Generous: end-to-end tests start real processes on a loaded two-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    globalSetup: ["tests/setup/suite.ts"],
    setupFiles: ["tests/setup/each-file.ts"],
    // The JSON report lets .ci/run print a plain "N passed, N failed" summary.
    reporters: ["default", "json"],
    outputFile: { json: ".test-results/vitest.json" },
  },
});
