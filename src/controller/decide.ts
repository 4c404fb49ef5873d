import type { WatchedDataset } from "../dataset/watch.js";
import type { AttemptObservation } from "../platform/types.js";
import { attemptExit } from "../records/attempt-result.js";
import type { RunEvent } from "../records/events.js";
import type { PromotionBundle, VersionFacts } from "../records/record-store.js";
import type { RunRequestState } from "../records/requests.js";
import { isActive, type AttemptRecord, type RunRecord } from "../records/runs.js";
import type { UntrainedRecord } from "../records/untrained.js";
import type { CurrentModel } from "../store/models.js";
import { decideGate, type GateSettings } from "../tuning/gate.js";
import { nextAttempt, type AttemptHistory, type Hyperparameters, type PolicySettings } from "../tuning/policy.js";

/**
 * The controller's brain: given everything observed, what to do now and when to look again. Pure
 * (no I/O, no clock: `now` is observed), so it is driven by table tests, and a restarted controller
 * that observes the same store reaches the same decisions: level-triggered, not edge-triggered.
 */

/** The dataset the controller should have a run for: the branch tip, or a commit asked for. */
export interface DesiredDataset extends WatchedDataset {
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
  /**
   * For the run being promoted, while its version is not the current one yet: whether the bundle of
   * the attempt that passed is still in the store. Absent: not looked at (nothing is promoting).
   */
  promotionBundle?: PromotionBundle | null;
  /** The fingerprint of the watched branch's tip, as last read; null or absent: not read yet, so nothing is said about untrained data. */
  branchFingerprint?: string | null;
  /** What the bundle of the current version says of itself; null or absent: no current version. */
  deployed?: VersionFacts | null;
  /** untrained-since as recorded: null says nothing waits; absent (undefined): no record to trust. */
  untrainedRecord?: UntrainedRecord | null;
}

export interface ControllerSettings {
  policy: PolicySettings;
  gate: GateSettings;
  /** The hyperparameters attempt 1 of every run trains with (the configuration's train.*); the policy changes them from there. */
  initialHyperparameters: Hyperparameters;
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
  /** How often an active run is looked at (attempt finished? rollout confirmed?) when nothing says sooner; 1 s by default. */
  activeIntervalMs?: number;
}

export const defaultTransientBackoff = { firstMs: 30_000, maxMs: 900_000 };
export const defaultActiveIntervalMs = 1_000;

/**
 * What to do, in order. Each action may depend on the ones before it (a run is written before the
 * request it answers is resolved; an attempt is stopped before its run records it cancelled), so the
 * loop stops at the first one that fails or waits out its backoff, and decides again on the next pass.
 * The one exception is `record-untrained-since`: nothing depends on it and it depends on nothing.
 */
export type Action =
  | { type: "write-run"; run: RunRecord; why: string; events: RunEvent[] }
  | { type: "launch"; runId: string; attempt: number }
  | { type: "stop-attempt"; runId: string; attempt: number; reason: string }
  | { type: "promote"; runId: string }
  | { type: "rollback"; runId: string; version: string; previous: string | null; reason: string }
  | { type: "resolve-request"; requestId: string; state: Exclude<RunRequestState, "pending">; runId: string | null; reason: string }
  | { type: "record-untrained-since"; record: UntrainedRecord | null };

/** What decide answers: the actions, and when to look again without being woken (null: at the next poll). */
export interface Decision {
  actions: Action[];
  /** Milliseconds from `now` after which the state should be observed again: kubebuilder's RequeueAfter. */
  requeueAfterMs: number | null;
}

export const attemptKey = (runId: string, attempt: number) => `${runId}/${attempt}`;

/**
 * An action's identity: the same action decided on two passes has the same key, so a failing one
 * backs off on its own (controller/backoff.ts) while the rest of the loop goes on.
 */
export function actionKey(action: Action): string {
  switch (action.type) {
    case "write-run":
      return `write-run ${action.run.id}`;
    case "launch":
    case "stop-attempt":
      return `${action.type} ${attemptKey(action.runId, action.attempt)}`;
    case "promote":
      return `promote ${action.runId}`;
    case "rollback":
      return `rollback ${action.runId} ${action.version}`;
    case "resolve-request":
      return `resolve-request ${action.requestId}`;
    case "record-untrained-since":
      return "record-untrained-since";
  }
}

export function decide(observed: Observed, settings: ControllerSettings): Decision {
  const actions = decideRuns(observed, settings);
  const untrained = untrainedRecordFor(observed);
  if (untrained !== undefined && !sameUntrainedRecord(untrained, observed.untrainedRecord)) actions.push({ type: "record-untrained-since", record: untrained });
  return { actions, requeueAfterMs: requeueAfter(observed, settings) };
}

/**
 * When to look again without being woken: an active run is looked at every `activeIntervalMs` (a
 * process may have exited, a rollout may be confirmed), except an attempt waiting out a backoff,
 * which is looked at when it may start. Without an active run nothing changes by itself: the next
 * look is the repository poll, or a webhook, a request or a platform event waking the loop.
 */
function requeueAfter(observed: Observed, settings: ControllerSettings): number | null {
  const active = observed.runs.find(isActive);
  if (!active) return null;
  const next = active.state === "running" ? active.attempts.at(-1) : undefined;
  const notBefore = next?.state === "pending" && next.notBefore ? Date.parse(next.notBefore) - observed.now : Number.NaN;
  if (notBefore > 0) return notBefore;
  return settings.activeIntervalMs ?? defaultActiveIntervalMs;
}

/**
 * untrained-since as it should be recorded: null while the model in service was trained on the
 * branch tip's dataset; otherwise the recorded time when the record names the same served dataset
 * (a restart keeps the clock an alert reads), else now. Undefined: the branch has not been read yet,
 * so nothing can be said. The controller's gauge shows the same value.
 */
export function untrainedRecordFor(observed: Observed): UntrainedRecord | null | undefined {
  const branch = observed.branchFingerprint ?? null;
  if (branch === null) return undefined;
  const served = observed.deployed?.datasetFingerprint ?? null;
  if (branch === served) return null;
  const recorded = observed.untrainedRecord;
  if (recorded && recorded.servedFingerprint === served) return recorded;
  return { since: new Date(observed.now).toISOString(), servedFingerprint: served };
}

function sameUntrainedRecord(a: UntrainedRecord | null, b: UntrainedRecord | null | undefined): boolean {
  if (a === null || b === null || b === undefined) return a === b;
  return a.since === b.since && a.servedFingerprint === b.servedFingerprint;
}

/** The runs: start one, advance the active one, resolve the request that waits. */
function decideRuns(observed: Observed, settings: ControllerSettings): Action[] {
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
  const first = nextAttempt([], settings.initialHyperparameters, settings.policy);
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
      {
        candidateAccuracy: result.accuracy,
        deployedAccuracy: result.deployed?.accuracy ?? null,
        deployedVersion: result.deployed?.version ?? null,
        testPhotos: result.testPhotos,
        openSet: result.openSet ?? null,
        personRecalls: result.deployed?.people ?? null,
      },
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
  if (seen.exitCode === attemptExit.transient) {
    return [retryAfterTransient(run, attempt, `its process exited with code ${attemptExit.transient}: the machine is out of disk, quota or files; see ${attempt.log}`, observed, settings)];
  }
  if (seen.exitCode !== undefined && seen.exitCode !== attemptExit.alreadyRunning) {
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
  const decision = nextAttempt(run.attempts.map(historyOf), settings.initialHyperparameters, settings.policy);
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
  if (version === null || observed.current?.version !== version) {
    const bundle = observed.promotionBundle;
    if (bundle && !bundle.present) {
      // Nothing to promote (the bundle was removed by hand): the run cannot succeed; say so rather than retry forever.
      const reason = `the bundle of attempt ${promotion.attempt} (${bundle.location}) is gone; nothing was deployed`;
      const failed: RunRecord = { ...run, state: "failed", reason, updatedAt: at, promotion: { ...promotion, state: "rolled-back", endedAt: at, reason } };
      return [{ type: "write-run", run: failed, why: "the bundle to promote is gone", events: [{ kind: "run-ended", outcome: "failed", attempts: run.attempts.length, accuracy: null, at: observed.now }] }];
    }
    return [{ type: "promote", runId: run.id }];
  }
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
