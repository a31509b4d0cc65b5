/**
 * OpenSSH's wildcard matching (match.c), used by `Host`, `Match` and
 * known_hosts: `*` is any run of characters, `?` exactly one, nothing else is
 * special, and the comparison is byte for byte.
 */
export function matchPattern(s: string, pattern: string): boolean {
  return matchFrom(s, 0, pattern, 0);
}

function matchFrom(s: string, si: number, p: string, pi: number): boolean {
  for (;;) {
    if (pi === p.length) return si === s.length;
    if (p[pi] === "*") {
      while (p[pi] === "*") pi++;
      if (pi === p.length) return true;
      for (let i = si; i < s.length; i++) if (matchFrom(s, i, p, pi)) return true;
      return false;
    }
    if (si === s.length) return false;
    if (p[pi] !== "?" && p[pi] !== s[si]) return false;
    si++;
    pi++;
  }
}

/**
 * A comma-separated list of patterns, each optionally negated with `!`
 * (match_pattern_list): -1 when a negated pattern matches, 1 when a positive
 * one does, 0 otherwise. `lowercasePatterns` lowers the patterns, not the string.
 */
export function matchPatternList(s: string, list: string, lowercasePatterns: boolean): -1 | 0 | 1 {
  let positive = false;
  for (const raw of list.split(",")) {
    const negated = raw.startsWith("!");
    let pattern = negated ? raw.slice(1) : raw;
    if (lowercasePatterns) pattern = asciiLower(pattern);
    if (matchPattern(s, pattern)) {
      if (negated) return -1;
      positive = true;
    }
  }
  return positive ? 1 : 0;
}

/** match_hostname: the host lowered, then matched against the lowered list. */
export function matchHostname(host: string, list: string): -1 | 0 | 1 {
  return matchPatternList(asciiLower(host), list, true);
}

/** C's tolower in the C locale: only A–Z change. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
