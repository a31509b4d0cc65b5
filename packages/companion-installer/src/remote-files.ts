import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import type { CompanionConnection } from "@operator-tool/companion-bringup";
import { lastLine, runScript, singleQuote } from "./remote-script.js";

/** A workstation file bound for a companion directory. */
export interface LocalFile {
  /** Relative path under the remote directory: `[A-Za-z0-9_.-]` segments, no `..`. */
  path: string;
  /** Absolute path on the workstation. */
  source: string;
  bytes: number;
  sha256: string;
  /** Octal permission bits on the companion, e.g. 0o755 for the runtime. */
  mode: number;
}

export interface PushProgress {
  event: "sent" | "linked";
  path: string;
  bytes: number;
  /** Files of this push that cross the link (sent, not linked): a progress bar's total. */
  toSend: number;
}

export interface PushResult {
  planned: number;
  /** Files whose bytes crossed the link. */
  sent: number;
  /** Files taken from another directory on the companion (an installed version). */
  linked: number;
  skipped: number;
  bytesSent: number;
}

/** Each line `<sha256> <bytes> <mtime s> <path>`, appended by the receiver after a file is verified and in place. */
export const PUSH_MANIFEST = ".push-manifest";

const SAFE_RELATIVE_PATH = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
const PARALLEL_FILES = 4;

export function assertSafeRelativePath(path: string): void {
  if (!SAFE_RELATIVE_PATH.test(path) || path.includes(".partial."))
    throw new TypeError(`not a safe relative path for the companion: ${JSON.stringify(path)}`);
}

/**
 * A shell fragment printing what `dir` holds that the receiver verified: its
 * manifest, then every file's size and mtime. An entry counts only while the
 * file still has the size and mtime it had when verified, so a file changed
 * by hand is sent again, and a file cut short by a kill never counts (it is
 * still a `.partial.` temp file, removed here).
 */
export function listingFragment(dirExpression: string): string {
  return [
    `d=${dirExpression}`,
    `echo "@@push-manifest"`,
    `[ -f "$d/${PUSH_MANIFEST}" ] && cat "$d/${PUSH_MANIFEST}"`,
    `echo "@@stat"`,
    `if [ -d "$d" ]; then (cd "$d" && find . -name '*.partial.*' -type f -exec rm -f {} + ; find . -type f ! -name '${PUSH_MANIFEST}' -exec stat -c '%s %Y %n' {} +); fi`,
    `echo "@@end"`,
  ].join("\n");
}

/** Paths (relative) → sha256 of the files the listing proves are there. */
export function parseListing(section: { manifest: string[]; stat: string[] }): Map<string, string> {
  const verified = new Map<string, { sha256: string; bytes: string; mtime: string }>();
  for (const line of section.manifest) {
    const match = /^([0-9a-f]{64}) (\d+) (\d+) (.+)$/.exec(line);
    if (match) verified.set(match[4]!, { sha256: match[1]!, bytes: match[2]!, mtime: match[3]! });
  }
  const present = new Map<string, string>();
  for (const line of section.stat) {
    const match = /^(\d+) (\d+) \.\/(.+)$/.exec(line);
    if (!match) continue;
    const entry = verified.get(match[3]!);
    if (entry !== undefined && entry.bytes === match[1] && entry.mtime === match[2])
      present.set(match[3]!, entry.sha256);
  }
  return present;
}

/** Splits `@@name` sections of a script's output. */
export function splitSections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current = sections.set("", []).get("")!;
  for (const line of text.split("\n")) {
    const header = /^@@([a-z0-9-]+)(?: (.*))?$/.exec(line);
    if (header) {
      const name = header[2] === undefined ? header[1]! : `${header[1]} ${header[2]}`;
      current = [];
      sections.set(name, current);
    } else if (line !== "") current.push(line);
  }
  return sections;
}

/** Reads the remote listing of one directory (one session). */
export async function listRemoteFiles(
  connection: CompanionConnection,
  dir: string,
): Promise<Map<string, string>> {
  const outcome = await runScript(connection, listingFragment(singleQuote(dir)));
  if (outcome.code !== 0) throw new Error(`listing ${dir} failed: ${lastLine(outcome.stderr)}`);
  const sections = splitSections(outcome.stdout);
  return parseListing({ manifest: sections.get("push-manifest") ?? [], stat: sections.get("stat") ?? [] });
}

export interface PushFilesOptions {
  connection: CompanionConnection;
  /** Absolute directory on the companion. */
  remoteDir: string;
  files: LocalFile[];
  /** What the directory already holds (from `listRemoteFiles` or a combined probe). */
  present: Map<string, string>;
  /** Files with these digests already on the companion, by absolute path, copied there instead of sent. */
  reusable?: Map<string, string>;
  signal?: AbortSignal;
  onProgress?: (progress: PushProgress) => void | Promise<void>;
  /** Turns a failure into the caller's error class. */
  fail: (message: string, cause?: unknown) => Error;
}

/**
 * Makes `remoteDir` hold every file, sending only those it lacks. Each file
 * crosses in its own session into a temp file, whose sha256 the companion
 * checks before renaming it into place and recording it in the manifest: a
 * file is at its final path only when whole and verified.
 */
export async function pushFiles(options: PushFilesOptions): Promise<PushResult> {
  const { connection, remoteDir, present } = options;
  for (const file of options.files) assertSafeRelativePath(file.path);
  const missing = options.files.filter((file) => present.get(file.path) !== file.sha256);
  const result: PushResult = {
    planned: options.files.length,
    sent: 0,
    linked: 0,
    skipped: options.files.length - missing.length,
    bytesSent: 0,
  };
  const toLink: Array<{ file: LocalFile; from: string }> = [];
  const toSend: LocalFile[] = [];
  for (const file of missing) {
    const from = options.reusable?.get(file.sha256);
    if (from === undefined) toSend.push(file);
    else toLink.push({ file, from });
  }
  if (toLink.length > 0) {
    const outcome = await runScript(connection, linkScript(remoteDir, toLink));
    if (outcome.code !== 0)
      throw options.fail(`copying files already on the companion failed: ${lastLine(outcome.stderr)}`);
    for (const { file } of toLink) {
      result.linked++;
      await options.onProgress?.({
        event: "linked",
        path: file.path,
        bytes: file.bytes,
        toSend: toSend.length,
      });
    }
  }
  let next = 0;
  const worker = async () => {
    for (;;) {
      options.signal?.throwIfAborted();
      const file = toSend[next++];
      if (file === undefined) return;
      await pushOneFile(connection, remoteDir, file, options.fail, options.signal);
      result.sent++;
      result.bytesSent += file.bytes;
      await options.onProgress?.({
        event: "sent",
        path: file.path,
        bytes: file.bytes,
        toSend: toSend.length,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, toSend.length) }, worker));
  return result;
}

function recordFragment(sha256: string, path: string): string {
  const q = singleQuote(path);
  return `printf '%s %s %s\\n' ${sha256} "$(stat -c '%s %Y' "$d/"${q})" ${q} >> "$d/${PUSH_MANIFEST}"`;
}

function linkScript(remoteDir: string, entries: Array<{ file: LocalFile; from: string }>): string {
  const lines = ["set -e", `d=${singleQuote(remoteDir)}`];
  for (const { file, from } of entries) {
    const q = singleQuote(file.path);
    lines.push(
      `mkdir -p "$(dirname "$d/"${q})"`,
      `t="$d/"${q}".partial.$$"`,
      // A hard link costs no space; across file systems, a copy.
      `ln -f ${singleQuote(from)} "$t" 2>/dev/null || cp ${singleQuote(from)} "$t"`,
      `chmod ${file.mode.toString(8)} "$t"`,
      `mv -f "$t" "$d/"${q}`,
      recordFragment(file.sha256, file.path),
    );
  }
  return lines.join("\n");
}

async function pushOneFile(
  connection: CompanionConnection,
  remoteDir: string,
  file: LocalFile,
  fail: (message: string, cause?: unknown) => Error,
  signal: AbortSignal | undefined,
): Promise<void> {
  const q = singleQuote(file.path);
  const script = [
    "set -e",
    `d=${singleQuote(remoteDir)}`,
    `mkdir -p "$(dirname "$d/"${q})"`,
    `t="$d/"${q}".partial.$$"`,
    `trap 'rm -f "$t"' EXIT`,
    `cat > "$t"`,
    `set -- $(sha256sum "$t")`,
    `if [ "$1" != ${file.sha256} ]; then echo "${file.path} arrived with sha256 $1, expected ${file.sha256} ($(stat -c %s "$t") of ${file.bytes} bytes)" >&2; exit 3; fi`,
    `chmod ${file.mode.toString(8)} "$t"`,
    `mv -f "$t" "$d/"${q}`,
    recordFragment(file.sha256, file.path),
  ].join("\n");
  const remote = await connection.exec(`sh -c ${singleQuote(script)}`);
  const stderr: Buffer[] = [];
  remote.stderr.on("data", (d: Buffer) => stderr.push(d));
  remote.stdout.resume();
  const onAbort = () => remote.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    // Hashed while read: a local file that changed since it was listed is caught here, not by the companion.
    const hash = createHash("sha256");
    const source = createReadStream(file.source);
    source.on("data", (chunk) => hash.update(chunk));
    try {
      await pipeline(source, remote.stdin);
    } catch (error) {
      remote.close();
      signal?.throwIfAborted();
      throw fail(`sending ${file.path} to the companion failed: ${(error as Error).message}`, error);
    }
    const status = await remote.exit;
    signal?.throwIfAborted();
    if (hash.digest("hex") !== file.sha256) throw fail(`${file.source} changed while it was being sent`);
    if (status.code !== 0) {
      const why =
        lastLine(Buffer.concat(stderr).toString("utf8")) ||
        (status.code === null ? "the connection dropped" : `exit ${status.code}`);
      throw fail(`the companion did not take ${file.path}: ${why}`);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Where a local file's sha256 and size come from when not read here, e.g. a
 * cache that skips files unchanged since they were last hashed (atomic-file's
 * `FileDigestCache`). `bytes` must be the length of the content hashed.
 */
export interface LocalFileDigests {
  digest(path: string): Promise<{ sha256: string; bytes: number }>;
}

/** sha256 and size of a local file: from `digests` when given, else read whole here. */
export async function describeLocalFile(
  source: string,
  path: string,
  mode: number,
  digests?: LocalFileDigests,
): Promise<LocalFile> {
  if (digests !== undefined) {
    const { sha256, bytes } = await digests.digest(source);
    return { path, source, bytes, sha256, mode };
  }
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(source)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { path, source, bytes, sha256: hash.digest("hex"), mode };
}
