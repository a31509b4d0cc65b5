import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

const SCHEMA_DIR = join(new URL("../../../docs/schemas/", import.meta.url).pathname);

/** The published JSON Schema (docs/schemas/<id>.schema.json), as a validator. */
const validators = new Map<string, z.ZodType>();
function validator(id: string): z.ZodType {
  let found = validators.get(id);
  if (found === undefined) {
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, `${id}.schema.json`), "utf8")) as Record<
      string,
      unknown
    >;
    found = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    validators.set(id, found);
  }
  return found;
}

/** Which published document each command's `--json` stdout is (the `error` document aside). */
const DOCUMENTS: Record<string, string> = {
  "build-cache": "cache-build-report",
  "compile-engines": "engine-report",
  "tiles plan": "tile-plan",
  "flights show": "flights-show",
  "tiles download": "tiles-download",
  "companion check": "companion-check",
  "companion install": "companion-install",
  "locks unlock": "locks-unlock",
  "locks list": "locks-list",
  "runs list": "runs-list",
};

/**
 * The `--json` documents a run printed, each with the id of its published
 * schema: what `checkJsonOutput` validates. Commands without a published
 * schema contribute only their `error` document.
 */
export function jsonDocumentsOf(
  args: readonly string[],
  stdout: string,
): Array<{ id: string; value: unknown }> {
  if (!args.includes("--json") || args.includes("--help") || stdout.trim() === "") return [];
  const command = ["runs", "tiles", "flights", "companion", "locks"].includes(args[0] ?? "")
    ? args.slice(0, 2).join(" ")
    : args[0];
  const lines = stdout.trimEnd().split("\n");
  const parse = (line: string): unknown => {
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`\`${command} --json\` printed a line that is not JSON: ${line.slice(0, 200)}`);
    }
  };
  const isError = (value: unknown) =>
    typeof value === "object" && value !== null && Object.keys(value).length === 1 && "error" in value;
  if (command === "runs watch") {
    const values = lines.map(parse);
    const last = values.pop();
    return [
      ...values.map((value) => ({ id: "runs-watch-event", value })),
      { id: isError(last) ? "error" : "runs-watch-result", value: last },
    ];
  }
  if (lines.length !== 1)
    throw new Error(`\`${command} --json\` printed ${lines.length} lines; --json is one JSON document`);
  const value = parse(lines[0]!);
  if (isError(value)) return [{ id: "error", value }];
  // build-cache prints a fleet's report when it provisions several companions.
  const fleet = (value as { schema?: unknown }).schema === "operator-tool/fleet-report@1";
  const id = command === undefined ? undefined : fleet ? "fleet-report" : DOCUMENTS[command];
  return id === undefined ? [] : [{ id, value }];
}

/** Throws, naming the field, when a `--json` output does not match its published JSON Schema. */
export function checkJsonOutput(args: readonly string[], stdout: string): number {
  const documents = jsonDocumentsOf(args, stdout);
  for (const { id, value } of documents) {
    const result = validator(id).safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new Error(
        `\`${args.slice(0, 2).join(" ")} --json\` does not match docs/schemas/${id}.schema.json: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? ""}`,
      );
    }
  }
  return documents.length;
}
