import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The built JavaScript `name` of this package, for a thread or process to
 * run: beside the calling module `here` in a build. A test runner runs the
 * TypeScript source, which a thread cannot start on; there it is the file in
 * `dist/`, refused when older than any source it is built from, so a test
 * never runs stale code without saying so.
 */
export function builtScript(name: string, here: string): URL {
  if (!here.endsWith(".ts")) return new URL(`./${name}`, here);
  const src = fileURLToPath(new URL(".", here));
  const dist = fileURLToPath(new URL("../dist/", here));
  const stale = readdirSync(src)
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
    .find((file) => {
      const built = `${dist}${file.replace(/\.ts$/, ".js")}`;
      return !existsSync(built) || statSync(built).mtimeMs < statSync(`${src}${file}`).mtimeMs;
    });
  if (stale !== undefined) throw new Error(`${dist} is older than ${src}${stale}: run \`pnpm build\``);
  return new URL(`../dist/${name}`, here);
}
