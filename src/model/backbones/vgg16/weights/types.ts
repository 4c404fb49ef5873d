import { kernelLength, kernelShape, type Vgg16ConvLayer } from "../architecture.js";

/**
 * VGG16's weights as every engine reads them: float32 in Keras' own layout, one kernel and one bias
 * per conv layer, so the weights mean the same thing to every engine.
 */

export interface Vgg16ConvWeights {
  /** Keras layout [3, 3, in, out] (HWIO), row-major. */
  readonly kernel: Float32Array;
  /** One value per output channel. */
  readonly bias: Float32Array;
}

export interface Vgg16Weights {
  /** One entry per conv layer of the architecture, keyed by its Keras name ("block1_conv1"). */
  readonly layers: ReadonlyMap<string, Vgg16ConvWeights>;
  /** sha256 of the weights file in hex, or "random:<seed>" for random weights. */
  readonly sha256: string;
  /** True for randomly initialised weights, which only tests and benchmarks may use. */
  readonly random: boolean;
}

/** The weights of one conv layer, or an error naming the layer when they are absent or misshapen. */
export function convWeights(weights: Vgg16Weights, layer: Vgg16ConvLayer): Vgg16ConvWeights {
  const found = weights.layers.get(layer.name);
  if (!found) throw new Error(`VGG16 weights (${weights.sha256}) have no entry for layer ${layer.name}`);
  if (found.kernel.length !== kernelLength(layer) || found.bias.length !== layer.outChannels) {
    throw new Error(
      `VGG16 weights for ${layer.name} have ${found.kernel.length} kernel and ${found.bias.length} bias values, ` +
        `expected ${kernelLength(layer)} (${kernelShape(layer).join("x")}) and ${layer.outChannels}`,
    );
  }
  return found;
}
