import type * as tfjs from "@tensorflow/tfjs";
import type { FaceopsConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { RgbImage } from "../vision/image.js";
import type { Backbone } from "./backbones/types.js";
import { loadBundle, type BundleMetadata } from "./bundle.js";
import { rankLabels } from "./evaluate.js";
import { defaultCropPolicy } from "./face/crop.js";
import { createFaceDetector } from "./face/detector.js";
import { croppedFaces, decodeForPrediction, prepareFaces, type PixelBox, type PreparedFaces, type PrepareOptions } from "./face-path/prepare.js";
import type { FacePathLease, FacePathLoad, FacePathRegistry } from "./face-path/registry.js";
import { facePathEmbedding, FacePathWorkers, type HandOverOptions } from "./face-path/workers.js";
import { applyScaling, predictHead, type FeatureScaling } from "./head.js";
import { assertBundleBackbone, backboneForBundle } from "./backbone-factory.js";
import { effectiveConfidentDistance, effectiveMaxDistance, type KnownFaces } from "./open-set.js";
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

/** The label a photo is answered with when it shows no face big enough to name; never a person's name. */
export const noFaceLabel = "no_face";

/** The label of a face found but smaller than the minimum face size: listed with its box, not named. */
export const tooSmallLabel = "too_small";

/** What the model computes for one photo, before it is put into words. */
export interface Scored {
  /** Every label's probability, in the model's label order. */
  probabilities: Float32Array;
  /** Distance to the nearest known person by the bundle's open-set rule (0..2); null when the bundle has no references. */
  distance: number | null;
  /** That nearest person; null when the bundle has no references. */
  nearestLabel: string | null;
  /** The backbone's features of the face, as computed (for keeping a face to review). */
  features: Float32Array;
}

/**
 * `label` is the head's best label, or "unknown" when the photo is further than `maxDistance` from
 * every training photo; then `score` is still the head's probability for its best guess, which
 * `topk` lists as usual. `confident` is the two-level answer: true when a person is named and the
 * photo is no further than `confidentDistance` from a training photo (or the bundle has no open-set
 * rule to measure by); false for a name further than that, and for every answer that names nobody.
 */
export interface Prediction extends LabelScore {
  topk: LabelScore[];
  distance: number | null;
  maxDistance: number | null;
  confident: boolean;
  /** Every label's probability, in the model's label order. */
  probabilities: Float32Array;
  /** How the photo was cropped: detected, median, center or none. */
  crop: string;
}

/** One face of a photo and its answer. A face too small to name has the label "too_small" and no scores. */
export interface FacePrediction extends Prediction {
  /** Where the face is, in pixels of the upright photo as it was sent. */
  box: PixelBox;
  /** The detector's confidence; null when the bundle does not detect faces. */
  detectionScore: number | null;
  tooSmall: boolean;
}

/**
 * A photo's answer. The top level answers its main face, the largest one big enough to name, as a
 * photo was answered before faces were listed; with none, the top level is "no_face". `faces`
 * lists every face answered, largest first; `facesFound` counts every face found (also those
 * beyond maxFaces), or is null when the bundle does not detect faces (the whole photo is answered).
 */
export interface PhotoPrediction extends Prediction {
  faces: FacePrediction[];
  facesFound: number | null;
}

/** A prediction as the service and the CLI print it: no raw probabilities. */
export interface PublicPrediction extends LabelScore {
  topk: LabelScore[];
  crop: string;
  distance: number | null;
  /** True when the answer names a person: not "unknown", "no_face" or "too_small". */
  known: boolean;
  /** True when the answer names a person near enough to act on; false when it names nobody or is not sure. */
  confident: boolean;
}

export interface PublicFace {
  box: PixelBox;
  detectionScore: number | null;
  label: string;
  score: number;
  topk: LabelScore[];
  distance: number | null;
  known: boolean;
  confident: boolean;
  tooSmall: boolean;
}

export interface PublicPhotoPrediction extends PublicPrediction {
  facesFound: number | null;
  faces: PublicFace[];
}

const notNames = new Set([unknownLabel, noFaceLabel, tooSmallLabel]);

export function publicPrediction(prediction: Prediction): PublicPrediction {
  const { label, score, topk, crop, distance, confident } = prediction;
  return { label, score, topk, crop, distance, known: !notNames.has(label), confident };
}

export function publicFace(face: FacePrediction): PublicFace {
  const { box, detectionScore, label, score, topk, distance, confident, tooSmall } = face;
  return { box: roundBox(box), detectionScore, label, score, topk, distance, known: !notNames.has(label), confident, tooSmall };
}

export function publicPhotoPrediction(photo: PhotoPrediction): PublicPhotoPrediction {
  return { ...publicPrediction(photo), facesFound: photo.facesFound, faces: photo.faces.map(publicFace) };
}

/** Boxes are answered in whole pixels: the detector is not more precise than that. */
function roundBox(box: PixelBox): PixelBox {
  const x = Math.round(box.x);
  const y = Math.round(box.y);
  return { x, y, width: Math.round(box.x + box.width) - x, height: Math.round(box.y + box.height) - y };
}

export { croppedFaces, defaultMaxFaces, defaultMinFaceSize, maxFacesLimit, minFaceSizeLimit, predictionDecodeSide, type PixelBox, type PrepareOptions } from "./face-path/prepare.js";

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
  /**
   * Where the workers come from: the inference service's registry, which lends every version it
   * loads the running pool that loads the same things (face-path/registry.ts), so a hot swap starts
   * no thread. Absent: the predictor starts its own pool and ends it on dispose (`faceops predict`,
   * one-off loads).
   */
  facePaths?: FacePathRegistry<FacePathWorkers>;
}

/** A pool of the predictor's own, ended with it: a lease nobody shares. */
async function ownPool(load: FacePathLoad, log: Logger): Promise<FacePathLease> {
  const workers = await FacePathWorkers.start({ ...load, log });
  return { workers, release: () => workers.dispose() };
}

/** Where photos are prepared for the backbone: on this thread, or in the face-path workers. */
interface PhotoPreparer {
  prepare(bytes: Uint8Array, options: HandOverOptions): Promise<PreparedFaces>;
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
    private readonly references: KnownFaces | null,
    /** Beyond this distance to the nearest training photo the answer is "unknown"; null: never. */
    readonly maxDistance: number | null,
    /** Beyond this distance (and within maxDistance) a named answer is not confident; null: no open-set rule. */
    readonly confidentDistance: number | null,
  ) {}

  /**
   * Loads and verifies the bundle, rebuilds its backbone and checks it is the same one, and the
   * face detector its crops need; in `workers` threads when asked (see PredictorOptions).
   */
  static async load(directory: string, options: PredictorOptions): Promise<Predictor> {
    const bundle = await loadBundle(directory);
    const { config, log } = options;
    const { metadata } = bundle;
    const tfEngine = config.engine.name.startsWith("tfjs-") ? (config.engine.name as TfEngine) : undefined;
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
        const load: FacePathLoad = {
          size: options.workers as number,
          tfEngine,
          maxPixels: config.dataset.maxPixels,
          detector: faceCrop ? { landmarks } : null,
          embedding: facePathEmbedding(metadata.backbone.id, config.model.batchSize),
        };
        const { workers, release } = options.facePaths ? await options.facePaths.acquire(load) : await ownPool(load, log);
        built.push({ dispose: release });
        const crop = { crop: metadata.crop, inputSize: metadata.backbone.inputSize };
        preparer = { prepare: (bytes, prepareOptions) => workers.prepare(bytes, crop, prepareOptions), dispose: release };
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
        preparer = { prepare: (bytes, prepareOptions) => prepareFaces(bytes, preparation, prepareOptions), dispose: async () => detector?.dispose() };
      }
      const head = await bundle.loadHead(tf);
      if (metadata.crop.detector && detectorFingerprint && detectorFingerprint !== metadata.crop.detector) {
        log.warn({ trained: metadata.crop.detector, now: detectorFingerprint }, "the face detector differs from the one used in training");
      }
      log.info({ bundle: bundle.directory, labels: metadata.labels.length, backbone: backbone.id, engine: backbone.engine, workers: options.workers ?? 0 }, "model loaded");
      const maxDistance = bundle.references ? effectiveMaxDistance(config.openSet.maxDistance, metadata.openSet) : null;
      const confidentDistance = maxDistance === null ? null : effectiveConfidentDistance(config.openSet.confidentDistance, metadata.openSet, maxDistance);
      return new Predictor(bundle.directory, metadata, tf, head, bundle.scaling, backbone, preparer, config.dataset.maxPixels, bundle.knownFaces, maxDistance, confidentDistance);
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
   * Decodes one photo and crops each of its faces the way training did (prepare.ts), in a worker
   * when the predictor has them. Throws ImageDecodeError on bad input.
   */
  prepare(bytes: Uint8Array, options: HandOverOptions = {}): Promise<PreparedFaces> {
    return this.preparer.prepare(bytes, options);
  }

  /** Probabilities per label and open-set distances for prepared photos: one backbone call for the whole batch. */
  async scores(images: readonly RgbImage[]): Promise<Scored[]> {
    const features = await this.backbone.embed(images);
    const probabilities = predictHead(this.tf, this.head, features.map((vector) => applyScaling(vector, this.scaling)));
    return probabilities.map((row, index) => {
      const vector = features[index] as Float32Array;
      const nearest = this.references?.nearest(vector) ?? null;
      return { probabilities: row, distance: nearest?.distance ?? null, nearestLabel: nearest ? (this.metadata.labels[nearest.label] ?? null) : null, features: vector };
    });
  }

  /** Every face of each photo, answered (see PhotoPrediction). */
  async predict(photos: readonly Uint8Array[], topk = 3, options: PrepareOptions = {}): Promise<PhotoPrediction[]> {
    const answers: PhotoPrediction[] = [];
    for (const bytes of photos) {
      const prepared = await this.prepare(bytes, options);
      answers.push(this.answerPhoto(prepared, await this.scores(croppedFaces(prepared)), topk));
    }
    return answers;
  }

  /** A photo's answer from its prepared faces and the scores of its cropped ones (`croppedFaces`), in order. */
  answerPhoto(prepared: PreparedFaces, scores: readonly Scored[], topk: number): PhotoPrediction {
    const faces: FacePrediction[] = [];
    // The top level answers the first face named (the largest big enough), or no face at all.
    let main: Prediction | null = null;
    let next = 0;
    for (const { box, detectionScore, image } of prepared.faces) {
      if (!image) {
        faces.push({ ...this.unnamed(tooSmallLabel, prepared.crop), box, detectionScore, tooSmall: true });
        continue;
      }
      const scored = scores[next++];
      if (!scored) throw new Error(`a photo with ${croppedFaces(prepared).length} cropped faces was given ${scores.length} scores`);
      const prediction = this.describe(scored, topk, prepared.crop);
      main ??= prediction;
      faces.push({ ...prediction, box, detectionScore, tooSmall: false });
    }
    return { ...(main ?? this.unnamed(noFaceLabel, noFaceLabel)), faces, facesFound: prepared.facesFound };
  }

  /** The answer for a face (or photo) that is not named: no scores, no distance. */
  private unnamed(label: string, crop: string): Prediction {
    return { label, score: 0, topk: [], distance: null, maxDistance: this.maxDistance, confident: false, probabilities: new Float32Array(0), crop };
  }

  describe(scored: Scored, topk: number, crop: string): Prediction {
    const row = scored.probabilities;
    const ranked = rankLabels(row).slice(0, Math.max(1, topk));
    const top = ranked.map((index) => ({ label: this.metadata.labels[index] as string, score: row[index] as number }));
    const best = top[0] as LabelScore;
    const stranger = scored.distance !== null && this.maxDistance !== null && scored.distance > this.maxDistance;
    const unsure = scored.distance !== null && this.confidentDistance !== null && scored.distance > this.confidentDistance;
    return {
      label: stranger ? unknownLabel : best.label,
      score: best.score,
      topk: top,
      distance: scored.distance,
      maxDistance: this.maxDistance,
      confident: !stranger && !unsure,
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
