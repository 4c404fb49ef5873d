import type { FaceEmbeddingEngineChoice } from "../backbones/face-embedding.js";
import type { BackboneId } from "../backbones/types.js";
import type { CropReference } from "../bundle.js";
import { createRgbImage, type RgbImage } from "../../vision/image.js";
import type { CropPolicy } from "../face/crop.js";
import type { TfEngine } from "../tfjs-engine.js";
import type { PhotoFaces } from "./find-faces.js";
import type { PixelBox } from "./prepare.js";

/**
 * The tasks of a face-path worker (worker.ts) and what it is started with; see workers.ts for the
 * main thread's side. Photos and pixels travel as transferred buffers: the bytes of an upload move
 * to the worker, the crop moves back, and a batch of crops for the embedding moves as one buffer.
 * The decoded photo itself (up to 2048 pixels a side, ~12 MB) never leaves the worker.
 */

export interface FacePathInit {
  /** The TensorFlow.js engine the configuration names, or undefined for the best one available. */
  tfEngine: TfEngine | undefined;
  /** The default pixel limit of a prepare task's decode (dataset.maxPixels); a task may set its own. */
  maxPixels: number;
  /** Load the face detector (for crop mode "face"), with the landmark net or without. */
  detector: { landmarks: boolean } | null;
  /**
   * Load the face-embedding backbone (for bundles trained on it); mirror: the face-embedding-mirrored
   * variant. engine: which runs it (default: tfjs when tfEngine names one, else auto);
   * intraOpThreads: onnxruntime's threads in this worker (default 1: the pool supplies the parallelism).
   */
  embedding: { batchSize: number | undefined; mirror?: boolean; engine?: FaceEmbeddingEngineChoice; intraOpThreads?: number } | null;
}

/**
 * How one bundle's photos are cropped for its backbone (prepare.ts), sent with each prepare task
 * rather than at start-up: what a worker loads (the init) is the same for every version of a
 * repository, while the crop's median box comes with each trained version, so one pool serves
 * them all (registry.ts).
 */
export interface FacePathCrop {
  crop: Pick<CropReference, "mode" | "medianBox">;
  /** The backbone's input side. */
  inputSize: number;
}

/** What a worker loaded, reported once when it is ready. */
export interface FacePathInfo {
  tfEngine: TfEngine;
  /** Engines tried before the one used, and why they could not load. */
  skipped: Array<{ engine: TfEngine; reason: string }>;
  detector: { kind: string; fingerprint: string } | null;
  embedding: {
    id: BackboneId;
    fingerprint: string;
    weightsSha256: string;
    engine: string;
    inputSize: number;
    featureLength: number;
    preprocessing: string;
  } | null;
}

export type FacePathTasks = {
  /**
   * Decode one photo, detect and crop its faces as `preparation` says (prepare.ts); `bytes` is transferred. The crops
   * (side x side RGB each, for the faces with `cropped`) come back packed in order in `pixels`.
   */
  prepare: {
    request: { bytes: Uint8Array; preparation: FacePathCrop; maxPixels: number | undefined; maxSide: number | null | undefined; maxFaces: number | undefined; minFaceSize: number | undefined };
    result: {
      width: number;
      height: number;
      facesFound: number | null;
      crop: string;
      faces: Array<{ box: PixelBox; detectionScore: number | null; cropped: boolean }>;
      side: number;
      pixels: Uint8Array;
    };
  };
  /**
   * Training's search for faces (find-faces.ts): decode one photo at full size (as training
   * decodes it), find every face and the sharpness of each one's crop under `policy`; `bytes` is
   * transferred. Boxes are in the decoded photo's pixels, as the box cache keeps them.
   */
  findFaces: {
    request: { bytes: Uint8Array; maxPixels: number; policy: CropPolicy };
    result: PhotoFaces;
  };
  /** The face-embedding backbone on `count` crops of side x side RGB, packed one after another in `pixels` (transferred). */
  embed: {
    request: { count: number; side: number; pixels: Uint8Array };
    /** count x featureLength values, one vector after another. */
    result: { features: Float32Array };
  };
};

/** Square crops packed one after another in one buffer, so they cross a thread as one transfer. `taker` names who needs that size. */
export function packCrops(images: readonly RgbImage[], side: number, taker: string): Uint8Array<ArrayBuffer> {
  const perImage = side * side * 3;
  const pixels = new Uint8Array(images.length * perImage);
  images.forEach((image, index) => {
    if (image.width !== side || image.height !== side || image.data.length !== perImage) {
      throw new RangeError(`${taker} takes ${side}x${side} face crops, image ${index} is ${image.width}x${image.height}`);
    }
    pixels.set(image.data, index * perImage);
  });
  return pixels;
}

/** The `count` crops `packCrops` packed (at least `minimum` of them), as views of the buffer. */
export function unpackCrops(pixels: Uint8Array, count: number, side: number, minimum = 0): RgbImage[] {
  const perImage = side * side * 3;
  if (!Number.isInteger(count) || count < minimum || pixels.length !== count * perImage) {
    throw new RangeError(`${count} crops of ${side}x${side} need ${count * perImage} bytes, received ${pixels.length}`);
  }
  return Array.from({ length: count }, (_, index) => createRgbImage(side, side, pixels.subarray(index * perImage, (index + 1) * perImage)));
}
