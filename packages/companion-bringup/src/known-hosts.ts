import { createHash, createHmac, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { writeFileAtomic } from "@operator-tool/atomic-file";

export type HostKeyVerdict =
  | { status: "known"; fingerprint: string }
  | { status: "unknown"; fingerprint: string }
  | { status: "changed"; fingerprint: string; knownFingerprints: string[] }
  | { status: "revoked"; fingerprint: string };

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` and OpenSSH's warnings print it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type is the first string inside the SSH wire-format blob. */
export function keyType(keyBlob: Buffer): string {
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString("latin1");
}

/** OpenSSH's name for a host in known_hosts: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

interface Entry {
  marker: "" | "@revoked" | "@cert-authority";
  patterns: string;
  type: string;
  key: string;
}

/**
 * Checks a presented host key against known_hosts with OpenSSH's rules: plain
 * and hashed (`|1|salt|hash`) names, comma lists, wildcards, negation,
 * `[host]:port`, and `@revoked`. Any other key known for the name, whatever
 * its type, makes the presented key "changed", as OpenSSH's
 * check_key_in_hostkeys decides: a server (or a man in the middle) offering a
 * new key type must not look like first contact.
 */
export function verifyHostKey(
  knownHostsPath: string,
  host: string,
  port: number,
  keyBlob: Buffer,
): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const presented = keyBlob.toString("base64");
  const fp = fingerprint(keyBlob);
  const mismatched: string[] = [];
  let known = false;
  for (const entry of readEntries(knownHostsPath)) {
    if (entry.marker === "@cert-authority") continue;
    if (entry.marker === "@revoked") {
      if (entry.key === presented) return { status: "revoked", fingerprint: fp };
      continue;
    }
    if (!namesMatch(entry.patterns, name)) continue;
    if (entry.key === presented) known = true;
    else mismatched.push(fingerprint(Buffer.from(entry.key, "base64")));
  }
  if (known) return { status: "known", fingerprint: fp };
  if (mismatched.length > 0) return { status: "changed", fingerprint: fp, knownFingerprints: mismatched };
  return { status: "unknown", fingerprint: fp };
}

/** Appends the host's key as a hashed entry (OpenSSH's HashKnownHosts form). */
export async function recordHostKey(
  knownHostsPath: string,
  host: string,
  port: number,
  keyBlob: Buffer,
): Promise<void> {
  const salt = randomBytes(20);
  const hash = createHmac("sha1", salt).update(knownHostsName(host, port)).digest();
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

function readEntries(path: string): Entry[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const entries: Entry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith("@") ? (fields.shift() as Entry["marker"]) : "";
    const [patterns, type, key] = fields;
    if (patterns === undefined || type === undefined || key === undefined) continue;
    entries.push({ marker, patterns, type, key });
  }
  return entries;
}

function namesMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith("|1|")) {
    const [, , salt, hash] = patterns.split("|");
    if (salt === undefined || hash === undefined) return false;
    return createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hash;
  }
  let matched = false;
  for (const pattern of patterns.split(",")) {
    const negated = pattern.startsWith("!");
    if (globMatch(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function globMatch(pattern: string, name: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    "i",
  );
  return regex.test(name);
}
