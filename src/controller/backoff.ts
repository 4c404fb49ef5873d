/**
 * Backoff per action, keyed by the action's identity (decide.ts actionKey), as controller-runtime's
 * rate-limited queue backs off per key: an action that fails waits `firstMs`, then twice as long at
 * each failure in a row, at most `maxMs`, while every other action, and the repository poll, keep
 * their own pace. Times are passed in (from the controller's clock), so it is driven by tests.
 */

export interface BackoffSettings {
  firstMs: number;
  maxMs: number;
}

export const defaultActionBackoff: BackoffSettings = { firstMs: 1_000, maxMs: 300_000 };

interface Failing {
  failures: number;
  retryAt: number;
}

export class ActionBackoff {
  private readonly failing = new Map<string, Failing>();

  constructor(private readonly settings: BackoffSettings = defaultActionBackoff) {
    if (!(settings.firstMs > 0) || !(settings.maxMs >= settings.firstMs)) {
      throw new RangeError(`an action backoff needs 0 < firstMs <= maxMs, received firstMs ${settings.firstMs}, maxMs ${settings.maxMs}`);
    }
  }

  /** When `key` may be tried again, or null when it may be tried now. */
  waitingUntil(key: string, now: number): number | null {
    const failing = this.failing.get(key);
    return failing && failing.retryAt > now ? failing.retryAt : null;
  }

  /** Records a failure of `key` at `now`; answers how many in a row and when it may be tried again. */
  failed(key: string, now: number): Failing {
    const failures = (this.failing.get(key)?.failures ?? 0) + 1;
    const delay = Math.min(this.settings.maxMs, this.settings.firstMs * 2 ** Math.min(failures - 1, 30));
    const failing = { failures, retryAt: now + delay };
    this.failing.set(key, failing);
    return failing;
  }

  succeeded(key: string): void {
    this.failing.delete(key);
  }

  /** Forgets every key not in `decided`: an action decide no longer asks for starts afresh if it is asked for again. */
  keepOnly(decided: ReadonlySet<string>): void {
    for (const key of this.failing.keys()) if (!decided.has(key)) this.failing.delete(key);
  }

  /** The earliest time a failing action may be tried again, or null when none is failing. */
  nextRetryAt(): number | null {
    let earliest: number | null = null;
    for (const { retryAt } of this.failing.values()) earliest = earliest === null ? retryAt : Math.min(earliest, retryAt);
    return earliest;
  }
}
