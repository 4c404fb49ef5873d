import type { Logger } from "../log.js";
import { recordRunEvents, type ControllerMetrics } from "../metrics/controller-metrics.js";
import type { ModelDeployer, TrainingExecutor } from "../platform/types.js";
import type { RunRecord } from "../records/runs.js";
import type { Clock } from "../util/clock.js";
import type { Action } from "./decide.js";
import type { ControllerStore } from "./ports.js";

/**
 * The one place where decisions become changes: each action is carried out through the store port
 * and the platform, and nothing else. Every step is idempotent, so an action a crash interrupted is
 * simply decided and carried out again by the next pass.
 *
 * Failures, and whether they are retried: a run that is gone from the store is "not found": nothing
 * to retry, the next observation no longer asks for it. Every other failure (a file system or API
 * error) is transient: the loop retries that action with its own backoff (backoff.ts).
 */

export interface ActDependencies {
  store: ControllerStore;
  executor: TrainingExecutor;
  deployer: ModelDeployer;
  clock: Clock;
  metrics: ControllerMetrics;
  log: Logger;
}

/** The run an action names is no longer in the store (removed by hand). */
export class RunGoneError extends Error {
  override readonly name = "RunGoneError";
}

export async function act(action: Action, dependencies: ActDependencies): Promise<void> {
  const { store, executor, deployer, metrics, log } = dependencies;
  switch (action.type) {
    case "write-run": {
      await store.writeRun(action.run);
      recordRunEvents(metrics, action.events);
      log.info({ run: action.run.id, state: action.run.state, attempts: action.run.attempts.length, reason: action.run.reason }, action.why);
      return;
    }
    case "launch":
      return launch(action.runId, action.attempt, dependencies);
    case "stop-attempt":
      return executor.stop(action.runId, action.attempt, action.reason);
    case "promote":
      return promote(action.runId, dependencies);
    case "rollback": {
      log.warn({ run: action.runId, version: action.version, previous: action.previous, reason: action.reason }, "rolling back");
      await deployer.rollback(action.version, action.previous, action.reason);
      return;
    }
    case "resolve-request": {
      const resolvedAt = new Date(dependencies.clock.now()).toISOString();
      if (await store.resolveRequest(action.requestId, { state: action.state, run: action.runId, reason: action.reason, resolvedAt })) {
        log.info({ request: action.requestId, state: action.state, run: action.runId, reason: action.reason }, "run request resolved");
      }
      return;
    }
    case "record-untrained-since":
      return store.recordUntrained(action.record);
  }
}

/**
 * Records the execution before starting it, so a crash in between is seen as a lost execution, never
 * as none. The result of an earlier execution (one that failed for the machine) is removed first, so
 * that it is not taken for this one's.
 */
async function launch(runId: string, number: number, { store, executor, clock }: ActDependencies): Promise<void> {
  const run = await mustRead(store, runId);
  const attempt = run.attempts[number - 1];
  if (!attempt || attempt.state !== "pending") return;
  await store.clearAttemptResult(runId, number);
  const startedAt = new Date(clock.now()).toISOString();
  const started: RunRecord = {
    ...run,
    updatedAt: startedAt,
    attempts: run.attempts.map((entry) => (entry.number === number ? { ...entry, state: "running" as const, executions: entry.executions + 1, startedAt, process: null, notBefore: null } : entry)),
  };
  await store.writeRun(started);
  const process = await executor.launch(runId, number);
  if (!process) return;
  const latest = await mustRead(store, runId);
  await store.writeRun({ ...latest, attempts: latest.attempts.map((entry) => (entry.number === number && entry.state === "running" ? { ...entry, process } : entry)) });
}

/**
 * Each step is idempotent: allocate the version (recorded before anything moves), move the bundle
 * in, move the pointer. A bundle that is gone is not this step's to judge: the store says so, the
 * next observation sees it, and decide ends the run.
 */
async function promote(runId: string, { store, deployer, log }: ActDependencies): Promise<void> {
  let run = await mustRead(store, runId);
  const promotion = run.promotion;
  if (!promotion) return;
  let version = promotion.version;
  if (!version) {
    version = await store.nextModelVersion();
    run = { ...run, promotion: { ...promotion, version } };
    await store.writeRun(run);
  }
  await store.promote(runId, promotion.attempt, version);
  const attempt = run.attempts[promotion.attempt - 1];
  const accuracy = attempt?.result?.ok ? `${(attempt.result.accuracy * 100).toFixed(1)}%` : "?";
  await deployer.rollout(version, `run ${runId} attempt ${promotion.attempt} passed the gate (test accuracy ${accuracy})`);
  log.info({ run: runId, version, previous: promotion.previous }, "model version promoted; waiting for the server to report it ready");
}

async function mustRead(store: ControllerStore, runId: string): Promise<RunRecord> {
  const run = await store.readRun(runId);
  if (!run) throw new RunGoneError(`run ${runId} disappeared from the store`);
  return run;
}
