import { createHash, createHmac, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { writeFileAtomic } from "@operator-tool/atomic-file";
import { algorithmsForKeyType } from "./ssh-algorithms.js";
import { matchHostname } from "./ssh-patterns.js";

/** A known_hosts line that names the host being checked. */
export interface KnownHostEntry {
  file: string;
  line: number;
  marker: "" | "@revoked" | "@cert-authority";
  keyType: string;
  key: Buffer;
}

/** Where a known key lives, and what it is: for messages that let the operator find the line. */
export interface KnownKey {
  keyType: string;
  fingerprint: string;
  file: string;
  line: number;
}

export type HostKeyVerdict =
  | { status: "known"; fingerprint: string; keyType: string; match: KnownKey; withoutPort: boolean }
  | { status: "unknown"; fingerprint: string; keyType: string; certAuthorities: KnownKey[] }
  | {
      status: "changed";
      fingerprint: string;
      keyType: string;
      known: KnownKey[];
      knownFingerprints: string[];
    }
  | { status: "revoked"; fingerprint: string; keyType: string; revokedBy: KnownKey };

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` and OpenSSH's warnings print it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type is the first string inside the SSH wire-format blob. */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return "";
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString("latin1");
}

/** OpenSSH's name for a host in known_hosts (put_host_port): `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 || port === 0 ? host : `[${host}]:${port}`;
}

/** The curve of an ECDSA key blob matters: OpenSSH matches ecdsa keys by curve too. */
function ecdsaCurve(entry: { keyType: string }): string | undefined {
  return entry.keyType.startsWith("ecdsa-sha2-") ? entry.keyType.slice("ecdsa-sha2-".length) : undefined;
}

/**
 * Every known_hosts line, across the files in order, whose host field
 * names `name`: hashed (`|1|salt|hash`) or a pattern list with `*`, `?` and
 * `!` negation, compared case-insensitively (hostfile.c, match_hostname).
 * Lines that do not parse are skipped, as OpenSSH skips them.
 */
export function loadHostKeys(name: string, files: readonly string[]): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    const lines = text.split("\n");
    lines.forEach((raw, index) => {
      const entry = parseLine(raw.replace(/\r$/, ""), file, index + 1);
      if (entry !== undefined && hostFieldMatches(entry.hosts, name)) {
        entries.push({ file, line: index + 1, marker: entry.marker, keyType: entry.keyType, key: entry.key });
      }
    });
  }
  return entries;
}

function parseLine(
  raw: string,
  _file: string,
  _line: number,
): { marker: KnownHostEntry["marker"]; hosts: string; keyType: string; key: Buffer } | undefined {
  let rest = raw.replace(/^[ \t]+/, "");
  if (rest === "" || rest.startsWith("#")) return undefined;
  let marker: KnownHostEntry["marker"] = "";
  if (rest.startsWith("@")) {
    const m = /^(@\S+)[ \t]+/.exec(rest);
    if (m === null) return undefined;
    if (m[1] === "@cert-authority" || m[1] === "@revoked") marker = m[1];
    else return undefined;
    rest = rest.slice(m[0].length);
    if (rest.startsWith("@")) return undefined; // only one marker is allowed
  }
  const fields = rest.split(/[ \t]+/);
  const [hosts, type, base64] = fields;
  if (hosts === undefined || type === undefined || base64 === undefined || base64 === "") return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const key = Buffer.from(base64, "base64");
  // sshkey_read: the blob must be the key type the line names.
  if (keyType(key) !== type) return undefined;
  return { marker, hosts, keyType: type, key };
}

function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith("|")) {
    const m = /^\|1\|([^|]+)\|(.+)$/.exec(hosts);
    if (m === null) return false;
    const salt = Buffer.from(m[1]!, "base64");
    if (salt.length !== 20) return false;
    const hash = createHmac("sha1", salt).update(name).digest("base64");
    return `|1|${m[1]}|${hash}` === hosts;
  }
  return matchHostname(name, hosts) === 1;
}

export interface CheckHostKeyOptions {
  /** The name looked up: HostKeyAlias, or `host` / `[host]:port`. */
  name: string;
  /** Off port 22 without HostKeyAlias: the bare host, tried when `name` knows nothing ("found matching key w/out port"). */
  bareName?: string | undefined;
  /** UserKnownHostsFile entries first, then GlobalKnownHostsFile, as OpenSSH loads them. */
  files: readonly string[];
  key: Buffer;
}

/**
 * check_host_key as OpenSSH decides it: the key matches a known plain key →
 * known; any other plain key for the name, of any type → changed; a
 * matching `@revoked` line → revoked; no plain key at all → unknown (with
 * the `@cert-authority` lines that name the host, which ssh2 cannot use).
 */
export function checkHostKey(options: CheckHostKeyOptions): HostKeyVerdict {
  const presentedType = keyType(options.key);
  const fp = fingerprint(options.key);
  const entries = loadHostKeys(options.name, options.files);
  const describe = (e: KnownHostEntry): KnownKey => ({
    keyType: e.keyType,
    fingerprint: fingerprint(e.key),
    file: e.file,
    line: e.line,
  });
  const revokedBy = entries.find((e) => e.marker === "@revoked" && e.key.equals(options.key));
  if (revokedBy !== undefined) {
    return { status: "revoked", fingerprint: fp, keyType: presentedType, revokedBy: describe(revokedBy) };
  }
  const plain = entries.filter((e) => e.marker === "");
  const match = plain.find((e) => e.key.equals(options.key));
  if (match !== undefined) {
    return {
      status: "known",
      fingerprint: fp,
      keyType: presentedType,
      match: describe(match),
      withoutPort: false,
    };
  }
  if (plain.length > 0) {
    const known = plain.map(describe);
    return {
      status: "changed",
      fingerprint: fp,
      keyType: presentedType,
      known,
      knownFingerprints: known.map((k) => k.fingerprint),
    };
  }
  if (options.bareName !== undefined && options.bareName !== options.name) {
    const bare = checkHostKey({ name: options.bareName, files: options.files, key: options.key });
    if (bare.status === "known") return { ...bare, withoutPort: true };
  }
  return {
    status: "unknown",
    fingerprint: fp,
    keyType: presentedType,
    certAuthorities: entries.filter((e) => e.marker === "@cert-authority").map(describe),
  };
}

/**
 * order_hostkeyalgs (sshconnect2.c): when the best-preference algorithm's
 * key type is already known for the host, the list stays as it is;
 * otherwise the algorithms of known key types move to the front, keeping
 * their order, so the server presents a key we can verify.
 */
export function preferKnownHostKeyAlgorithms(
  name: string,
  files: readonly string[],
  algorithms: readonly string[],
): string[] {
  const entries = loadHostKeys(name, files).filter((e) => e.marker === "");
  const known = (algorithm: string) =>
    entries.some((e) => algorithmsForKeyType(e.keyType).includes(algorithm) && ecdsaMatches(e, algorithm));
  if (algorithms.length === 0 || known(algorithms[0]!)) return [...algorithms];
  return [...algorithms.filter(known), ...algorithms.filter((a) => !known(a))];
}

function ecdsaMatches(entry: KnownHostEntry, algorithm: string): boolean {
  const curve = ecdsaCurve(entry);
  return curve === undefined || algorithm === `ecdsa-sha2-${curve}`;
}

/** Appends the host's key as a hashed entry (OpenSSH's HashKnownHosts form), creating the file if needed. */
export async function recordHostKey(knownHostsPath: string, name: string, keyBlob: Buffer): Promise<void> {
  const salt = randomBytes(20);
  const hash = createHmac("sha1", salt).update(name).digest();
  const line = `|1|${salt.toString("base64")}|${hash.toString("base64")} ${keyType(keyBlob)} ${keyBlob.toString("base64")}\n`;
  let existing = "";
  try {
    existing = readFileSync(knownHostsPath, "utf8");
  } catch {
    mkdirSync(dirname(knownHostsPath), { recursive: true, mode: 0o700 });
  }
  const separator = existing === "" || existing.endsWith("\n") ? "" : "\n";
  await writeFileAtomic(knownHostsPath, `${existing}${separator}${line}`, { mode: 0o600 });
}

/** One file, one host and port: the verdict OpenSSH would reach with only that UserKnownHostsFile. */
export function verifyHostKey(
  knownHosts: string | readonly string[],
  host: string,
  port: number,
  keyBlob: Buffer,
): HostKeyVerdict {
  const files = typeof knownHosts === "string" ? [knownHosts] : knownHosts;
  const name = knownHostsName(host, port);
  return checkHostKey({ name, bareName: name === host ? undefined : host, files, key: keyBlob });
}
