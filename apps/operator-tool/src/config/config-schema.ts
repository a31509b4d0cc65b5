import { z } from "zod";
import { AGE_PATTERN } from "./age.js";
import { ZOOM_RANGE_PATTERN } from "./zoom-range.js";

/** `"16-18"`, `"17"` or `17`: one level may be written as a number (YAML and JSON alike). */
const zoomRange = z.union(
  [
    z.string().regex(ZOOM_RANGE_PATTERN, 'expected "MIN-MAX" or one level, e.g. "16-18" or 17'),
    z.number().int().min(0).max(22).transform(String),
  ],
  { error: 'expected "MIN-MAX" or one level, e.g. "16-18" or 17' },
);
const positiveInt = z.number().int().positive();

/**
 * `operator-tool.config.json|yaml`: every shared option, under the camelCase
 * form of its flag. Unknown keys are rejected so a typo is reported, not
 * silently ignored. Secrets themselves are not accepted here, only files
 * holding them.
 */
export const configFileSchema = z.strictObject({
  flightsApiUrl: z.url({ protocol: /^https?$/ }).optional(),
  flightsApiTokenFile: z.string().min(1).optional(),
  flightsApiTimeout: z.number().positive().optional(),
  satelliteProviderUrl: z.string().min(1).optional(),
  satelliteProviderId: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/)
    .optional(),
  apiKeyFile: z.string().min(1).optional(),
  zoom: zoomRange.optional(),
  bboxBufferM: z.number().min(0).max(100_000).optional(),
  coverage: z.enum(["corridor", "bbox"]).optional(),
  maxTiles: positiveInt.optional(),
  concurrency: positiveInt.max(256).optional(),
  maxRps: z.number().min(0).optional(),
  maxConnections: positiveInt.max(64).optional(),
  caFile: z.string().min(1).optional(),
  maxAge: z
    .union([
      z.number().min(0),
      z.string().regex(AGE_PATTERN, 'expected an age like "30d", "12h", "90m" or seconds'),
    ])
    .optional(),
  userAgent: z.string().min(1).max(200).optional(),
  satelliteProviderSubdomains: z.array(z.string().min(1)).min(1).optional(),
  blankTileSha256: z.array(z.string().regex(/^[0-9a-f]{64}$/)).optional(),
  stagingRoot: z.string().min(1).optional(),
  companionHost: z.string().min(1).optional(),
  companionPort: positiveInt.max(65_535).optional(),
  companionUser: z.string().min(1).optional(),
  identityFile: z.string().min(1).optional(),
  knownHosts: z.string().min(1).optional(),
  acceptNewHostKey: z.boolean().optional(),
  companionCacheRoot: z.string().min(1).optional(),
  sshConfig: z.string().min(1).optional(),
  engineMarginMb: z.number().int().min(0).optional(),
  remoteCommand: z.string().min(1).optional(),
  remoteCorpus: z.string().min(1).optional(),
  corpus: z.string().min(1).optional(),
  installCompanion: z.boolean().optional(),
  lockTimeout: z.number().min(0).optional(),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).optional(),
  logFormat: z.enum(["json", "pretty"]).optional(),
});

export type ConfigFile = z.infer<typeof configFileSchema>;

/** Config keys holding local paths: resolved against the config file's directory. */
export const LOCAL_PATH_KEYS = [
  "flightsApiTokenFile",
  "apiKeyFile",
  "caFile",
  "stagingRoot",
  "identityFile",
  "knownHosts",
  "corpus",
  "sshConfig",
] as const satisfies ReadonlyArray<keyof ConfigFile>;
