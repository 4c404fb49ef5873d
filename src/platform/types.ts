import type { AttemptObservation } from "../controller/decide.js";
import type { AttemptRecord, RunRecord } from "../controller/records.js";

/**
 * Where attempts run and how a model version reaches service. The controller only sees these two
 * interfaces: platform/local runs child processes and hot-swaps the store pointer; a Kubernetes
 * platform runs Jobs and rolls a Deployment.
 */

export interface ProcessRef {
  pid: number;
  startTime: string | null;
}

export interface TrainingExecutor {
  /** Starts a process for attempt `attempt` of run `runId`; returns it when the platform names processes. */
  launch(runId: string, attempt: number): Promise<ProcessRef | null>;
  /** Whether the attempt (of `run`, as the controller last recorded both) is alive, and its result once it has written one. */
  inspect(run: RunRecord, attempt: AttemptRecord): Promise<AttemptObservation>;
  /** Stops the attempt's process, if any (superseded run, timeout). */
  stop(runId: string, attempt: number, reason: string): Promise<void>;
  /** Attempts running now, as far as this executor knows (for a clean shutdown). */
  close(): Promise<void>;
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
