import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@operator-tool/test-helpers";
import { afterAll, describe, expect, it } from "vitest";
import { type Inventory, loadInventory, selectHosts } from "./inventory.js";

const temp = makeTempDir("operator-tool-inventory-");
afterAll(() => temp.cleanup());

const INI = `
# a fleet of Jetsons
spare ansible_host=10.0.0.99

[orin_nx]
jetson-[01:02] ansible_user=ops
jetson-03 ansible_host=10.0.0.3 ansible_port=2222 companion_cache_root="/data/cache"

[orin_nano]
nano-1 ansible_host=10.0.1.1 flight_id=F-2024-0099

[jetsons:children]
orin_nx
orin_nano

[jetsons:vars]
ansible_ssh_private_key_file=~/.ssh/jetson
remote_corpus=/opt/models/corpus.json

[orin_nx:vars]
remote_corpus=/opt/models/orin-nx.json

[all:vars]
companion_cache_root=/var/cache/operator-tool
`;

const YAML = `
all:
  vars:
    companion_cache_root: /var/cache/operator-tool
  hosts:
    spare:
      ansible_host: 10.0.0.99
  children:
    jetsons:
      vars:
        ansible_ssh_private_key_file: ~/.ssh/jetson
        remote_corpus: /opt/models/corpus.json
      children:
        orin_nx:
          vars:
            remote_corpus: /opt/models/orin-nx.json
          hosts:
            jetson-01:
              ansible_user: ops
            jetson-02:
              ansible_user: ops
            jetson-03:
              ansible_host: 10.0.0.3
              ansible_port: 2222
              companion_cache_root: /data/cache
        orin_nano:
          hosts:
            nano-1:
              ansible_host: 10.0.1.1
              flight_id: F-2024-0099
`;

function write(name: string, text: string): string {
  const path = join(temp.path, name);
  writeFileSync(path, text);
  return path;
}

const view = (inventory: Inventory, limit: string | undefined) =>
  selectHosts(inventory, limit).map((h) => ({ name: h.name, vars: h.vars, groups: [...h.groups].sort() }));

describe("inventories (Ansible INI and YAML)", () => {
  it("an INI and a YAML inventory resolve to the same hosts, groups and variables", async () => {
    const ini = await loadInventory(write("fleet.ini", INI));
    const yaml = await loadInventory(write("fleet.yml", YAML));
    for (const limit of [
      undefined,
      "all",
      "jetsons",
      "orin_nx",
      "jetsons:!jetson-02",
      "jetsons:&orin_nx",
      "jetson-0?",
      "*:!orin_nx",
      "~^nano",
      "ungrouped",
      "orin_nano,spare",
    ])
      expect(view(yaml, limit), String(limit)).toEqual(view(ini, limit));
    // A YAML file without the extension is still read as YAML.
    const unnamed = await loadInventory(write("fleet-inventory", YAML));
    expect(view(unnamed, undefined)).toEqual(view(ini, undefined));
  });

  it("layers variables as Ansible does: all, outer group, inner group, host", async () => {
    const ini = await loadInventory(write("layers.ini", INI));
    const byName = Object.fromEntries(ini.hosts.map((h) => [h.name, h.vars]));
    expect(byName["jetson-01"]).toEqual({
      companion_cache_root: "/var/cache/operator-tool",
      ansible_ssh_private_key_file: "~/.ssh/jetson",
      remote_corpus: "/opt/models/orin-nx.json",
      ansible_user: "ops",
    });
    expect(byName["jetson-03"]).toMatchObject({ ansible_port: 2222, companion_cache_root: "/data/cache" });
    expect(byName["nano-1"]).toMatchObject({
      remote_corpus: "/opt/models/corpus.json",
      flight_id: "F-2024-0099",
    });
    expect(byName.spare).toEqual({
      companion_cache_root: "/var/cache/operator-tool",
      ansible_host: "10.0.0.99",
    });
  });

  it("--limit: union, intersection, exclusion and globs, in inventory order", async () => {
    const ini = await loadInventory(write("limit.ini", INI));
    const names = (limit: string) => selectHosts(ini, limit).map((h) => h.name);
    expect(names("orin_nano:jetson-01")).toEqual(["jetson-01", "nano-1"]);
    expect(names("jetsons:!orin_nx")).toEqual(["nano-1"]);
    expect(names("all:&orin_nx:!jetson-03")).toEqual(["jetson-01", "jetson-02"]);
    expect(names("jetson-*")).toEqual(["jetson-01", "jetson-02", "jetson-03"]);
    expect(() => names("nothing-here")).toThrow(/--limit nothing-here selects no host/);
    // Only exclusions: from every host, as Ansible does.
    expect(names("!jetson-03")).toEqual(names("all").filter((h) => h !== "jetson-03"));
    // A pattern that does not compile is the operator's typo, not a crash.
    expect(names("jetson-0[12]")).toEqual(["jetson-01", "jetson-02"]);
    expect(() => names("jetson-[12")).toThrow(expect.objectContaining({ code: "INVENTORY_INVALID" }));
    expect(() => names("~jetson-(")).toThrow(/--limit term "~jetson-\(" is not a valid pattern/);
  });

  it("names the line of a malformed INI entry and the key of a malformed YAML one", async () => {
    await expect(loadInventory(write("bad.ini", "[g:vars]\nnot a pair\n"))).rejects.toMatchObject({
      code: "INVENTORY_INVALID",
      message: expect.stringMatching(/bad\.ini:2: "not a pair" is not key=value/),
    });
    await expect(loadInventory(write("bad.yml", "all:\n  host:\n    a: {}\n"))).rejects.toMatchObject({
      code: "INVENTORY_INVALID",
      message: expect.stringMatching(/all\.host is not hosts, vars or children/),
    });
    await expect(loadInventory(join(temp.path, "missing.ini"))).rejects.toMatchObject({
      code: "INVENTORY_INVALID",
    });
  });
});
