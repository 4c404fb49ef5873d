import { createHash } from "node:crypto";
import type { Logger } from "../log.js";
import { augment, type AugmentOptions } from "../vision/augment.js";
import { decodeImage } from "../vision/decode.js";
import type { RgbImage } from "../vision/image.js";
import { fitSquare } from "../vision/preprocess.js";
import type { Backbone } from "./backbones/types.js";
import type { CropReference } from "./bundle.js";
import type { CropOutcome } from "./face/crop.js";
import type { FaceReport } from "./face-survey.js";
import type { FeatureCache} from "./feature-cache.js";
import { featureKey } from "./feature-cache.js";

/**
 * Features for every photo of a dataset, computed once in their life. For each photo and variant
 * (0 = the photo, 1..K = augmented copies, training photos only) the cache is asked first; only
 * what is missing is decoded, cropped, augmented and sent through the backbone, in batches, with
 * the next batch prepared while the backbone works on the current ones (as many at once as it
 * computes: one per face-path worker when it runs in a pool).
 */

export interface FeaturePhoto {
  sha256: string;
  path: string;
  /** Size after EXIF orientation (from the manifest), so crops can be planned without decoding. */
  width: number;
  height: number;
  /** The photo's person (its folder), for telling its face among several; defaults to the path's first folder. */
  label?: string;
}

/** How one photo becomes the backbone's square input. */
export interface CropPlan {
  /** Names the crop exactly (e.g. the face box in pixels); part of the feature key. */
  key: string;
  outcome: CropOutcome;
  apply(image: RgbImage, size: number): Promise<RgbImage>;
}

/** What a planner may ask of the extraction while planning. */
export interface PlanningContext {
  /** The photo's file, for work done elsewhere (a face-path worker decodes it itself). */
  read(photo: FeaturePhoto): Promise<Uint8Array>;
  decode(photo: FeaturePhoto): Promise<RgbImage>;
  /** The unaugmented backbone features of photos cropped as given (through the feature cache). */
  embed(crops: ReadonlyArray<{ photo: FeaturePhoto; plan: CropPlan }>): Promise<Float32Array[]>;
}

export interface CropPlanning {
  /** Per photo sha256. */
  plans: Map<string, CropPlan>;
  /** The faces found, warnings and rejected photos, when crops follow faces; null otherwise. */
  faces: FaceReport | null;
}

/** Decides every photo's crop; may decode and detect faces, but only for photos it has not seen. */
export interface CropPlanner {
  plan(photos: readonly FeaturePhoto[], context: PlanningContext): Promise<CropPlanning>;
  /** What a bundle records so serving crops the same way (valid after `plan`). */
  reference(): Omit<CropReference, "counts">;
}

export interface FeatureExtraction {
  photos: readonly FeaturePhoto[];
  readPhoto: (photo: FeaturePhoto) => Promise<Buffer>;
  backbone: Backbone;
  planner: CropPlanner;
  /** Augmented copies to compute for a photo (K for training photos, 0 for test photos). */
  variantsFor: (photo: FeaturePhoto) => number;
  augment: AugmentOptions;
  seed: number;
  cache: FeatureCache;
  batchSize: number;
  maxPixels: number;
  log: Logger;
  onProgress?: (done: number, total: number) => void;
}

export interface ExtractedFeatures {
  /** Per photo sha256: the vectors of variant 0..K; absent for a photo the planner rejected. */
  features: Map<string, Float32Array[]>;
  /** The planner's face report (face crops only). */
  faces: FaceReport | null;
  cropCounts: Record<CropOutcome, number>;
  /** Vectors read from the cache, and computed by a forward pass, in this extraction. */
  cached: number;
  computed: number;
}

interface Pending {
  photo: FeaturePhoto;
  variant: number;
  key: string;
}

/** A per-photo augmentation seed: the same photo gets the same copies in every run and attempt. */
export function photoSeed(sha256: string, seed: number): number {
  return createHash("sha256").update(`${seed}:${sha256}`).digest().readUInt32BE(0);
}

export async function extractFeatures(request: FeatureExtraction): Promise<ExtractedFeatures> {
  const { backbone, cache } = request;
  const decode = async (photo: FeaturePhoto) => decodeImage(await request.readPhoto(photo), { maxPixels: request.maxPixels });
  const embed = cachedCropEmbedder({ backbone, cache, batchSize: request.batchSize, decode });
  const { plans, faces } = await request.planner.plan(request.photos, { read: request.readPhoto, decode, embed });
  const augmentation = JSON.stringify({ ...request.augment, seed: request.seed });
  const rejected = new Set(faces?.rejected.map((photo) => photo.path));

  const features = new Map<string, Float32Array[]>();
  const cropCounts: Record<CropOutcome, number> = { detected: 0, median: 0, center: 0, none: 0 };
  const pending: Pending[] = [];
  let cached = 0;
  for (const photo of request.photos) {
    if (rejected.has(photo.path)) continue;
    const plan = plans.get(photo.sha256);
    if (!plan) throw new Error(`no crop was planned for ${photo.path}`);
    cropCounts[plan.outcome]++;
    const vectors: Float32Array[] = [];
    features.set(photo.sha256, vectors);
    for (let variant = 0; variant <= request.variantsFor(photo); variant++) {
      const key = featureKey({ backbone: backbone.fingerprint, crop: plan.key, variant, augmentation });
      const hit = await cache.get(photo.sha256, key, backbone.featureLength);
      if (hit) {
        vectors[variant] = hit;
        cached++;
      } else {
        pending.push({ photo, variant, key });
      }
    }
  }
  if (pending.length > 0) {
    request.log.info({ vectors: pending.length, cached, backbone: backbone.id, engine: backbone.engine }, "computing backbone features");
  }
  await computePending(request, pending, plans, features, decode);
  return { features, faces, cropCounts, cached, computed: pending.length };
}

/**
 * Unaugmented features of cropped photos, read from the feature cache or computed in batches and
 * kept there under the key extraction uses, so a crop embedded while planning is not embedded again.
 */
export function cachedCropEmbedder(options: {
  backbone: Backbone;
  cache: FeatureCache;
  batchSize: number;
  decode: (photo: FeaturePhoto) => Promise<RgbImage>;
}): PlanningContext["embed"] {
  const { backbone, cache } = options;
  return async (crops) => {
    const keys = crops.map((crop) => featureKey({ backbone: backbone.fingerprint, crop: crop.plan.key, variant: 0, augmentation: "" }));
    const vectors: Array<Float32Array | null> = [];
    for (const [index, crop] of crops.entries()) vectors.push(await cache.get(crop.photo.sha256, keys[index] as string, backbone.featureLength));
    const missing = vectors.flatMap((vector, index) => (vector ? [] : [index]));
    const batches: number[][] = [];
    for (let start = 0; start < missing.length; start += options.batchSize) batches.push(missing.slice(start, start + options.batchSize));
    await embedBatches(backbone, batches, {
      prepare: (batch) =>
        Promise.all(
          batch.map(async (index) => {
            const crop = crops[index] as (typeof crops)[number];
            return crop.plan.apply(await options.decode(crop.photo), backbone.inputSize);
          }),
        ),
      keep: async (batch, computed) => {
        for (const [position, index] of batch.entries()) {
          const vector = computed[position] as Float32Array;
          vectors[index] = vector;
          await cache.put((crops[index] as (typeof crops)[number]).photo.sha256, keys[index] as string, vector);
        }
      },
    });
    return vectors as Float32Array[];
  };
}

async function computePending(
  request: FeatureExtraction,
  pending: readonly Pending[],
  plans: Map<string, CropPlan>,
  features: Map<string, Float32Array[]>,
  decode: (photo: FeaturePhoto) => Promise<RgbImage>,
): Promise<void> {
  const { backbone } = request;
  // Group a photo's variants together so it is decoded and cropped once.
  let cropped: { sha256: string; image: RgbImage } | null = null;
  const prepare = async (items: readonly Pending[]): Promise<RgbImage[]> => {
    const images: RgbImage[] = [];
    for (const item of items) {
      if (cropped?.sha256 !== item.photo.sha256) {
        const plan = plans.get(item.photo.sha256) as CropPlan;
        cropped = { sha256: item.photo.sha256, image: await plan.apply(await decode(item.photo), backbone.inputSize) };
      }
      images.push(augment(cropped.image, request.augment, photoSeed(item.photo.sha256, request.seed), item.variant));
    }
    return images;
  };
  const batches: Pending[][] = [];
  for (let start = 0; start < pending.length; start += request.batchSize) batches.push(pending.slice(start, start + request.batchSize));

  let done = 0;
  await embedBatches(backbone, batches, {
    prepare,
    keep: async (batch, vectors) => {
      await Promise.all(
        batch.map(async (item, position) => {
          const vector = vectors[position] as Float32Array;
          (features.get(item.photo.sha256) as Float32Array[])[item.variant] = vector;
          await request.cache.put(item.photo.sha256, item.key, vector);
        }),
      );
      done += batch.length;
      request.onProgress?.(done, pending.length);
    },
  });
}

/**
 * Sends batches through the backbone, keeping it busy: each batch is prepared (decoded, cropped,
 * augmented) on this thread while the backbone computes the ones before it, and as many batches
 * are in flight as the backbone computes at once (`Backbone.concurrency`: one per worker of a
 * pool), plus one queued when there are several, so a worker that finishes finds its next batch
 * waiting. Results are kept in batch order. On a failure, the batches in flight are awaited (no
 * work is left running) and the first error is thrown.
 */
async function embedBatches<T>(
  backbone: Backbone,
  batches: readonly T[],
  steps: { prepare: (batch: T) => Promise<RgbImage[]>; keep: (batch: T, vectors: Float32Array[]) => Promise<void> },
): Promise<void> {
  const parallel = Math.max(1, backbone.concurrency ?? 1);
  const limit = parallel > 1 ? parallel + 1 : 1;
  const inFlight: Array<{ batch: T; vectors: Promise<Float32Array[]> }> = [];
  const settleOldest = async () => {
    const { batch, vectors } = inFlight.shift() as (typeof inFlight)[number];
    await steps.keep(batch, await vectors);
  };
  try {
    for (const batch of batches) {
      const images = await steps.prepare(batch);
      while (inFlight.length >= limit) await settleOldest();
      const vectors = backbone.embed(images);
      // Observed at once, so a failure while older batches are awaited is not an unhandled rejection.
      vectors.catch(() => undefined);
      inFlight.push({ batch, vectors });
    }
    while (inFlight.length > 0) await settleOldest();
  } catch (error) {
    await Promise.allSettled(inFlight.splice(0).map((entry) => entry.vectors));
    throw error;
  }
}

/**
 * No detection: "center" takes the centred square; "none" keeps the whole photo, letterboxed into
 * the square so that nothing is cut and nothing is stretched.
 */
export function simpleCropPlanner(mode: "center" | "none"): CropPlanner {
  const fit = mode === "center" ? "crop" : "pad";
  const plan: CropPlan = { key: mode, outcome: mode, apply: (image, size) => fitSquare(image, size, fit) };
  return {
    plan: (photos) => Promise.resolve({ plans: new Map(photos.map((photo) => [photo.sha256, plan])), faces: null }),
    reference: () => ({ mode, detector: null, medianBox: null }),
  };
}
