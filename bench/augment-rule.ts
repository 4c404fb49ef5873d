/**
 * The rule issue 17 sets for the default number of augmentation variants: of the settings measured,
 * the cheapest whose balanced accuracy is within 0.2 points of the best. Pure, so that the choice
 * printed at the end of bench/augment-study.ts follows from its table and nothing else, and so that
 * a table test can check it by hand.
 *
 * Cost is what a cold training pays for the setting: backbone embeddings (every photo once, plus K
 * copies of every training photo), which dominate its time; the head's seconds only break ties
 * between settings that embed as much, and then the more accurate one wins. Accuracy is the mean
 * over the seeds measured, so one lucky seed cannot decide; the spread is reported beside it.
 */

export interface MeasuredSetting {
  /** e.g. "K=2" or "flip-only". */
  id: string;
  /** Backbone embeddings a cold training with this setting computes. */
  embeddings: number;
  /** Mean seconds of the head's training over the seeds. */
  headSeconds: number;
  /** Balanced accuracy (0..1) of each seed's head on the test split. */
  balancedAccuracy: readonly number[];
}

export interface Spread {
  mean: number;
  min: number;
  max: number;
  /** Sample standard deviation; 0 for a single value. */
  stdev: number;
}

export interface AugmentChoice {
  chosen: string;
  /** The setting with the best mean balanced accuracy, and that mean. */
  best: { id: string; balancedAccuracy: number };
  /** Settings within the tolerance of the best, cheapest first. */
  withinTolerance: string[];
  /** Points (percent) below the best that still count as as good. */
  tolerancePoints: number;
  /** True when the best setting's own seeds spread wider than the tolerance: the choice is within noise. */
  withinNoise: boolean;
  /** One sentence that says why. */
  reason: string;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError("a spread needs at least one value, received none");
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, min: Math.min(...values), max: Math.max(...values), stdev: Math.sqrt(variance) };
}

/** Differences smaller than this are rounding, not accuracy (a test split has at most thousands of photos). */
const epsilon = 1e-9;

export function chooseAugmentation(settings: readonly MeasuredSetting[], tolerancePoints = 0.2): AugmentChoice {
  if (settings.length === 0) throw new RangeError("choosing an augmentation setting needs at least one measured setting, received none");
  if (!(tolerancePoints >= 0)) throw new RangeError(`the tolerance must be a non-negative number of points, received ${tolerancePoints}`);
  const scored = settings.map((setting) => {
    if (setting.balancedAccuracy.length === 0) throw new RangeError(`setting ${setting.id} has no balanced accuracy measured`);
    return { ...setting, accuracy: spread(setting.balancedAccuracy) };
  });
  const best = scored.reduce((leader, entry) => (entry.accuracy.mean > leader.accuracy.mean + epsilon ? entry : leader));
  const floor = best.accuracy.mean - tolerancePoints / 100;
  const cheapestFirst = scored
    .filter((entry) => entry.accuracy.mean >= floor - epsilon)
    .sort((a, b) => a.embeddings - b.embeddings || b.accuracy.mean - a.accuracy.mean || a.headSeconds - b.headSeconds);
  const chosen = cheapestFirst[0] as (typeof cheapestFirst)[number];
  const withinNoise = best.accuracy.max - best.accuracy.min > tolerancePoints / 100 + epsilon;
  const points = (value: number) => `${(value * 100).toFixed(2)}%`;
  const reason =
    chosen.id === best.id
      ? `${chosen.id} has the best mean balanced accuracy (${points(best.accuracy.mean)}) and no cheaper setting is within ${tolerancePoints} points of it`
      : `${chosen.id} (${points(chosen.accuracy.mean)}, ${chosen.embeddings} embeddings) is the cheapest setting within ${tolerancePoints} points of the best, ${best.id} (${points(best.accuracy.mean)}, ${best.embeddings} embeddings)`;
  return {
    chosen: chosen.id,
    best: { id: best.id, balancedAccuracy: best.accuracy.mean },
    withinTolerance: cheapestFirst.map((entry) => entry.id),
    tolerancePoints,
    withinNoise,
    reason: withinNoise ? `${reason}; but ${best.id}'s seeds spread ${points(best.accuracy.max - best.accuracy.min)}, wider than the tolerance, so the choice is within noise` : reason,
  };
}
