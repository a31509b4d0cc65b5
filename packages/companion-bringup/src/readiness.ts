import type { CompanionConnection } from "./connection.js";
import { shellQuote } from "./shell-quote.js";

export interface ReadinessCheck {
  name: "operator-tool" | "architecture" | "jetson" | "cache-root" | "free-space";
  ok: boolean;
  /** What was seen on the companion. */
  observed: string;
  /** What to do when it fails. */
  fix: string | undefined;
}

export interface ReadinessOptions {
  /**
   * How to run operator-tool there (a shell fragment). Unset: the wrapper
   * `companion install` puts in ~/.local/bin when it is there (a non-login
   * shell's PATH seldom has it, and it is the one the operator installed on
   * purpose), else `operator-tool` on the PATH an SSH command gets.
   */
  remoteCommand: string | undefined;
  /** Only look: do not create the cache root (a dry run changes nothing). */
  dryRun?: boolean;
  cacheRoot: string;
  /** Bytes the tiles to push and the engines need on the companion. */
  requiredBytes: number;
  /** This workstation's operator-tool version; the companion's must share major (and minor while 0.x). */
  localVersion: string;
}

export interface Readiness {
  checks: ReadinessCheck[];
  /** The command that runs operator-tool there: the option's, or the one found (quoted: a shell fragment). */
  remoteCommand: string;
}

/** The wrapper `companion install` writes, as a companion shell finds it. */
export const INSTALLED_WRAPPER = "$HOME/.local/bin/operator-tool";

/**
 * Every readiness check in one SSH round trip: one POSIX shell script prints
 * `key=value` lines that are judged here.
 */
export async function checkReadiness(
  conn: CompanionConnection,
  options: ReadinessOptions,
): Promise<Readiness> {
  const root = shellQuote(options.cacheRoot);
  const find =
    options.remoteCommand === undefined
      ? // The wrapper's path comes back quoted, so a home with a space in it still runs.
        `if [ -x "${INSTALLED_WRAPPER}" ]; then c=$(printf "'%s'" "${INSTALLED_WRAPPER}"); else c=operator-tool; fi`
      : `c=${shellQuote(options.remoteCommand)}`;
  const script = [
    find,
    `printf 'command=%s\\n' "$c"`,
    `v=$(eval "$c --version" 2>&1); echo "version_rc=$?"; printf 'version=%s\\n' "$(printf '%s' "$v" | head -n 1)"`,
    `printf 'arch=%s\\n' "$(uname -m)"`,
    `printf 'tegra=%s\\n' "$(head -n 1 /etc/nv_tegra_release 2>/dev/null)"`,
    options.dryRun === true
      ? // Judged on the root, or the nearest directory above it that exists.
        `d=${root}; while [ ! -e "$d" ]; do d=$(dirname "$d"); done`
      : `mkdir -p ${root} 2>/dev/null; d=${root}`,
    `if [ -d "$d" ] && [ -w "$d" ]; then echo writable=1; else echo writable=0; fi`,
    `printf 'avail_kb=%s\\n' "$(df -Pk "$d" 2>/dev/null | awk 'NR==2 {print $4}')"`,
  ].join("\n");
  const result = await conn.run(`sh -c ${shellQuote(script)}`);
  const values = new Map<string, string>();
  for (const line of result.stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const checks: ReadinessCheck[] = [];
  const remoteCommand = options.remoteCommand ?? values.get("command") ?? "operator-tool";

  const version = values.get("version") ?? "";
  const versionOk = values.get("version_rc") === "0" && compatible(version, options.localVersion);
  checks.push({
    name: "operator-tool",
    ok: versionOk,
    observed:
      values.get("version_rc") === "0"
        ? `${remoteCommand} ${version}`
        : `\`${remoteCommand} --version\` failed: ${values.get("version_rc") === "127" || version === "" ? "command not found" : version}`,
    fix: versionOk
      ? undefined
      : values.get("version_rc") === "0"
        ? `run \`operator-tool companion install\` to put operator-tool ${options.localVersion} there (it has ${version}), or add --install-companion to build-cache`
        : "run `operator-tool companion install` (no root or internet needed there), add --install-companion to build-cache, or point --remote-command at an operator-tool it has",
  });
  const arch = values.get("arch") ?? "";
  checks.push({
    name: "architecture",
    ok: arch !== "",
    observed: arch || "unknown",
    fix: arch ? undefined : "uname -m failed on the companion",
  });
  const tegra = values.get("tegra") ?? "";
  const l4t = /R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)/.exec(tegra);
  checks.push({
    name: "jetson",
    ok: true,
    observed: l4t ? `L4T ${l4t[1]}.${l4t[2]}` : "not a Jetson (no /etc/nv_tegra_release)",
    fix: undefined,
  });
  const writable = values.get("writable") === "1";
  checks.push({
    name: "cache-root",
    ok: writable,
    observed: writable
      ? `${options.cacheRoot} writable`
      : `${options.cacheRoot} cannot be created or is not writable`,
    fix: writable
      ? undefined
      : `create ${options.cacheRoot} on the companion writable by ${conn.target.user}, or change --companion-cache-root`,
  });
  const availKb = Number(values.get("avail_kb"));
  const enough = Number.isFinite(availKb) && availKb * 1024 >= options.requiredBytes;
  checks.push({
    name: "free-space",
    ok: enough,
    observed: Number.isFinite(availKb)
      ? `${formatGiB(availKb * 1024)} free, ${formatGiB(options.requiredBytes)} needed`
      : "unknown (df failed)",
    fix: enough
      ? undefined
      : `free ${formatGiB(Math.max(0, options.requiredBytes - (availKb || 0) * 1024))} on the companion's ${options.cacheRoot} filesystem`,
  });
  return { checks, remoteCommand };
}

function compatible(remote: string, local: string): boolean {
  const parse = (v: string) => /(\d+)\.(\d+)\.(\d+)/.exec(v)?.slice(1).map(Number);
  const r = parse(remote);
  const l = parse(local);
  if (r === undefined || l === undefined) return false;
  return r[0] === l[0] && (l[0] !== 0 || r[1] === l[1]);
}

function formatGiB(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
