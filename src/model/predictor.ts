import { setImmediate } from "node:timers/promises";
import type * as tfjs from "@tensorflow/tfjs";
import type { FaceopsConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import { decodeImage } from "../vision/decode.js";
import type { RgbImage } from "../vision/image.js";
import { fitSquare } from "../vision/preprocess.js";
import type { Backbone } from "./backbones/types.js";
import { loadBundle, type BundleMetadata } from "./bundle.js";
import { rankLabels } from "./evaluate.js";
import { cropImage, defaultCropPolicy, planCrop } from "./face/crop.js";
import { createFaceDetector, type FaceDetector } from "./face/detector.js";
import { applyScaling, predictHead, type FeatureScaling } from "./head.js";
import { backboneForBundle } from "./model-runtime.js";
import { effectiveMaxDistance, type ReferenceSet } from "./open-set.js";
import { loadTf } from "./runtime.js";

/**
 * A loaded model bundle that answers "who is this?": the same decode, crop and backbone as in
 * training, then the head. Used by `faceops predict` and by the inference service.
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

export interface PrepareOptions {
  /** Refuse photos with more pixels than this, from their header; default `dataset.maxPixels`. */
  maxPixels?: number;
  /** Longest side decoded; default `predictionDecodeSide`, null for the photo's full size (as training). */
  maxSide?: number | null;
}

/**
 * The longest side a photo is decoded at for prediction: twice the face detector's own working
 * size (it never looks at more than 1024 pixels, see face/detector.ts), so the face found is cut
 * from twice the detail it was found in. A face the detectors can find covers at least ~7% of the
 * photo's longer side, i.e. ~150 pixels at 2048: the face-embedding net's whole input, and most of
 * VGG16's 224. Measured with bench/decode-side.ts (40 held-out LFW photos of 8 people): enlarged
 * 16x to 4000x4000, decoding at 2048 changes no answer and no score by more than 0.025 against the
 * full size; placed small (~7% of the side) in a 6000x4000 scene, decoding at 1024, 2048 or 4096
 * changes one or two answers of 40, the same face each time, because the detector's 1024-pixel
 * input is resampled differently (it finds or misses the face), plus one photo that was on the
 * open-set threshold. Meanwhile a 40 MP photo decodes to 12.6 MB of RGB instead of 120 MB, and
 * JPEG and WebP decode at a reduced scale directly.
 */
export const predictionDecodeSide = 2048;

export class Predictor {
  private constructor(
    readonly directory: string,
    readonly metadata: BundleMetadata,
    private readonly tf: typeof tfjs,
    private readonly head: tfjs.LayersModel,
    private readonly scaling: FeatureScaling,
    private readonly backbone: Backbone,
    private readonly detector: FaceDetector | null,
    private readonly maxPixels: number,
    private readonly references: ReferenceSet | null,
    /** Beyond this distance to the nearest training photo the answer is "unknown"; null: never. */
    readonly maxDistance: number | null,
  ) {}

  /** Loads and verifies the bundle, rebuilds its backbone and checks it is the same one. */
  static async load(directory: string, options: { config: FaceopsConfig; log: Logger }): Promise<Predictor> {
    const bundle = await loadBundle(directory);
    const { config, log } = options;
    const tfEngine = config.engine.startsWith("tfjs-") ? (config.engine as Parameters<typeof loadTf>[0]) : undefined;
    const { tf } = await loadTf(tfEngine);
    const backbone = await backboneForBundle(bundle.metadata.backbone, config, log);
    let detector: FaceDetector | null = null;
    try {
      const head = await bundle.loadHead(tf);
      if (bundle.metadata.crop.mode === "face") {
        detector = await createFaceDetector({ log, landmarks: defaultCropPolicy.anchor !== "box" });
        if (bundle.metadata.crop.detector && detector.fingerprint !== bundle.metadata.crop.detector) {
          log.warn({ trained: bundle.metadata.crop.detector, now: detector.fingerprint }, "the face detector differs from the one used in training");
        }
      }
      log.info({ bundle: bundle.directory, labels: bundle.metadata.labels.length, backbone: backbone.id, engine: backbone.engine }, "model loaded");
      const maxDistance = bundle.references ? effectiveMaxDistance(config.openSet.maxDistance, bundle.metadata.openSet) : null;
      return new Predictor(bundle.directory, bundle.metadata, tf, head, bundle.scaling, backbone, detector, config.dataset.maxPixels, bundle.references, maxDistance);
    } catch (error) {
      await detector?.dispose();
      await backbone.dispose();
      throw error;
    }
  }

  get labels(): string[] {
    return this.metadata.labels;
  }

  /**
   * Decodes one photo for prediction: RGB, EXIF orientation applied, shrunk while decoding to at
   * most `predictionDecodeSide` pixels on its longer side unless `maxSide` says otherwise.
   * Throws ImageDecodeError on bad input.
   */
  decode(bytes: Uint8Array, options: PrepareOptions = {}): Promise<RgbImage> {
    const maxSide = options.maxSide === undefined ? predictionDecodeSide : options.maxSide;
    return decodeImage(bytes, { maxPixels: options.maxPixels ?? this.maxPixels, ...(maxSide === null ? {} : { maxSide }) });
  }

  /**
   * Decodes (see `decode`) and crops one photo the way training did: the same face box logic, the
   * same crop square and final resize. Throws ImageDecodeError on bad input.
   */
  async prepare(bytes: Uint8Array, options: PrepareOptions = {}): Promise<{ image: RgbImage; crop: string }> {
    const image = await this.decode(bytes, options);
    const { crop } = this.metadata;
    const size = this.backbone.inputSize;
    if (crop.mode !== "face") return { image: await fitSquare(image, size, crop.mode === "center" ? "crop" : "pad"), crop: crop.mode };
    // Detection runs its networks on this thread, for hundreds of milliseconds on a slow machine:
    // give waiting I/O (a health check) its turn before it, and again before the crop, so that
    // photos decoded at the same moment are not detected back to back without a break.
    await setImmediate();
    const box = this.detector ? await this.detector.detect(image) : null;
    await setImmediate();
    const plan = planCrop(image, box, crop.medianBox, defaultCropPolicy);
    return { image: cropImage(image, plan, size), crop: plan.outcome };
  }

  /** Probabilities per label and open-set distances for prepared photos: one backbone call for the whole batch. */
  async scores(images: readonly RgbImage[]): Promise<Scored[]> {
    const features = await this.backbone.embed(images);
    const probabilities = predictHead(this.tf, this.head, features.map((vector) => applyScaling(vector, this.scaling)));
    return probabilities.map((row, index) => ({ probabilities: row, distance: this.references?.nearest(features[index] as Float32Array).distance ?? null }));
  }

  async predict(photos: readonly Uint8Array[], topk = 3): Promise<Prediction[]> {
    const prepared: Array<{ image: RgbImage; crop: string }> = [];
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
    await this.detector?.dispose();
    await this.backbone.dispose();
  }
}
