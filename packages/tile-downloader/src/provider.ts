import { InvalidArgumentError } from "@operator-tool/errors";
import { quadkey, type TileCoord, tmsY } from "./tile-math.js";

export interface TileProvider {
  /** Directory name in the cache: the same provider shares tiles across flights. */
  id: string;
  /** The XYZ template, with `{apiKey}` left unexpanded so it can be logged and stored. */
  urlTemplate: string;
  subdomains: readonly string[];
  apiKey: string | undefined;
}

const PLACEHOLDERS = new Set(["z", "x", "y", "-y", "q", "s", "apiKey"]);

/**
 * Validates a template and derives the provider. The id defaults to the URL's
 * host and path shape, so two templates for the same tiles share a cache.
 */
export function defineProvider(options: {
  urlTemplate: string;
  apiKey?: string | undefined;
  id?: string | undefined;
  subdomains?: readonly string[] | undefined;
}): TileProvider {
  const template = options.urlTemplate;
  const flag = "--satellite-provider-url";
  const used = [...template.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!);
  const unknown = used.filter((p) => !PLACEHOLDERS.has(p));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(`${flag} has unknown placeholder {${unknown[0]}}`, {
      hint: "use {z} {x} {y} {-y} {q} {s} {apiKey}",
    });
  }
  const has = (p: string) => used.includes(p);
  if (!has("q") && !(has("z") && has("x") && (has("y") || has("-y")))) {
    throw new InvalidArgumentError(`${flag} must contain {z}, {x} and {y} (or {-y}), or {q}`, {
      hint: "e.g. https://tiles.example/{z}/{x}/{y}.jpg?key={apiKey}",
    });
  }
  let url: URL;
  try {
    url = new URL(template.replace(/\{[^}]*\}/g, "0"));
  } catch {
    throw new InvalidArgumentError(`${flag} "${template}" is not a URL template`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError(`${flag} must be http:// or https://`);
  }
  if (has("apiKey") && !options.apiKey) {
    throw new InvalidArgumentError(`${flag} needs an API key ({apiKey}) and none was given`, {
      hint: "set OPERATOR_TOOL_API_KEY or --api-key-file",
    });
  }
  const subdomains = options.subdomains ?? ["a", "b", "c"];
  if (has("s") && subdomains.length === 0)
    throw new InvalidArgumentError(`${flag} uses {s} but no subdomains are set`);
  const id = options.id ?? deriveProviderId(template);
  if (!/^[a-z0-9][a-z0-9_.-]*$/.test(id)) {
    throw new InvalidArgumentError(`provider id "${id}" may only hold a-z, 0-9, '.', '_' and '-'`);
  }
  return { id, urlTemplate: template, subdomains, apiKey: options.apiKey };
}

export function tileUrl(provider: TileProvider, tile: TileCoord): string {
  return provider.urlTemplate.replace(/\{([^}]*)\}/g, (_, name: string) => {
    switch (name) {
      case "z":
        return String(tile.z);
      case "x":
        return String(tile.x);
      case "y":
        return String(tile.y);
      case "-y":
        return String(tmsY(tile));
      case "q":
        return quadkey(tile);
      case "s":
        // Stable per tile, so a re-run hits the same host and its HTTP cache.
        return provider.subdomains[(tile.x + tile.y) % provider.subdomains.length]!;
      case "apiKey":
        return encodeURIComponent(provider.apiKey ?? "");
      default:
        return "";
    }
  });
}

function deriveProviderId(template: string): string {
  const url = new URL(template.replace(/\{s\}\./, "").replace(/\{[^}]*\}/g, "0"));
  const host = url.hostname.replace(/^(www|tiles?|[abc])\./, "");
  const port = url.port === "" ? "" : `-${url.port}`;
  return `${host}${port}`.toLowerCase().replace(/[^a-z0-9.-]+/g, "-");
}
