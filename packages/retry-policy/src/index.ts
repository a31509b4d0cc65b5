export type { HostPacerOptions } from "./pacing.js";
export { HostPacer, PauseGate } from "./pacing.js";
export { backoffDelay, parseRetryAfter, sleep } from "./retry-policy.js";
