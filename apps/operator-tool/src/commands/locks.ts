import { InvalidArgumentError, OperatorToolError } from "@operator-tool/errors";
import { formatDuration, type LockStatus, readLockStatus, removeLock } from "../build-lock.js";
import type { CommandResult } from "../command-result.js";
import type { CommandContext } from "../context.js";

export async function locksList(ctx: CommandContext): Promise<CommandResult> {
  const stagingRoot = ctx.option("stagingRoot");
  const status = readLockStatus(stagingRoot);
  const locks =
    status.owner === undefined &&
    status.heldForMs === undefined &&
    !status.stale &&
    status.liveness === "dead"
      ? []
      : [status];
  const held = locks.filter((l) => l.owner !== undefined || l.stale);
  return {
    exitCode: 0,
    data: { stagingRoot, locks: held },
    text: held.length === 0 ? `no build lock is held under ${stagingRoot}` : held.map(renderLock).join("\n"),
  };
}

function renderLock(l: LockStatus): string {
  const o = l.owner;
  if (o === undefined) return `${l.path}: held, no owner record (stale: ${l.stale})`;
  return [
    `${l.path}`,
    `  id        ${o.lockId}`,
    `  owner     pid ${o.pid} (${o.user}@${o.hostname}) — ${l.liveness}${l.stale ? ", stale" : ""}`,
    `  run       ${o.runId}, flight ${o.flightId}`,
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
  const stagingRoot = ctx.option("stagingRoot");
  const status = readLockStatus(stagingRoot);
  if (status.owner === undefined) {
    throw new InvalidArgumentError(`no build lock with an owner is held under ${stagingRoot}`, {
      hint: "`operator-tool locks list` shows what is held",
    });
  }
  if (status.owner.lockId !== options.id) {
    throw new InvalidArgumentError(
      `--id ${options.id} does not match the held lock (${status.owner.lockId})`,
      {
        hint: "copy the id from `operator-tool locks list`; this guards against unlocking the wrong lock",
      },
    );
  }
  if (status.liveness !== "dead" && !options.force) {
    const where =
      status.liveness === "alive" ? "is still running" : `may still be running on ${status.owner.hostname}`;
    throw new OperatorToolError(
      "LOCK_HELD",
      `the lock's owner, pid ${status.owner.pid}, ${where}; refusing to unlock`,
      {
        hint: "wait for it, or pass --force if you are sure it is stuck",
      },
    );
  }
  await removeLock(stagingRoot);
  ctx.logger.warn({ lockId: options.id, owner: status.owner }, "build lock removed by hand");
  return {
    exitCode: 0,
    data: { unlocked: options.id, owner: status.owner },
    text: `unlocked ${options.id} (was held by pid ${status.owner.pid})`,
  };
}
