import type { AttemptResult } from "../records/attempt-result.js";
import type { AttemptRecord, RunRecord } from "../records/runs.js";

/**
 * Where attempts run and how a model version reaches service. The controller only sees these two
 * interfaces: platform/local runs child processes and hot-swaps the store pointer; a Kubernetes
 * platform runs Jobs and rolls a Deployment.
 */

export interface ProcessRef {
  pid: number;
  startTime: string | null;
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

/**
 * What becomes of the attempts still running when the controller shuts down. The platforms differ
 * on purpose, and each says which it does: on one machine the attempts are this machine's processes
 * and stopping `faceops up` stops its work (the next start re-runs them); on Kubernetes a Job runs
 * on without the controller (a controller restarted by a rollout must not cost hours of training),
 * and the next controller adopts it.
 */
export type AttemptsOnShutdown = "stopped" | "left running";

export interface TrainingExecutor {
  /** Starts a process for attempt `attempt` of run `runId`; returns it when the platform names processes. */
  launch(runId: string, attempt: number): Promise<ProcessRef | null>;
  /** Whether the attempt (of `run`, as the controller last recorded both) is alive, and its result once it has written one. */
  inspect(run: RunRecord, attempt: AttemptRecord): Promise<AttemptObservation>;
  /** Stops the attempt's process, if any (superseded run, timeout). */
  stop(runId: string, attempt: number, reason: string): Promise<void>;
  /** What `shutdown` does with the attempts still running. */
  readonly attemptsOnShutdown: AttemptsOnShutdown;
  /**
   * The controller is shutting down: stops watching the platform and, as `attemptsOnShutdown` says,
   * stops the attempts still running or leaves them to the next controller.
   */
  shutdown(): Promise<void>;
}

export interface ModelDeployer {
  /** Makes `version` (already in the store's models folder) the one to serve. */
  rollout(version: string, reason: string): Promise<void>;
  /** The version the serving side reports ready, or null when none is. */
  servedVersion(): Promise<string | null>;
  /** Why the rollout of `version` has failed already, when the platform knows before the deadline; else null. */
  rolloutFailure?(version: string): Promise<string | null>;
  /** Puts `previous` back in service (null: no model) after `version` failed to roll out. */
  rollback(version: string, previous: string | null, reason: string): Promise<void>;
}
