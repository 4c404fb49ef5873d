import type { CurrentModel } from "../store/models.js";
import { decideGate, type GateSettings } from "../tuning/gate.js";
import { nextAttempt, type AttemptHistory, type Hyperparameters, type PolicySettings } from "../tuning/policy.js";
import { isActive, type AttemptRecord, type AttemptResult, type RunDataset, type RunRecord } from "./records.js";
import type { RunRequestState } from "./requests.js";

/**
 * The controller's brain: given everything observed, what to do now. Pure (no I/O, no clock: `now`
 * is observed), so it is driven by table tests, and a restarted controller that observes the same
 * store reaches the same decisions: level-triggered, not edge-triggered.
 */

/** The dataset the controller should have a run for: the branch tip, or a commit asked for. */
export interface DesiredDataset {
  fingerprint: string;
  commit: string | null;
  source: string;
  /** False when there is nothing to train on (fewer than two people); `reason` says why. */
  usable: boolean;
  reason: string | null;
  dataset: RunDataset;
  trigger: string;
  /** Asked for with force: run even when the last run had the same dataset. */
  force: boolean;
  /** The run request it answers (its id), resolved once acted on; null: the watched branch. */
  request: string | null;
}

/** The oldest run request not yet acted on. */
export interface ObservedRequest {
  id: string;
  /**
   * Why it cannot be acted on, when its commit could be looked at and is not there (deleted since
   * it was asked for, or asked for before requests were checked); null otherwise.
   */
  unusable: string | null;
}

/** What the platform says about an attempt that the records call running. */
export interface AttemptObservation {
  /** Whether its process is alive; null when no process is known for it yet. */
  alive: boolean | null;
  result: AttemptResult | null;
  /** The exit code of its process when this controller started it and saw it exit; else undefined. */
  exitCode?: number | null;
  /** What it is waiting for, when the platform says (e.g. the scheduler's message for a pending pod); null: nothing. */
  detail?: string | null;
}

export interface Observed {
  now: number;
  desired: DesiredDataset | null;
  /** Every run, oldest first. */
  runs: readonly RunRecord[];
  /** Keyed by attemptKey(run id, number), for attempts recorded as running. */
  attempts: ReadonlyMap<string, AttemptObservation>;
  current: CurrentModel | null;
  /** The version the serving side reports ready, or null. */
  servedVersion: string | null;
  /** Why the rollout in progress has failed, when the platform already knows (e.g. ProgressDeadlineExceeded). */
  rolloutFailure?: string | null;
  /** The oldest pending run request; when it could be looked at, `desired` is its dataset. */
  request?: ObservedRequest | null;
}

export interface ControllerSettings {
  policy: PolicySettings;
  gate: GateSettings;
  configured: Hyperparameters;
  onNewCommit: "queue" | "supersede";
  parallelAttempts: number;
  attemptTimeoutMs: number;
  rolloutDeadlineMs: number;
  /** How long a just-started attempt may go without showing a live process before it counts as lost. */
  startGraceMs: number;
  /** Executions of one attempt number (the first plus re-runs after losing its process) before it counts as crashed. */
  maxExecutions: number;
  /**
   * The wait before an attempt that failed for the machine (a full disk, too many open files) runs
   * again: `firstMs`, doubled at each such failure in a row, at most `maxMs`. Such failures are not
   * counted against any budget: the dataset is not at fault, so it is never given up on for them.
   */
  transientBackoff?: { firstMs: number; maxMs: number };
}

export const defaultTransientBackoff = { firstMs: 30_000, maxMs: 900_000 };

export type RunEvent =
  | { kind: "attempt-ended"; outcome: "passed" | "failed" | "crashed" | "timed-out" | "cancelled"; durationSeconds: number | null; accuracy?: number }
  | { kind: "run-ended"; outcome: "passed" | "failed" | "superseded"; attempts: number; accuracy: number | null; at: number };

export type Action =
  | { type: "write-run"; run: RunRecord; why: string; events: RunEvent[] }
  | { type: "launch"; runId: string; attempt: number }
  | { type: "stop-attempt"; runId: string; attempt: number; reason: string }
  | { type: "promote"; runId: string }
  | { type: "rollback"; runId: string; version: string; previous: string | null; reason: string }
  | { type: "resolve-request"; requestId: string; state: Exclude<RunRequestState, "pending">; runId: string | null; reason: string };

/** An attempt process that found another one already working on the same attempt exits with this. */
export const exitAlreadyRunning = 75;

/** An attempt process that failed for the machine (and may have been unable to write its result) exits with this. */
export const exitTransientFailure = 74;

export const attemptKey = (runId: string, attempt: number) => `${runId}/${attempt}`;

export function decide(observed: Observed, settings: ControllerSettings): Action[] {
  const actions: Action[] = [];
  // 1. A request that cannot be acted on is recorded as failed, with why; the loop goes on.
  const request = observed.request ?? null;
  if (request?.unusable) actions.push(resolveRequest(request.id, "failed", null, request.unusable));
  // 2. A request a run already answers (the controller stopped between creating the run and
  //    resolving the request) is resolved, never run a second time.
  let desired = observed.desired;
  const answered = desired?.request ? observed.runs.find((run) => run.request === desired?.request) : undefined;
  if (desired?.request && answered) {
    actions.push(resolveRequest(desired.request, "started", answered.id, `run ${answered.id} was created for it`));
    desired = null;
  }
  // 3. An active run goes on, unless a newer dataset supersedes it; a request waits for it.
  const active = observed.runs.find(isActive);
  if (active) {
    const newer = desired && desired.usable && desired.fingerprint !== active.fingerprint ? desired : null;
    if (newer && active.state === "running" && settings.onNewCommit === "supersede") return [...actions, ...supersede(active, newer, observed)];
    actions.push(...(active.state === "running" ? advanceRun(active, observed, settings) : advancePromotion(active, observed, settings)));
    return actions;
  }
  // 4. Otherwise a dataset not trained on yet (or asked for with force) starts a run.
  if (!desired) return actions;
  const last = observed.runs.at(-1);
  const sameAsLast = last !== undefined && last.fingerprint === desired.fingerprint;
  if (!desired.usable) {
    if (desired.request) actions.push(resolveRequest(desired.request, "failed", null, desired.reason ?? "the dataset cannot be trained on"));
    return actions;
  }
  if (sameAsLast && !desired.force) {
    if (desired.request) {
      actions.push(resolveRequest(desired.request, "skipped", last.id, `run ${last.id} already trained on this dataset (fingerprint ${desired.fingerprint.slice(0, 12)}); ask with force to run it again`));
    }
    return actions;
  }
  const run = newRun(desired, observed, settings);
  actions.push({ type: "write-run", run, why: "a new dataset to train on", events: [] });
  if (desired.request) actions.push(resolveRequest(desired.request, "started", run.id, `run ${run.id} was created for it`));
  return actions;
}

function resolveRequest(requestId: string, state: Exclude<RunRequestState, "pending">, runId: string | null, reason: string): Action {
  return { type: "resolve-request", requestId, state, runId, reason };
}

function newRun(desired: DesiredDataset, observed: Observed, settings: ControllerSettings): RunRecord {
  const at = new Date(observed.now).toISOString();
  const last = observed.runs.at(-1);
  const id = String(last ? Number(last.id) + 1 : 1);
  const first = nextAttempt([], settings.configured, settings.policy);
  if (first.action !== "attempt") throw new Error("the tuning policy refused a first attempt");
  const why = last && last.fingerprint === desired.fingerprint ? "asked for again (force)" : last ? `the dataset changed since run ${last.id}` : "the first dataset seen";
  return {
    schemaVersion: 1,
    id,
    fingerprint: desired.fingerprint,
    commit: desired.commit,
    source: desired.source,
    trigger: desired.trigger,
    request: desired.request,
    createdAt: at,
    updatedAt: at,
    state: "running",
    reason: why,
    dataset: desired.dataset,
    attempts: [pendingAttempt(id, first.attempt, first.hyperparameters, first.diagnosis, first.reason)],
    promotion: null,
  };
}

function pendingAttempt(runId: string, number: number, hyperparameters: Hyperparameters, diagnosis: AttemptRecord["diagnosis"], reason: string): AttemptRecord {
  return {
    number,
    hyperparameters,
    diagnosis,
    reason,
    state: "pending",
    executions: 0,
    process: null,
    startedAt: null,
    endedAt: null,
    result: null,
    gate: null,
    error: null,
    log: `runs/${runId}/attempt-${number}/attempt.log`,
  };
}

function supersede(active: RunRecord, newer: DesiredDataset, observed: Observed): Action[] {
  const at = new Date(observed.now).toISOString();
  const actions: Action[] = [];
  const events: RunEvent[] = [];
  const attempts = active.attempts.map((attempt) => {
    if (attempt.state !== "running" && attempt.state !== "pending") return attempt;
    if (attempt.state === "running") actions.push({ type: "stop-attempt", runId: active.id, attempt: attempt.number, reason: "its run was superseded" });
    events.push({ kind: "attempt-ended", outcome: "cancelled", durationSeconds: secondsSince(attempt.startedAt, observed.now) });
    return { ...attempt, state: "cancelled" as const, endedAt: at, error: "its run was superseded by a newer commit" };
  });
  const commit = newer.commit ? `commit ${newer.commit.slice(0, 12)}` : "a newer dataset";
  const run: RunRecord = { ...active, attempts, state: "superseded", updatedAt: at, reason: `superseded by ${commit} (onNewCommit: supersede)` };
  events.push({ kind: "run-ended", outcome: "superseded", attempts: attempts.length, accuracy: null, at: observed.now });
  return [...actions, { type: "write-run", run, why: "superseded", events }];
}

function advanceRun(run: RunRecord, observed: Observed, settings: ControllerSettings): Action[] {
  const attempt = run.attempts.at(-1);
  if (!attempt) return [];
  const at = new Date(observed.now).toISOString();
  if (attempt.state === "pending") {
    if (attempt.notBefore && observed.now < Date.parse(attempt.notBefore)) return [];
    const running = observed.runs.flatMap((entry) => entry.attempts).filter((entry) => entry.state === "running").length;
    return running < settings.parallelAttempts ? [{ type: "launch", runId: run.id, attempt: attempt.number }] : [];
  }
  if (attempt.state !== "running") return concludeAttempt(run, attempt, observed, settings);

  const seen = observed.attempts.get(attemptKey(run.id, attempt.number)) ?? { alive: null, result: null };
  const elapsed = attempt.startedAt ? observed.now - Date.parse(attempt.startedAt) : 0;
  const duration = secondsSince(attempt.startedAt, observed.now);
  if (seen.result && !seen.result.ok && seen.result.transient) return [retryAfterTransient(run, attempt, seen.result.error, observed, settings)];
  if (seen.result) {
    const ended = { ...attempt, endedAt: at, result: seen.result };
    if (!seen.result.ok) {
      const failed: AttemptRecord = { ...ended, state: "crashed", error: seen.result.error };
      return concludeAttempt(replaceAttempt(run, failed, at), failed, observed, settings, [{ kind: "attempt-ended", outcome: "crashed", durationSeconds: duration }]);
    }
    const result = seen.result;
    const gate = decideGate(
      { candidateAccuracy: result.accuracy, deployedAccuracy: result.deployed?.accuracy ?? null, deployedVersion: result.deployed?.version ?? null, testPhotos: result.testPhotos },
      settings.gate,
    );
    const finished: AttemptRecord = { ...ended, state: "finished", gate };
    return concludeAttempt(replaceAttempt(run, finished, at), finished, observed, settings, [
      { kind: "attempt-ended", outcome: gate.pass ? "passed" : "failed", durationSeconds: duration, accuracy: result.accuracy },
    ]);
  }
  if (seen.alive === true) {
    if (seen.detail !== undefined && seen.detail !== attempt.waiting) {
      return [{ type: "write-run", run: replaceAttempt(run, { ...attempt, waiting: seen.detail }, at), why: seen.detail ?? `attempt ${attempt.number} is running`, events: [] }];
    }
    if (elapsed > settings.attemptTimeoutMs) {
      const timedOut: AttemptRecord = { ...attempt, state: "timed-out", endedAt: at, error: `still running after the timeout of ${Math.round(settings.attemptTimeoutMs / 1000)} s; stopped` };
      return [
        { type: "stop-attempt", runId: run.id, attempt: attempt.number, reason: "timeout" },
        ...concludeAttempt(replaceAttempt(run, timedOut, at), timedOut, observed, settings, [{ kind: "attempt-ended", outcome: "timed-out", durationSeconds: duration }]),
      ];
    }
    return [];
  }
  // No live process and no result: it crashed (we saw it exit), it just started (its process may not be
  // visible yet), or it was lost (killed, or it ran under a controller that was itself killed).
  if (seen.exitCode === exitTransientFailure) {
    return [retryAfterTransient(run, attempt, `its process exited with code ${exitTransientFailure}: the machine is out of disk, quota or files; see ${attempt.log}`, observed, settings)];
  }
  if (seen.exitCode !== undefined && seen.exitCode !== exitAlreadyRunning) {
    const crashed: AttemptRecord = { ...attempt, state: "crashed", endedAt: at, error: `its process exited with ${seen.exitCode === null ? "a signal" : `code ${seen.exitCode}`} without a result; see ${attempt.log}` };
    return concludeAttempt(replaceAttempt(run, crashed, at), crashed, observed, settings, [{ kind: "attempt-ended", outcome: "crashed", durationSeconds: duration }]);
  }
  if (seen.alive === null && elapsed < settings.startGraceMs) return [];
  const lostWhy = `its process (execution ${attempt.executions}) ended without a result`;
  if (attempt.executions - (attempt.transientFailures ?? 0) < settings.maxExecutions) {
    const rerun: AttemptRecord = { ...attempt, state: "pending", process: null, error: `${lostWhy}; re-run under the same number` };
    return [{ type: "write-run", run: replaceAttempt(run, rerun, at), why: `attempt ${attempt.number} lost`, events: [] }];
  }
  const crashed: AttemptRecord = { ...attempt, state: "crashed", endedAt: at, error: `${lostWhy}, ${attempt.executions} times` };
  return concludeAttempt(replaceAttempt(run, crashed, at), crashed, observed, settings, [{ kind: "attempt-ended", outcome: "crashed", durationSeconds: duration }]);
}

/**
 * The machine failed the attempt, not the data: the same attempt runs again after a backoff that
 * doubles with each such failure in a row. Nothing is concluded and no budget is spent.
 */
function retryAfterTransient(run: RunRecord, attempt: AttemptRecord, why: string, observed: Observed, settings: ControllerSettings): Action {
  const { firstMs, maxMs } = settings.transientBackoff ?? defaultTransientBackoff;
  const failures = (attempt.transientFailures ?? 0) + 1;
  const delayMs = Math.min(maxMs, firstMs * 2 ** Math.min(failures - 1, 30));
  const notBefore = new Date(observed.now + delayMs).toISOString();
  const retried: AttemptRecord = {
    ...attempt,
    state: "pending",
    process: null,
    transientFailures: failures,
    notBefore,
    error: `${why}; a failure of the machine, not of the attempt: run again after ${Math.round(delayMs / 1000)} s (${failures} in a row)`,
  };
  return { type: "write-run", run: replaceAttempt(run, retried, new Date(observed.now).toISOString()), why: `attempt ${attempt.number} failed for the machine; retried with backoff`, events: [] };
}

/** After an attempt ends: promote, plan the next attempt, or end the run, as the gate and policy say. */
function concludeAttempt(run: RunRecord, attempt: AttemptRecord, observed: Observed, settings: ControllerSettings, events: RunEvent[] = []): Action[] {
  const at = new Date(observed.now).toISOString();
  if (attempt.state === "finished" && attempt.gate?.pass) {
    const promotion = { attempt: attempt.number, version: null, previous: observed.current?.version ?? null, state: "pending" as const, startedAt: at, endedAt: null, reason: null };
    return [{ type: "write-run", run: { ...run, state: "promoting", updatedAt: at, reason: `attempt ${attempt.number} passed the gate: ${attempt.gate.reason}`, promotion }, why: "gate passed", events }];
  }
  if (attempt.result && !attempt.result.ok && attempt.result.permanent) {
    return [endRun(run, "failed", `attempt ${attempt.number} failed in a way retrying cannot fix: ${attempt.result.error}`, observed, events)];
  }
  const decision = nextAttempt(run.attempts.map(historyOf), settings.configured, settings.policy);
  if (decision.action === "stop") return [endRun(run, "failed", `${decision.reason}; nothing was deployed`, observed, events)];
  const next = pendingAttempt(run.id, decision.attempt, decision.hyperparameters, decision.diagnosis, decision.reason);
  return [{ type: "write-run", run: { ...run, updatedAt: at, attempts: [...run.attempts, next] }, why: `attempt ${decision.attempt} planned`, events }];
}

function historyOf(attempt: AttemptRecord): AttemptHistory {
  const result = attempt.result?.ok ? attempt.result : null;
  return {
    hyperparameters: attempt.hyperparameters,
    curves: result?.curves ?? [],
    testAccuracy: result?.accuracy ?? null,
    outcome: attempt.state === "finished" ? (attempt.gate?.pass ? "passed" : "failed") : "crashed",
  };
}

function advancePromotion(run: RunRecord, observed: Observed, settings: ControllerSettings): Action[] {
  const promotion = run.promotion;
  if (!promotion) return [endRun(run, "failed", "the run was promoting without a promotion record", observed)];
  const at = new Date(observed.now).toISOString();
  const version = promotion.version;
  if (version === null || observed.current?.version !== version) return [{ type: "promote", runId: run.id }];
  if (observed.servedVersion === version) {
    const confirmed = { ...run, promotion: { ...promotion, state: "serving" as const, endedAt: at, reason: `${version} is serving` } };
    const accuracy = bestAccuracy(run);
    return [endRun(confirmed, "passed", `${version} is in service (attempt ${promotion.attempt}, test accuracy ${accuracy === null ? "?" : `${(accuracy * 100).toFixed(1)}%`})`, observed)];
  }
  const failure = observed.rolloutFailure ?? null;
  if (!failure && observed.now - Date.parse(promotion.startedAt) <= settings.rolloutDeadlineMs) return [];
  const why = failure ?? `${version} was not reported ready within ${Math.round(settings.rolloutDeadlineMs / 1000)} s`;
  const reason = `${why}; ${promotion.previous ?? "no model"} serves again`;
  const rolledBack = { ...run, promotion: { ...promotion, state: "rolled-back" as const, endedAt: at, reason } };
  return [{ type: "rollback", runId: run.id, version, previous: promotion.previous, reason }, endRun(rolledBack, "failed", `rollout failed: ${reason}`, observed)];
}

function endRun(run: RunRecord, outcome: "passed" | "failed", reason: string, observed: Observed, events: RunEvent[] = []): Action {
  const at = new Date(observed.now).toISOString();
  return {
    type: "write-run",
    run: { ...run, state: outcome, reason, updatedAt: at },
    why: `run ${outcome}`,
    events: [...events, { kind: "run-ended", outcome, attempts: run.attempts.length, accuracy: bestAccuracy(run), at: observed.now }],
  };
}

function bestAccuracy(run: RunRecord): number | null {
  const promoted = run.promotion ? run.attempts[run.promotion.attempt - 1] : undefined;
  const chosen = promoted ?? [...run.attempts].reverse().find((attempt) => attempt.result?.ok);
  return chosen?.result?.ok ? chosen.result.accuracy : null;
}

function replaceAttempt(run: RunRecord, attempt: AttemptRecord, at: string): RunRecord {
  return { ...run, updatedAt: at, attempts: run.attempts.map((entry) => (entry.number === attempt.number ? attempt : entry)) };
}

function secondsSince(startedAt: string | null, now: number): number | null {
  return startedAt ? Math.max(0, (now - Date.parse(startedAt)) / 1000) : null;
}
