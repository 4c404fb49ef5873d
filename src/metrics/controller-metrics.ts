import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { RunEvent } from "../records/events.js";

/**
 * The controller's metrics, declared once on an injected registry (in `faceops up` the same one as
 * the inference service's, so one /metrics shows both). Counters count what the controller records
 * (recordRunEvents, at the moment a run record with events is written); gauges show the state it
 * last observed (showControllerSnapshot, called with each observation), so the loop carries no
 * bookkeeping of its own for them.
 */
export interface ControllerMetrics {
  registry: Registry;
  runs: Counter<"outcome">;
  attempts: Counter<"outcome">;
  attemptDuration: Histogram;
  attemptsPerRun: Histogram;
  attemptAccuracy: Histogram;
  attemptsPending: Gauge;
  lastRunAccuracy: Gauge;
  lastSuccessfulRun: Gauge;
  deployedModel: Gauge<"version" | "dataset_commit">;
  deployedModelAccuracy: Gauge;
  deployedModelPromoted: Gauge;
  datasetUntrainedSince: Gauge;
  datasetPhotos: Gauge<"split">;
  rejectedFiles: Gauge;
  activeRuns: Gauge;
  loopErrors: Counter;
}

/** Every outcome a run or an attempt can end with: each has a series from the start, at 0. */
const runOutcomes = ["passed", "failed", "superseded"] as const satisfies ReadonlyArray<Extract<RunEvent, { kind: "run-ended" }>["outcome"]>;
const attemptOutcomes = ["passed", "failed", "crashed", "timed-out", "cancelled"] as const satisfies ReadonlyArray<Extract<RunEvent, { kind: "attempt-ended" }>["outcome"]>;

export function createControllerMetrics(registry: Registry): ControllerMetrics {
  const metrics: ControllerMetrics = {
    registry,
    runs: new Counter({ name: "faceops_runs_total", help: "Runs ended, by outcome: passed, failed, superseded.", labelNames: ["outcome"], registers: [registry] }),
    attempts: new Counter({
      name: "faceops_attempts_total",
      help: "Training attempts ended, by outcome: passed, failed (the gate refused it), crashed, timed-out, cancelled.",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    attemptDuration: new Histogram({
      name: "faceops_attempt_duration_seconds",
      help: "Wall time of training attempts, start to result.",
      buckets: [5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers: [registry],
    }),
    attemptsPerRun: new Histogram({ name: "faceops_attempts_per_run", help: "Attempts a run took before it ended.", buckets: [1, 2, 3, 4, 5, 6, 8, 10], registers: [registry] }),
    attemptAccuracy: new Histogram({
      name: "faceops_attempt_accuracy",
      help: "Held-out (test split) accuracy of each attempt that trained a model (0..1).",
      buckets: [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99, 1],
      registers: [registry],
    }),
    attemptsPending: new Gauge({
      name: "faceops_attempts_pending",
      help: "Attempts started but waiting for the platform (e.g. a training pod the scheduler cannot place).",
      registers: [registry],
    }),
    lastRunAccuracy: new Gauge({ name: "faceops_last_run_accuracy", help: "Test accuracy of the last run that ended with a trained model (0..1).", registers: [registry] }),
    lastSuccessfulRun: new Gauge({ name: "faceops_last_successful_run_timestamp_seconds", help: "When the last run that put a model in service ended (Unix time).", registers: [registry] }),
    deployedModel: new Gauge({
      name: "faceops_deployed_model_info",
      help: "The model version the controller has in service (value 1), with its dataset commit.",
      labelNames: ["version", "dataset_commit"],
      registers: [registry],
    }),
    deployedModelAccuracy: new Gauge({
      name: "faceops_deployed_model_accuracy",
      help: "Held-out (test split) accuracy of the model in service, from its bundle (0..1).",
      registers: [registry],
    }),
    deployedModelPromoted: new Gauge({
      name: "faceops_deployed_model_promoted_timestamp_seconds",
      help: "When the model in service was promoted or rolled back to (Unix time).",
      registers: [registry],
    }),
    datasetUntrainedSince: new Gauge({
      name: "faceops_dataset_untrained_since_timestamp_seconds",
      help: "When this controller first saw the watched branch hold a dataset the model in service was not trained on (Unix time); 0 while the model is up to date.",
      registers: [registry],
    }),
    datasetPhotos: new Gauge({ name: "faceops_dataset_photos", help: "Valid photos in the watched dataset, by split.", labelNames: ["split"], registers: [registry] }),
    rejectedFiles: new Gauge({ name: "faceops_dataset_rejected_files", help: "Files of the watched dataset that were skipped (corrupt, too small, not a photo...).", registers: [registry] }),
    activeRuns: new Gauge({ name: "faceops_active_runs", help: "Runs in progress (0 or 1).", registers: [registry] }),
    loopErrors: new Counter({ name: "faceops_controller_errors_total", help: "Controller passes (observing the world) and actions that failed and are retried with backoff.", registers: [registry] }),
  };
  for (const outcome of runOutcomes) metrics.runs.inc({ outcome }, 0);
  for (const outcome of attemptOutcomes) metrics.attempts.inc({ outcome }, 0);
  return metrics;
}

export function recordRunEvents(metrics: ControllerMetrics, events: readonly RunEvent[]): void {
  for (const event of events) {
    if (event.kind === "attempt-ended") {
      metrics.attempts.inc({ outcome: event.outcome });
      if (event.durationSeconds !== null) metrics.attemptDuration.observe(event.durationSeconds);
      if (event.accuracy !== undefined) metrics.attemptAccuracy.observe(event.accuracy);
      continue;
    }
    metrics.runs.inc({ outcome: event.outcome });
    metrics.attemptsPerRun.observe(event.attempts);
    if (event.accuracy !== null) metrics.lastRunAccuracy.set(event.accuracy);
    if (event.outcome === "passed") metrics.lastSuccessfulRun.set(event.at / 1000);
  }
}

/** What the controller's gauges show: the state it last observed, in the metrics' own terms. */
export interface ControllerSnapshot {
  /** Runs in progress. */
  activeRuns: number;
  /** Attempts started and waiting for the platform (e.g. a pod the scheduler cannot place). */
  attemptsPending: number;
  /** The dataset the controller wants a run for (the branch tip, or a commit asked for); null: none seen yet (the gauges keep their values). */
  dataset: { train: number; test: number; rejected: number } | null;
  /** The model the store's pointer names; null: none. */
  deployed: {
    version: string;
    /** Commit of the dataset it was trained on; null when its bundle does not say. */
    datasetCommit: string | null;
    accuracy: number | null;
    /** When the pointer was moved to it (ms since the epoch); null when the pointer does not say. */
    promotedAt: number | null;
  } | null;
  /**
   * Since when (ms since the epoch) the watched branch has held data the model in service was not
   * trained on; 0 while it is up to date; undefined while the branch has not been read yet (the
   * gauge keeps its value).
   */
  untrainedSince: number | undefined;
}

/** Sets every controller gauge from one observation. */
export function showControllerSnapshot(metrics: ControllerMetrics, snapshot: ControllerSnapshot): void {
  metrics.activeRuns.set(snapshot.activeRuns);
  metrics.attemptsPending.set(snapshot.attemptsPending);
  if (snapshot.dataset) {
    metrics.datasetPhotos.set({ split: "train" }, snapshot.dataset.train);
    metrics.datasetPhotos.set({ split: "test" }, snapshot.dataset.test);
    metrics.rejectedFiles.set(snapshot.dataset.rejected);
  }
  // Reset and set in one synchronous step: a scrape never sees the old version and the new one, nor neither.
  metrics.deployedModel.reset();
  metrics.deployedModelAccuracy.reset();
  metrics.deployedModelPromoted.reset();
  const deployed = snapshot.deployed;
  if (deployed) {
    metrics.deployedModel.set({ version: deployed.version, dataset_commit: deployed.datasetCommit ?? "none" }, 1);
    if (deployed.accuracy !== null) metrics.deployedModelAccuracy.set(deployed.accuracy);
    if (deployed.promotedAt !== null) metrics.deployedModelPromoted.set(deployed.promotedAt / 1000);
  }
  if (snapshot.untrainedSince !== undefined) metrics.datasetUntrainedSince.set(snapshot.untrainedSince / 1000);
}
