import type { InstallCompanionResult, RollbackCompanionResult } from "@operator-tool/companion-installer";
import type { CommandResult } from "../command-result.js";
import { openCompanion } from "../companion.js";
import { companionSources } from "../companion-sources.js";
import type { CommandContext } from "../context.js";
import { formatBytes } from "../units.js";
import { toolVersion } from "../version.js";

export interface CompanionInstallOptions {
  rollback?: boolean;
  nodeRuntime?: string;
  prefix?: string;
  binDir?: string;
}

/** Installs (or with --rollback, switches back) operator-tool on the companion; exit 30 when it cannot. */
export async function companionInstall(
  ctx: CommandContext,
  options: CompanionInstallOptions,
): Promise<CommandResult> {
  const installer = await import("@operator-tool/companion-installer");
  const connection = await openCompanion(ctx);
  const host = `${connection.target.user}@${connection.target.hostname}:${connection.target.port}`;
  try {
    if (options.rollback) {
      const result = await installer.rollbackCompanion({
        connection,
        prefix: options.prefix,
        binDir: options.binDir,
      });
      return { data: { host, ...result }, text: renderRollback(host, result) };
    }
    const result = await installer.installCompanion({
      connection,
      version: toolVersion(),
      stagingRoot: ctx.option("stagingRoot"),
      ...companionSources(),
      nodeRuntime: options.nodeRuntime,
      prefix: options.prefix,
      binDir: options.binDir,
      signal: ctx.signal,
      onProgress: (progress) => ctx.logger.debug(progress, `${progress.event} ${progress.path}`),
    });
    ctx.logger.debug({ result }, "companion install");
    return { data: { host, ...result }, text: renderInstall(host, result) };
  } finally {
    connection.close();
  }
}

function renderInstall(host: string, r: InstallCompanionResult): string {
  const node =
    r.node.source === "companion"
      ? `the companion's Node (${r.node.path})`
      : `a bundled Node runtime (from ${r.node.source === "registry" ? "the npm registry" : r.node.source === "option" ? "--node-runtime" : "this workstation"})`;
  return [
    r.outcome === "unchanged"
      ? `operator-tool ${r.version} is already installed on ${host}: nothing sent`
      : `installed operator-tool ${r.version} on ${host} (${r.arch}, glibc ${r.glibc})${r.previousVersion ? `, replacing ${r.previousVersion} (kept for --rollback)` : ""}`,
    `  ${r.versionDir}, running on ${node}`,
    `  wrapper ${r.wrapper} answers ${r.verifiedVersion}`,
    `  ${r.transfer.sent} files sent (${formatBytes(r.transfer.bytesSent)}), ${r.transfer.linked} reused from an installed version, ${r.transfer.skipped} already there; ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join("\n");
}

function renderRollback(host: string, r: RollbackCompanionResult): string {
  return `rolled ${host} back to operator-tool ${r.version}${r.replaced ? ` (${r.replaced} kept: --rollback again to return to it)` : ""}; the wrapper answers ${r.verifiedVersion}`;
}
