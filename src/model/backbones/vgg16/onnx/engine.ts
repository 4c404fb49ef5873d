import { availableParallelism } from "node:os";
import type { InferenceSession } from "onnxruntime-node";
import type { Logger } from "../../../../log.js";
import { validateVgg16InputSize, vgg16FeatureLength, type Vgg16Engine } from "../architecture.js";
import type { Vgg16Weights } from "../weights/index.js";
import { vgg16OnnxBytes } from "./fp32-graph.js";
import { inputName, outputName, type Vgg16GraphOptions } from "./graph-parts.js";
import { int8ScalesFor } from "./int8-calibration.js";
import { buildVgg16OnnxInt8 } from "./int8-graph.js";
import { OnnxSessionThread } from "../../../onnx/session.js";

/**
 * VGG16 as an ONNX model built in code from the weights, run by onnxruntime on the CPU. Building
 * the graph here rather than shipping an .onnx file means the one architecture definition and the
 * one weights file are all there is; onnxruntime then fuses Conv+ReLU and picks its own blocked
 * convolution layout, which makes it several times faster than tfjs-wasm on a CPU (about 140 vs
 * 1,200+ ms/image at 224 on 2 cores; bench/vgg16-forward.ts).
 *
 * The graph is built in fp32-graph.ts or int8-graph.ts (both from graph-parts.ts and the generic
 * parts in src/model/onnx/) and runs in a worker thread (src/model/onnx/session.ts).
 */

/**
 * fp32: the float graph, exactly Keras' arithmetic. int8: convolutions in 8-bit integers
 * (QLinearConv, per-channel symmetric int8 weights, uint8 activations with zero point 0, so the
 * clamp at 0 is the ReLU); about 3.7x faster where the CPU has VNNI instructions (37 vs 139 ms/image
 * at 224 on this project's 2-core machine), at the cost of a small difference in the features.
 */
export type Vgg16Precision = "fp32" | "int8";

export interface OnnxEngineOptions extends Vgg16GraphOptions {
  weights: Vgg16Weights;
  log: Logger;
  /** Runs larger batches in pieces of this size. Default: the fastest measured (see onnxDefaultBatchSize). */
  batchSize?: number;
  /** Intra-op threads; the number of cores by default. */
  threads?: number;
  /** Default "fp32". */
  precision?: Vgg16Precision;
}

/**
 * Measured at 224 on 2 cores (bench/vgg16-forward.ts, best of many runs): batch 1 ~149 ms/image,
 * batch 4 ~136, batch 8 ~137. While another process competes for a core the gap widens (about
 * 360 vs 285 ms/image), because bigger operators spend less time synchronising threads. Batch 4
 * gets all of that; 8 only adds memory and latency.
 */
export const onnxDefaultBatchSize = 4;

export async function createOnnxVgg16Engine(options: OnnxEngineOptions): Promise<Vgg16Engine> {
  const size = validateVgg16InputSize(options.inputSize);
  const layout = options.inputLayout ?? "nhwc";
  const batchSize = options.batchSize ?? onnxDefaultBatchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`ONNX batch size must be a positive integer, received ${String(batchSize)}`);
  const threads = options.threads ?? availableParallelism();
  const precision = options.precision ?? "fp32";
  if (precision !== "fp32" && precision !== "int8") throw new RangeError(`VGG16 precision must be "fp32" or "int8", received ${JSON.stringify(precision)}`);
  const started = performance.now();
  const graphOptions = { inputSize: size, pooling: options.pooling, inputLayout: layout };
  let bytes: Uint8Array;
  let numerics: string | undefined;
  if (precision === "int8") {
    const { scales, calibration } = await int8ScalesFor(options.weights, graphOptions);
    bytes = buildVgg16OnnxInt8(options.weights, graphOptions, scales);
    numerics = `int8-qlinearconv-calibration-${calibration.slice(0, 16)}`;
  } else {
    bytes = vgg16OnnxBytes(options.weights, graphOptions);
  }
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
  const session = await OnnxSessionThread.start(bytes, sessionOptions, { inputName, outputName, graph: "VGG16" });
  options.log.debug(
    { inputSize: size, pooling: options.pooling, precision, threads, batchSize, graphBytes: bytes.byteLength, ms: Math.round(performance.now() - started) },
    "onnxruntime VGG16 session ready",
  );
  const featureLength = vgg16FeatureLength(size, options.pooling);
  let released = false;
  return {
    name: precision === "int8" ? "onnxruntime-cpu-int8" : "onnxruntime-cpu",
    numerics,
    preferredBatchSize: batchSize,
    async run(input, count) {
      if (released) throw new Error("the onnxruntime VGG16 engine was disposed");
      const perImage = size * size * 3;
      if (input.length !== count * perImage) {
        throw new RangeError(`VGG16 input for ${count} images of ${size}x${size} needs ${count * perImage} values, received ${input.length}`);
      }
      const data = layout === "nhwc" ? input : nhwcToNchw(input, count, size);
      const dims = layout === "nhwc" ? [count, size, size, 3] : [count, 3, size, size];
      const output = await session.run(data, dims);
      if (output.type !== "float32" || output.data.length !== count * featureLength) {
        throw new Error(`onnxruntime returned ${output.type} [${output.dims.join(", ")}], expected float32 [${count}, ${featureLength}]`);
      }
      return output.data;
    },
    async dispose() {
      if (released) return;
      released = true;
      await session.close();
    },
  };
}

/** For the "nchw" layout: moves the channel axis in front of the spatial ones, image by image. */
function nhwcToNchw(input: Float32Array, count: number, size: number): Float32Array {
  const out = new Float32Array(input.length);
  const plane = size * size;
  for (let n = 0; n < count; n++) {
    const base = n * plane * 3;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) out[base + c * plane + p] = input[base + p * 3 + c] as number;
    }
  }
  return out;
}
