import type { RgbImage } from "../../vision/image.js";

/**
 * A frozen feature extractor. Its output for a given photo never changes, which is what lets
 * faceops cache features per photo and train only the small head on every attempt.
 */
export interface Backbone {
  /** "vgg16", "face-embedding", "face-embedding-mirrored" or "faceres". */
  readonly id: BackboneId;
  /**
   * What makes two backbones give the same features: architecture, weights and preprocessing.
   * Part of every feature-cache key. Random weights say so (e.g. "vgg16-random-seed-7").
   */
  readonly fingerprint: string;
  /** sha256 of the weights file(s), or "random:<seed>" for randomly initialised test weights. */
  readonly weightsSha256: string;
  /** True for randomly initialised weights: only for tests and benchmarks, flagged in bundles. */
  readonly randomWeights: boolean;
  /** Which runtime executes the forward pass, e.g. "onnxruntime-cpu", "tfjs-node-gpu", "tfjs-wasm". */
  readonly engine: string;
  /** Side of the square RGB image the backbone takes. */
  readonly inputSize: number;
  /** Length of the feature vector `embed` returns per image. */
  readonly featureLength: number;
  /** Describes the normalisation applied inside `embed`, e.g. "caffe" or "unit". */
  readonly preprocessing: string;
  /** Forward passes performed so far, one per image (tests and benchmarks count them). */
  readonly forwardPasses: number;
  /**
   * Batches this backbone computes at once, e.g. one per worker thread of a pool; callers with many
   * batches keep that many `embed` calls in flight. Absent: 1, one batch at a time.
   */
  readonly concurrency?: number;
  /**
   * Features for a batch of images, each already inputSize x inputSize. Normalisation happens
   * inside, because it belongs to the backbone. One Float32Array of featureLength per image.
   */
  embed(images: readonly RgbImage[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export type BackboneId = "vgg16" | "face-embedding" | "face-embedding-mirrored" | "faceres";

/** How the VGG16 feature map becomes a vector: averaged over space (512) or flattened (7x7x512 at 224). */
export type Pooling = "avg" | "flatten";
