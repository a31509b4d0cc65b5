/** An age such as `30d`, `12h`, `90m`, `45s` or a plain number of seconds. */
export const AGE_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*$/;

const SECONDS_PER_UNIT: Record<string, number> = { "": 1, s: 1, m: 60, h: 3_600, d: 86_400 };

/** Seconds in `text`, or undefined when it is not an age. */
export function parseAgeSeconds(text: string): number | undefined {
  const match = AGE_PATTERN.exec(text);
  if (match === null) return undefined;
  return Number(match[1]) * SECONDS_PER_UNIT[match[2]!]!;
}
