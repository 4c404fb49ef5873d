import type * as tfjs from "@tensorflow/tfjs";
import type { FaceopsConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { RgbImage } from "../vision/image.js";
import type { Backbone } from "./backbones/types.js";
import { loadBundle, type BundleMetadata } from "./bundle.js";
import { rankLabels } from "./evaluate.js";
import { defaultCropPolicy } from "./face/crop.js";
import { createFaceDetector } from "./face/detector.js";
import { decodeForPrediction, preparePhoto, type PreparedPhoto, type PrepareOptions } from "./face-path/prepare.js";
import { FacePathWorkers, type HandOverOptions } from "./face-path/workers.js";
import { applyScaling, predictHead, type FeatureScaling } from "./head.js";
import { assertBundleBackbone, backboneForBundle } from "./backbone-factory.js";
import { effectiveMaxDistance, type ReferenceSet } from "./open-set.js";
import { loadTf, type TfEngine } from "./tfjs-engine.js";

/**
 * A loaded model bundle that answers "who is this?": the same decode, crop and backbone as in
 * training, then the head. Used by `faceops predict`, which runs the face path on its own thread,
 * and by the inference service, which runs it in worker threads (face-path/workers.ts) so that its
 * main thread only parses requests, runs the head and looks up the nearest reference.
 */

export interface LabelScore {
  label: string;
  score: number;
}

/** The label answered for photos of someone the model was not trained on. */
export const unknownLabel = "unknown";

/** What the model computes for one photo, before it is put into words. */
export interface Scored {
  /** Every label's probability, in the model's label order. */
  probabilities: Float32Array;
  /** Distance to the nearest training photo (0..2); null when the bundle has no references. */
  distance: number | null;
}

/**
 * `label` is the head's best label, or "unknown" when the photo is further than `maxDistance` from
 * every training photo; then `score` is still the head's probability for its best guess, which
 * `topk` lists as usual.
 */
export interface Prediction extends LabelScore {
  topk: LabelScore[];
  distance: number | null;
  maxDistance: number | null;
  /** Every label's probability, in the model's label order. */
  probabilities: Float32Array;
  /** How the photo was cropped: detected, median, center or none. */
  crop: string;
}

/** A prediction as the service and the CLI print it: no raw probabilities. */
export interface PublicPrediction extends LabelScore {
  topk: LabelScore[];
  crop: string;
  distance: number | null;
  /** False when the answer is "unknown". */
  known: boolean;
}

export function publicPrediction(prediction: Prediction): PublicPrediction {
  const { label, score, topk, crop, distance } = prediction;
  return { label, score, topk, crop, distance, known: label !== unknownLabel };
}

export { predictionDecodeSide, type PrepareOptions } from "./face-path/prepare.js";

export interface PredictorOptions {
  config: FaceopsConfig;
  log: Logger;
  /**
   * Worker threads for the face path: decoding, face detection and cropping, and the face-embedding
   * backbone (face-path/workers.ts). 0, the default, runs them on the calling thread, as a one-off
   * command can; a server passes its decode concurrency, so the thread that answers HTTP only
   * parses requests, runs the small head and looks up the nearest reference.
   */
  workers?: number;
}

/** Where photos are prepared for the backbone: on this thread, or in the face-path workers. */
interface PhotoPreparer {
  prepare(bytes: Uint8Array, options: HandOverOptions): Promise<PreparedPhoto>;
  dispose(): Promise<void>;
}

export class Predictor {
  private constructor(
    readonly directory: string,
    readonly metadata: BundleMetadata,
    private readonly tf: typeof tfjs,
    private readonly head: tfjs.LayersModel,
    private readonly scaling: FeatureScaling,
    private readonly backbone: Backbone,
    private readonly preparer: PhotoPreparer,
    private readonly maxPixels: number,
    private readonly references: ReferenceSet | null,
    /** Beyond this distance to the nearest training photo the answer is "unknown"; null: never. */
    readonly maxDistance: number | null,
  ) {}

  /**
   * Loads and verifies the bundle, rebuilds its backbone and checks it is the same one, and the
   * face detector its crops need; in `workers` threads when asked (see PredictorOptions).
   */
  static async load(directory: string, options: PredictorOptions): Promise<Predictor> {
    const bundle = await loadBundle(directory);
    const { config, log } = options;
    const { metadata } = bundle;
    const tfEngine = config.engine.startsWith("tfjs-") ? (config.engine as TfEngine) : undefined;
    const { tf } = await loadTf(tfEngine);
    const faceCrop = metadata.crop.mode === "face";
    const landmarks = defaultCropPolicy.anchor !== "box";
    // Everything built so far is disposed, in reverse, if a later step fails.
    const built: Array<{ dispose(): Promise<void> }> = [];
    try {
      let backbone: Backbone;
      let preparer: PhotoPreparer;
      let detectorFingerprint: string | null;
      if ((options.workers ?? 0) > 0) {
        const workers = await FacePathWorkers.start({
          size: options.workers as number,
          tfEngine,
          crop: metadata.crop,
          inputSize: metadata.backbone.inputSize,
          maxPixels: config.dataset.maxPixels,
          detector: faceCrop ? { landmarks } : null,
          embedding: metadata.backbone.id === "face-embedding" ? { batchSize: config.model.batchSize } : null,
          log,
        });
        built.push(workers);
        preparer = workers;
        detectorFingerprint = workers.info.detector?.fingerprint ?? null;
        if (workers.backbone) {
          assertBundleBackbone(metadata.backbone, workers.backbone.fingerprint);
          backbone = workers.backbone;
        } else {
          // VGG16 runs in its own onnxruntime thread already.
          backbone = await backboneForBundle(metadata.backbone, config, log);
          built.push(backbone);
        }
      } else {
        backbone = await backboneForBundle(metadata.backbone, config, log);
        built.push(backbone);
        const detector = faceCrop ? await createFaceDetector({ log, landmarks }) : null;
        if (detector) built.push(detector);
        detectorFingerprint = detector?.fingerprint ?? null;
        const preparation = { crop: metadata.crop, inputSize: metadata.backbone.inputSize, detector, maxPixels: config.dataset.maxPixels };
        preparer = { prepare: (bytes, prepareOptions) => preparePhoto(bytes, preparation, prepareOptions), dispose: async () => detector?.dispose() };
      }
      const head = await bundle.loadHead(tf);
      if (metadata.crop.detector && detectorFingerprint && detectorFingerprint !== metadata.crop.detector) {
        log.warn({ trained: metadata.crop.detector, now: detectorFingerprint }, "the face detector differs from the one used in training");
      }
      log.info({ bundle: bundle.directory, labels: metadata.labels.length, backbone: backbone.id, engine: backbone.engine, workers: options.workers ?? 0 }, "model loaded");
      const maxDistance = bundle.references ? effectiveMaxDistance(config.openSet.maxDistance, metadata.openSet) : null;
      return new Predictor(bundle.directory, metadata, tf, head, bundle.scaling, backbone, preparer, config.dataset.maxPixels, bundle.references, maxDistance);
    } catch (error) {
      for (const part of built.reverse()) {
        await part.dispose().catch((cleanup: unknown) => log.warn({ err: cleanup }, "cleaning up after a model that failed to load failed too"));
      }
      throw error;
    }
  }

  get labels(): string[] {
    return this.metadata.labels;
  }

  /**
   * Decodes one photo for prediction on this thread (prepare.ts), for tests and tools that look
   * at the pixels. Throws ImageDecodeError on bad input.
   */
  decode(bytes: Uint8Array, options: PrepareOptions = {}): Promise<RgbImage> {
    return decodeForPrediction(bytes, this.maxPixels, options);
  }

  /**
   * Decodes and crops one photo the way training did (prepare.ts), in a worker when the predictor
   * has them. Throws ImageDecodeError on bad input.
   */
  prepare(bytes: Uint8Array, options: HandOverOptions = {}): Promise<PreparedPhoto> {
    return this.preparer.prepare(bytes, options);
  }

  /** Probabilities per label and open-set distances for prepared photos: one backbone call for the whole batch. */
  async scores(images: readonly RgbImage[]): Promise<Scored[]> {
    const features = await this.backbone.embed(images);
    const probabilities = predictHead(this.tf, this.head, features.map((vector) => applyScaling(vector, this.scaling)));
    return probabilities.map((row, index) => ({ probabilities: row, distance: this.references?.nearest(features[index] as Float32Array).distance ?? null }));
  }

  async predict(photos: readonly Uint8Array[], topk = 3): Promise<Prediction[]> {
    const prepared: PreparedPhoto[] = [];
    for (const bytes of photos) prepared.push(await this.prepare(bytes));
    const scores = await this.scores(prepared.map((entry) => entry.image));
    return scores.map((row, index) => this.describe(row, topk, prepared[index]?.crop ?? "none"));
  }

  describe(scored: Scored, topk: number, crop: string): Prediction {
    const row = scored.probabilities;
    const ranked = rankLabels(row).slice(0, Math.max(1, topk));
    const top = ranked.map((index) => ({ label: this.metadata.labels[index] as string, score: row[index] as number }));
    const best = top[0] as LabelScore;
    const stranger = scored.distance !== null && this.maxDistance !== null && scored.distance > this.maxDistance;
    return {
      label: stranger ? unknownLabel : best.label,
      score: best.score,
      topk: top,
      distance: scored.distance,
      maxDistance: this.maxDistance,
      probabilities: row,
      crop,
    };
  }

  async dispose(): Promise<void> {
    this.head.dispose();
    await this.backbone.dispose();
    await this.preparer.dispose();
  }
}
