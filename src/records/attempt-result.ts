import type { FaceSummary } from "../model/face-survey.js";
import type { PersonRecall } from "../tuning/gate.js";
import type { GateOpenSet } from "../tuning/gate.js";
import type { EpochCurve } from "../model/learning-curve.js";

/**
 * The contract between an attempt process and the controller that started it: the result file it
 * writes when it ends (result.json in its folder), and the exit code it ends with. The attempt
 * (training/attempt.ts) writes both; the platforms read them back (platform/) and the controller's
 * decide turns them into the attempt's outcome. A local child process and a Kubernetes Job run the
 * same attempt, so both platforms read the same contract.
 */

/** What an attempt process writes when it ends (result.json in its folder). */
export type AttemptResult =
  | {
      ok: true;
      accuracy: number;
      balancedAccuracy: number;
      testPhotos: number;
      labels: number;
      curves: EpochCurve[];
      /** The model in service when the attempt ran, evaluated on the candidate's test split. */
      /** The deployed model on the candidate's test split; `people`: each person's recall by both models (absent in older results). */
      deployed: { version: string; accuracy: number; people?: PersonRecall[] } | null;
      forwardPasses: number;
      durationSeconds: number;
      engine: string;
      backbone: string;
      /** The faces of the dataset's photos (face crops): counts, the first warnings and rejects. */
      faces?: FaceSummary | null;
      /**
       * The candidate's "unknown" answer as measured at training, and the deployed model's on the
       * same `_not/` photos, for the gate; null when the candidate has no open-set rule (maxDistance
       * off). Absent in results written before the gate read it.
       */
      openSet?: GateOpenSet | null;
      /** Where the attempt's time went, step by step (absent in results written before it was recorded). */
      phases?: AttemptPhases;
      /** Feature vectors read from the store's feature cache and computed by the backbone in this attempt. */
      features?: { cached: number; computed: number };
      /** The attempt process's peak resident memory (absent in results written before it was recorded). */
      peakRssBytes?: number;
    }
  | {
      ok: false;
      error: string;
      /** True when retrying cannot help (bad data, bad configuration). */
      permanent: boolean;
      /**
       * True when the machine failed, not the attempt (a full disk or quota, too many open files, an
       * I/O error): the same attempt is run again after a backoff, and it counts as no failure.
       */
      transient?: boolean;
      durationSeconds: number;
      /** The attempt process's peak resident memory, when it could still measure it. */
      peakRssBytes?: number;
    };

/**
 * Seconds an attempt process spent in each of its steps, in the order they run. Together they cover
 * the process from its start to its result: what is left of the run's wall-clock time beside them is
 * the controller's (launching the process, noticing its result, judging it). Where a run stands is
 * what a user waiting for a push asks, so it is recorded beside the result, not only in the log.
 */
export interface AttemptPhases {
  /** From the process's start to the attempt's work: Node.js and faceops loaded, the attempt's lock taken. */
  startup: number;
  /** The training runtime opened: the backbone and the face detector loaded. */
  runtime: number;
  /** The run's commit read and its photos checked (the dataset's manifest). */
  dataset: number;
  /** Every photo's face found and cropped and its backbone vectors read from the cache or computed. */
  features: number;
  /** The head trained and evaluated on the test split, the open-set rule calibrated. */
  head: number;
  /** What the gate compares: the model in service measured on the candidate's test split and strangers. */
  gate: number;
  /** The candidate bundle written to the attempt's folder. */
  bundle: number;
}

/** The names of AttemptPhases, in the order the steps run. */
export const attemptPhaseNames = ["startup", "runtime", "dataset", "features", "head", "gate", "bundle"] as const satisfies ReadonlyArray<keyof AttemptPhases>;

/**
 * Exit codes of an attempt process. The controller reads the result file; these tell a shell, a Job
 * and the controller what happened when there is none. `transient`: the machine failed (a full disk,
 * too many open files), perhaps so badly that no result could be written; the controller runs the
 * attempt again after a backoff. `alreadyRunning`: another process already works on the same attempt
 * (it holds the attempt's lock), so this one left it alone; that is not a crash.
 */
export const attemptExit = { passed: 0, failed: 1, permanent: 2, transient: 74, alreadyRunning: 75 } as const;
