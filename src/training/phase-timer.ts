import { attemptPhaseNames, type AttemptPhases } from "../records/attempt-result.js";

/**
 * Where an attempt's time goes: one phase at a time, each entered when the one before it ends, so the
 * phases cover the attempt without gaps or overlaps. The clock is injected (milliseconds, e.g.
 * performance.now(), which counts from the process's start) so a table test can drive it.
 *
 *   const timer = new PhaseTimer(() => performance.now());
 *   timer.enter("startup", 0);   // the process started at 0 on performance.now()'s clock
 *   timer.enter("runtime");      // ... ends startup
 *   timer.stop();
 *   timer.phases();              // { startup: 1.2, runtime: 3.4, dataset: 0, ... } in seconds
 */
export class PhaseTimer {
  private readonly seconds = new Map<keyof AttemptPhases, number>();
  private current: { phase: keyof AttemptPhases; since: number } | null = null;

  constructor(private readonly now: () => number) {}

  /** Ends the phase under way and starts `phase`, at `at` on the clock (now unless said). A phase entered twice adds up. */
  enter(phase: keyof AttemptPhases, at: number = this.now()): void {
    this.stop(at);
    this.current = { phase, since: at };
  }

  /** Ends the phase under way, if any. */
  stop(at: number = this.now()): void {
    if (!this.current) return;
    const { phase, since } = this.current;
    if (at < since) throw new Error(`the clock went back while timing phase "${phase}": from ${since} to ${at} ms`);
    this.seconds.set(phase, (this.seconds.get(phase) ?? 0) + (at - since) / 1000);
    this.current = null;
  }

  /** The phase under way, or null. */
  get phase(): keyof AttemptPhases | null {
    return this.current?.phase ?? null;
  }

  /** Every phase's seconds so far (the one under way not counted until it ends); 0 for a phase not entered. */
  phases(): AttemptPhases {
    return Object.fromEntries(attemptPhaseNames.map((name) => [name, this.seconds.get(name) ?? 0])) as unknown as AttemptPhases;
  }
}

/** The process's peak resident memory in bytes (resourceUsage's maxRSS is in kilobytes): every thread of this process, no child process. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
