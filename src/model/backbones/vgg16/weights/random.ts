import { seededRandom } from "../../../../util/random.js";
import { kernelLength, vgg16ConvLayers } from "../architecture.js";
import type { Vgg16ConvWeights, Vgg16Weights } from "./types.js";

/**
 * Random VGG16 weights for tests and benchmarks, the same for the same seed on every run and
 * machine (Math.random cannot be seeded), so that engines can be compared on them.
 */

const randomPrefix = "random:";

/** The seed of random weights, or undefined for real ones. */
export function randomWeightsSeed(weights: Vgg16Weights): string | undefined {
  return weights.sha256.startsWith(randomPrefix) ? weights.sha256.slice(randomPrefix.length) : undefined;
}

/*
 * He-uniform kernels (limit sqrt(6 / fan_in)) keep the activations' scale roughly constant through
 * 13 ReLU layers, so features neither vanish nor overflow and engine comparisons stay meaningful.
 * Biases are small but not zero (Keras initialises them to zero): an engine that drops a bias or
 * adds it to the wrong channel must show up in those comparisons.
 */
const randomBiasLimit = 0.5;

/** Deterministic random weights for tests and benchmarks; never for real features. */
export function randomVgg16Weights(seed: number): Vgg16Weights {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`random weights need an integer seed, received ${String(seed)}`);
  const next = seededRandom(seed);
  const uniform = (values: Float32Array, limit: number) => {
    for (let i = 0; i < values.length; i++) values[i] = (next() * 2 - 1) * limit;
    return values;
  };
  const layers = new Map<string, Vgg16ConvWeights>();
  for (const layer of vgg16ConvLayers) {
    const fanIn = 3 * 3 * layer.inChannels;
    layers.set(layer.name, {
      kernel: uniform(new Float32Array(kernelLength(layer)), Math.sqrt(6 / fanIn)),
      bias: uniform(new Float32Array(layer.outChannels), randomBiasLimit),
    });
  }
  return { layers, sha256: `${randomPrefix}${seed}`, random: true };
}
