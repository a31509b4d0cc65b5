import type { PhaseTransition, RunState, RunStatus, RunSummary } from "@operator-tool/cache-build";
import { EXIT_CODES, InvalidArgumentError } from "@operator-tool/errors";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";

/** How often `runs watch` reads the run's status.json. */
const WATCH_INTERVAL_MS = 200;

export async function runsList(ctx: CommandContext): Promise<CommandResult> {
  const { listRuns } = await import("@operator-tool/cache-build");
  const stagingRoot = ctx.option("stagingRoot");
  const runs = listRuns(stagingRoot);
  const text =
    runs.length === 0
      ? `no runs under ${stagingRoot}`
      : runs
          .map(
            (r) =>
              `${r.runId}  ${(r.status?.flightId ?? "-").padEnd(16)} ${describe(r.state)}${fleetPart(r.status)}`,
          )
          .join("\n");
  return { data: { runs: runs.map(asListed) }, text };
}

/** A fleet's runs: the fleet's own record, and each companion's (which names its fleet run). */
function fleetPart(status: RunStatus | undefined): string {
  if (status?.kind === "fleet") return "  fleet";
  if (status?.companion !== undefined)
    return `  companion ${status.companion} (fleet ${status.fleetRunId ?? "-"})`;
  return "";
}

/** `runs list --json`: each run's status as recorded, and how it stands now. */
function asListed(run: RunSummary): RunStatus | { runId: string; state: RunState } {
  return run.status === undefined
    ? { runId: run.runId, state: run.state }
    : { ...run.status, state: run.state };
}

function describe(state: RunState): string {
  switch (state.kind) {
    case "finished":
      return `${state.outcome} (exit ${state.exitCode})`;
    case "running":
      return `running: ${state.phase ?? "starting"}`;
    case "stopped":
      return `ended without a report (pid ${state.pid} gone; killed?)`;
    case "unrecorded":
      return "no status recorded (killed as it started?)";
  }
}

/**
 * Follows a run from another terminal: prints each phase transition as the
 * run records it (all of them, however late the watch starts), until the run
 * ends; exits with the run's exit code.
 */
export async function runsWatch(ctx: CommandContext, options: { args: unknown[] }): Promise<CommandResult> {
  const { listRunIds, readRunStatus } = await import("@operator-tool/cache-build");
  const { processAlive } = await import("@operator-tool/atomic-file");
  const stagingRoot = ctx.option("stagingRoot");
  const runId = (options.args[0] as string | undefined) ?? listRunIds(stagingRoot)[0];
  if (runId === undefined)
    throw new InvalidArgumentError(`no runs under ${stagingRoot}`, {
      hint: "start one with `operator-tool build-cache`",
    });
  const first = readRunStatus(stagingRoot, runId);
  if (first === undefined)
    throw new InvalidArgumentError(`run ${runId} has no status under ${stagingRoot}`, {
      hint: "`operator-tool runs list` shows the recorded runs",
    });
  let status: RunStatus = first;
  let shown = 0;
  const emit = (transitions: PhaseTransition[]) => {
    for (const t of transitions.slice(shown)) show(t, undefined);
    shown = Math.max(shown, transitions.length);
  };
  const show = (t: PhaseTransition, companion: string | undefined) => {
    const event = {
      runId,
      ...(companion === undefined ? {} : { companion }),
      phase: t.phase,
      status: t.status,
      durationMs: t.durationMs ?? null,
    };
    if (ctx.json) ctx.writeLine(event);
    else
      ctx.out(
        `${companion === undefined ? "" : `${companion.padEnd(16)} `}${t.phase.padEnd(18)} ${t.status}${t.durationMs === undefined ? "" : ` (${(t.durationMs / 1000).toFixed(2)} s)`}\n`,
      );
  };
  // A fleet: each companion's run too, as it records its phases.
  const shownPerCompanion = new Map<string, number>();
  const emitCompanions = () => {
    if (status.kind !== "fleet") return;
    for (const id of listRunIds(stagingRoot).reverse()) {
      const companionRun = readRunStatus(stagingRoot, id);
      if (companionRun?.fleetRunId !== runId || companionRun.companion === undefined) continue;
      const seen = shownPerCompanion.get(id) ?? 0;
      for (const t of companionRun.transitions.slice(seen)) show(t, companionRun.companion);
      shownPerCompanion.set(id, Math.max(seen, companionRun.transitions.length));
    }
  };
  for (;;) {
    emit(status.transitions);
    emitCompanions();
    if (status.outcome !== undefined) break;
    if (!processAlive(status.pid)) {
      // It may have finished between the read and the check: read once more before saying so.
      const last: RunStatus = readRunStatus(stagingRoot, runId) ?? status;
      if (last.outcome !== undefined) {
        status = last;
        continue;
      }
      return {
        data: { runId, outcome: null, exitCode: null },
        text: "",
        passThrough: {
          exitCode: EXIT_CODES.INTERNAL,
          errorLine: `run ${runId} stopped without a report (pid ${status.pid} is gone; killed?) — see ${status.logPath}`,
        },
      };
    }
    await new Promise((r) => setTimeout(r, WATCH_INTERVAL_MS));
    ctx.signal.throwIfAborted();
    status = readRunStatus(stagingRoot, runId) ?? status;
  }
  return {
    data: { runId, outcome: status.outcome, exitCode: status.exitCode },
    text: `run ${runId}: ${status.outcome} (exit ${status.exitCode})`,
    passThrough: { exitCode: status.exitCode ?? EXIT_CODES.INTERNAL },
  };
}
