// Writes docs/schemas/<id>.schema.json from the zod schemas that validate each
// --json document (apps/operator-tool/src/machine-output-schemas.ts). Run after
// `pnpm build`: `pnpm schemas`. A test fails when the files are not what this writes.
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const { jsonSchemaText, machineOutputSchemas } = await import(
  "../apps/operator-tool/dist/machine-output-schemas.js"
);
const dir = fileURLToPath(new URL("../docs/schemas/", import.meta.url));
mkdirSync(dir, { recursive: true });
for (const entry of await machineOutputSchemas()) {
  writeFileSync(`${dir}${entry.id}.schema.json`, jsonSchemaText(entry));
  console.log(`docs/schemas/${entry.id}.schema.json`);
}
