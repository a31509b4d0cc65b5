export { backoffDelay, parseRetryAfter, sleep } from "./retry-policy.js";
