/** Renderings more than one command prints. */

export interface ChecksTable {
  host: string;
  hostKeyFingerprint: string;
  checks: ReadonlyArray<{ name: string; ok: boolean; observed: string; fix: string | undefined }>;
}

/** The readiness table: `companion check`, and build-cache's error when a check fails. */
export function renderChecks(data: ChecksTable): string {
  const rows = data.checks.map((c) => [c.ok ? "ok" : "FAIL", c.name, c.observed, c.fix ?? ""]);
  const widths = [4, 13, Math.max(...rows.map((r) => r[2]!.length))];
  return [
    `Companion ${data.host} (host key ${data.hostKeyFingerprint})`,
    ...rows.map((r) =>
      `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]}`.trimEnd(),
    ),
  ].join("\n");
}
