import { matchPatternList } from "./ssh-patterns.js";

/** What ssh2 1.17 can negotiate, per list (lib/protocol/constants.js, SUPPORTED_*). */
export const SSH2_SUPPORTED = {
  kex: [
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group15-sha512",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group17-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group1-sha1",
  ],
  serverHostKey: [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
    "ssh-dss",
  ],
  cipher: [
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes256-cbc",
    "aes192-cbc",
    "aes128-cbc",
    "blowfish-cbc",
    "3des-cbc",
    "aes128-gcm",
    "aes256-gcm",
    "arcfour256",
    "arcfour128",
    "cast128-cbc",
    "arcfour",
  ],
  hmac: [
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
    "hmac-md5",
    "hmac-sha2-256-96",
    "hmac-sha2-512-96",
    "hmac-ripemd160",
    "hmac-sha1-96",
    "hmac-md5-96",
  ],
} as const;

/** OpenSSH 9.2's client defaults (myproposal.h): what `+`, `-` and `^` apply to. */
export const OPENSSH_DEFAULTS = {
  kex: [
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
  ],
  serverHostKey: [
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
  ],
  cipher: [
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
  ],
  hmac: [
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
  ],
} as const;

export type AlgorithmList = keyof typeof SSH2_SUPPORTED;

/**
 * kex_assemble_names: `+list` appends to the default, `-patterns` removes
 * from it, `^list` puts the list first, anything else replaces it; patterns
 * may use wildcards. The result keeps only what ssh2 can negotiate (an
 * OpenSSH-only name such as sntrup761 simply drops out).
 */
export function assembleAlgorithms(spec: string, list: AlgorithmList): string[] {
  const defaults: readonly string[] = OPENSSH_DEFAULTS[list];
  const supported: readonly string[] = SSH2_SUPPORTED[list];
  const all = [...new Set([...defaults, ...supported])];
  const expand = (patterns: string) => all.filter((name) => matchPatternList(name, patterns, false) === 1);
  const uniq = (names: string[]) => [...new Set(names)];
  let names: string[];
  if (spec.startsWith("+")) names = uniq([...defaults, ...expandInOrder(spec.slice(1), all)]);
  else if (spec.startsWith("-")) {
    const removed = new Set(expand(spec.slice(1)));
    names = defaults.filter((n) => !removed.has(n));
  } else if (spec.startsWith("^")) names = uniq([...expandInOrder(spec.slice(1), all), ...defaults]);
  else names = expandInOrder(spec, all);
  return names.filter((n) => supported.includes(n));
}

/** Each comma-separated pattern in turn, expanded against the known names in their order. */
function expandInOrder(patterns: string, all: string[]): string[] {
  const out: string[] = [];
  for (const pattern of patterns.split(",")) {
    for (const name of all)
      if (matchPatternList(name, pattern, false) === 1 && !out.includes(name)) out.push(name);
  }
  return out;
}

/** The host-key algorithms that verify a known key of this type (ssh-rsa keys sign with rsa-sha2-*). */
export function algorithmsForKeyType(keyType: string): string[] {
  if (keyType === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  return [keyType];
}
