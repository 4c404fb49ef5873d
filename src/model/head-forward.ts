import type * as tfjs from "@tensorflow/tfjs";

/**
 * The trained head's forward pass in plain loops, without TensorFlow.js. The head is small (a
 * 128-value face descriptor through Dense(256) and Dense(classes) is ~73,000 multiply-adds a face),
 * yet `model.predict` spent most of its time building tensors, layer calls and tidy scopes around
 * that arithmetic: under load it was ~17% of the service's main thread, the thread that also
 * answers HTTP. The weights are read once (`readHeadWeights`) and every call after is a few loops.
 *
 * Only what `createHead` builds is understood: Dense layers with relu, softmax or linear
 * activations, and Dropout, which is the identity at inference. For any other layer
 * `readHeadWeights` returns null and the caller runs the model through TensorFlow.js, so a bundle
 * with another head still loads and answers.
 *
 *   const weights = readHeadWeights(model);      // once, after loading or training
 *   const rows = headProbabilities(weights, xs); // per request: one Float32Array per vector
 */

/** One Dense layer: `kernel` is [inputs x units], row-major, as Keras keeps it. */
export interface DenseWeights {
  inputs: number;
  units: number;
  kernel: Float32Array;
  bias: Float32Array | null;
  activation: DenseActivation;
}

export type DenseActivation = "relu" | "softmax" | "linear";

export interface HeadWeights {
  inputLength: number;
  layers: DenseWeights[];
}

const activations: readonly string[] = ["relu", "softmax", "linear"] satisfies DenseActivation[];

/** The head's Dense layers, read from the model; null when it has a layer this module does not run. */
export function readHeadWeights(model: tfjs.LayersModel): HeadWeights | null {
  const layers: DenseWeights[] = [];
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (kind === "Dropout" || kind === "InputLayer") continue;
    if (kind !== "Dense") return null;
    const config = layer.getConfig() as { activation?: unknown; useBias?: unknown };
    const activation = typeof config.activation === "string" ? config.activation : "linear";
    if (!activations.includes(activation)) return null;
    const [kernel, bias] = layer.getWeights();
    if (!kernel || kernel.shape.length !== 2) return null;
    const [inputs, units] = kernel.shape as [number, number];
    const previous = layers.at(-1);
    if (previous && previous.units !== inputs) return null;
    layers.push({
      inputs,
      units,
      kernel: Float32Array.from(kernel.dataSync()),
      bias: config.useBias === false || !bias ? null : Float32Array.from(bias.dataSync()),
      activation: activation as DenseActivation,
    });
  }
  const first = layers[0];
  return first ? { inputLength: first.inputs, layers } : null;
}

/** Each vector through every layer; one output row per vector. Throws, naming it, on a vector of the wrong length. */
export function headProbabilities(weights: HeadWeights, features: readonly Float32Array[]): Float32Array[] {
  return features.map((vector, index) => {
    if (vector.length !== weights.inputLength) throw new Error(`feature vector ${index} has ${vector.length} values, the head takes ${weights.inputLength}`);
    let values = vector;
    for (const layer of weights.layers) values = denseForward(layer, values);
    return values;
  });
}

/**
 * x . kernel + bias, then the activation. Accumulates in doubles, stores float32 like the tensors.
 * Both arrays are made before the loops and each activation is its own function: V8 compiles the
 * hot loop on the first call, and a construct or branch first reached after that deoptimised the
 * function on every request (54 times in 15 s under load, `--trace-deopt`).
 */
function denseForward(layer: DenseWeights, input: Float32Array): Float32Array {
  const { inputs, units, kernel, bias } = layer;
  const sums = new Float64Array(units);
  const output = new Float32Array(units);
  if (bias) sums.set(bias);
  // Row by row of the kernel: each input's weights are contiguous, so the inner loop walks memory in order.
  for (let row = 0; row < inputs; row++) {
    const value = input[row] as number;
    const offset = row * units;
    for (let unit = 0; unit < units; unit++) sums[unit] = (sums[unit] as number) + value * (kernel[offset + unit] as number);
  }
  if (layer.activation === "softmax") softmaxInto(sums, output);
  else if (layer.activation === "relu") reluInto(sums, output);
  else output.set(sums);
  return output;
}

function softmaxInto(sums: Float64Array, output: Float32Array): void {
  let largest = -Infinity;
  for (let unit = 0; unit < sums.length; unit++) largest = Math.max(largest, sums[unit] as number);
  let total = 0;
  for (let unit = 0; unit < sums.length; unit++) {
    const exp = Math.exp((sums[unit] as number) - largest);
    sums[unit] = exp;
    total += exp;
  }
  for (let unit = 0; unit < sums.length; unit++) output[unit] = (sums[unit] as number) / total;
}

function reluInto(sums: Float64Array, output: Float32Array): void {
  for (let unit = 0; unit < sums.length; unit++) output[unit] = Math.max(0, sums[unit] as number);
}
