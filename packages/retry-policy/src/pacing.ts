import { sleep } from "./retry-policy.js";

/**
 * One pause shared by every worker talking to a provider: a 429 stops
 * everyone, not just the worker that saw it.
 */
export class PauseGate {
  #until = 0;

  /** Extends the pause to at least `ms` from now; returns how many ms this added to it. */
  pauseFor(ms: number, now = Date.now()): number {
    const until = now + ms;
    const added = Math.max(0, until - Math.max(this.#until, now));
    this.#until = Math.max(this.#until, until);
    return added;
  }

  /** Resolves once no pause is in force (at once when none is), or when `signal` aborts. */
  async wait(signal: AbortSignal): Promise<void> {
    while (this.#until > Date.now() && !signal.aborted) await sleep(this.#until - Date.now(), signal);
  }
}

export interface HostPacerOptions {
  /** Requests per second to this host; 0 for no cap. */
  maxRequestsPerSecond: number;
  /** Consecutive failures that open the circuit breaker. */
  breakerThreshold: number;
  /** How long the first opening lasts; each further one lasts twice the one before. */
  breakerCooldownMs: number;
}

/** Paces requests to one host: an optional requests-per-second cap, and a circuit breaker. */
export class HostPacer {
  #next = 0;
  readonly #interval: number;
  readonly #threshold: number;
  readonly #cooldownMs: number;
  #consecutiveFailures = 0;
  #openUntil = 0;
  /** Times the breaker has opened. */
  trips = 0;
  /** 429s in a row without a success: how far to back off when no Retry-After says. */
  rateLimitStreak = 0;

  constructor(options: HostPacerOptions) {
    this.#interval = options.maxRequestsPerSecond > 0 ? 1000 / options.maxRequestsPerSecond : 0;
    this.#threshold = options.breakerThreshold;
    this.#cooldownMs = options.breakerCooldownMs;
  }

  /** Resolves when this host may be asked again: the breaker closed and the rate cap allowing. */
  async waitTurn(signal: AbortSignal): Promise<void> {
    const now = Date.now();
    if (this.#openUntil > now) await sleep(this.#openUntil - now, signal);
    if (this.#interval === 0) return;
    const at = Math.max(Date.now(), this.#next);
    this.#next = at + this.#interval;
    if (at > Date.now()) await sleep(at - Date.now(), signal);
  }

  /** The host answered (whatever the answer): failures in a row start again from zero. */
  succeeded(): void {
    this.#consecutiveFailures = 0;
    this.rateLimitStreak = 0;
  }

  /** Counts a failure; returns the pause in ms when this one opens the breaker. */
  failed(now = Date.now()): number | undefined {
    this.#consecutiveFailures++;
    if (this.#consecutiveFailures < this.#threshold) return undefined;
    this.#consecutiveFailures = 0;
    this.trips++;
    const pause = this.#cooldownMs * 2 ** (this.trips - 1);
    this.#openUntil = now + pause;
    return pause;
  }
}
