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
    };

/**
 * Exit codes of an attempt process. The controller reads the result file; these tell a shell, a Job
 * and the controller what happened when there is none. `transient`: the machine failed (a full disk,
 * too many open files), perhaps so badly that no result could be written; the controller runs the
 * attempt again after a backoff. `alreadyRunning`: another process already works on the same attempt
 * (it holds the attempt's lock), so this one left it alone; that is not a crash.
 */
export const attemptExit = { passed: 0, failed: 1, permanent: 2, transient: 74, alreadyRunning: 75 } as const;
