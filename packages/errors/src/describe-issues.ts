export interface ValidationIssue {
  path: readonly PropertyKey[];
  message: string;
}

/**
 * One line per validation problem, led by the field path as an operator would
 * write it (`waypoints[2].lat`), so the message names what to fix.
 */
export function describeIssues(issues: readonly ValidationIssue[], max = 3): string {
  const lines = issues.slice(0, max).map((issue) => {
    const path = formatPath(issue.path);
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
  if (issues.length > max) lines.push(`(and ${issues.length - max} more)`);
  return lines.join("; ");
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}
