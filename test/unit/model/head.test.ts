import assert from "node:assert/strict";
import { test } from "node:test";
import { applyScaling, balancedClassWeights, createHead, fitScaling, predictHead, trainHead, type LabelledFeatures } from "../../../src/model/head.js";
import { loadTf } from "../../../src/model/tfjs-engine.js";
import { seededRandom } from "../../../src/util/random.js";

/** Three well separated Gaussian clusters in 32 dimensions, with 60, 20 and 8 samples. */
function clusters(seed: number, counts = [60, 20, 8]): LabelledFeatures {
  const random = seededRandom(seed);
  const centres = counts.map((_, label) => Float32Array.from({ length: 32 }, (_, index) => (index % counts.length === label ? 3 : 0)));
  const features: Float32Array[] = [];
  const labels: number[] = [];
  counts.forEach((count, label) => {
    for (let sample = 0; sample < count; sample++) {
      features.push(Float32Array.from(centres[label] as Float32Array, (value) => value + (random() - 0.5) * 2));
      labels.push(label);
    }
  });
  return { features, labels };
}

const options = { epochs: 30, learningRate: 0.01, batchSize: 16, classWeights: "balanced" as const, earlyStoppingPatience: 0, seed: 7 };
const shape = { inputLength: 32, classes: 3, units: 16, dropout: 0.2, seed: 7 };

test("the head learns separable classes and records a learning curve per epoch", async () => {
  const { tf } = await loadTf();
  const model = createHead(tf, shape);
  const result = await trainHead(tf, model, { train: clusters(1), test: clusters(2, [10, 10, 10]) }, options);
  assert.equal(result.curves.length, 30);
  const last = result.curves.at(-1);
  assert.ok(last && last.testAccuracy >= 0.95, `test accuracy ${last?.testAccuracy}`);
  assert.ok((result.curves[0]?.trainLoss ?? 0) > (last?.trainLoss ?? Infinity), "training loss falls");
  const probabilities = predictHead(tf, model, clusters(3, [1, 1, 1]).features);
  for (const row of probabilities) assert.ok(Math.abs(row.reduce((sum, value) => sum + value, 0) - 1) < 1e-4);
  model.dispose();
});

test("the same seed trains the same weights", async () => {
  const { tf } = await loadTf();
  const run = async () => {
    const model = createHead(tf, shape);
    await trainHead(tf, model, { train: clusters(1), test: clusters(2) }, { ...options, epochs: 3 });
    const weights = model.getWeights().map((tensor) => Array.from(tensor.dataSync()));
    model.dispose();
    return weights;
  };
  assert.deepEqual(await run(), await run());
});

test("a NaN loss marks the epoch diverged and stops training", async () => {
  const { tf } = await loadTf();
  const model = createHead(tf, shape);
  const data = clusters(4);
  const poisoned = { ...data, features: data.features.map((vector, index) => (index === 0 ? vector.map(() => Number.NaN) : vector)) };
  const result = await trainHead(tf, model, { train: poisoned, test: clusters(5) }, { ...options, epochs: 5 });
  assert.equal(result.curves.length, 1);
  assert.equal(result.curves[0]?.diverged, true);
  model.dispose();
});

test("early stopping keeps the best epoch's weights", async () => {
  const { tf } = await loadTf();
  const model = createHead(tf, shape);
  const result = await trainHead(tf, model, { train: clusters(5), test: clusters(6), validation: clusters(7, [5, 5, 5]) }, { ...options, epochs: 200, earlyStoppingPatience: 3 });
  assert.equal(result.stoppedEarly, true);
  assert.ok(result.keptEpoch < result.curves.length);
  const best = Math.min(...result.curves.map((curve) => curve.validationLoss ?? Infinity));
  assert.equal(result.curves[result.keptEpoch - 1]?.validationLoss, best);
  model.dispose();
});

test("balanced class weights follow Keras' formula", () => {
  assert.deepEqual(balancedClassWeights([0, 0, 0, 1], 2), [4 / 6, 2]);
  assert.deepEqual(balancedClassWeights([0, 1], 3), [2 / 3, 2 / 3, 0]);
});

test("feature scaling standardises each feature with the training statistics", () => {
  const scaling = fitScaling([Float32Array.from([1, 10, 5]), Float32Array.from([3, 30, 5])]);
  assert.deepEqual(Array.from(scaling.mean), [2, 20, 5]);
  assert.deepEqual(Array.from(scaling.scale), [1, 0.10000000149011612, 1], "std 1 and 10; a constant feature is left unscaled");
  assert.deepEqual(Array.from(applyScaling(Float32Array.from([3, 0, 6]), scaling)), [1, -2, 1]);
});
