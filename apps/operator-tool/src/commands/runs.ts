import { processAlive } from "@operator-tool/atomic-file";
import { InvalidArgumentError } from "@operator-tool/errors";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";
import { listRunIds, type RunStatus, readRunStatus } from "../run-record.js";

export async function runsList(ctx: CommandContext): Promise<CommandResult> {
  const stagingRoot = ctx.option("stagingRoot");
  const runs = listRunIds(stagingRoot)
    .map((id) => readRunStatus(stagingRoot, id))
    .filter((s): s is RunStatus => s !== undefined);
  const text =
    runs.length === 0
      ? `no runs under ${stagingRoot}`
      : runs.map((r) => `${r.runId}  ${(r.flightId ?? "-").padEnd(16)} ${describe(r)}`).join("\n");
  return { exitCode: 0, data: { runs }, text };
}

function describe(r: RunStatus): string {
  if (r.outcome !== undefined) return `${r.outcome} (exit ${r.exitCode})`;
  return processAlive(r.pid)
    ? `running: ${r.phase ?? "starting"}`
    : `ended without a report (pid ${r.pid} gone; killed?)`;
}

/**
 * Follows a run from another terminal: prints each phase transition as it is
 * written to status.json, until the run ends; exits with the run's exit code.
 */
export async function runsWatch(ctx: CommandContext, options: { args: unknown[] }): Promise<CommandResult> {
  const stagingRoot = ctx.option("stagingRoot");
  const runId = (options.args[0] as string | undefined) ?? listRunIds(stagingRoot)[0];
  if (runId === undefined)
    throw new InvalidArgumentError(`no runs under ${stagingRoot}`, {
      hint: "start one with `operator-tool build-cache`",
    });
  let status = readRunStatus(stagingRoot, runId);
  if (status === undefined)
    throw new InvalidArgumentError(`run ${runId} does not exist under ${stagingRoot}`, {
      hint: "`operator-tool runs list`",
    });
  const seen = new Set<string>();
  const emit = (s: RunStatus) => {
    for (const p of s.phases) {
      const key = `${p.name}:${p.status}:${p.startedAt}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const event = { runId, phase: p.name, status: p.status, durationMs: p.durationMs ?? null };
      if (ctx.json) ctx.writeLine(event);
      else
        process.stdout.write(
          `${p.name.padEnd(18)} ${p.status}${p.durationMs === undefined ? "" : ` (${(p.durationMs / 1000).toFixed(2)} s)`}\n`,
        );
    }
  };
  for (;;) {
    emit(status);
    if (status.outcome !== undefined) break;
    if (!processAlive(status.pid)) {
      return {
        exitCode: 1,
        data: { runId, outcome: null, exitCode: null },
        text: "",
        errorLine: `run ${runId} stopped without a report (pid ${status.pid} is gone; killed?) — see ${status.logPath}`,
      };
    }
    await new Promise((r) => setTimeout(r, 200));
    ctx.signal.throwIfAborted();
    status = readRunStatus(stagingRoot, runId) ?? status;
  }
  return {
    exitCode: status.exitCode ?? 1,
    data: { runId, outcome: status.outcome, exitCode: status.exitCode },
    text: `run ${runId}: ${status.outcome} (exit ${status.exitCode})`,
  };
}
