import type * as tfjs from "@tensorflow/tfjs";
import { seededPermutation } from "../util/random.js";
import { probabilityFloor } from "./evaluate.js";
import type { EpochCurve } from "./learning-curve.js";

type Tf = typeof tfjs;

/**
 * The part of the classifier that is trained on every attempt: on top of the frozen backbone's
 * (already pooled) features, Dense(units, relu) -> Dropout -> Dense(classes, softmax), the head
 * of the Keras transfer-learning tutorial. Training is a plain loop rather than model.fit, so the
 * shuffles are seeded, classes are weighted, and learning curves include the test split.
 */

export interface HeadShape {
  inputLength: number;
  classes: number;
  units: number;
  dropout: number;
  seed: number;
}

export function createHead(tf: Tf, shape: HeadShape): tfjs.LayersModel {
  if (shape.classes < 2) throw new Error(`a classifier head needs at least 2 classes, received ${shape.classes}`);
  const model = tf.sequential({ name: "faceops_head" });
  model.add(
    tf.layers.dense({
      name: "hidden",
      inputShape: [shape.inputLength],
      units: shape.units,
      activation: "relu",
      kernelInitializer: tf.initializers.glorotUniform({ seed: shape.seed }),
    }),
  );
  model.add(tf.layers.dropout({ name: "dropout", rate: shape.dropout, seed: shape.seed + 1 }));
  model.add(
    tf.layers.dense({
      name: "classes",
      units: shape.classes,
      activation: "softmax",
      kernelInitializer: tf.initializers.glorotUniform({ seed: shape.seed + 2 }),
    }),
  );
  return model;
}

/**
 * Per-feature standardisation learnt from the training vectors: (x - mean) * scale, scale = 1/std.
 * Backbone features come in very different ranges (a unit-length 128-d face descriptor has values
 * around +-0.09, VGG16's averaged ReLU maps run into the tens); standardised inputs let the same
 * Adam learning rate work for both. Kept in the bundle and applied before the head at serving time.
 */
export interface FeatureScaling {
  mean: Float32Array;
  scale: Float32Array;
}

export function fitScaling(features: readonly Float32Array[]): FeatureScaling {
  const length = features[0]?.length ?? 0;
  const mean = new Float64Array(length);
  const squares = new Float64Array(length);
  for (const vector of features) {
    for (let index = 0; index < length; index++) {
      const value = vector[index] as number;
      mean[index] = (mean[index] as number) + value;
      squares[index] = (squares[index] as number) + value * value;
    }
  }
  const count = Math.max(1, features.length);
  const scaling = { mean: new Float32Array(length), scale: new Float32Array(length) };
  for (let index = 0; index < length; index++) {
    const average = (mean[index] as number) / count;
    const variance = Math.max(0, (squares[index] as number) / count - average * average);
    scaling.mean[index] = average;
    // A feature that never varies carries no information; leave it unscaled rather than divide by ~0.
    scaling.scale[index] = variance > 1e-12 ? 1 / Math.sqrt(variance) : 1;
  }
  return scaling;
}

export function applyScaling(vector: Float32Array, scaling: FeatureScaling): Float32Array {
  const result = new Float32Array(vector.length);
  for (let index = 0; index < vector.length; index++) {
    result[index] = ((vector[index] as number) - (scaling.mean[index] as number)) * (scaling.scale[index] as number);
  }
  return result;
}

export interface LabelledFeatures {
  features: readonly Float32Array[];
  labels: readonly number[];
}

export interface TrainHeadOptions {
  epochs: number;
  learningRate: number;
  batchSize: number;
  classWeights: "balanced" | "none";
  /** 0: off. Otherwise stop after this many epochs without a lower validation loss, keeping the best weights. */
  earlyStoppingPatience: number;
  seed: number;
  onEpoch?: (curve: EpochCurve) => void;
}

export interface HeadTrainingResult {
  curves: EpochCurve[];
  /** The epoch whose weights the head keeps (the last, or the best one under early stopping). */
  keptEpoch: number;
  stoppedEarly: boolean;
}

/** Keras' "balanced" class weights: n_samples / (n_classes * n_class_samples). */
export function balancedClassWeights(labels: readonly number[], classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const label of labels) counts[label] = (counts[label] as number) + 1;
  return counts.map((count) => (count ? labels.length / (classes * count) : 0));
}

export async function trainHead(
  tf: Tf,
  model: tfjs.LayersModel,
  data: { train: LabelledFeatures; test: LabelledFeatures; validation?: LabelledFeatures },
  options: TrainHeadOptions,
): Promise<HeadTrainingResult> {
  const classes = model.outputs[0]?.shape[1] as number;
  const weights = options.classWeights === "balanced" ? balancedClassWeights(data.train.labels, classes) : new Array<number>(classes).fill(1);
  const optimizer = tf.train.adam(options.learningRate);
  const train = toTensors(tf, data.train, classes);
  const sampleWeights = tf.tensor1d(data.train.labels.map((label) => weights[label] as number));
  const curves: EpochCurve[] = [];
  let best = { loss: Infinity, epoch: 0, weights: null as tfjs.Tensor[] | null };
  let stoppedEarly = false;
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const order = seededPermutation(data.train.labels.length, options.seed * 1000 + epoch);
      for (let start = 0; start < order.length; start += options.batchSize) {
        const batch = tf.tensor1d(order.slice(start, start + options.batchSize), "int32");
        tf.tidy(() => {
          const x = tf.gather(train.x, batch);
          const y = tf.gather(train.y, batch);
          const w = tf.gather(sampleWeights, batch);
          optimizer.minimize(() => weightedCrossEntropy(tf, model.apply(x, { training: true }) as tfjs.Tensor, y, w));
        });
        batch.dispose();
      }
      const trainScore = score(tf, model, data.train, classes);
      const testScore = score(tf, model, data.test, classes);
      const validationLoss = data.validation ? score(tf, model, data.validation, classes).loss : null;
      const curve: EpochCurve = {
        epoch,
        trainLoss: trainScore.loss,
        trainAccuracy: trainScore.accuracy,
        testLoss: testScore.loss,
        testAccuracy: testScore.accuracy,
        validationLoss,
        diverged: !Number.isFinite(trainScore.loss),
      };
      curves.push(curve);
      options.onEpoch?.(curve);
      // Let timers and signals run between epochs (progress output, a SIGTERM during a long run).
      await tf.nextFrame();
      if (curve.diverged) break;
      if (options.earlyStoppingPatience > 0 && validationLoss !== null) {
        if (validationLoss < best.loss) {
          best.weights?.forEach((tensor) => tensor.dispose());
          best = { loss: validationLoss, epoch, weights: model.getWeights().map((tensor) => tensor.clone()) };
        } else if (epoch - best.epoch >= options.earlyStoppingPatience) {
          stoppedEarly = true;
          break;
        }
      }
    }
    if (best.weights) model.setWeights(best.weights);
    const keptEpoch = best.weights ? best.epoch : curves.length;
    return { curves, keptEpoch, stoppedEarly };
  } finally {
    best.weights?.forEach((tensor) => tensor.dispose());
    tf.dispose([train.x, train.y, sampleWeights]);
    optimizer.dispose();
  }
}

function toTensors(tf: Tf, data: LabelledFeatures, classes: number): { x: tfjs.Tensor2D; y: tfjs.Tensor2D } {
  const length = data.features[0]?.length ?? 0;
  const flat = new Float32Array(data.features.length * length);
  data.features.forEach((vector, index) => {
    if (vector.length !== length) throw new Error(`feature vector ${index} has ${vector.length} values, expected ${length}`);
    flat.set(vector, index * length);
  });
  const x = tf.tensor2d(flat, [data.features.length, length]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(data.labels as number[], "int32"), classes).toFloat() as tfjs.Tensor2D);
  return { x, y };
}

/** Mean over the batch of weight x cross-entropy, as Keras applies class_weight. */
function weightedCrossEntropy(tf: Tf, probabilities: tfjs.Tensor, truth: tfjs.Tensor, weights: tfjs.Tensor): tfjs.Scalar {
  const clipped = tf.clipByValue(probabilities, probabilityFloor, 1 - probabilityFloor);
  const perSample = tf.neg(tf.sum(tf.mul(truth, tf.log(clipped)), -1));
  return tf.mean(tf.mul(perSample, weights));
}

function score(tf: Tf, model: tfjs.LayersModel, data: LabelledFeatures, classes: number): { loss: number; accuracy: number } {
  if (data.labels.length === 0) return { loss: NaN, accuracy: 0 };
  const probabilities = predictHead(tf, model, data.features);
  let loss = 0;
  let correct = 0;
  probabilities.forEach((row, index) => {
    const truth = data.labels[index] as number;
    loss -= Math.log(Math.max(row[truth] as number, probabilityFloor));
    let best = 0;
    for (let label = 1; label < classes; label++) if ((row[label] as number) > (row[best] as number)) best = label;
    if (best === truth) correct++;
  });
  return { loss: loss / data.labels.length, accuracy: correct / data.labels.length };
}

/** Class probabilities for each feature vector, in inference mode (no dropout). */
export function predictHead(tf: Tf, model: tfjs.LayersModel, features: readonly Float32Array[]): Float32Array[] {
  if (features.length === 0) return [];
  const length = features[0]?.length ?? 0;
  const flat = new Float32Array(features.length * length);
  features.forEach((vector, index) => flat.set(vector, index * length));
  const output = tf.tidy(() => model.predict(tf.tensor2d(flat, [features.length, length])) as tfjs.Tensor2D);
  const values = output.dataSync() as Float32Array;
  output.dispose();
  const classes = values.length / features.length;
  return features.map((_, index) => values.slice(index * classes, (index + 1) * classes));
}
