import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@operator-tool/atomic-file";
import type { CompanionConnection } from "@operator-tool/companion-bringup";
import { prepareCompanionBundle } from "./companion-bundle.js";
import {
  assertInstallable,
  assertSpace,
  type CompanionArch,
  type CompanionFacts,
  expandHome,
  parseProbe,
  probeScript,
  reusableNode,
} from "./companion-facts.js";
import { CompanionInstallError } from "./errors.js";
import { resolveNodeRuntime } from "./node-runtime.js";
import {
  describeLocalFile,
  type LocalFile,
  type PushProgress,
  type PushResult,
  pushFiles,
} from "./remote-files.js";
import { lastLine, runScript, singleQuote } from "./remote-script.js";

export const DEFAULT_PREFIX = "~/.local/share/operator-tool";
export const DEFAULT_BIN_DIR = "~/.local/bin";
/** Room kept free beyond the files themselves (the manifest, the shell's temp files, the first logs). */
const SPACE_MARGIN_BYTES = 16 * 1024 * 1024;

export interface InstallCompanionOptions {
  connection: CompanionConnection;
  /** The version to install: this workstation's operator-tool. */
  version: string;
  /** Workstation state directory: bundles and fetched runtimes are cached under it. */
  stagingRoot: string;
  /** The companion entry point (built JavaScript) to bundle; or `prebuiltScriptDir`. */
  companionEntry?: string | undefined;
  prebuiltScriptDir?: string | undefined;
  /** A Node binary (or node-linux-<arch> tarball) to ship when the companion has no usable Node. */
  nodeRuntime?: string | undefined;
  /** Versions live in `<prefix>/<version>/`; `~/` is the companion user's home. */
  prefix?: string | undefined;
  /** The `operator-tool` wrapper goes here. */
  binDir?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Called as each file lands; an install may be stopped at any of these points and re-run. */
  onProgress?: ((progress: PushProgress) => void | Promise<void>) | undefined;
}

export interface InstallCompanionResult {
  outcome: "installed" | "unchanged";
  version: string;
  arch: CompanionArch;
  glibc: string;
  /** The version `current` pointed to before, if another. */
  previousVersion: string | null;
  /** Absolute, on the companion. */
  versionDir: string;
  wrapper: string;
  node: { source: "companion" | "option" | "workstation" | "registry"; path: string };
  transfer: PushResult;
  /** What the installed wrapper's `--version` printed. */
  verifiedVersion: string;
  durationMs: number;
}

/**
 * Installs this operator-tool on the companion, needing only sshd and a POSIX
 * shell there (and coreutils). One probe session learns the architecture, the
 * glibc, any Node, the prefix and what is already installed; a companion that
 * already runs this exact bundle is left alone (nothing is sent). Otherwise
 * the files it lacks are pushed into `<prefix>/.incoming-<version>/`, each
 * verified by sha256 on arrival and all again before use, the directory is
 * renamed to `<prefix>/<version>/`, the `current` link switched atomically,
 * and the installed wrapper's `--version` must answer before the previous
 * version becomes `previous` (kept for `rollbackCompanion`). A kill at any
 * point leaves the old version running; the next run finishes the job.
 */
export async function installCompanion(options: InstallCompanionOptions): Promise<InstallCompanionResult> {
  const started = Date.now();
  const { connection, version } = options;
  const where = describeTarget(connection);
  const facts = await probe(connection, options);
  const arch = assertInstallable(facts, where);
  const node = reusableNode(facts);
  const bundle = await prepareCompanionBundle({
    stagingRoot: options.stagingRoot,
    version,
    arch,
    companionEntry: options.companionEntry,
    prebuiltScriptDir: options.prebuiltScriptDir,
  });
  const files = [...bundle.files];
  // Per install, not per process: a fleet installs on several companions at once.
  const generated = mkdtempSync(join(bundle.dir, "..", `generated-${version}-${arch}-`));
  try {
    return await installWith(options, { started, where, facts, arch, node, files, generated });
  } finally {
    rmSync(generated, { recursive: true, force: true });
  }
}

async function installWith(
  options: InstallCompanionOptions,
  s: {
    started: number;
    where: string;
    facts: CompanionFacts;
    arch: CompanionArch;
    node: { path: string; version: string } | undefined;
    files: LocalFile[];
    generated: string;
  },
): Promise<InstallCompanionResult> {
  const { connection, version } = options;
  const { started, where, facts, arch, node, files, generated } = s;
  let nodeSource: InstallCompanionResult["node"];
  if (node !== undefined) {
    files.push(await generatedFile(generated, "node-path", `${node.path}\n`, 0o644));
    nodeSource = { source: "companion", path: node.path };
  } else {
    const runtime = await resolveNodeRuntime({
      arch,
      cacheDir: join(options.stagingRoot, "node-runtimes"),
      nodeRuntime: options.nodeRuntime,
    });
    files.push(await describeRuntime(runtime.path, join(options.stagingRoot, "node-runtimes")));
    nodeSource = { source: runtime.source, path: runtime.path };
  }
  files.push(await generatedFile(generated, "bin/operator-tool", launcherText(version), 0o755));
  files.sort((a, b) => a.path.localeCompare(b.path));
  const manifest = files.map((file) => `${file.sha256}  ${file.path}\n`).join("");
  const versionDir = `${facts.prefix}/${version}`;
  const wrapper = `${facts.binDir}/operator-tool`;
  const wrapperText = wrapperScript(facts.prefix);
  const base = {
    version,
    arch,
    glibc: facts.glibc ?? "",
    versionDir,
    wrapper,
    node: nodeSource,
  };

  if (
    facts.current === version &&
    facts.installed.get(version) === manifest &&
    facts.wrapperText === wrapperText.trimEnd() &&
    facts.installedVersion === version
  ) {
    return {
      ...base,
      outcome: "unchanged",
      previousVersion: null,
      transfer: { planned: files.length, sent: 0, linked: 0, skipped: files.length, bytesSent: 0 },
      verifiedVersion: facts.installedVersion,
      durationMs: Date.now() - started,
    };
  }

  const reusable = new Map<string, string>();
  for (const [installed, text] of facts.installed) {
    for (const line of text.split("\n")) {
      const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (match) reusable.set(match[1]!, `${facts.prefix}/${installed}/${match[2]}`);
    }
  }
  const toSendBytes = files
    .filter((f) => facts.staged.get(f.path) !== f.sha256 && !reusable.has(f.sha256))
    .reduce((sum, f) => sum + f.bytes, 0);
  assertSpace(facts, toSendBytes + SPACE_MARGIN_BYTES, where);

  const stage = `${facts.prefix}/.incoming-${version}`;
  const fail = (message: string, cause?: unknown) =>
    new CompanionInstallError("transfer", message, {
      hint: "re-run `operator-tool companion install`: files that arrived whole are kept and not sent again",
      cause,
    });
  const transfer = await pushFiles({
    connection,
    remoteDir: stage,
    files,
    present: facts.staged,
    reusable,
    signal: options.signal,
    onProgress: options.onProgress,
    fail,
  });
  options.signal?.throwIfAborted();
  const outcome = await runScript(
    connection,
    finishScript({ prefix: facts.prefix, binDir: facts.binDir, version, wrapperText }),
    manifest,
  );
  const verified = /^verified=(.*)$/m.exec(outcome.stdout)?.[1];
  if (outcome.code !== 0 || verified === undefined) {
    const why = lastLine(outcome.stderr) || `exit ${outcome.code ?? outcome.signal}`;
    throw outcome.code === 4
      ? new CompanionInstallError(
          "verify",
          `the installed operator-tool ${version} does not run on ${where}: ${why}`,
          {
            hint: "the previous version is still current; run with --log-level debug and report the output",
          },
        )
      : new CompanionInstallError("transfer", `finishing the install on ${where} failed: ${why}`, {
          hint: "re-run `operator-tool companion install`; the previous version stays current until it succeeds",
        });
  }
  return {
    ...base,
    outcome: "installed",
    previousVersion: facts.current !== undefined && facts.current !== version ? facts.current : null,
    transfer,
    verifiedVersion: verified,
    durationMs: Date.now() - started,
  };
}

export interface RollbackCompanionOptions {
  connection: CompanionConnection;
  prefix?: string | undefined;
  binDir?: string | undefined;
}

export interface RollbackCompanionResult {
  /** Now current. */
  version: string;
  /** Was current; now `previous`, so a second rollback goes forward again. */
  replaced: string | null;
  verifiedVersion: string;
}

/** Points `current` back at `previous` (atomically), and checks the wrapper answers. */
export async function rollbackCompanion(options: RollbackCompanionOptions): Promise<RollbackCompanionResult> {
  const where = describeTarget(options.connection);
  const outcome = await runScript(
    options.connection,
    rollbackScript(options.prefix ?? DEFAULT_PREFIX, options.binDir ?? DEFAULT_BIN_DIR),
  );
  const values = new Map(
    outcome.stdout
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
  );
  if (outcome.code !== 0 || !values.has("verified")) {
    throw new CompanionInstallError(
      "rollback",
      `rollback on ${where} failed: ${lastLine(outcome.stderr) || `exit ${outcome.code}`}`,
      {
        hint:
          outcome.code === 5
            ? "there is no earlier version to go back to: install one with `operator-tool companion install`"
            : "run `operator-tool companion install` to put a working version in place",
      },
    );
  }
  return {
    version: values.get("current") ?? "",
    replaced: values.get("replaced") || null,
    verifiedVersion: values.get("verified") ?? "",
  };
}

async function probe(
  connection: CompanionConnection,
  options: InstallCompanionOptions,
): Promise<CompanionFacts> {
  const outcome = await runScript(
    connection,
    probeScript(options.prefix ?? DEFAULT_PREFIX, options.binDir ?? DEFAULT_BIN_DIR, options.version),
  );
  if (outcome.code !== 0)
    throw new CompanionInstallError(
      "transfer",
      `probing ${describeTarget(connection)} failed (exit ${outcome.code ?? outcome.signal}): ${lastLine(outcome.stderr)}`,
      { hint: "check that the companion user's login shell runs `sh -c` commands" },
    );
  return parseProbe(outcome.stdout);
}

function describeTarget(connection: CompanionConnection): string {
  return `${connection.target.user}@${connection.target.hostname}:${connection.target.port}`;
}

/** The runtime's digest, remembered by path, size and mtime: hashing 100 MB on every no-op run costs a third of a second. */
async function describeRuntime(path: string, cacheDir: string): Promise<LocalFile> {
  const info = statSync(path);
  const key = `${path}\t${info.size}\t${info.mtimeMs}`;
  const digests = join(cacheDir, "digests.json");
  let known: Record<string, string> = {};
  try {
    known = JSON.parse(readFileSync(digests, "utf8")) as Record<string, string>;
  } catch {
    known = {};
  }
  const sha256 = known[key];
  if (sha256 !== undefined)
    return { path: "runtime/node", source: path, bytes: info.size, sha256, mode: 0o755 };
  const file = await describeLocalFile(path, "runtime/node", 0o755);
  mkdirSync(cacheDir, { recursive: true });
  await writeFileAtomic(digests, JSON.stringify({ ...known, [key]: file.sha256 }), { durability: "none" });
  return file;
}

async function generatedFile(dir: string, path: string, text: string, mode: number): Promise<LocalFile> {
  const source = join(dir, path.replace(/\//g, "__"));
  writeFileSync(source, text, { mode });
  return {
    path,
    source,
    bytes: Buffer.byteLength(text),
    sha256: createHash("sha256").update(text).digest("hex"),
    mode,
  };
}

/** `<version-dir>/bin/operator-tool`: the bundled runtime if shipped, else the companion's own Node. */
export function launcherText(version: string): string {
  return [
    "#!/bin/sh",
    `# operator-tool ${version}, companion bundle (written by \`operator-tool companion install\`).`,
    'here=$(cd "$(dirname "$0")/.." && pwd -P) || exit 1',
    'if [ -x "$here/runtime/node" ]; then node=$here/runtime/node; else node=$(cat "$here/node-path"); fi',
    'exec "$node" "$here/lib/operator-tool.js" "$@"',
    "",
  ].join("\n");
}

/** `~/.local/bin/operator-tool`: the same for every version, it runs whatever `current` is. */
export function wrapperScript(prefix: string): string {
  return [
    "#!/bin/sh",
    "# operator-tool on this companion (written by `operator-tool companion install`): runs the current version.",
    `exec ${singleQuote(`${prefix}/current/bin/operator-tool`)} "$@"`,
    "",
  ].join("\n");
}

/**
 * Runs with the manifest on stdin: verify every staged file, move the
 * directory into place, write the wrapper, switch `current`, check the
 * wrapper answers with the version (else switch back, exit 4), then record
 * `previous` and remove versions that are neither.
 */
function finishScript(o: { prefix: string; binDir: string; version: string; wrapperText: string }): string {
  return [
    "set -e",
    `prefix=${singleQuote(o.prefix)}`,
    `bindir=${singleQuote(o.binDir)}`,
    `version=${singleQuote(o.version)}`,
    'stage="$prefix/.incoming-$version"',
    'final="$prefix/$version"',
    'cat > "$stage/.bundle-manifest.partial"',
    'if ! (cd "$stage" && sha256sum -c --quiet --strict .bundle-manifest.partial) >&2; then rm -f "$stage/.push-manifest"; echo "a staged file does not match its sha256; it will be sent again" >&2; exit 3; fi',
    'rm -f "$stage/.push-manifest"',
    '(cd "$stage" && find . -type f ! -name .bundle-manifest.partial | sed "s|^\\./||" | while IFS= read -r f; do awk -v f="$f" \'substr($0, 67) == f { found = 1 } END { exit !found }\' .bundle-manifest.partial || rm -f "$f"; done)',
    'mv -f "$stage/.bundle-manifest.partial" "$stage/.bundle-manifest"',
    'old=$(readlink "$prefix/current" 2>/dev/null || true)',
    'oldprev=$(readlink "$prefix/previous" 2>/dev/null || true)',
    // Only a reinstall of the same version with other contents replaces a version directory.
    'if [ -e "$final" ]; then mv -T "$final" "$prefix/.replaced-$version.$$"; fi',
    'mv -T "$stage" "$final"',
    `cat > "$bindir/.operator-tool.partial.$$" <<'OPERATOR_TOOL_WRAPPER'`,
    o.wrapperText.trimEnd(),
    "OPERATOR_TOOL_WRAPPER",
    'chmod 755 "$bindir/.operator-tool.partial.$$"',
    'mv -f "$bindir/.operator-tool.partial.$$" "$bindir/operator-tool"',
    'ln -s "$version" "$prefix/.current.partial.$$"',
    'mv -T "$prefix/.current.partial.$$" "$prefix/current"',
    'got=$("$bindir/operator-tool" --version 2>&1 | tail -n 1) || true',
    'if [ "$got" != "$version" ]; then',
    '  if [ -n "$old" ] && [ "$old" != "$version" ] && [ -d "$prefix/$old" ]; then ln -s "$old" "$prefix/.current.partial.$$" && mv -T "$prefix/.current.partial.$$" "$prefix/current"; fi',
    '  echo "its --version printed: $got" >&2',
    "  exit 4",
    "fi",
    "keep=$oldprev",
    'if [ -n "$old" ] && [ "$old" != "$version" ] && [ -d "$prefix/$old" ]; then ln -s "$old" "$prefix/.previous.partial.$$" && mv -T "$prefix/.previous.partial.$$" "$prefix/previous"; keep=$old; fi',
    'for d in "$prefix"/* "$prefix"/.replaced-*; do [ -e "$d" ] || continue; [ -L "$d" ] && continue; n=$(basename "$d"); [ "$n" = "$version" ] || [ "$n" = "$keep" ] || rm -rf "$d"; done',
    'echo "verified=$got"',
  ].join("\n");
}

function rollbackScript(prefix: string, binDir: string): string {
  return [
    "set -e",
    `prefix=${expandHome(prefix)}`,
    `bindir=${expandHome(binDir)}`,
    'cur=$(readlink "$prefix/current" 2>/dev/null || true)',
    'prev=$(readlink "$prefix/previous" 2>/dev/null || true)',
    'if [ -z "$prev" ] || [ ! -f "$prefix/$prev/.bundle-manifest" ]; then echo "no earlier version is kept under $prefix" >&2; exit 5; fi',
    'ln -s "$prev" "$prefix/.current.partial.$$"',
    'mv -T "$prefix/.current.partial.$$" "$prefix/current"',
    'if [ -n "$cur" ]; then ln -s "$cur" "$prefix/.previous.partial.$$" && mv -T "$prefix/.previous.partial.$$" "$prefix/previous"; fi',
    'got=$("$bindir/operator-tool" --version 2>&1 | tail -n 1) || true',
    'if [ "$got" != "$prev" ]; then echo "after switching back to $prev, --version printed: $got" >&2; exit 4; fi',
    'echo "current=$prev"',
    'echo "replaced=$cur"',
    'echo "verified=$got"',
  ].join("\n");
}
