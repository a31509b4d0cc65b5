import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { describeIssues, OperatorToolError } from "@operator-tool/errors";
import type { ConfigFile } from "./config-schema.js";

export const CONFIG_FILE_NAMES = [
  "operator-tool.config.json",
  "operator-tool.config.yaml",
  "operator-tool.config.yml",
];

export class ConfigInvalidError extends OperatorToolError {
  constructor(message: string, hint?: string, cause?: unknown) {
    super("CONFIG_INVALID", message, { ...(hint === undefined ? {} : { hint }), cause });
  }
}

export interface LoadedConfig {
  path: string | undefined;
  values: ConfigFile;
}

/** `explicitPath` from `--config`; otherwise the first config file in `cwd`, if any. */
export async function loadConfig(explicitPath: string | undefined, cwd: string): Promise<LoadedConfig> {
  const path = explicitPath === undefined ? findConfig(cwd) : resolve(cwd, explicitPath);
  if (path === undefined) return { path: undefined, values: {} };

  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigInvalidError(
      `config file ${path} ${code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? (error as Error).message})`}`,
      "check --config",
      error,
    );
  }
  const raw = await parseConfigText(text, path);
  // zod only when there is a file to check: it is most of a command's start-up
  // (the companion runs `tiles receive` once per sync, usually with no config).
  const { configFileSchema, LOCAL_PATH_KEYS } = await import("./config-schema.js");
  const parsed = configFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const known = Object.keys(configFileSchema.shape);
    const issues = parsed.error.issues.flatMap((issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((key) => ({ path: issue.path, message: unknownKeyMessage(key, known) }))
        : [issue],
    );
    throw new ConfigInvalidError(
      `config file ${path} is invalid: ${describeIssues(issues)}`,
      "fix the field named above; docs/configuration.md lists every key",
    );
  }
  const values: ConfigFile = { ...parsed.data };
  const base = dirname(path);
  for (const key of LOCAL_PATH_KEYS) {
    const value = values[key];
    if (value !== undefined && !isAbsolute(value)) values[key] = resolve(base, value);
  }
  return { path, values };
}

/** Like an unknown flag: the closest known key, when one is close enough to be the typo. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (best === undefined || distance < best.distance) best = { key: candidate, distance };
  }
  const close = best !== undefined && best.distance <= Math.max(2, Math.floor(key.length / 3));
  return `unknown key "${key}"${close ? ` (did you mean "${best!.key}"?)` : ""}`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

function findConfig(cwd: string): string | undefined {
  for (const name of CONFIG_FILE_NAMES) {
    const candidate = resolve(cwd, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function parseConfigText(text: string, path: string): Promise<unknown> {
  if (path.endsWith(".json")) {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new ConfigInvalidError(
        `config file ${path} is not valid JSON: ${(error as Error).message}`,
        "fix the syntax at the position named",
        error,
      );
    }
  }
  const { parse, YAMLParseError } = await import("yaml");
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const where = error.linePos?.[0];
      throw new ConfigInvalidError(
        `config file ${path} is not valid YAML${where === undefined ? "" : ` (line ${where.line}, column ${where.col})`}: ${error.message.split("\n")[0]}`,
        "fix the syntax at the line named",
        error,
      );
    }
    throw error;
  }
}
