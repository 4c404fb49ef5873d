import { readdir } from "node:fs/promises";
import type { DatasetSummary } from "../dataset/watch.js";
import { readJsonOr, writeJsonAtomic } from "../store/files.js";
import type { StoreLayout } from "../store/layout.js";
import type { GateDecision } from "../tuning/gate.js";
import type { Diagnosis, Hyperparameters } from "../tuning/policy.js";
import type { AttemptResult } from "./attempt-result.js";

/**
 * Run records, kept in the store so that a restart (after a crash or `kill -9`) re-observes exactly
 * where things stood. One file per run, written only by the controller and atomically; an attempt
 * process writes only its own result file next to it (attempt-result.ts). The controller, the
 * platforms, the attempt, the API and `faceops status` all read these shapes; none of them owns them.
 */

/** running: attempts are being made; promoting: an attempt passed and its rollout is under way. */
export type RunState = "running" | "promoting" | "passed" | "failed" | "superseded";

/**
 * pending: decided, not started; running: a process was started for it; finished: it wrote a
 * result and the gate judged it; crashed: it failed or kept disappearing; timed-out: stopped after
 * the timeout; cancelled: its run was superseded.
 */
export type AttemptState = "pending" | "running" | "finished" | "crashed" | "timed-out" | "cancelled";

export interface AttemptRecord {
  number: number;
  hyperparameters: Hyperparameters;
  diagnosis: Diagnosis | null;
  /** Why these hyperparameters: the tuning policy's sentence. */
  reason: string;
  state: AttemptState;
  /** How many times a process was started for this attempt; a lost process is re-run under the same number. */
  executions: number;
  /** Executions that ended in a transient failure of the machine (not counted against maxExecutions). */
  transientFailures?: number;
  /** A pending attempt re-run after a transient failure is not started before this time (backoff). */
  notBefore?: string | null;
  /** The process of the current execution, once known. */
  process: { pid: number; startTime: string | null } | null;
  startedAt: string | null;
  endedAt: string | null;
  result: AttemptResult | null;
  gate: GateDecision | null;
  /** What went wrong, for crashed, timed-out and cancelled attempts and for lost executions. */
  error: string | null;
  /** What a running attempt waits for, as the platform says (e.g. "waiting to be scheduled: 0/3 nodes..."). */
  waiting?: string | null;
  log: string;
}

export interface PromotionRecord {
  attempt: number;
  /** Allocated before anything moves, so a restart finishes the same promotion. */
  version: string | null;
  previous: string | null;
  /** pending: moving and rolling out; serving: the server confirmed it; rolled-back: it did not, in time. */
  state: "pending" | "serving" | "rolled-back";
  startedAt: string;
  endedAt: string | null;
  reason: string | null;
}

/** The dataset a run trains on, as it was checked when the run was created. */
export type RunDataset = DatasetSummary;

export interface RunRecord {
  schemaVersion: 1;
  id: string;
  fingerprint: string;
  commit: string | null;
  source: string;
  /** What started it: poll, webhook, api, startup. */
  trigger: string;
  /** The run request (POST /v1/runs) it answers, by id; null or absent when the watched branch started it. */
  request?: string | null;
  createdAt: string;
  updatedAt: string;
  state: RunState;
  /** The sentence that ended the run, or why it is waiting. */
  reason: string | null;
  dataset: RunDataset;
  attempts: AttemptRecord[];
  promotion: PromotionRecord | null;
}

export const activeRunStates: readonly RunState[] = ["running", "promoting"];

export function isActive(run: RunRecord): boolean {
  return activeRunStates.includes(run.state);
}

/** Every run in the store, oldest first. */
export async function listRuns(store: StoreLayout): Promise<RunRecord[]> {
  const names = await readdir(store.runs).catch(() => [] as string[]);
  const ids = names.filter((name) => /^[0-9]{1,9}$/.test(name)).sort((a, b) => Number(a) - Number(b));
  const runs: RunRecord[] = [];
  for (const id of ids) {
    const run = await readRun(store, id);
    if (run) runs.push(run);
  }
  return runs;
}

export async function readRun(store: StoreLayout, id: string): Promise<RunRecord | null> {
  return readJsonOr<RunRecord | null>(store.runRecord(id), null);
}

export async function writeRun(store: StoreLayout, run: RunRecord): Promise<void> {
  await writeJsonAtomic(store.runRecord(run.id), run);
}
