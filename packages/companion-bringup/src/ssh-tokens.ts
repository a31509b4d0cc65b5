import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/** One letter to its value: `%h` → tokens.h. */
export type TokenValues = Readonly<Record<string, string>>;

export class TokenExpansionError extends Error {}

/**
 * OpenSSH's percent_expand (misc.c): `%%` is a percent sign, `%x` is the
 * value of token x; a token the directive does not offer, or a lone `%` at
 * the end, is an error. With `dollar`, `${VAR}` is replaced by the
 * environment variable first-come in the same pass (percent_dollar_expand);
 * an unset variable is an error too.
 */
export function percentExpand(
  template: string,
  tokens: TokenValues,
  options: { dollar?: boolean; env?: NodeJS.ProcessEnv } = {},
): string {
  let out = "";
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (options.dollar && c === "$" && template[i + 1] === "{") {
      const end = template.indexOf("}", i + 2);
      if (end === -1)
        throw new TokenExpansionError(`environment variable '${template.slice(i)}' missing closing '}'`);
      const name = template.slice(i + 2, end);
      if (name === "") throw new TokenExpansionError("zero-length environment variable");
      const value = (options.env ?? process.env)[name];
      if (value === undefined) throw new TokenExpansionError(`environment variable \${${name}} has no value`);
      out += value;
      i = end;
      continue;
    }
    if (c !== "%") {
      out += c;
      continue;
    }
    const key = template[++i];
    if (key === undefined) throw new TokenExpansionError(`a lone % at the end of "${template}"`);
    if (key === "%") {
      out += "%";
      continue;
    }
    const value = tokens[key];
    if (value === undefined) throw new TokenExpansionError(`unknown token %${key} in "${template}"`);
    out += value;
  }
  return out;
}

/**
 * tilde_expand (misc.c): `~` and `~/…` are the home directory, `~user/…`
 * that user's from the password database; anything else is returned as is.
 */
export function tildeExpand(path: string, homeDir: string): string {
  if (!path.startsWith("~")) return path;
  const rest = path.slice(1);
  let user: string | undefined;
  let tail: string;
  if (rest === "" || rest.startsWith("/")) {
    tail = rest.replace(/^\/+/, "");
  } else {
    const slash = rest.indexOf("/");
    user = slash === -1 ? rest : rest.slice(0, slash);
    tail = slash === -1 ? "" : rest.slice(slash + 1).replace(/^\/+/, "");
  }
  let home = homeDir;
  if (user !== undefined) {
    const found = passwdHome(user);
    if (found === undefined) throw new TokenExpansionError(`no such user ${user} in "${path}"`);
    home = found;
  }
  return `${home}${home.endsWith("/") ? "" : "/"}${tail}`;
}

function passwdHome(user: string): string | undefined {
  let text: string;
  try {
    text = readFileSync("/etc/passwd", "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === user && fields[5] !== undefined) return fields[5];
  }
  return undefined;
}

/** `%C`: the hex SHA-1 of local host name, remote host, port and remote user (ssh_connection_hash). */
export function connectionHash(localHost: string, host: string, port: string, user: string): string {
  return createHash("sha1").update(localHost).update(host).update(port).update(user).digest("hex");
}
