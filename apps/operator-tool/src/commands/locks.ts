import type { LockStatus } from "@operator-tool/cache-build";
import { InvalidArgumentError } from "@operator-tool/errors";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";

export async function locksList(ctx: CommandContext): Promise<CommandResult> {
  const { formatDuration, listLockStatuses } = await import("@operator-tool/cache-build");
  const stagingRoot = ctx.option("stagingRoot");
  // The build lock, and each companion's lock a fleet holds.
  const held = listLockStatuses(stagingRoot);
  return {
    data: { stagingRoot, locks: held },
    text:
      held.length === 0
        ? `no build lock is held under ${stagingRoot}`
        : held.map((l) => renderLock(l, formatDuration)).join("\n"),
  };
}

function renderLock(l: LockStatus & { name: string }, formatDuration: (ms: number) => string): string {
  const o = l.owner;
  if (o === undefined) return `${l.path}: held, no owner record (stale: ${l.stale})`;
  return [
    `${l.path}`,
    `  id        ${o.lockId}`,
    `  owner     pid ${o.pid} (${o.user}@${o.hostname}) — ${l.liveness}${l.stale ? ", stale" : ""}`,
    `  run       ${o.runId}, flight ${o.flightId}`,
    ...(l.name.startsWith("companion-") ? [`  companion ${l.name.slice("companion-".length)}`] : []),
    `  held for  ${formatDuration(l.heldForMs ?? 0)} (since ${o.startedAt})`,
    `  command   ${o.command}`,
  ].join("\n");
}

export async function locksUnlock(
  ctx: CommandContext,
  options: { id?: string; force?: boolean },
): Promise<CommandResult> {
  if (options.id === undefined)
    throw new InvalidArgumentError("--id is required", {
      hint: "copy the id from `operator-tool locks list`",
    });
  const { LockHeldError, listLockStatuses, removeLock } = await import("@operator-tool/cache-build");
  const stagingRoot = ctx.option("stagingRoot");
  const held = listLockStatuses(stagingRoot).filter((l) => l.owner !== undefined);
  const status = held.find((l) => l.owner!.lockId === options.id) ?? held[0];
  if (status?.owner === undefined) {
    throw new InvalidArgumentError(`no build lock with an owner is held under ${stagingRoot}`, {
      hint: "`operator-tool locks list` shows what is held",
    });
  }
  const { owner } = status;
  if (owner.lockId !== options.id) {
    throw new InvalidArgumentError(`--id ${options.id} does not match the held lock (${owner.lockId})`, {
      hint: "copy the id from `operator-tool locks list`; this guards against unlocking the wrong lock",
    });
  }
  if (status.liveness !== "dead" && !options.force) {
    const where =
      status.liveness === "alive" ? "is still running" : `may still be running on ${owner.hostname}`;
    throw new LockHeldError(
      `the lock's owner, pid ${owner.pid}, ${where}; refusing to unlock`,
      "wait for it, or pass --force if you are sure it is stuck",
    );
  }
  await removeLock(stagingRoot, status.name);
  ctx.logger.warn({ lockId: options.id, owner }, "build lock removed by hand");
  return {
    data: { unlocked: options.id, owner },
    text: `unlocked ${options.id} (was held by pid ${owner.pid})`,
  };
}
