/** POSIX single-quoting: safe for any string, paths with spaces included. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_/.:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
