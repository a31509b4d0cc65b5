import { readFile } from "node:fs/promises";
import { OperatorToolError, type OperatorToolErrorOptions } from "@operator-tool/errors";

/** An inventory file operator-tool cannot read, or a `--limit` that selects nothing. */
export class InventoryInvalidError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("INVENTORY_INVALID", message, options);
  }
}

export type HostVars = Record<string, unknown>;

export interface InventoryHost {
  name: string;
  /** Every group the host is in, `all` included, directly or through `children`. */
  groups: string[];
  /** Group vars (outermost group first, so the innermost wins), then the host's own. */
  vars: HostVars;
}

/** An Ansible inventory as operator-tool reads it: hosts in file order, groups with their members. */
export interface Inventory {
  hosts: InventoryHost[];
  groups: Map<string, string[]>;
}

interface GroupNode {
  hosts: string[];
  children: string[];
  vars: HostVars;
}

interface RawInventory {
  /** Hosts in the order the file first names them. */
  order: string[];
  hostVars: Map<string, HostVars>;
  groups: Map<string, GroupNode>;
}

function newRaw(): RawInventory {
  return { order: [], hostVars: new Map(), groups: new Map() };
}

function group(raw: RawInventory, name: string): GroupNode {
  let node = raw.groups.get(name);
  if (node === undefined) {
    node = { hosts: [], children: [], vars: {} };
    raw.groups.set(name, node);
  }
  return node;
}

function addHost(raw: RawInventory, groupName: string, host: string, vars: HostVars): void {
  if (!raw.hostVars.has(host)) {
    raw.order.push(host);
    raw.hostVars.set(host, {});
  }
  Object.assign(raw.hostVars.get(host)!, vars);
  const node = group(raw, groupName);
  if (!node.hosts.includes(host)) node.hosts.push(host);
}

/** Reads an Ansible inventory: YAML (`.yml`, `.yaml`, or content that starts as a mapping) or INI. */
export async function loadInventory(path: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new InventoryInvalidError(
      `--inventory ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      { hint: "check the path given to --inventory", cause: error },
    );
  }
  const first = text.split("\n").find((l) => l.trim() !== "" && !/^\s*[#;]/.test(l)) ?? "";
  // YAML by name, or by a first line that opens a mapping (`all:`); INI opens with `[group]` or a host.
  const yaml = /\.ya?ml$/i.test(path) || /^[^[=\s][^=]*:\s*$/.test(first.trim());
  const raw = yaml ? await parseYamlInventory(text, path) : parseIniInventory(text, path);
  return resolveInventory(raw, path);
}

/** Ansible's INI form: `[group]` host lines with `key=value`, `[group:vars]`, `[group:children]`. */
export function parseIniInventory(text: string, path = "inventory"): RawInventory {
  const raw = newRaw();
  let section: { group: string; kind: "hosts" | "vars" | "children" } = { group: "ungrouped", kind: "hosts" };
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]:]+)(?::(vars|children))?\]$/.exec(line);
    if (header !== null) {
      section = { group: header[1]!.trim(), kind: (header[2] as "vars" | "children" | undefined) ?? "hosts" };
      group(raw, section.group);
      return;
    }
    const where = `${path}:${index + 1}`;
    if (section.kind === "vars") {
      const eq = line.indexOf("=");
      if (eq <= 0)
        throw new InventoryInvalidError(`${where}: "${line}" is not key=value`, {
          hint: `lines under [${section.group}:vars] are key=value`,
        });
      group(raw, section.group).vars[line.slice(0, eq).trim()] = iniValue(line.slice(eq + 1).trim());
      return;
    }
    if (section.kind === "children") {
      const node = group(raw, section.group);
      group(raw, line);
      if (!node.children.includes(line)) node.children.push(line);
      return;
    }
    const [name, ...pairs] = splitIniLine(line);
    const vars: HostVars = {};
    for (const pair of pairs) {
      const eq = pair.indexOf("=");
      if (eq <= 0)
        throw new InventoryInvalidError(`${where}: "${pair}" after host ${name} is not key=value`, {
          hint: "write host variables as key=value after the host name",
        });
      vars[pair.slice(0, eq)] = iniValue(pair.slice(eq + 1));
    }
    for (const host of expandHostRange(name!, where)) addHost(raw, section.group, host, vars);
  });
  return raw;
}

/** Splits on whitespace outside quotes. */
function splitIniLine(line: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quote: string | undefined;
  for (const c of line) {
    if (quote !== undefined) {
      current += c;
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
      current += c;
    } else if (/\s/.test(c)) {
      if (current !== "") parts.push(current);
      current = "";
    } else if (c === "#" && current === "") {
      break; // a trailing comment
    } else current += c;
  }
  if (current !== "") parts.push(current);
  return parts;
}

function iniValue(text: string): unknown {
  const quoted = /^(["'])(.*)\1$/.exec(text);
  if (quoted !== null) return quoted[2];
  if (/^-?\d+$/.test(text)) return Number(text);
  if (/^(true|false)$/i.test(text)) return text.toLowerCase() === "true";
  return text;
}

/** `jetson-[01:03]` → jetson-01, jetson-02, jetson-03 (Ansible's numeric ranges). */
function expandHostRange(name: string, where: string): string[] {
  const range = /^(.*)\[(\d+):(\d+)\](.*)$/.exec(name);
  if (range === null) return [name];
  const [, prefix, from, to, suffix] = range;
  const start = Number(from);
  const end = Number(to);
  if (end < start)
    throw new InventoryInvalidError(`${where}: the range in ${name} runs backwards`, {
      hint: "write ranges low:high, e.g. jetson-[01:10]",
    });
  const width = from!.length > 1 && from!.startsWith("0") ? from!.length : 0;
  return Array.from(
    { length: end - start + 1 },
    (_, i) => `${prefix}${String(start + i).padStart(width, "0")}${suffix}`,
  );
}

/** Ansible's YAML form: `all:` (or any group) with `hosts`, `vars` and `children`. */
export async function parseYamlInventory(text: string, path = "inventory"): Promise<RawInventory> {
  const { parse } = await import("yaml");
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    throw new InventoryInvalidError(`${path} is not valid YAML: ${(error as Error).message.split("\n")[0]}`, {
      hint: "fix the YAML, or write the inventory in Ansible's INI form",
      cause: error,
    });
  }
  if (!isMapping(doc))
    throw new InventoryInvalidError(`${path} is not an inventory: expected a mapping of groups (e.g. all:)`, {
      hint: "start the file with `all:` and list hosts under `hosts:`",
    });
  const raw = newRaw();
  const visit = (name: string, node: unknown, where: string) => {
    const g = group(raw, name);
    if (node === null || node === undefined) return;
    if (!isMapping(node))
      throw new InventoryInvalidError(`${where} must be a mapping with hosts, vars or children`, {
        hint: "see docs/fleet.md for the inventory format",
      });
    for (const key of Object.keys(node)) {
      if (!["hosts", "vars", "children"].includes(key))
        throw new InventoryInvalidError(`${where}.${key} is not hosts, vars or children`, {
          hint: "host variables go under the host (hosts: {name: {key: value}}) or the group's vars:",
        });
    }
    if (node.vars !== undefined && node.vars !== null) {
      if (!isMapping(node.vars))
        throw new InventoryInvalidError(`${where}.vars must be a mapping`, { hint: "vars: {key: value}" });
      Object.assign(g.vars, node.vars);
    }
    if (node.hosts !== undefined && node.hosts !== null) {
      if (!isMapping(node.hosts))
        throw new InventoryInvalidError(`${where}.hosts must be a mapping of host names`, {
          hint: "hosts: {jetson-01: {ansible_host: 10.0.0.7}}",
        });
      for (const [host, vars] of Object.entries(node.hosts)) {
        if (vars !== null && vars !== undefined && !isMapping(vars))
          throw new InventoryInvalidError(
            `${where}.hosts.${host} must be a mapping of variables (or empty)`,
            {
              hint: "jetson-01: {ansible_host: 10.0.0.7}",
            },
          );
        for (const expanded of expandHostRange(host, `${where}.hosts`))
          addHost(raw, name, expanded, (vars as HostVars | null) ?? {});
      }
    }
    if (node.children !== undefined && node.children !== null) {
      if (!isMapping(node.children))
        throw new InventoryInvalidError(`${where}.children must be a mapping of groups`, {
          hint: "children: {jetsons: {hosts: …}}",
        });
      for (const [child, childNode] of Object.entries(node.children)) {
        if (!g.children.includes(child)) g.children.push(child);
        visit(child, childNode, `${where}.children.${child}`);
      }
    }
  };
  for (const [name, node] of Object.entries(doc)) visit(name, node, `${path}: ${name}`);
  return raw;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Group membership through `children`, and each host's variables the way
 * Ansible layers them: `all`, then groups from the outermost to the innermost
 * (siblings by name), then the host's own.
 */
function resolveInventory(raw: RawInventory, path: string): Inventory {
  group(raw, "all");
  const depth = new Map<string, number>([["all", 0]]);
  const parents = new Map<string, string[]>();
  for (const [name, node] of raw.groups)
    for (const child of node.children) parents.set(child, [...(parents.get(child) ?? []), name]);
  const depthOf = (name: string, seen: string[] = []): number => {
    if (seen.includes(name))
      throw new InventoryInvalidError(
        `${path}: group ${name} is its own ancestor (${[...seen, name].join(" → ")})`,
        {
          hint: "remove the cycle from the children sections",
        },
      );
    const known = depth.get(name);
    if (known !== undefined) return known;
    const d = 1 + Math.max(0, ...(parents.get(name) ?? []).map((p) => depthOf(p, [...seen, name])));
    depth.set(name, d);
    return d;
  };
  const members = new Map<string, string[]>();
  const membersOf = (name: string, seen: string[] = []): string[] => {
    const known = members.get(name);
    if (known !== undefined) return known;
    if (seen.includes(name)) return [];
    const node = raw.groups.get(name);
    const all = new Set(node?.hosts ?? []);
    for (const child of node?.children ?? []) for (const h of membersOf(child, [...seen, name])) all.add(h);
    const list = raw.order.filter((h) => all.has(h));
    members.set(name, list);
    return list;
  };
  const groups = new Map<string, string[]>();
  for (const name of raw.groups.keys()) {
    depthOf(name);
    groups.set(name, membersOf(name));
  }
  groups.set("all", [...raw.order]);
  groups.set(
    "ungrouped",
    raw.order.filter((h) =>
      [...raw.groups].every(([g, node]) => g === "ungrouped" || g === "all" || !node.hosts.includes(h)),
    ),
  );
  const hosts = raw.order.map((name) => {
    const hostGroups = [...groups].filter(([, list]) => list.includes(name)).map(([g]) => g);
    const layered = hostGroups
      .filter((g) => g !== "all")
      .sort((a, b) => depthOf(a) - depthOf(b) || a.localeCompare(b));
    const vars: HostVars = { ...raw.groups.get("all")?.vars };
    for (const g of layered) Object.assign(vars, raw.groups.get(g)?.vars);
    Object.assign(vars, raw.hostVars.get(name));
    return { name, groups: hostGroups, vars };
  });
  return { hosts, groups };
}

/**
 * `--limit` as Ansible reads it: terms separated by `:` or `,`; a plain term
 * adds its hosts, `&term` keeps only hosts also in it, `!term` removes its
 * hosts. A term is a group or host name, a glob (`*`, `?`), or `~regex`.
 * Hosts keep the inventory's order.
 */
export function selectHosts(inventory: Inventory, limit: string | undefined): InventoryHost[] {
  if (limit === undefined || limit.trim() === "") return inventory.hosts;
  const terms = limit
    .split(/[:,]/)
    .map((t) => t.trim())
    .filter(Boolean);
  const matching = (term: string): Set<string> => {
    const out = new Set<string>();
    const test = termMatcher(term);
    for (const [name, list] of inventory.groups) if (test(name)) for (const h of list) out.add(h);
    for (const h of inventory.hosts) if (test(h.name)) out.add(h.name);
    return out;
  };
  const plain = terms.filter((t) => !t.startsWith("&") && !t.startsWith("!"));
  // Only `&`/`!` terms narrow every host, as in Ansible (`--limit '!jetson-03'`).
  const selected = new Set<string>(plain.length === 0 ? inventory.hosts.map((h) => h.name) : []);
  for (const t of plain) for (const h of matching(t)) selected.add(h);
  for (const t of terms.filter((t) => t.startsWith("&"))) {
    const keep = matching(t.slice(1));
    for (const h of [...selected]) if (!keep.has(h)) selected.delete(h);
  }
  for (const t of terms.filter((t) => t.startsWith("!")))
    for (const h of matching(t.slice(1))) selected.delete(h);
  const hosts = inventory.hosts.filter((h) => selected.has(h.name));
  if (hosts.length === 0)
    throw new InventoryInvalidError(`--limit ${limit} selects no host of the inventory`, {
      hint: `the inventory has the groups ${[...inventory.groups.keys()].join(", ")}; check the pattern`,
    });
  return hosts;
}

function termMatcher(term: string): (name: string) => boolean {
  if (term.startsWith("~")) {
    const re = patternRegExp(term.slice(1), term);
    return (name) => re.test(name);
  }
  if (!/[*?[]/.test(term)) return (name) => name === term;
  const re = patternRegExp(
    `^${term
      .split("")
      .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|\\]/g, "\\$&")))
      .join("")}$`,
    term,
  );
  return (name) => re.test(name);
}

/** A --limit term as a regular expression; one that does not compile is the operator's to fix. */
function patternRegExp(source: string, term: string): RegExp {
  try {
    return new RegExp(source);
  } catch (error) {
    throw new InventoryInvalidError(
      `--limit term "${term}" is not a valid pattern (${(error as Error).message})`,
      {
        hint: "use host or group names, * and ? globs, [abc] classes, or ~regex with a valid regular expression",
        cause: error,
      },
    );
  }
}
