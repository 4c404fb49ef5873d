import type { Backbone, Pooling } from "../types.js";
import type { Logger } from "../../../log.js";
import type { RgbImage } from "../../../vision/image.js";
import { caffeNormalization, imageToTensorData } from "../../../vision/preprocess.js";
import { loadTf, type TfRuntime } from "../../tfjs-engine.js";
import { validateVgg16InputSize, vgg16DefaultInputSize, vgg16FeatureLength, type Vgg16Engine } from "./architecture.js";
import { createOnnxVgg16Engine, type Vgg16Precision } from "./onnx/index.js";
import { createTfjsVgg16Engine } from "./tfjs.js";
import { randomWeightsSeed, type Vgg16Weights } from "./weights/index.js";

/**
 * The VGG16 backbone: Keras' VGG16 conv base with ImageNet weights, caffe preprocessing, and
 * either onnxruntime (CPU) or TensorFlow.js (GPU trainer) doing the arithmetic.
 */

export { featureMapSize, vgg16ConvLayers, vgg16Layers } from "./architecture.js";
export { randomVgg16Weights, readVgg16H5, resolveVgg16WeightsFile, type Vgg16ConvWeights, type Vgg16Weights } from "./weights/index.js";
export type { Vgg16Precision } from "./onnx/index.js";

/**
 * "onnxruntime" and "tfjs" force an engine. "auto" uses TensorFlow.js when it runs on a GPU
 * (tfjs-node-gpu), where it is fastest, and onnxruntime everywhere else: on a CPU onnxruntime is
 * about 4x faster than tfjs-wasm and needs nothing that an offline install lacks.
 */
export type Vgg16EngineChoice = "onnxruntime" | "tfjs" | "auto";

export interface Vgg16BackboneOptions {
  weights: Vgg16Weights;
  /** Side of the square input; a multiple of 32, at least 32. Default 224. */
  inputSize?: number;
  /** Default "avg" (512 features). */
  pooling?: Pooling;
  /** Default "auto". */
  engine?: Vgg16EngineChoice;
  log: Logger;
  /** How TensorFlow.js is loaded; tfjs-engine.ts' loadTf by default. Tests inject their own. */
  loadTf?: () => Promise<TfRuntime>;
  /** Overrides the engine's preferred batch size. */
  batchSize?: number;
  /** Default "fp32"; "int8" runs on onnxruntime only (see Vgg16Precision). */
  precision?: Vgg16Precision;
}

export async function createVgg16Backbone(options: Vgg16BackboneOptions): Promise<Backbone> {
  const inputSize = validateVgg16InputSize(options.inputSize ?? vgg16DefaultInputSize);
  const pooling = options.pooling ?? "avg";
  if (pooling !== "avg" && pooling !== "flatten") throw new RangeError(`VGG16 pooling must be "avg" or "flatten", received ${JSON.stringify(pooling)}`);
  const engine = await createEngine({ ...options, inputSize, pooling });
  options.log.info(
    { engine: engine.name, inputSize, pooling, weights: options.weights.sha256, randomWeights: options.weights.random },
    "VGG16 backbone ready",
  );
  return new Vgg16Backbone(options.weights, engine, inputSize, pooling, options.batchSize ?? engine.preferredBatchSize);
}

async function createEngine(options: Vgg16BackboneOptions & { inputSize: number; pooling: Pooling }): Promise<Vgg16Engine> {
  const choice = options.engine ?? "auto";
  const common = { weights: options.weights, inputSize: options.inputSize, pooling: options.pooling, log: options.log };
  if ((options.precision ?? "fp32") === "int8") {
    if (choice === "tfjs") throw new RangeError('VGG16 precision "int8" runs on onnxruntime; choose engine "onnxruntime" or "auto", or precision "fp32"');
    return createOnnxVgg16Engine({ ...common, precision: "int8" });
  }
  switch (choice) {
    case "onnxruntime":
      return createOnnxVgg16Engine(common);
    case "tfjs":
      return createTfjsVgg16Engine({ ...common, runtime: await (options.loadTf ?? loadTf)() });
    case "auto":
      return createAutoEngine(common, options.loadTf ?? loadTf);
    default:
      throw new RangeError(`VGG16 engine must be "onnxruntime", "tfjs" or "auto", received ${JSON.stringify(choice)}`);
  }
}

/*
 * Asking TensorFlow.js which engine it loaded is the one reliable way to know whether a GPU is
 * usable: tfjs-node-gpu only loads where CUDA does. When onnxruntime cannot start (a platform
 * without its native binary), TensorFlow.js still can, so auto falls back to it rather than fail.
 */
async function createAutoEngine(
  common: { weights: Vgg16Weights; inputSize: number; pooling: Pooling; log: Logger },
  load: () => Promise<TfRuntime>,
): Promise<Vgg16Engine> {
  const runtime = await load();
  if (runtime.engine === "tfjs-node-gpu") return createTfjsVgg16Engine({ ...common, runtime });
  try {
    return await createOnnxVgg16Engine(common);
  } catch (error) {
    common.log.warn({ err: error, fallback: runtime.engine }, "onnxruntime could not start; running VGG16 on TensorFlow.js instead");
    return createTfjsVgg16Engine({ ...common, runtime });
  }
}

/** "vgg16-<sha256>-224-avg-caffe", or "vgg16-random-seed-7-224-avg-caffe" for random weights. */
export function vgg16Fingerprint(weights: Vgg16Weights, inputSize: number, pooling: Pooling): string {
  const seed = randomWeightsSeed(weights);
  const weightsPart = seed === undefined ? weights.sha256 : `random-seed-${seed}`;
  return `vgg16-${weightsPart}-${inputSize}-${pooling}-caffe`;
}

class Vgg16Backbone implements Backbone {
  readonly id = "vgg16";
  readonly preprocessing = "caffe";
  readonly fingerprint: string;
  readonly weightsSha256: string;
  readonly randomWeights: boolean;
  readonly featureLength: number;
  private passes = 0;
  /** Forward passes run one at a time: the engine already uses every core for a single batch. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    weights: Vgg16Weights,
    private readonly runner: Vgg16Engine,
    readonly inputSize: number,
    pooling: Pooling,
    private readonly batchSize: number,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`VGG16 batch size must be a positive integer, received ${String(batchSize)}`);
    // The float engines are not part of the fingerprint: they give the same features to within
    // float32 rounding (the engine tests hold them to 1e-4 relative), so caches can be shared. An
    // engine with other numerics (int8) names them, and its features stay apart.
    this.fingerprint = vgg16Fingerprint(weights, inputSize, pooling) + (runner.numerics ? `-${runner.numerics}` : "");
    this.weightsSha256 = weights.sha256;
    this.randomWeights = weights.random;
    this.featureLength = vgg16FeatureLength(inputSize, pooling);
  }

  get engine(): string {
    return this.runner.name;
  }

  get forwardPasses(): number {
    return this.passes;
  }

  async embed(images: readonly RgbImage[]): Promise<Float32Array[]> {
    images.forEach((image, index) => this.assertInputSize(image, index));
    if (images.length === 0) return [];
    const result = this.queue.then(() => this.embedNow(images));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async dispose(): Promise<void> {
    await this.queue;
    await this.runner.dispose();
  }

  private assertInputSize(image: RgbImage, index: number): void {
    if (image.width !== this.inputSize || image.height !== this.inputSize) {
      throw new RangeError(`VGG16 takes ${this.inputSize}x${this.inputSize} images; image ${index} is ${image.width}x${image.height}`);
    }
  }

  private async embedNow(images: readonly RgbImage[]): Promise<Float32Array[]> {
    const features: Float32Array[] = [];
    for (let start = 0; start < images.length; start += this.batchSize) {
      const batch = images.slice(start, start + this.batchSize);
      const output = await this.runner.run(imageToTensorData(batch, caffeNormalization), batch.length);
      for (let i = 0; i < batch.length; i++) {
        // slice copies, so each vector owns its memory instead of pinning the whole batch output.
        features.push(output.slice(i * this.featureLength, (i + 1) * this.featureLength));
      }
      this.passes += batch.length;
    }
    return features;
  }
}
