import type * as tfjs from "@tensorflow/tfjs";
import type { Logger } from "../../log.js";
import type { RgbImage } from "../../vision/image.js";
import { acquireNet, loadFaceApi, modelFileSha256, releaseNet, type FaceApi } from "../face/face-api.js";
import type { Backbone } from "./types.js";

/**
 * face-api's face recognition net: a ResNet-34-like network ported from dlib's
 * dlib_face_recognition_resnet_model_v1, giving a 128-d descriptor of a 150x150 face crop. Faces
 * of one person lie close together (dlib's threshold for "same person" is a distance of 0.6),
 * which is what makes a tiny head, even nearest-neighbour, work on top of it.
 *
 * It expects a crop around the face (src/model/face/crop.ts), not a whole photo.
 */

/*
 * dlib's model files are public domain in their author's words (github.com/davisking/dlib-models,
 * README: "anyone can do whatever they want with these model files"); face-api.js's port of the
 * weights is MIT (github.com/justadudewhohacks/face-api.js), as is @vladmandic/face-api.
 */
export const faceEmbeddingLicence =
  "public domain: dlib_face_recognition_resnet_model_v1 by Davis King, github.com/davisking/dlib-models (trained on FaceScrub, VGG Face and web images); TensorFlow.js port by face-api.js, npm @vladmandic/face-api (MIT)";

export interface FaceEmbeddingOptions {
  log: Logger;
  /**
   * Images per forward pass. Default 8: with the wasm backend on 2 cores, 64 LFW crops took
   * 29.9 / 28.9 / 25.0 / 25.8 / 27.4 ms per image in batches of 1 / 4 / 8 / 16 / 32.
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

export async function createFaceEmbeddingBackbone(options: FaceEmbeddingOptions): Promise<Backbone> {
  const batchSize = options.batchSize ?? defaultBatchSize;
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new RangeError(`the face embedding batch size must be a positive integer, received ${String(batchSize)}`);
  }
  const faceApi = await loadFaceApi();
  const weightsSha256 = await modelFileSha256(faceApi, weightsFile);
  await acquireNet(faceApi, "faceRecognitionNet");
  const mirror = options.mirror ?? false;
  const id = mirror ? "face-embedding-mirrored" : "face-embedding";
  const fingerprint = `${id}:face-api-${faceApi.api.version}:face_recognition_model:sha256-${weightsSha256}:${inputSize}:${mirror ? mirroredPreprocessing : preprocessing}`;
  options.log.debug({ fingerprint, engine: faceApi.runtime.engine }, "face embedding backbone ready");
  let forwardPasses = 0;
  let disposed = false;

  return {
    id,
    fingerprint,
    weightsSha256,
    randomWeights: false,
    engine: faceApi.runtime.engine,
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
        features.push(...(await describeBatch(faceApi, batch, mirror)));
        forwardPasses += batch.length;
      }
      return features;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await releaseNet(faceApi, "faceRecognitionNet");
    },
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
 * mirror follows the images in the same batch, and each face's answer is the mean of its two
 * unit descriptors, scaled to unit length again.
 */
async function describeBatch(faceApi: FaceApi, images: readonly RgbImage[], mirror: boolean): Promise<Float32Array[]> {
  const { tf } = faceApi.runtime;
  const tensors: tfjs.Tensor3D[] = [];
  try {
    for (const image of images) tensors.push(tf.tensor3d(image.data, [inputSize, inputSize, 3], "int32"));
    if (mirror) for (const tensor of tensors.slice()) tensors.push(tf.reverse(tensor, 1));
    const descriptors = await faceApi.api.nets.faceRecognitionNet.computeFaceDescriptor(tensors);
    if (descriptors.length !== tensors.length) {
      throw new Error(`face-api returned ${descriptors.length} descriptors for a batch of ${tensors.length} faces`);
    }
    const unit = descriptors.map(unitLength);
    if (!mirror) return unit;
    return images.map((_, index) => {
      const mirrored = unit[images.length + index] as Float32Array;
      return unitLength((unit[index] as Float32Array).map((value, position) => value + (mirrored[position] as number)));
    });
  } finally {
    for (const tensor of tensors) tensor.dispose();
  }
}

function unitLength(descriptor: Float32Array): Float32Array {
  if (descriptor.length !== featureLength) {
    throw new Error(`face-api returned a descriptor of length ${descriptor.length}, expected ${featureLength}`);
  }
  let sumOfSquares = 0;
  for (const value of descriptor) sumOfSquares += value * value;
  const norm = Math.sqrt(sumOfSquares);
  // An all-zero descriptor (face-api's answer to an empty input) has no direction to keep.
  if (norm === 0) return new Float32Array(featureLength);
  return descriptor.map((value) => value / norm);
}
