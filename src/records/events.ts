/**
 * What happened when a run record was written: an attempt or a run ended. decide attaches these to
 * the record it writes, so that counters (metrics/) count each ending once, when it is recorded,
 * rather than re-deriving it from every record they see.
 */
export type RunEvent =
  | { kind: "attempt-ended"; outcome: "passed" | "failed" | "crashed" | "timed-out" | "cancelled"; durationSeconds: number | null; accuracy?: number }
  | { kind: "run-ended"; outcome: "passed" | "failed" | "superseded"; attempts: number; accuracy: number | null; at: number };
