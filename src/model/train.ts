import type * as tfjs from "@tensorflow/tfjs";
import type { AugmentConfig, FaceopsConfig, OpenSetConfig, TrainConfig } from "../config/schema.js";
import type { DatasetManifest, ManifestImage } from "../dataset/manifest.js";
import { splitDraw } from "../dataset/split.js";
import type { Logger } from "../log.js";
import type { AugmentOptions } from "../vision/augment.js";
import type { Backbone } from "./backbones/types.js";
import { defaultModelName, type BackboneReference, type BundleMetadata } from "./bundle.js";
import { evaluate, nearestClassMeanAccuracy } from "./evaluate.js";
import type { StoreLayout } from "../store/layout.js";
import { FeatureCache } from "./feature-cache.js";
import { summarizeFaces } from "./face-survey.js";
import { extractFeatures, type CropPlanner } from "./features.js";
import type { TrainingRuntime } from "./training-runtime.js";
import { defaultOpenSetRule, openSetRule, ReferenceSet, type KnownFaces } from "./open-set.js";
import { chooseOpenSet, defaultStrangerCalibration, type CalibrationPhoto, type OpenSetSettings } from "./stranger-calibration.js";
import { applyScaling, createHead, fitScaling, predictHead, trainHead, type FeatureScaling, type LabelledFeatures } from "./head.js";
import type { EpochCurve } from "./learning-curve.js";

type Tf = typeof tfjs;

/**
 * One training run on one dataset snapshot: features (cached), the head, its evaluation on the
 * held-out split, and everything a bundle records. The caller saves the bundle.
 */

export interface TrainRequest {
  manifest: DatasetManifest;
  readPhoto: (image: Pick<ManifestImage, "path">) => Promise<Buffer>;
  backbone: Backbone;
  backboneReference: Omit<BackboneReference, "engine" | "fingerprint" | "weightsSha256" | "randomWeights" | "inputSize" | "featureLength" | "preprocessing">;
  planner: CropPlanner;
  train: TrainConfig;
  augment: AugmentConfig;
  /**
   * Seeds the augmentation draws instead of train.seed, which then seeds only the head
   * (initialisation, dropout, shuffling). Studies set it to repeat a head under several seeds on the
   * same cached augmented copies (bench/augment-study.ts); training leaves it unset.
   */
  augmentSeed?: number;
  /** Defaults to auto thresholds calibrated with the default settings. */
  openSet?: OpenSetConfig;
  cache: FeatureCache;
  batchSize: number;
  maxPixels: number;
  tf: Tf;
  tfEngine: string;
  log: Logger;
  name?: string;
  onFeatureProgress?: (done: number, total: number) => void;
  /** Called once every photo's vectors are at hand (read from the cache or computed), before the head trains: where an attempt's "features" phase ends. */
  onFeaturesExtracted?: () => void;
  onEpoch?: (curve: EpochCurve) => void;
}

export interface TrainOutcome {
  metadata: Omit<BundleMetadata, "files">;
  head: tfjs.LayersModel;
  scaling: FeatureScaling;
  /** Every training photo's unaugmented vector, for the open-set rule (what the bundle keeps). */
  references: ReferenceSet;
  /** The known people as the bundle's open-set rule measures them (the references, or their class means). */
  knownFaces: KnownFaces;
  /** Vectors read from the feature cache and computed by the backbone in this run. */
  featureStats: { cached: number; computed: number };
  /** The test photos with their unscaled backbone vectors, to evaluate another model on the same split. */
  testSet: { photos: ManifestImage[]; vectors: Float32Array[] };
  /** The test-split photos under `_not/` with their vectors: strangers to every model (deployed-strangers.ts). */
  strangerTestSet: { photos: ManifestImage[]; vectors: Float32Array[] };
}

/** Share of training photos kept aside to watch the loss when early stopping is on. */
const validationFraction = 0.1;

/** The parts of a training request that come from the configuration, the training runtime and the store. */
export function configuredTraining(config: FaceopsConfig, runtime: TrainingRuntime, store: StoreLayout) {
  return {
    backbone: runtime.backbone,
    backboneReference: runtime.backboneReference,
    planner: runtime.planner,
    train: config.train,
    augment: config.augment,
    openSet: config.openSet,
    cache: new FeatureCache(store.features),
    batchSize: config.model.batchSize,
    maxPixels: config.dataset.maxPixels,
    tf: runtime.tf,
    tfEngine: runtime.tfEngine,
  } satisfies Partial<TrainRequest>;
}

export function augmentOptions(config: AugmentConfig): AugmentOptions {
  return {
    rotationRange: config.rotationRange,
    widthShiftRange: config.widthShiftRange,
    heightShiftRange: config.heightShiftRange,
    zoomRange: config.zoomRange,
    horizontalFlip: config.horizontalFlip,
    brightnessRange: [config.brightnessMin, config.brightnessMax],
  };
}

export async function trainModel(request: TrainRequest): Promise<TrainOutcome> {
  const { manifest, train } = request;
  if (!manifest.usable) throw new Error(`the dataset has ${manifest.labels.length} usable label(s); training needs at least 2`);
  const labelIndex = new Map(manifest.labels.map((label, index) => [label, index]));
  // Early stopping watches photos the head never trains on: a stable share of the training split.
  const validation = new Set(
    train.earlyStoppingPatience > 0
      ? manifest.images.filter((image) => image.split === "train" && splitDraw(`validation:${image.sha256}`) < validationFraction).map((image) => image.sha256)
      : [],
  );
  const trainingShas = new Set(manifest.images.filter((image) => image.split === "train" && !validation.has(image.sha256)).map((image) => image.sha256));

  // Photos under _not/ are embedded too: they are strangers for the open-set calibration.
  const strangers = manifest.strangers ?? [];
  const extracted = await extractFeatures({
    photos: [...manifest.images, ...strangers],
    readPhoto: request.readPhoto,
    backbone: request.backbone,
    planner: request.planner,
    variantsFor: (photo) => (trainingShas.has(photo.sha256) ? train.augmentVariants : 0),
    augment: augmentOptions(request.augment),
    seed: request.augmentSeed ?? train.seed,
    cache: request.cache,
    batchSize: request.batchSize,
    maxPixels: request.maxPixels,
    log: request.log,
    onProgress: request.onFeatureProgress,
  });
  request.onFeaturesExtracted?.();

  const sets = { train: emptySet(), test: emptySet(), validation: emptySet() };
  const references = { vectors: [] as Float32Array[], labels: [] as number[] };
  const testRaw: Float32Array[] = [];
  const testPhotos: ManifestImage[] = [];
  const calibrationPhotos: CalibrationPhoto[] = [];
  const strangerTestSet = { photos: [] as ManifestImage[], vectors: [] as Float32Array[] };
  for (const image of strangers) {
    const vector = extracted.features.get(image.sha256)?.[0];
    if (!vector) continue;
    calibrationPhotos.push({ vector, label: null, split: image.split });
    if (image.split === "test") {
      strangerTestSet.photos.push(image);
      strangerTestSet.vectors.push(vector);
    }
  }
  for (const image of manifest.images) {
    const vectors = extracted.features.get(image.sha256);
    // A photo the planner rejected (no face, with dataset.requireFace) takes no part.
    if (!vectors) continue;
    const label = labelIndex.get(image.label) as number;
    calibrationPhotos.push({ vector: vectors[0] as Float32Array, label: image.label, split: image.split });
    if (image.split === "train") {
      references.vectors.push(vectors[0] as Float32Array);
      references.labels.push(label);
    } else {
      testRaw.push(vectors[0] as Float32Array);
      testPhotos.push(image);
    }
    const set = image.split === "test" ? sets.test : validation.has(image.sha256) ? sets.validation : sets.train;
    const used = set === sets.train ? vectors : vectors.slice(0, 1);
    for (const vector of used) {
      set.features.push(vector);
      set.labels.push(label);
    }
  }

  const trainedLabels = new Set([...sets.train.labels, ...sets.validation.labels]);
  const untrained = manifest.labels.length - trainedLabels.size;
  if ((extracted.faces?.rejected.length ?? 0) > 0 && untrained > 0) {
    // No names: this message reaches logs and run records.
    throw new Error(`${untrained} label(s) have no training photo left once photos without a face were rejected (dataset.requireFace is true)`);
  }

  // Standardise with statistics of the training vectors only, so nothing leaks from the test split.
  const scaling = fitScaling(sets.train.features);
  for (const set of [sets.train, sets.test, sets.validation]) set.features = set.features.map((vector) => applyScaling(vector, scaling));

  const { tf } = request;
  const head = createHead(tf, {
    inputLength: request.backbone.featureLength,
    classes: manifest.labels.length,
    units: train.units,
    dropout: train.dropout,
    seed: train.seed,
  });
  request.log.info(
    { labels: manifest.labels.length, trainVectors: sets.train.labels.length, testPhotos: sets.test.labels.length, epochs: train.epochs, learningRate: train.learningRate },
    "training the head",
  );
  const training = await trainHead(
    tf,
    head,
    { train: sets.train, test: sets.test, validation: validation.size > 0 ? sets.validation : undefined },
    { ...train, onEpoch: request.onEpoch },
  );
  const evaluation = evaluate(manifest.labels, sets.test.labels, predictHead(tf, head, sets.test.features));
  const ncm = nearestClassMeanAccuracy(
    sets.train.labels.map((label, index) => ({ label, features: sets.train.features[index] as Float32Array })),
    sets.test.labels.map((label, index) => ({ label, features: sets.test.features[index] as Float32Array })),
    manifest.labels.length,
  );

  const referenceSet = ReferenceSet.fromVectors(references.vectors, references.labels, request.backbone.featureLength);
  const openSetSettings: OpenSetSettings = request.openSet ?? { ...defaultStrangerCalibration, maxDistance: "auto", confidentDistance: "auto" };
  const { known, ...openSet } = chooseOpenSet(openSetSettings, referenceSet, calibrationPhotos, request.openSet ? openSetRule(request.openSet.rule) : defaultOpenSetRule);
  const knownRejected = testRaw.filter((vector) => known.nearest(vector).distance > openSet.maxDistance).length;

  const backbone = request.backbone;
  const metadata: Omit<BundleMetadata, "files"> = {
    schemaVersion: 1,
    name: request.name ?? defaultModelName,
    createdAt: new Date().toISOString(),
    labels: manifest.labels,
    backbone: {
      ...request.backboneReference,
      id: backbone.id,
      fingerprint: backbone.fingerprint,
      weightsSha256: backbone.weightsSha256,
      randomWeights: backbone.randomWeights,
      engine: backbone.engine,
      inputSize: backbone.inputSize,
      featureLength: backbone.featureLength,
      preprocessing: backbone.preprocessing,
    },
    crop: { ...request.planner.reference(), counts: extracted.cropCounts },
    head: { inputLength: backbone.featureLength, units: train.units, dropout: train.dropout, classes: manifest.labels.length, engine: request.tfEngine },
    hyperparameters: { ...train, augment: request.augment },
    metrics: {
      ...evaluation,
      nearestClassMeanAccuracy: ncm,
      knownRejectedRate: testRaw.length > 0 ? knownRejected / testRaw.length : 0,
      curves: training.curves,
      keptEpoch: training.keptEpoch,
      stoppedEarly: training.stoppedEarly,
    },
    openSet: { rule: known.rule, ...openSet, references: referenceSet.size, featureLength: referenceSet.featureLength },
    ...(extracted.faces ? { faces: summarizeFaces(extracted.faces) } : {}),
    dataset: {
      source: manifest.source,
      commit: manifest.commit,
      fingerprint: manifest.fingerprint,
      photos: manifest.stats.photos,
      train: manifest.stats.train,
      test: manifest.stats.test,
    },
  };
  return { metadata, head, scaling, references: referenceSet, knownFaces: known, featureStats: { cached: extracted.cached, computed: extracted.computed }, testSet: { photos: testPhotos, vectors: testRaw }, strangerTestSet };
}

function emptySet(): LabelledFeatures & { features: Float32Array[]; labels: number[] } {
  return { features: [], labels: [] };
}
