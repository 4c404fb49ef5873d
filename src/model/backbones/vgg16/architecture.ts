import type { Pooling } from "../types.js";

/**
 * VGG16's convolutional base exactly as keras.applications.vgg16.VGG16(include_top=False) builds
 * it: five blocks of 3x3 "same" convolutions with ReLU, each closed by a 2x2 max pool of stride 2.
 * Every engine (onnxruntime, TensorFlow.js) and the weights reader are built from this one list,
 * so a layer cannot exist in one of them and not in the others.
 */

export interface Vgg16ConvLayer {
  readonly kind: "conv";
  /** The Keras layer name, which is also the group name in the Keras weights file. */
  readonly name: string;
  readonly block: number;
  readonly inChannels: number;
  readonly outChannels: number;
}

export interface Vgg16PoolLayer {
  readonly kind: "pool";
  readonly name: string;
  readonly block: number;
  /** Pooling keeps the channel count; both fields are given so every layer reads alike. */
  readonly inChannels: number;
  readonly outChannels: number;
}

export type Vgg16Layer = Vgg16ConvLayer | Vgg16PoolLayer;

/** Side of the square 3x3 convolution kernels. */
export const vgg16KernelSize = 3;
/** Side and stride of the max pools that close each block. */
export const vgg16PoolSize = 2;
/** Channels of the final feature map, which is the feature length with "avg" pooling. */
export const vgg16OutputChannels = 512;
export const vgg16DefaultInputSize = 224;
/** Keras' own minimum (obtain_input_shape(min_size=32)): five pools leave a 1x1 map. */
export const vgg16MinInputSize = 32;
/** Five pools of stride 2 divide the side by 32; other sizes would drop rows unevenly. */
export const vgg16SizeStep = 32;

/** Output channels of each conv layer, block by block (keras/applications/vgg16.py). */
const blockFilters: readonly (readonly number[])[] = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];

function buildLayers(): Vgg16Layer[] {
  const layers: Vgg16Layer[] = [];
  let channels = 3;
  blockFilters.forEach((filters, index) => {
    const block = index + 1;
    filters.forEach((outChannels, convIndex) => {
      layers.push({ kind: "conv", name: `block${block}_conv${convIndex + 1}`, block, inChannels: channels, outChannels });
      channels = outChannels;
    });
    layers.push({ kind: "pool", name: `block${block}_pool`, block, inChannels: channels, outChannels: channels });
  });
  return layers;
}

/** All 18 layers in forward order: block1_conv1, block1_conv2, block1_pool, ... block5_pool. */
export const vgg16Layers: readonly Vgg16Layer[] = Object.freeze(buildLayers());

/** The 13 layers that carry weights, in forward order (the order Keras saves and loads them). */
export const vgg16ConvLayers: readonly Vgg16ConvLayer[] = Object.freeze(
  vgg16Layers.filter((layer): layer is Vgg16ConvLayer => layer.kind === "conv"),
);

/** Keras kernel layout [height, width, in, out] (HWIO), as stored in the weights file. */
export function kernelShape(layer: Vgg16ConvLayer): [number, number, number, number] {
  return [vgg16KernelSize, vgg16KernelSize, layer.inChannels, layer.outChannels];
}

export function kernelLength(layer: Vgg16ConvLayer): number {
  return vgg16KernelSize * vgg16KernelSize * layer.inChannels * layer.outChannels;
}

/** Returns the size unchanged when VGG16 can take it, and says why not otherwise. */
export function validateVgg16InputSize(inputSize: number): number {
  if (!Number.isInteger(inputSize) || inputSize < vgg16MinInputSize || inputSize % vgg16SizeStep !== 0) {
    throw new RangeError(
      `VGG16 input size must be an integer multiple of ${vgg16SizeStep} and at least ${vgg16MinInputSize}, received ${String(inputSize)}`,
    );
  }
  return inputSize;
}

/** Side of the block5_pool feature map: 7 at 224, because the five pools divide by 32. */
export function featureMapSize(inputSize: number = vgg16DefaultInputSize): number {
  return validateVgg16InputSize(inputSize) / vgg16SizeStep;
}

/** Length of one image's feature vector: 512 averaged, or side x side x 512 flattened (NHWC). */
export function vgg16FeatureLength(inputSize: number, pooling: Pooling): number {
  if (pooling === "avg") return vgg16OutputChannels;
  const side = featureMapSize(inputSize);
  return side * side * vgg16OutputChannels;
}

/**
 * What each engine that runs the network provides. The backbone in index.ts normalises images,
 * batches them and counts passes; an engine only turns NHWC float data into features.
 */
export interface Vgg16Engine {
  /** For Backbone.engine: "onnxruntime-cpu", "tfjs-wasm", "tfjs-node-gpu", ... */
  readonly name: string;
  /** The batch size this engine runs fastest with; larger batches are split into runs of this size. */
  readonly preferredBatchSize: number;
  /**
   * Set when the engine's arithmetic differs from Keras' float32 beyond rounding (int8): joins the
   * backbone's fingerprint, so its features never mix with float ones in caches or bundles.
   */
  readonly numerics?: string;
  /**
   * Features for `count` images given as one NHWC float32 buffer of count x size x size x 3 in
   * caffe normalisation. Returns count x featureLength values, image after image.
   */
  run(input: Float32Array, count: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}
