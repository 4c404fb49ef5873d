import type { EpochCurve } from "../model/learning-curve.js";

/**
 * The tuning policy: after an attempt fails the gate, read its learning curves and propose the
 * hyperparameters of the next attempt, or stop. Pure and deterministic, so it is tested as a table
 * and a run can be replayed from its records. Attempt 1 always uses the configured hyperparameters;
 * every later one says why it differs.
 *
 * Diagnoses, from the last epoch of the failed attempt:
 * - diverged: a loss is NaN or infinite, or the training loss ended higher than it started ->
 *   learning rate / 10;
 * - underfitting: training accuracy itself is below the gate's target -> more epochs, then a
 *   higher learning rate, then both;
 * - overfitting: training accuracy reaches the target but test accuracy does not -> more dropout,
 *   then a lower learning rate with more epochs, then fewer epochs;
 * - close: both reach the target yet the gate failed (a regression against the deployed model) ->
 *   more epochs at a lower learning rate.
 * A proposal never repeats hyperparameters already tried; the first untried candidate is taken.
 */

export interface Hyperparameters {
  epochs: number;
  learningRate: number;
  dropout: number;
}

export interface AttemptHistory {
  hyperparameters: Hyperparameters;
  /** The attempt's learning curves; empty when it crashed before training. */
  curves: readonly EpochCurve[];
  testAccuracy: number | null;
  /** passed: the gate passed; failed: the gate refused it; crashed: the attempt did not finish. */
  outcome: "passed" | "failed" | "crashed";
}

export interface PolicySettings {
  /** Attempts in a run, counting the first (default 4). */
  maxAttempts: number;
  /**
   * Crashed attempts (no result, a process that died, a timeout), the first attempt included, at which
   * the run gives up (default 2). Attempts the gate refused do not count: maxAttempts bounds those.
   */
  maxCrashedAttempts: number;
  /** The gate's accuracy target, to tell underfitting from overfitting. */
  minAccuracy: number;
}

export const defaultPolicy: PolicySettings = { maxAttempts: 4, maxCrashedAttempts: 2, minAccuracy: 0.9 };

export type Diagnosis = "diverged" | "underfitting" | "overfitting" | "close";

export type PolicyDecision =
  | { action: "attempt"; attempt: number; hyperparameters: Hyperparameters; diagnosis: Diagnosis | null; reason: string }
  | { action: "stop"; reason: string };

const limits = { maxEpochs: 500, minEpochs: 1, maxLearningRate: 0.1, minLearningRate: 1e-7, maxDropout: 0.8 };

export function diagnose(curves: readonly EpochCurve[], minAccuracy: number): Diagnosis {
  const last = curves.at(-1);
  const first = curves[0];
  if (!last || !first) return "diverged";
  const losses = curves.flatMap((curve) => [curve.trainLoss, curve.testLoss]);
  if (curves.some((curve) => curve.diverged) || losses.some((loss) => !Number.isFinite(loss))) return "diverged";
  if (curves.length > 1 && last.trainLoss > first.trainLoss * 1.05) return "diverged";
  if (last.trainAccuracy < minAccuracy) return "underfitting";
  if (last.testAccuracy < minAccuracy) return "overfitting";
  return "close";
}

function candidates(base: Hyperparameters, diagnosis: Diagnosis): Array<{ hyperparameters: Hyperparameters; change: string }> {
  const epochs = (factor: number) => Math.min(limits.maxEpochs, Math.max(limits.minEpochs, Math.round(base.epochs * factor)));
  const rate = (factor: number) => Math.min(limits.maxLearningRate, Math.max(limits.minLearningRate, base.learningRate * factor));
  const dropout = Math.min(limits.maxDropout, Math.round((base.dropout + 0.1) * 100) / 100);
  const of = (change: Partial<Hyperparameters>, text: string) => ({ hyperparameters: { ...base, ...change }, change: text });
  switch (diagnosis) {
    case "diverged":
      return [of({ learningRate: rate(0.1) }, "learning rate / 10"), of({ learningRate: rate(0.01) }, "learning rate / 100")];
    case "underfitting":
      return [
        of({ epochs: epochs(3) }, "3x the epochs"),
        of({ learningRate: rate(3) }, "3x the learning rate"),
        of({ epochs: epochs(3), learningRate: rate(3) }, "3x the epochs and 3x the learning rate"),
        of({ epochs: epochs(10) }, "10x the epochs"),
      ];
    case "overfitting":
      return [
        of({ dropout }, `dropout ${base.dropout} -> ${dropout}`),
        of({ learningRate: rate(1 / 3), epochs: epochs(2) }, "a third of the learning rate over 2x the epochs"),
        of({ epochs: epochs(0.5) }, "half the epochs"),
      ];
    case "close":
      return [of({ learningRate: rate(1 / 3), epochs: epochs(2) }, "a third of the learning rate over 2x the epochs"), of({ epochs: epochs(2) }, "2x the epochs")];
  }
}

const key = (hyperparameters: Hyperparameters) => `${hyperparameters.epochs}|${hyperparameters.learningRate.toPrecision(6)}|${hyperparameters.dropout}`;

const describe = (hyperparameters: Hyperparameters) => `epochs ${hyperparameters.epochs}, learning rate ${hyperparameters.learningRate.toPrecision(3)}, dropout ${hyperparameters.dropout}`;

/** The next step of a run given its attempts so far (oldest first) and the configured hyperparameters. */
export function nextAttempt(history: readonly AttemptHistory[], configured: Hyperparameters, settings: PolicySettings = defaultPolicy): PolicyDecision {
  if (!(settings.maxAttempts >= 1) || !(settings.maxCrashedAttempts >= 1)) {
    throw new RangeError(`maxAttempts and maxCrashedAttempts must be at least 1, received ${settings.maxAttempts} and ${settings.maxCrashedAttempts}`);
  }
  const attempt = history.length + 1;
  if (history.length === 0) {
    return { action: "attempt", attempt, hyperparameters: configured, diagnosis: null, reason: `attempt 1 uses the configured hyperparameters (${describe(configured)})` };
  }
  const last = history.at(-1) as AttemptHistory;
  if (last.outcome === "passed") return { action: "stop", reason: `attempt ${history.length} passed the gate` };
  const crashed = history.filter((entry) => entry.outcome === "crashed").length;
  if (crashed >= settings.maxCrashedAttempts) return { action: "stop", reason: `${crashed} attempts crashed, the limit is ${settings.maxCrashedAttempts}` };
  if (history.length >= settings.maxAttempts) return { action: "stop", reason: `all ${settings.maxAttempts} attempts were spent without passing the gate` };

  if (last.outcome === "crashed") {
    // Crashes are not a property of the hyperparameters: run the same ones again.
    return { action: "attempt", attempt, hyperparameters: last.hyperparameters, diagnosis: null, reason: `attempt ${history.length} crashed; attempt ${attempt} retries the same hyperparameters` };
  }
  const diagnosis = diagnose(last.curves, settings.minAccuracy);
  const tried = new Set(history.map((entry) => key(entry.hyperparameters)));
  const proposal = candidates(last.hyperparameters, diagnosis).find((candidate) => !tried.has(key(candidate.hyperparameters)));
  const evidence = evidenceOf(last, diagnosis);
  if (!proposal) return { action: "stop", reason: `attempt ${history.length} was ${diagnosis} (${evidence}) and every change for that has been tried` };
  return {
    action: "attempt",
    attempt,
    hyperparameters: proposal.hyperparameters,
    diagnosis,
    reason: `attempt ${history.length} was ${diagnosis} (${evidence}); attempt ${attempt} tries ${proposal.change}: ${describe(proposal.hyperparameters)}`,
  };
}

function evidenceOf(attempt: AttemptHistory, diagnosis: Diagnosis): string {
  const first = attempt.curves[0];
  const last = attempt.curves.at(-1);
  if (!first || !last) return "no epoch finished";
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  if (diagnosis === "diverged") return `training loss ${first.trainLoss.toPrecision(3)} -> ${last.trainLoss.toPrecision(3)}`;
  return `train accuracy ${percent(last.trainAccuracy)}, test accuracy ${percent(last.testAccuracy)} after ${last.epoch} epochs`;
}
