import { readFileSync } from "node:fs";
import type { BaseAgent, ParsedKey } from "ssh2";

/** One key to offer, in OpenSSH's order: an agent key (maybe one an IdentityFile names), or a key file. */
export type IdentityAttempt =
  | { kind: "agent"; key: ParsedKey; blob: Buffer; label: string }
  | { kind: "file"; path: string };

/**
 * pubkey_prepare (sshconnect2.c): agent keys first, in the agent's order,
 * those that IdentityFile names before the others; the other agent keys
 * only without IdentitiesOnly; then the remaining identity files in
 * config order (a missing one is skipped when its turn comes).
 */
export function planIdentities(options: {
  identityFiles: readonly string[];
  identitiesOnly: boolean;
  agentKeys: readonly ParsedKey[];
}): IdentityAttempt[] {
  const files = options.identityFiles.map((path) => ({ path, blob: publicBlobOf(path) }));
  const preferred: IdentityAttempt[] = [];
  const agentOnly: IdentityAttempt[] = [];
  for (const key of options.agentKeys) {
    const blob = key.getPublicSSH();
    const index = files.findIndex((f) => f.blob?.equals(blob) === true);
    if (index !== -1) {
      preferred.push({ kind: "agent", key, blob, label: files[index]!.path });
      files.splice(index, 1);
    } else if (!options.identitiesOnly) {
      agentOnly.push({ kind: "agent", key, blob, label: key.comment || "agent key" });
    }
  }
  return [...preferred, ...agentOnly, ...files.map((f): IdentityAttempt => ({ kind: "file", path: f.path }))];
}

/**
 * The public half of a key file without its passphrase, as
 * sshkey_load_public finds it: the OpenSSH private-key format carries it in
 * clear; otherwise `<file>.pub`.
 */
export function publicBlobOf(path: string): Buffer | undefined {
  let text: string | undefined;
  try {
    text = readFileSync(path, "latin1");
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    const fromPrivate = openSshPrivateKeyPublicBlob(text);
    if (fromPrivate !== undefined) return fromPrivate;
    const asPublic = publicLineBlob(text);
    if (asPublic !== undefined) return asPublic;
  }
  try {
    return publicLineBlob(readFileSync(`${path}.pub`, "latin1"));
  } catch {
    return undefined;
  }
}

function publicLineBlob(text: string): Buffer | undefined {
  const m = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})(\s|$)/.exec(text);
  if (m === null) return undefined;
  return Buffer.from(m[2]!, "base64");
}

/** `openssh-key-v1`: magic, cipher, kdf, kdf options, key count, then the first public key, unencrypted. */
function openSshPrivateKeyPublicBlob(text: string): Buffer | undefined {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (m === null) return undefined;
  const data = Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
  const magic = Buffer.from("openssh-key-v1\0", "latin1");
  if (!data.subarray(0, magic.length).equals(magic)) return undefined;
  let at = magic.length;
  const readString = (): Buffer | undefined => {
    if (at + 4 > data.length) return undefined;
    const length = data.readUInt32BE(at);
    at += 4;
    if (at + length > data.length) return undefined;
    const value = data.subarray(at, at + length);
    at += length;
    return value;
  };
  for (let i = 0; i < 3; i++) if (readString() === undefined) return undefined;
  if (at + 4 > data.length || data.readUInt32BE(at) < 1) return undefined;
  at += 4;
  return readString();
}

/** Whether a key file needs a passphrase: what to tell the operator when it was skipped. */
export function isEncryptedKey(text: string): boolean {
  if (/Proc-Type: 4,ENCRYPTED|BEGIN ENCRYPTED PRIVATE KEY/.test(text)) return true;
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (m === null) return false;
  const data = Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
  const at = "openssh-key-v1\0".length;
  if (data.length < at + 4) return false;
  const length = data.readUInt32BE(at);
  return data.subarray(at + 4, at + 4 + length).toString("latin1") !== "none";
}

/** Lists an ssh-agent's keys; an agent that cannot be reached lists none (OpenSSH carries on without it). */
export function listAgentKeys(agent: BaseAgent<ParsedKey>): Promise<{ keys: ParsedKey[]; error?: Error }> {
  return new Promise((resolve) => {
    try {
      agent.getIdentities((error, keys) => {
        if (error) resolve({ keys: [], error });
        else resolve({ keys: (keys ?? []) as ParsedKey[] }); // OpenSSHAgent lists parsed keys
      });
    } catch (error) {
      resolve({ keys: [], error: error as Error });
    }
  });
}
