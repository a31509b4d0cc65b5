import { fileURLToPath } from "node:url";
import { startFlightsApi } from "@operator-tool/demo-environment";
import { EXIT_CODES, InterruptedError } from "@operator-tool/errors";
import { describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

const EXAMPLE = fileURLToPath(new URL("../../../examples/flights/kyiv-survey.json", import.meta.url));

/** One in-process call with its own output and, optionally, its own cancellation. */
async function call(args: string[], signal?: AbortSignal) {
  let stdout = "";
  let stderr = "";
  const exitCode = await runCli([...args, "--log-level", "silent"], {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    ...(signal === undefined ? {} : { signal }),
  });
  return { exitCode, stdout, stderr };
}

describe("runCli in process", () => {
  it("calls side by side keep their own output and exit status", async () => {
    const [shown, missing, bad] = await Promise.all([
      call(["flights", "show", "--flight-file", EXAMPLE, "--json"]),
      call(["flights", "show", "--flight-file", "/nonexistent/flight.json"]),
      call(["tiles", "plan", "--flight-file", EXAMPLE, "--zoom", "9-3"]),
    ]);
    expect(shown).toMatchObject({ exitCode: EXIT_CODES.SUCCESS, stderr: "" });
    expect(JSON.parse(shown.stdout).flight.id).toBe("F-2024-0042");
    expect(missing.exitCode).toBe(EXIT_CODES.FLIGHT_FILE_UNREADABLE);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toMatch(/^error: .*\/nonexistent\/flight\.json/);
    expect(bad).toMatchObject({ exitCode: EXIT_CODES.USAGE, stdout: "" });
    expect(bad.stderr).toMatch(/^error: --zoom "9-3" is not a zoom range — /);
  });

  it("a call's own signal interrupts it (exit 130) and no other", async () => {
    const api = await startFlightsApi({ flights: [], always: { hang: true } });
    try {
      const controller = new AbortController();
      const args = ["flights", "show", "--flight-id", "F-1", "--flights-api-url", api.url];
      const hanging = call(args, controller.signal);
      const other = call(["flights", "show", "--flight-file", EXAMPLE]);
      expect((await other).exitCode).toBe(EXIT_CODES.SUCCESS);
      controller.abort(new InterruptedError("the test"));
      const interrupted = await hanging;
      expect(interrupted.exitCode).toBe(EXIT_CODES.INTERRUPTED);
      expect(interrupted.stderr).toBe(
        "error: interrupted by the test — re-run the same command to finish: what was done is kept, and the lock was released\n",
      );
    } finally {
      await api.close();
    }
  });
});
