import assert from "node:assert/strict";
import { test } from "node:test";
import type * as tfjs from "@tensorflow/tfjs";
import { headProbabilities, readHeadWeights } from "../../../src/model/head-forward.js";
import { createHead, predictHead, predictThroughTf, trainHead } from "../../../src/model/head.js";
import { loadTf } from "../../../src/model/tfjs-engine.js";
import { seededRandom } from "../../../src/util/random.js";

function vectors(seed: number, count: number, length: number, spread = 3): Float32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length }, () => (random() - 0.5) * 2 * spread));
}

/** Largest absolute difference between two lists of rows of the same shape. */
function largestDifference(left: readonly Float32Array[], right: readonly Float32Array[]): number {
  assert.equal(left.length, right.length);
  let largest = 0;
  left.forEach((row, index) => {
    const other = right[index] as Float32Array;
    assert.equal(row.length, other.length);
    row.forEach((value, column) => (largest = Math.max(largest, Math.abs(value - (other[column] as number)))));
  });
  return largest;
}

test("a trained head answers in plain loops what TensorFlow.js answers, to float32 rounding", async () => {
  const { tf } = await loadTf();
  const model = createHead(tf, { inputLength: 24, classes: 5, units: 32, dropout: 0.3, seed: 11 });
  // A few epochs, so the biases are not the initial zeros and the weights are not the initial ones.
  const train = { features: vectors(1, 60, 24), labels: Array.from({ length: 60 }, (_, index) => index % 5) };
  await trainHead(tf, model, { train, test: train }, { epochs: 3, learningRate: 0.01, batchSize: 16, classWeights: "none", earlyStoppingPatience: 0, seed: 3 });
  const weights = readHeadWeights(model);
  assert.ok(weights, "createHead's head is one the plain pass runs");
  assert.deepEqual(
    weights.layers.map((layer) => [layer.inputs, layer.units, layer.activation, layer.bias?.some((value) => value !== 0)]),
    [
      [24, 32, "relu", true],
      [32, 5, "softmax", true],
    ],
  );
  const inputs = vectors(2, 40, 24);
  const plain = headProbabilities(weights, inputs);
  const throughTf = predictThroughTf(tf, model, inputs);
  assert.ok(largestDifference(plain, throughTf) < 1e-6, `largest difference ${largestDifference(plain, throughTf)}`);
  for (const row of plain) assert.ok(Math.abs(row.reduce((sum, value) => sum + value, 0) - 1) < 1e-6);
  // predictHead takes the plain pass for such a head: the very same values.
  assert.deepEqual(predictHead(tf, model, inputs), plain);
  model.dispose();
});

test("a linear layer without a bias is run too", async () => {
  const { tf } = await loadTf();
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [6], units: 4, useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }));
  model.add(tf.layers.dense({ units: 3, activation: "softmax", biasInitializer: tf.initializers.constant({ value: 0.25 }) }));
  const weights = readHeadWeights(model);
  assert.deepEqual(
    weights?.layers.map((layer) => [layer.activation, layer.bias === null]),
    [
      ["linear", true],
      ["softmax", false],
    ],
  );
  const inputs = vectors(3, 10, 6);
  assert.ok(largestDifference(headProbabilities(weights, inputs), predictThroughTf(tf, model, inputs)) < 1e-6);
  model.dispose();
});

test("a head with a layer the plain pass does not run is answered through TensorFlow.js", async () => {
  const { tf } = await loadTf();
  const heads: Array<[string, tfjs.Sequential]> = [];
  const normalised = tf.sequential();
  normalised.add(tf.layers.dense({ inputShape: [6], units: 4, activation: "relu" }));
  normalised.add(tf.layers.batchNormalization({}));
  normalised.add(tf.layers.dense({ units: 3, activation: "softmax" }));
  heads.push(["batch normalisation", normalised]);
  const tanh = tf.sequential();
  tanh.add(tf.layers.dense({ inputShape: [6], units: 3, activation: "tanh" }));
  heads.push(["a tanh activation", tanh]);
  for (const [what, model] of heads) {
    assert.equal(readHeadWeights(model), null, what);
    const inputs = vectors(4, 5, 6);
    assert.deepEqual(predictHead(tf, model, inputs), predictThroughTf(tf, model, inputs), what);
    model.dispose();
  }
});

test("a vector of the wrong length is refused, naming it and the length the head takes", async () => {
  const { tf } = await loadTf();
  const model = createHead(tf, { inputLength: 8, classes: 2, units: 4, dropout: 0, seed: 1 });
  const weights = readHeadWeights(model) as NonNullable<ReturnType<typeof readHeadWeights>>;
  assert.throws(() => headProbabilities(weights, [new Float32Array(8), new Float32Array(7)]), /feature vector 1 has 7 values, the head takes 8/);
  assert.deepEqual(headProbabilities(weights, []), []);
  model.dispose();
});
