import type { ReadinessCheck } from "@operator-tool/companion-bringup";
import type { CommandResult } from "../command-result.js";
import { openCompanion } from "../companion.js";
import type { CommandContext } from "../context.js";
import { toolVersion } from "../version.js";

export interface CompanionCheckData {
  host: string;
  hostKeyFingerprint: string;
  ready: boolean;
  checks: ReadinessCheck[];
}

/** The readiness checks alone: exit 0 when all pass, 30 with the table when one fails. */
export async function companionCheck(ctx: CommandContext): Promise<CommandResult> {
  const { checkReadiness } = await import("@operator-tool/companion-bringup");
  const connection = await openCompanion(ctx);
  try {
    const checks = await checkReadiness(connection, {
      remoteCommand: ctx.option("remoteCommand"),
      cacheRoot: ctx.option("companionCacheRoot"),
      requiredBytes: ctx.option("engineMarginMb") * 1024 * 1024,
      localVersion: toolVersion(),
    });
    const data: CompanionCheckData = {
      host: `${connection.target.user}@${connection.target.hostname}:${connection.target.port}`,
      hostKeyFingerprint: connection.hostKeyFingerprint,
      ready: checks.every((c) => c.ok),
      checks,
    };
    const failed = checks.filter((c) => !c.ok);
    return {
      exitCode: failed.length === 0 ? 0 : 30,
      data,
      text: renderChecks(data),
      ...(failed.length === 0
        ? {}
        : {
            errorLine: `companion not ready: ${failed.map((c) => `${c.name} (${c.observed})`).join("; ")} — ${failed[0]!.fix}`,
          }),
    };
  } finally {
    connection.close();
  }
}

export function renderChecks(data: CompanionCheckData): string {
  const rows = data.checks.map((c) => [c.ok ? "ok" : "FAIL", c.name, c.observed, c.fix ?? ""]);
  const widths = [4, 13, Math.max(...rows.map((r) => r[2]!.length))];
  return [
    `Companion ${data.host} (host key ${data.hostKeyFingerprint})`,
    ...rows.map((r) =>
      `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]}`.trimEnd(),
    ),
  ].join("\n");
}
