import { describeIssues } from "@operator-tool/errors";
import { z } from "zod";

// The receiver's first stdout line: what it holds, by path, with digests.
const listingSchema = z.object({
  files: z.record(
    z.string(),
    z.looseObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/, "is not a sha256 hex digest") }),
  ),
});

export type Listing = z.infer<typeof listingSchema>["files"];

/**
 * The files the companion holds, from its listing line; throws an `Error`
 * naming the first fields that are wrong (or that the line is not JSON).
 */
export function parseListing(line: string): Listing {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new Error(`not JSON (${(error as Error).message})`);
  }
  const parsed = listingSchema.safeParse(value);
  if (!parsed.success) throw new Error(describeIssues(parsed.error.issues));
  return parsed.data.files;
}
