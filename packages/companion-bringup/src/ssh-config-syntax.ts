/**
 * The lexical layer of ssh_config, as readconf.c and misc.c read a line:
 * `strdelim` splits the keyword off (whitespace, one `=`, or a `"`-quoted
 * word), `argv_split` splits the arguments (quotes, backslash escapes, `#`
 * starting a comment at a word boundary).
 */

const WHITESPACE = " \t\r\n";

function spanOf(s: string, from: number, set: string): number {
  let i = from;
  while (i < s.length && set.includes(s[i]!)) i++;
  return i - from;
}

/**
 * misc.c strdelim: the next token of `s`, split on whitespace or a single
 * `=`; a `"` opens a quoted token. `rest` is undefined when the line is
 * used up (C's NULL), `token` undefined on an unterminated quote.
 */
export function strdelim(s: string | undefined): { token: string | undefined; rest: string | undefined } {
  if (s === undefined) return { token: undefined, rest: undefined };
  let i = 0;
  while (i < s.length && !`${WHITESPACE}"=`.includes(s[i]!)) i++;
  if (i === s.length) return { token: s, rest: undefined };
  if (s[i] === '"') {
    const shifted = s.slice(0, i) + s.slice(i + 1);
    const close = shifted.indexOf('"', i);
    if (close === -1) return { token: undefined, rest: undefined };
    const after = close + 1 + spanOf(shifted, close + 1, WHITESPACE);
    return { token: shifted.slice(0, close), rest: shifted.slice(after) };
  }
  const splitOnEquals = s[i] === "=";
  let next = i + 1 + spanOf(s, i + 1, WHITESPACE);
  if (!splitOnEquals && s[next] === "=") next += 1 + spanOf(s, next + 1, WHITESPACE);
  return { token: s.slice(0, i), rest: s.slice(next) };
}

/** misc.c argv_split with terminate_on_comment: undefined on an unterminated quote. */
export function argvSplit(s: string): string[] | undefined {
  const argv: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    if (c === "#") break;
    let quote = "";
    let arg = "";
    for (; i < s.length; i++) {
      const ch = s[i]!;
      const next = s[i + 1];
      if (ch === "\\") {
        if (next === "'" || next === '"' || next === "\\" || (quote === "" && next === " ")) {
          i++;
          arg += next;
        } else {
          arg += ch;
        }
      } else if (quote === "" && (ch === " " || ch === "\t")) {
        break;
      } else if (quote === "" && (ch === '"' || ch === "'")) {
        quote = ch;
      } else if (quote !== "" && ch === quote) {
        quote = "";
      } else {
        arg += ch;
      }
    }
    if (i >= s.length && quote !== "") return undefined;
    argv.push(arg);
  }
  return argv;
}

/** The line with trailing whitespace (and form feeds) removed, as process_config_line does. */
export function trimLineEnd(line: string): string {
  let end = line.length;
  while (end > 1 && `${WHITESPACE}\f`.includes(line[end - 1]!)) end--;
  return line.slice(0, end);
}

/** The argument text of a command-valued directive: the rest of the line after any whitespace and `=`. */
export function commandText(rest: string): string {
  return rest.slice(spanOf(rest, 0, `${WHITESPACE}=`));
}

/** misc.c convtime: `90`, `1m30s`, `2h`: seconds, or undefined when not a time. */
export function convtime(s: string): number | undefined {
  if (s === "") return undefined;
  let total = 0;
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
  const re = /(\d+)([sSmMhHdDwW]?)/y;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * (m[2] === "" ? 1 : units[m[2]!.toLowerCase()]!);
    if (total > 2_147_483_647) return undefined;
    at = re.lastIndex;
    if (m[2] === "" && at < s.length) return undefined;
  }
  return total;
}

/** misc.c atoi_err: a decimal integer 0…INT_MAX, or undefined. */
export function parseInteger(s: string | undefined): number | undefined {
  if (s === undefined || !/^[+-]?\d+$/.test(s.trim())) return undefined;
  const value = Number(s);
  return value >= 0 && value <= 2_147_483_647 ? value : undefined;
}
