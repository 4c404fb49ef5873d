import { setFlagsFromString } from "node:v8";

/**
 * How far V8 lets a heap grow past what survived its last full collection before it marks the whole
 * heap again: 50 (%) means 1.5x. Left to itself, V8 picks the factor from how fast its collector is
 * compared with the program, and the collector looks fast here because it marks concurrently on
 * V8's helper threads, whose time it does not count: it chose ~1.1x, so a face-path worker (~47 MB
 * live) marked its whole heap every ~6 MB promoted, ~24 times in 15 s at 2 workers' load, and the
 * main thread its ~98 MB (mostly module sources) every few seconds. The helpers' marking took the
 * cores' time from the workers. At 1.5x: ~4 full collections per worker in the same window, V8's
 * helper threads ~120 -> ~70 ticks in 10 s, face photos/s +3-4% at 2 workers (BENCHMARKS.md, "The
 * face backbone"). 100 measured no better than 50; the cost is at most half of each heap's live size
 * in memory (~25 MB a worker, ~50 MB for the main thread).
 *
 * Only the service sets it (`faceops serve` and `faceops up`, through wiring/inference.ts): the flag
 * replaces V8's choice rather than bounding it, and a program that allocates fast relative to its
 * collector is given up to 4x by V8, where 1.5x would mark it more often (the test's workload shows
 * both). Training attempts run in processes of their own and keep V8's choice.
 */
export const heapGrowingPercent = 50;

/**
 * Sets V8's heap growing factor for this process, every isolate included (the flag is read each
 * time a heap recomputes its limit, so workers started later and the main thread both follow it),
 * unless the command line already sets one (`node --heap-growing-percent=N`), which wins. Returns
 * the percent in force, or null when the command line's own is.
 */
export function tuneHeapGrowth(execArgv: readonly string[] = process.execArgv): number | null {
  if (execArgv.some((argument) => /^--heap[-_]growing[-_]percent(=|$)/.test(argument))) return null;
  setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
  return heapGrowingPercent;
}
