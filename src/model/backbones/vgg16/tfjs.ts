import type * as tfjs from "@tensorflow/tfjs";
import type { Pooling } from "../types.js";
import type { Logger } from "../../../log.js";
import { loadTf, type TfRuntime } from "../../tfjs-engine.js";
import { validateVgg16InputSize, vgg16FeatureLength, vgg16Layers, vgg16PoolSize, type Vgg16Engine } from "./architecture.js";
import { convWeights, type Vgg16Weights } from "./weights/index.js";

/**
 * VGG16 in TensorFlow.js, from the same layer list and weights as the ONNX engine. TensorFlow.js
 * takes Keras' NHWC maps and HWIO kernels as they are, so nothing is transposed: this engine is
 * the closest thing to Keras itself, which is why the tests compare the ONNX engine against it.
 * It is the engine of choice on the GPU trainer (tfjs-node-gpu); on a CPU onnxruntime is faster.
 */

export interface TfjsEngineOptions {
  weights: Vgg16Weights;
  inputSize: number;
  pooling: Pooling;
  log: Logger;
  /** The TensorFlow.js runtime to use; loadTf() (the best engine available) by default. */
  runtime?: TfRuntime;
  /** Runs larger batches in pieces of this size; 8 by default, which a GPU handles easily. */
  batchSize?: number;
}

type Step =
  | { kind: "conv"; name: string; filter: tfjs.Tensor4D; bias: tfjs.Tensor1D }
  | { kind: "pool"; name: string };

export const tfjsDefaultBatchSize = 8;

export async function createTfjsVgg16Engine(options: TfjsEngineOptions): Promise<Vgg16Engine> {
  const size = validateVgg16InputSize(options.inputSize);
  const batchSize = options.batchSize ?? tfjsDefaultBatchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`TensorFlow.js batch size must be a positive integer, received ${String(batchSize)}`);
  const runtime = options.runtime ?? (await loadTf());
  const { tf } = runtime;
  const steps = uploadWeights(tf, options.weights);
  const featureLength = vgg16FeatureLength(size, options.pooling);
  options.log.debug({ engine: runtime.engine, backend: tf.getBackend(), inputSize: size, pooling: options.pooling }, "TensorFlow.js VGG16 ready");
  let disposed = false;
  return {
    name: runtime.engine,
    preferredBatchSize: batchSize,
    async run(input, count) {
      if (disposed) throw new Error("the TensorFlow.js VGG16 engine was disposed");
      const perImage = size * size * 3;
      if (input.length !== count * perImage) {
        throw new RangeError(`VGG16 input for ${count} images of ${size}x${size} needs ${count * perImage} values, received ${input.length}`);
      }
      const output = tf.tidy(() => forward(tf, steps, tf.tensor4d(input, [count, size, size, 3]), options.pooling));
      try {
        const data = await output.data();
        if (!(data instanceof Float32Array) || data.length !== count * featureLength) {
          throw new Error(`TensorFlow.js returned ${data.length} ${output.dtype} values, expected ${count * featureLength} float32`);
        }
        return data;
      } finally {
        output.dispose();
      }
    },
    dispose() {
      if (!disposed) {
        disposed = true;
        for (const step of steps) if (step.kind === "conv") tf.dispose([step.filter, step.bias]);
      }
      return Promise.resolve();
    },
  };
}

/** Kernels and biases become tensors once; on tfjs-node-gpu that is one upload to the GPU. */
function uploadWeights(tf: typeof tfjs, weights: Vgg16Weights): Step[] {
  return vgg16Layers.map((layer): Step => {
    if (layer.kind === "pool") return { kind: "pool", name: layer.name };
    const { kernel, bias } = convWeights(weights, layer);
    return {
      kind: "conv",
      name: layer.name,
      filter: tf.tensor4d(kernel, [3, 3, layer.inChannels, layer.outChannels]),
      bias: tf.tensor1d(bias),
    };
  });
}

/*
 * The fused op is conv + bias + ReLU in one kernel, which every backend implements and which spares
 * two full-size intermediate tensors per layer. "same" padding with a 3x3 kernel and stride 1 pads
 * one pixel on each side, exactly like Keras' Conv2D(padding="same").
 */
function forward(tf: typeof tfjs, steps: readonly Step[], input: tfjs.Tensor4D, pooling: Pooling): tfjs.Tensor2D {
  let x = input;
  for (const step of steps) {
    x =
      step.kind === "conv"
        ? tf.fused.conv2d({ x, filter: step.filter, bias: step.bias, strides: 1, pad: "same", activation: "relu" })
        : tf.maxPool(x, vgg16PoolSize, vgg16PoolSize, "valid");
  }
  const count = x.shape[0];
  // Flattening an NHWC tensor gives Keras' Flatten order (row, column, channel) directly.
  return pooling === "avg" ? tf.mean(x, [1, 2]) : tf.reshape(x, [count, -1]);
}
