import { CompanionInstallError } from "./errors.js";
import { listingFragment, parseListing, splitSections } from "./remote-files.js";
import { singleQuote } from "./remote-script.js";

export type CompanionArch = "arm64" | "x64";

/** The oldest glibc the Node runtime and onnxruntime's binaries load on (Ubuntu 20.04, JetPack 5). */
export const MIN_GLIBC = "2.28";
/** A Node already on the companion is used from this version on (onnxruntime-node and our own floor). */
export const MIN_NODE = "20.18.0";

/** What one probe session learns about the companion. */
export interface CompanionFacts {
  home: string;
  prefix: string;
  binDir: string;
  machine: string;
  arch: CompanionArch | undefined;
  /** e.g. "2.35"; undefined when no glibc was found (musl, or no ldd/getconf). */
  glibc: string | undefined;
  libcLine: string;
  node: { path: string; version: string } | undefined;
  /** "ok", or the error writing there gave. */
  prefixWritable: string;
  binDirWritable: string;
  freeBytes: number | undefined;
  /** Version names `current` and `previous` point to. */
  current: string | undefined;
  previous: string | undefined;
  /** `--version` of the installed wrapper, asked only when the wanted version looks installed. */
  installedVersion: string | undefined;
  wrapperText: string;
  /** sha256sum-format manifests of each installed version directory, by version. */
  installed: Map<string, string>;
  /** Verified files in the wanted version's staging directory. */
  staged: Map<string, string>;
}

export function expandHome(path: string): string {
  return path.startsWith("~/") ? `"$HOME"/${singleQuote(path.slice(2))}` : singleQuote(path);
}

/** One session: architecture, libc, Node, prefix, space, what is installed and what an interrupted install left. */
export function probeScript(prefix: string, binDir: string, version: string): string {
  const v = singleQuote(version);
  return [
    `prefix=${expandHome(prefix)}`,
    `bindir=${expandHome(binDir)}`,
    `version=${v}`,
    `echo "home=$HOME"`,
    `echo "prefix=$prefix"`,
    `echo "bindir=$bindir"`,
    `echo "machine=$(uname -m)"`,
    // ldd first: it names the glibc the dynamic loader really is (getconf can be missing or another libc's).
    `echo "ldd=$( (ldd --version 2>&1 || true) | head -n 1)"`,
    `echo "getconf=$(getconf GNU_LIBC_VERSION 2>/dev/null || true)"`,
    `node_path=$(command -v node 2>/dev/null || true)`,
    `if [ -n "$node_path" ]; then echo "node_path=$node_path"; echo "node_version=$("$node_path" --version 2>/dev/null || true)"; fi`,
    `writable() { err=$(mkdir -p "$1" 2>&1) || { echo "$err" | head -n 1; return; }; t="$1/.operator-tool-write-test.$$"; err=$( (: > "$t") 2>&1) || { echo "$err" | head -n 1; return; }; rm -f "$t"; echo ok; }`,
    `echo "prefix_writable=$(writable "$prefix")"`,
    `echo "bindir_writable=$(writable "$bindir")"`,
    `p=$prefix; while [ ! -d "$p" ]; do p=$(dirname "$p"); done`,
    `echo "free_kb=$(df -Pk "$p" 2>/dev/null | awk 'NR==2 {print $4}')"`,
    `echo "current=$(readlink "$prefix/current" 2>/dev/null || true)"`,
    `echo "previous=$(readlink "$prefix/previous" 2>/dev/null || true)"`,
    `if [ "$(readlink "$prefix/current" 2>/dev/null)" = "$version" ] && [ -f "$prefix/$version/.bundle-manifest" ] && [ -x "$bindir/operator-tool" ]; then echo "installed_version=$("$bindir/operator-tool" --version 2>/dev/null | tail -n 1)"; fi`,
    `echo "@@wrapper"`,
    `[ -f "$bindir/operator-tool" ] && cat "$bindir/operator-tool"`,
    `for m in "$prefix"/*/.bundle-manifest; do [ -f "$m" ] || continue; n=\${m%/.bundle-manifest}; [ -L "$n" ] && continue; echo "@@bundle-manifest \${n##*/}"; cat "$m"; done`,
    listingFragment(`"$prefix/.incoming-$version"`),
    "exit 0",
  ].join("\n");
}

export function parseProbe(stdout: string): CompanionFacts {
  const sections = splitSections(stdout);
  const values = new Map<string, string>();
  for (const line of sections.get("") ?? []) {
    const at = line.indexOf("=");
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1));
  }
  const get = (key: string) => {
    const value = values.get(key);
    return value === undefined || value === "" ? undefined : value;
  };
  const machine = get("machine") ?? "unknown";
  const libcLine = get("ldd") ?? "";
  const glibc =
    /GLIBC|GNU libc/i.test(libcLine) && /(\d+\.\d+)\S*\s*$/.test(libcLine)
      ? /(\d+\.\d+)\S*\s*$/.exec(libcLine)![1]
      : /^glibc (\d+\.\d+)/.exec(get("getconf") ?? "")?.[1];
  const nodePath = get("node_path");
  const nodeVersion = get("node_version");
  const freeKb = Number(get("free_kb"));
  const installed = new Map<string, string>();
  for (const [name, lines] of sections)
    if (name.startsWith("bundle-manifest "))
      installed.set(name.slice("bundle-manifest ".length), `${lines.join("\n")}\n`);
  return {
    home: get("home") ?? "",
    prefix: get("prefix") ?? "",
    binDir: get("bindir") ?? "",
    machine,
    arch: machine === "aarch64" || machine === "arm64" ? "arm64" : machine === "x86_64" ? "x64" : undefined,
    glibc,
    libcLine: libcLine || (get("getconf") ?? ""),
    node:
      nodePath !== undefined && nodeVersion !== undefined
        ? { path: nodePath, version: nodeVersion.replace(/^v/, "") }
        : undefined,
    prefixWritable: get("prefix_writable") ?? "no answer",
    binDirWritable: get("bindir_writable") ?? "no answer",
    freeBytes: Number.isFinite(freeKb) && get("free_kb") !== undefined ? freeKb * 1024 : undefined,
    current: get("current"),
    previous: get("previous"),
    installedVersion: get("installed_version"),
    wrapperText: (sections.get("wrapper") ?? []).join("\n"),
    installed,
    staged: parseListing({ manifest: sections.get("push-manifest") ?? [], stat: sections.get("stat") ?? [] }),
  };
}

/** `a >= b` for dotted numeric versions. */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.split(/[.-]/).map((n) => Number.parseInt(n, 10));
  const pb = b.split(/[.-]/).map((n) => Number.parseInt(n, 10));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (Number.isNaN(x) || Number.isNaN(y)) return false;
    if (x !== y) return x > y;
  }
  return true;
}

/** The Node on the companion, if it is recent enough to run the bundle. */
export function reusableNode(facts: CompanionFacts): { path: string; version: string } | undefined {
  return facts.node !== undefined && versionAtLeast(facts.node.version, MIN_NODE) ? facts.node : undefined;
}

/** Refuses a companion the bundle cannot run on, or cannot be written to; each refusal names the fix. */
export function assertInstallable(facts: CompanionFacts, where: string): CompanionArch {
  if (facts.arch === undefined) {
    throw new CompanionInstallError(
      "architecture",
      `${where} is ${facts.machine}; operator-tool's companion bundle exists for aarch64 (Jetson) and x86_64 only`,
      { hint: "use a 64-bit companion OS (JetPack 5 or later on a Jetson)" },
    );
  }
  if (facts.glibc === undefined || !versionAtLeast(facts.glibc, MIN_GLIBC)) {
    const seen =
      facts.glibc === undefined ? `no glibc found (${facts.libcLine || "no ldd"})` : `glibc ${facts.glibc}`;
    throw new CompanionInstallError(
      "glibc",
      `${where} has ${seen}; the Node runtime and onnxruntime need glibc ${MIN_GLIBC} or later`,
      {
        hint: "JetPack 4.x / Ubuntu 18.04 is too old: flash JetPack 5 or later (Ubuntu 20.04+)",
      },
    );
  }
  for (const [dir, verdict, flag] of [
    [facts.prefix, facts.prefixWritable, "--prefix"],
    [facts.binDir, facts.binDirWritable, "--bin-dir"],
  ] as const) {
    if (verdict !== "ok") {
      throw new CompanionInstallError(
        "prefix",
        `cannot write to ${dir} on ${where} as ${facts.home ? `the companion user (home ${facts.home})` : "the companion user"}: ${verdict}`,
        {
          hint: `make ${dir} a directory the companion user owns (e.g. sudo chown -R $USER ${dir}), or pass ${flag} with a writable one`,
        },
      );
    }
  }
  return facts.arch;
}

export function assertSpace(facts: CompanionFacts, neededBytes: number, where: string): void {
  if (facts.freeBytes === undefined || facts.freeBytes >= neededBytes) return;
  const mib = (n: number) => `${Math.ceil(n / 1024 / 1024)} MiB`;
  throw new CompanionInstallError(
    "space",
    `${where} has ${mib(facts.freeBytes)} free under ${facts.prefix}; the install needs ${mib(neededBytes)}`,
    {
      hint: `free space on the companion (old engines, logs), or pass --prefix on a larger file system`,
    },
  );
}
