import type { CompanionConnection } from "./connection.js";
import {
  type CompanionSession,
  findCommandFragment,
  type SessionStart,
  startSession,
} from "./session-client.js";
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
  /**
   * The companion session, open, when asked to keep it and the companion's
   * operator-tool is usable and speaks it: the rest of the build asks it.
   */
  session: CompanionSession | undefined;
  /** Why the companion's operator-tool answered no session (then the shell was asked), for the log. */
  noSessionReason: string | undefined;
}

/** What the checks are judged on, from the session's hello or the shell's answers. */
interface CompanionFacts {
  command: string | undefined;
  /** `--version`'s exit status ("0" when the session said hello). */
  versionRc: string | undefined;
  version: string;
  arch: string;
  tegra: string;
  writable: boolean;
  availKb: number;
}

/**
 * Every readiness check in one SSH round trip: the companion session's hello
 * carries them all, and the session stays open for the build's questions
 * (`keepSession`). Without a session (no operator-tool there, or one that
 * predates it) one POSIX shell script prints `key=value` lines instead.
 */
export async function checkReadiness(
  conn: CompanionConnection,
  options: ReadinessOptions & {
    keepSession?: boolean;
    /** A session started ahead (`startSession` with these options), to judge instead of starting one. */
    started?: Promise<SessionStart | undefined> | undefined;
  },
): Promise<Readiness> {
  const started =
    (await options.started) ??
    (await startSession(conn, {
      remoteCommand: options.remoteCommand,
      cacheRoot: options.cacheRoot,
      dryRun: options.dryRun === true,
    }));
  const facts: CompanionFacts =
    started.hello === undefined
      ? await askShell(conn, options)
      : {
          command: started.remoteCommand,
          versionRc: "0",
          version: started.hello.version,
          arch: started.hello.arch,
          tegra: started.hello.tegra,
          writable: started.hello.writable,
          availKb: started.hello.availKb ?? Number.NaN,
        };
  const remoteCommand = options.remoteCommand ?? facts.command ?? started.remoteCommand;
  const checks = judge(facts, remoteCommand, conn, options);
  const toolOk = checks.find((c) => c.name === "operator-tool")?.ok === true;
  const { noSessionReason } = started;
  if (options.keepSession === true && toolOk)
    return { checks, remoteCommand, session: started.session, noSessionReason };
  started.session?.close();
  return { checks, remoteCommand, session: undefined, noSessionReason };
}

/** The shell's answers, for a companion without a session to ask. */
async function askShell(conn: CompanionConnection, options: ReadinessOptions): Promise<CompanionFacts> {
  const root = shellQuote(options.cacheRoot);
  const script = [
    findCommandFragment(options.remoteCommand),
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
  const availKb = values.get("avail_kb");
  return {
    command: values.get("command"),
    versionRc: values.get("version_rc"),
    version: values.get("version") ?? "",
    arch: values.get("arch") ?? "",
    tegra: values.get("tegra") ?? "",
    writable: values.get("writable") === "1",
    availKb: availKb === undefined || availKb === "" ? Number.NaN : Number(availKb),
  };
}

function judge(
  facts: CompanionFacts,
  remoteCommand: string,
  conn: CompanionConnection,
  options: ReadinessOptions,
): ReadinessCheck[] {
  const checks: ReadinessCheck[] = [];
  const { version, versionRc } = facts;
  const versionOk = versionRc === "0" && compatible(version, options.localVersion);
  checks.push({
    name: "operator-tool",
    ok: versionOk,
    observed:
      versionRc === "0"
        ? `${remoteCommand} ${version}`
        : `\`${remoteCommand} --version\` failed: ${versionRc === "127" || version === "" ? "command not found" : version}`,
    fix: versionOk
      ? undefined
      : versionRc === "0"
        ? `run \`operator-tool companion install\` to put operator-tool ${options.localVersion} there (it has ${version}), or add --install-companion to build-cache`
        : "run `operator-tool companion install` (no root or internet needed there), add --install-companion to build-cache, or point --remote-command at an operator-tool it has",
  });
  const { arch, tegra, writable, availKb } = facts;
  checks.push({
    name: "architecture",
    ok: arch !== "",
    observed: arch || "unknown",
    fix: arch ? undefined : "uname -m failed on the companion",
  });
  const l4t = /R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)/.exec(tegra);
  checks.push({
    name: "jetson",
    ok: true,
    observed: l4t ? `L4T ${l4t[1]}.${l4t[2]}` : "not a Jetson (no /etc/nv_tegra_release)",
    fix: undefined,
  });
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
  return checks;
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
