import type * as tfjs from "@tensorflow/tfjs";
import type { Logger } from "../../log.js";
import type { RgbImage } from "../../vision/image.js";
import { acquireNet, loadFaceApi, modelFileSha256, releaseNet, type FaceApi } from "../face/face-api.js";
import { createOnnxFaceNet, type OnnxFaceNet, type OnnxFaceNetOptions } from "./face-embedding-onnx/engine.js";
import type { Backbone } from "./types.js";

/**
 * face-api's face recognition net: a ResNet-34-like network ported from dlib's
 * dlib_face_recognition_resnet_model_v1, giving a 128-d descriptor of a 150x150 face crop. Faces
 * of one person lie close together (dlib's threshold for "same person" is a distance of 0.6),
 * which is what makes a tiny head, even nearest-neighbour, work on top of it.
 *
 * It expects a crop around the face (src/model/face/crop.ts), not a whole photo.
 *
 * Two engines run it: onnxruntime, on a graph built from face-api's weights
 * (face-embedding-onnx/), and TensorFlow.js, through face-api itself. On this project's 2-core
 * machine onnxruntime took 13 ms per face on one thread where tfjs-wasm took 63 (batch 8, 200 LFW
 * crops, bench/face-embedding-engines.ts), with the same descriptors to within float rounding.
 */

/*
 * dlib's model files are public domain in their author's words (github.com/davisking/dlib-models,
 * README: "anyone can do whatever they want with these model files"); face-api.js's port of the
 * weights is MIT (github.com/justadudewhohacks/face-api.js), as is @vladmandic/face-api.
 */
export const faceEmbeddingLicence =
  "public domain: dlib_face_recognition_resnet_model_v1 by Davis King, github.com/davisking/dlib-models (trained on FaceScrub, VGG Face and web images); TensorFlow.js port by face-api.js, npm @vladmandic/face-api (MIT)";

/**
 * "onnxruntime" and "tfjs" force an engine. "auto" uses TensorFlow.js where it runs on a GPU
 * (tfjs-node-gpu), and onnxruntime everywhere else, falling back to TensorFlow.js when onnxruntime
 * cannot start (a platform without its native binary): the same rule as VGG16's.
 */
export type FaceEmbeddingEngineChoice = "onnxruntime" | "tfjs" | "auto";

export interface FaceEmbeddingOptions {
  log: Logger;
  /** Default "auto". */
  engine?: FaceEmbeddingEngineChoice;
  /**
   * onnxruntime's intra-op threads. Default: 1 in a worker thread (a face-path worker: the pool
   * supplies the parallelism), every core on the main thread.
   */
  intraOpThreads?: number;
  /** Starts the onnxruntime engine; face-embedding-onnx's createOnnxFaceNet by default. Tests inject a failing one. */
  startOnnx?: (options: OnnxFaceNetOptions) => Promise<OnnxFaceNet>;
  /**
   * Images per forward pass. Default 8: with the wasm backend on 2 cores, 64 LFW crops took
   * 29.9 / 28.9 / 25.0 / 25.8 / 27.4 ms per image in batches of 1 / 4 / 8 / 16 / 32; onnxruntime
   * on one thread took 19.8 / 13.2 ms per face in batches of 1 / 8 (200 crops, a busy machine).
   */
  batchSize?: number;
  /**
   * Also describe the crop's mirror image and average the two descriptors (the
   * "face-embedding-mirrored" backbone): twice the work, descriptors less swayed by which way a
   * face turns or is lit. On lfw-min10's open-set split, the best fixed distance with at most 1% of
   * the known rejected turned away 92.0% of strangers instead of 86.2% (BENCHMARKS.md, "Embedding
   * networks for faces").
   */
  mirror?: boolean;
}

const inputSize = 150;
const featureLength = 128;
const weightsFile = "face_recognition_model.bin";
const defaultBatchSize = 8;

/*
 * The net normalises inside its forward pass: it subtracts dlib's mean RGB
 * (122.782, 117.001, 104.298) and divides by 255 (FaceRecognitionNet.forwardInput). So it is fed
 * the raw 0..255 RGB values; feeding it [0, 1] data as most backbones want would shift every
 * input by about -0.46 and ruin the descriptors. The descriptor is then scaled to unit length,
 * which makes Euclidean distance and cosine similarity rank neighbours identically.
 */
const preprocessing = "rgb-0-255;net-subtracts-dlib-mean-and-divides-by-255;output-l2-normalised";
const mirroredPreprocessing = `${preprocessing};mean-with-mirror-image;output-l2-normalised`;

/** What runs the network: raw descriptors of 150x150 crops, then of their mirrors when asked. */
interface FaceNetRunner {
  engine: string;
  describe(images: readonly RgbImage[], mirror: boolean): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export async function createFaceEmbeddingBackbone(options: FaceEmbeddingOptions): Promise<Backbone> {
  const batchSize = options.batchSize ?? defaultBatchSize;
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new RangeError(`the face embedding batch size must be a positive integer, received ${String(batchSize)}`);
  }
  const choice = options.engine ?? "auto";
  if (choice !== "auto" && choice !== "onnxruntime" && choice !== "tfjs") {
    throw new RangeError(`the face embedding engine must be "onnxruntime", "tfjs" or "auto", received ${JSON.stringify(choice)}`);
  }
  // Checked here too, so that a wrong value is an error rather than a reason for auto to fall back.
  const threads = options.intraOpThreads;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new RangeError(`onnxruntime's intra-op threads must be a positive integer, received ${String(threads)}`);
  }
  const faceApi = await loadFaceApi();
  const weightsSha256 = await modelFileSha256(faceApi, weightsFile);
  const runner = await startRunner(faceApi, choice, options);
  const mirror = options.mirror ?? false;
  const id = mirror ? "face-embedding-mirrored" : "face-embedding";
  /*
   * The engine is not part of the fingerprint: over 200 LFW crops the largest difference between
   * onnxruntime's and tfjs-wasm's unit descriptors, in any component, was 2.8e-7 (smallest cosine
   * 1 - 1.8e-8; bench/face-embedding-engines.ts), far below what moves a prediction, so features
   * cached by either engine stay valid for the other. The integration test holds them to 1e-5.
   */
  const fingerprint = `${id}:face-api-${faceApi.api.version}:face_recognition_model:sha256-${weightsSha256}:${inputSize}:${mirror ? mirroredPreprocessing : preprocessing}`;
  options.log.info({ engine: runner.engine, id, batchSize }, "face embedding backbone ready");
  options.log.debug({ fingerprint }, "face embedding backbone fingerprint");
  let forwardPasses = 0;
  let disposed = false;

  return {
    id,
    fingerprint,
    weightsSha256,
    randomWeights: false,
    engine: runner.engine,
    inputSize,
    featureLength,
    preprocessing: mirror ? mirroredPreprocessing : preprocessing,
    /** One per image, mirrored or not: the mirror image rides in the same forward pass. */
    get forwardPasses() {
      return forwardPasses;
    },
    async embed(images) {
      if (disposed) throw new Error(`the ${id} backbone was disposed`);
      images.forEach(assertInputSize);
      const features: Float32Array[] = [];
      for (let start = 0; start < images.length; start += batchSize) {
        const batch = images.slice(start, start + batchSize);
        features.push(...unitDescriptors(await runner.describe(batch, mirror), batch.length, mirror));
        forwardPasses += batch.length;
      }
      return features;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await runner.dispose();
    },
  };
}

async function startRunner(faceApi: FaceApi, choice: FaceEmbeddingEngineChoice, options: FaceEmbeddingOptions): Promise<FaceNetRunner> {
  if (choice === "tfjs" || (choice === "auto" && faceApi.runtime.engine === "tfjs-node-gpu")) return startTfjsRunner(faceApi);
  const onnx = async (): Promise<FaceNetRunner> => {
    const net = await (options.startOnnx ?? createOnnxFaceNet)({ modelDir: faceApi.modelDir, intraOpThreads: options.intraOpThreads });
    options.log.debug({ intraOpThreads: net.intraOpThreads, sessionThread: net.sessionThread, ms: Math.round(net.startMs) }, "onnxruntime face recognition session ready");
    return { engine: "onnxruntime-cpu", describe: (images, mirror) => net.describe(images, mirror), dispose: () => net.dispose() };
  };
  if (choice === "onnxruntime") return onnx();
  try {
    return await onnx();
  } catch (error) {
    options.log.warn({ err: error, fallback: faceApi.runtime.engine }, "onnxruntime could not start; running the face embedding on TensorFlow.js instead");
    return startTfjsRunner(faceApi);
  }
}

async function startTfjsRunner(faceApi: FaceApi): Promise<FaceNetRunner> {
  await acquireNet(faceApi, "faceRecognitionNet");
  return {
    engine: faceApi.runtime.engine,
    describe: (images, mirror) => describeOnTfjs(faceApi, images, mirror),
    dispose: () => releaseNet(faceApi, "faceRecognitionNet"),
  };
}

function assertInputSize(image: RgbImage, index: number): void {
  if (image.width !== inputSize || image.height !== inputSize) {
    throw new RangeError(`the face-embedding backbone takes ${inputSize}x${inputSize} face crops, image ${index} is ${image.width}x${image.height}`);
  }
  if (image.data.length !== inputSize * inputSize * 3) {
    throw new RangeError(`image ${index} has ${image.data.length} bytes of RGB data, expected ${inputSize * inputSize * 3}`);
  }
}

/*
 * An array of tensors makes computeFaceDescriptor stack them into one batch tensor and run one
 * forward pass for all of them; it returns one descriptor per tensor and disposes its own
 * intermediates. The input tensors are ours to dispose. With `mirror`, each image's left-right
 * mirror follows the images in the same batch.
 */
async function describeOnTfjs(faceApi: FaceApi, images: readonly RgbImage[], mirror: boolean): Promise<Float32Array[]> {
  const { tf } = faceApi.runtime;
  const tensors: tfjs.Tensor3D[] = [];
  try {
    for (const image of images) tensors.push(tf.tensor3d(image.data, [inputSize, inputSize, 3], "int32"));
    if (mirror) for (const tensor of tensors.slice()) tensors.push(tf.reverse(tensor, 1));
    return await faceApi.api.nets.faceRecognitionNet.computeFaceDescriptor(tensors);
  } finally {
    for (const tensor of tensors) tensor.dispose();
  }
}

/**
 * Each face's descriptor scaled to unit length; with `mirror` (the mirrors' descriptors following
 * the originals'), the mean of its two unit descriptors, scaled to unit length again.
 *
 * Plain loops, no closures made per call: V8 compiled the arrows these functions once passed to map
 * again for nearly every batch while serving.
 */
function unitDescriptors(descriptors: readonly Float32Array[], count: number, mirror: boolean): Float32Array[] {
  const expected = count * (mirror ? 2 : 1);
  if (descriptors.length !== expected) throw new Error(`the face recognition net returned ${descriptors.length} descriptors for a batch of ${expected} faces`);
  const unit: Float32Array[] = [];
  for (let index = 0; index < count; index++) {
    const plain = unitLength(descriptors[index] as Float32Array);
    if (mirror) {
      // The sum of the two unit vectors, made unit in turn: the mean direction of the face and its mirror.
      const mirrored = unitLength(descriptors[count + index] as Float32Array);
      for (let position = 0; position < plain.length; position++) plain[position] = (plain[position] as number) + (mirrored[position] as number);
      unit.push(unitLength(plain));
    } else {
      unit.push(plain);
    }
  }
  return unit;
}

/** A new unit-length copy of a descriptor (all zeros stays all zeros). */
function unitLength(descriptor: Float32Array): Float32Array {
  if (descriptor.length !== featureLength) {
    throw new Error(`the face recognition net returned a descriptor of length ${descriptor.length}, expected ${featureLength}`);
  }
  let sumOfSquares = 0;
  for (let position = 0; position < descriptor.length; position++) sumOfSquares += (descriptor[position] as number) * (descriptor[position] as number);
  const norm = Math.sqrt(sumOfSquares);
  const unit = new Float32Array(featureLength);
  // An all-zero descriptor (face-api's answer to an empty input) has no direction to keep.
  if (norm === 0) return unit;
  for (let position = 0; position < descriptor.length; position++) unit[position] = (descriptor[position] as number) / norm;
  return unit;
}
