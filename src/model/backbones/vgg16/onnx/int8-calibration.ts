import { validateVgg16InputSize, vgg16Layers } from "../architecture.js";
import type { Vgg16Weights } from "../weights/index.js";
import { calibrationImages } from "./calibration-images.js";
import { buildVgg16Onnx } from "./fp32-graph.js";
import { inputName, type Vgg16GraphOptions } from "./graph-parts.js";
import type { Int8Scales } from "./int8-graph.js";

/**
 * The int8 graph's activation scales, measured by running the float graph on the calibration
 * photos, once per weights object, input size and pooling.
 */

/**
 * Measures the int8 scales on calibration images (NHWC, caffe-normalised) with the float graph: the
 * input's range, and each conv layer's largest output (ReLU outputs are never negative, so zero
 * point 0 and scale = largest / 255).
 */
async function calibrateInt8(weights: Vgg16Weights, options: Vgg16GraphOptions, images: { data: Float32Array; count: number }): Promise<Int8Scales> {
  const size = validateVgg16InputSize(options.inputSize);
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(buildVgg16Onnx(weights, { ...options, inputLayout: "nhwc", exposeActivations: true }), {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
  });
  try {
    let low = Infinity;
    let high = -Infinity;
    for (const value of images.data) {
      if (value < low) low = value;
      if (value > high) high = value;
    }
    const layers: Record<string, number> = {};
    const perImage = size * size * 3;
    for (let start = 0; start < images.count; start += 4) {
      const count = Math.min(4, images.count - start);
      const batch = images.data.subarray(start * perImage, (start + count) * perImage);
      const results = await session.run({ [inputName]: new ort.Tensor("float32", batch, [count, size, size, 3]) });
      for (const layer of vgg16Layers) {
        if (layer.kind !== "conv") continue;
        let largest = layers[layer.name] ?? 0;
        for (const value of results[layer.name]?.data as Float32Array) if (value > largest) largest = value;
        layers[layer.name] = largest;
      }
    }
    for (const name of Object.keys(layers)) layers[name] = (layers[name] as number) > 0 ? (layers[name] as number) / 255 : 1e-6;
    const scale = high > low ? (high - low) / 255 : 1;
    return { input: { scale, zeroPoint: Math.max(0, Math.min(255, Math.round(-low / scale))) }, layers };
  } finally {
    await session.release();
  }
}

/** Scales are measured once per weights object, input size and pooling. */
const int8ScalesCache = new WeakMap<Vgg16Weights, Map<string, Promise<{ scales: Int8Scales; calibration: string }>>>();

export function int8ScalesFor(weights: Vgg16Weights, options: Vgg16GraphOptions): Promise<{ scales: Int8Scales; calibration: string }> {
  let perWeights = int8ScalesCache.get(weights);
  if (!perWeights) {
    perWeights = new Map();
    int8ScalesCache.set(weights, perWeights);
  }
  const key = `${options.inputSize}-${options.pooling}`;
  let found = perWeights.get(key);
  if (!found) {
    found = (async () => {
      const images = await calibrationImages(options.inputSize);
      return { scales: await calibrateInt8(weights, options, images), calibration: images.sha256 };
    })();
    perWeights.set(key, found);
    found.catch(() => perWeights.delete(key));
  }
  return found;
}
