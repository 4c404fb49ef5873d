/**
 * How good a classifier is on the held-out split, from its predicted probabilities. Pure: no
 * tensors, no I/O, so every number here can be checked by hand in a table test.
 */

/** Probabilities are clipped here before the log, as Keras does (its epsilon), so one confident miss cannot make the loss infinite. */
export const probabilityFloor = 1e-7;

export interface LabelMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** Test photos of this label. */
  support: number;
}

export interface Evaluation {
  /** Share of test photos whose top prediction is right. The gate reads this. */
  accuracy: number;
  /** Mean of per-label recall: what accuracy would be if every person had as many photos. */
  balancedAccuracy: number;
  /** Share of test photos whose right label is among the three most probable. */
  top3Accuracy: number;
  /** Mean cross-entropy of the right label. */
  loss: number;
  samples: number;
  perLabel: LabelMetrics[];
  /** confusion[actual][predicted], in label index order. */
  confusion: number[][];
}

/** Ranks of label indices by probability, highest first; ties broken by the lower index. */
export function rankLabels(probabilities: ArrayLike<number>): number[] {
  return Array.from({ length: probabilities.length }, (_, index) => index).sort(
    (a, b) => (probabilities[b] as number) - (probabilities[a] as number) || a - b,
  );
}

export function evaluate(labels: readonly string[], actual: readonly number[], probabilities: readonly ArrayLike<number>[]): Evaluation {
  if (actual.length !== probabilities.length) {
    throw new Error(`evaluate needs one probability row per sample: ${actual.length} labels, ${probabilities.length} rows`);
  }
  const classes = labels.length;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let correct = 0;
  let top3 = 0;
  let loss = 0;
  actual.forEach((truth, sample) => {
    const row = probabilities[sample] as ArrayLike<number>;
    if (row.length !== classes) throw new Error(`sample ${sample} has ${row.length} probabilities for ${classes} labels`);
    if (!Number.isInteger(truth) || truth < 0 || truth >= classes) throw new Error(`sample ${sample} has label index ${truth}, outside 0..${classes - 1}`);
    const ranked = rankLabels(row);
    const predicted = ranked[0] as number;
    const cell = confusion[truth] as number[];
    cell[predicted] = (cell[predicted] as number) + 1;
    if (predicted === truth) correct++;
    if (ranked.slice(0, 3).includes(truth)) top3++;
    loss -= Math.log(Math.max(row[truth] as number, probabilityFloor));
  });

  const perLabel = labels.map((label, index) => labelMetrics(label, index, confusion));
  const present = perLabel.filter((metrics) => metrics.support > 0);
  const samples = actual.length;
  return {
    accuracy: samples ? correct / samples : 0,
    balancedAccuracy: present.length ? present.reduce((sum, metrics) => sum + metrics.recall, 0) / present.length : 0,
    top3Accuracy: samples ? top3 / samples : 0,
    loss: samples ? loss / samples : 0,
    samples,
    perLabel,
    confusion,
  };
}

function labelMetrics(label: string, index: number, confusion: number[][]): LabelMetrics {
  const truePositive = (confusion[index] as number[])[index] as number;
  const support = (confusion[index] as number[]).reduce((sum, count) => sum + count, 0);
  const predicted = confusion.reduce((sum, row) => sum + (row[index] as number), 0);
  const precision = predicted ? truePositive / predicted : 0;
  const recall = support ? truePositive / support : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { label, precision, recall, f1, support };
}

/**
 * Nearest class mean on L2-normalised features: a baseline that needs no training, reported
 * beside the head because on small face sets it is often as good (and says when the head is not).
 */
export function nearestClassMeanAccuracy(
  train: ReadonlyArray<{ label: number; features: Float32Array }>,
  test: ReadonlyArray<{ label: number; features: Float32Array }>,
  classes: number,
): number {
  const first = train[0] ?? test[0];
  if (!first || test.length === 0) return 0;
  const length = first.features.length;
  const means = Array.from({ length: classes }, () => new Float64Array(length));
  for (const sample of train) {
    const unit = normalised(sample.features);
    const mean = means[sample.label] as Float64Array;
    for (let index = 0; index < length; index++) mean[index] = (mean[index] as number) + (unit[index] as number);
  }
  const unitMeans = means.map((mean) => normalised(mean));
  let correct = 0;
  for (const sample of test) {
    const unit = normalised(sample.features);
    let best = -1;
    let bestScore = -Infinity;
    unitMeans.forEach((mean, label) => {
      let score = 0;
      for (let index = 0; index < length; index++) score += (mean[index] as number) * (unit[index] as number);
      if (score > bestScore) {
        bestScore = score;
        best = label;
      }
    });
    if (best === sample.label) correct++;
  }
  return correct / test.length;
}

function normalised(vector: ArrayLike<number>): Float64Array {
  let norm = 0;
  for (let index = 0; index < vector.length; index++) norm += (vector[index] as number) ** 2;
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return Float64Array.from({ length: vector.length }, (_, index) => (vector[index] as number) * scale);
}
