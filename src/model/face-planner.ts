import type { Logger } from "../log.js";
import { readJsonOr, writeJsonAtomic } from "../store/files.js";
import { mapConcurrent } from "../util/concurrency.js";
import type { RgbImage } from "../vision/image.js";
import type { CropReference } from "./bundle.js";
import type { FaceopsConfig } from "../config/schema.js";
import type { StoreLayout } from "../store/layout.js";
import { cropImage, defaultCropPolicy, medianBox, planCrop, type CropPlan as SquarePlan, type CropPolicy, type RelativeBox } from "./face/crop.js";
import { createFaceDetector, type FaceDetector } from "./face/detector.js";
import { findFaces, type PhotoFaces } from "./face-path/find-faces.js";
import type { FacePathWorkers } from "./face-path/workers.js";
import { surveyFaces, type FaceReport, type FaceSurvey, type SurveyedFace, type SurveyedPhoto } from "./face-survey.js";
import type { CropPlan, CropPlanner, CropPlanning, FeaturePhoto, PlanningContext } from "./features.js";

/**
 * Face crops for a whole dataset. Detection is the expensive part (tens to hundreds of ms per photo),
 * so each photo's faces are detected once and kept by content hash and detector fingerprint, with
 * the sharpness of each face's crop. Which face a photo is trained on is the face survey's rule
 * (face-survey.ts); the dataset's median box, the fallback for photos without a face, is computed
 * from the faces chosen. A photo whose faces are known is neither decoded nor detected again.
 */

type FaceEntries = Record<string, Record<string, PhotoFaces>>;

/**
 * Faces per detector, per photo sha256. Entries are keyed "faces:<detector fingerprint>", so the
 * single boxes older versions kept under the bare fingerprint are never read as faces.
 */
export class FaceBoxCache {
  private changed = false;

  private constructor(
    private readonly path: string,
    private readonly entries: FaceEntries,
  ) {}

  static async load(path: string): Promise<FaceBoxCache> {
    return new FaceBoxCache(path, await readJsonOr<FaceEntries>(path, {}));
  }

  get(detector: string, photoSha: string): PhotoFaces | undefined {
    return this.entries[facesKey(detector)]?.[photoSha];
  }

  set(detector: string, photoSha: string, faces: PhotoFaces): void {
    (this.entries[facesKey(detector)] ??= {})[photoSha] = faces;
    this.changed = true;
  }

  async save(): Promise<void> {
    if (!this.changed) return;
    // Merge with faces another process found meanwhile; an entry depends only on its key.
    const onDisk = await readJsonOr<FaceEntries>(this.path, {});
    for (const [detector, faces] of Object.entries(this.entries)) onDisk[detector] = { ...onDisk[detector], ...faces };
    await writeJsonAtomic(this.path, onDisk, { compact: true });
    this.changed = false;
  }
}

const facesKey = (detector: string) => `faces:${detector}`;

export { findFaces, type PhotoFaces };

/**
 * Where the faces of the photos not seen before are found: on the calling thread (`localFaceFinder`)
 * or in the face-path workers (FacePathWorkers.faceFinder). Both run `findFaces` on the photo
 * decoded the same way, so the box cache gets the same entries from either.
 */
export interface FaceFinder {
  readonly kind: string;
  /** The detector's fingerprint: the box cache's key. */
  readonly fingerprint: string;
  /** Photos searched at once: 1 on the calling thread; in workers, one more than there are, so none waits for its next photo. */
  readonly concurrency: number;
  find(photo: FeaturePhoto, context: PlanningContext): Promise<PhotoFaces>;
}

/** Faces found on the calling thread, one photo at a time, decoded by the extraction. */
export function localFaceFinder(detector: FaceDetector, policy: CropPolicy): FaceFinder {
  return {
    kind: detector.kind,
    fingerprint: detector.fingerprint,
    concurrency: 1,
    find: async (photo, context) => findFaces(detector, policy, await context.decode(photo)),
  };
}

/**
 * Faces found in the face-path workers (started with the detector): the photo's file goes to a
 * worker, which decodes it as the calling thread would (full size, `maxPixels`) and runs
 * `findFaces`. One photo more than there are workers is in flight, so a worker that finishes finds
 * its next photo already queued.
 */
export function workerFaceFinder(workers: Pick<FacePathWorkers, "size" | "info" | "findFaces">, options: { policy: CropPolicy; maxPixels: number }): FaceFinder {
  const detector = workers.info.detector;
  if (!detector) throw new Error("the face-path workers were started without the face detector, so they cannot find faces");
  return {
    kind: detector.kind,
    fingerprint: detector.fingerprint,
    concurrency: workers.size + 1,
    // Copied to the worker, not handed over: a reader may keep the buffer it returned (a copy of a
    // photo file costs microseconds beside the tens of milliseconds of detection).
    find: async (photo, context) => workers.findFaces(await context.read(photo), options),
  };
}

/**
 * The median box is rounded to 1% of the photo so that a push of a few photos, which moves the
 * median by a hair, does not change the crop (and the cached features) of every photo that uses it.
 */
export function quantizeBox(box: RelativeBox | null, step = 0.01): RelativeBox | null {
  if (!box) return null;
  const round = (value: number) => Math.round(value / step) * step;
  return { x: round(box.x), y: round(box.y), width: round(box.width), height: round(box.height) };
}

/** A key that names the crop square exactly, so features computed from another square never match. */
export function squareKey(plan: SquarePlan): string {
  return `face:${plan.outcome}:${plan.centerX.toFixed(2)},${plan.centerY.toFixed(2)},${plan.side.toFixed(2)},${plan.angle.toFixed(4)}`;
}

export function toCropPlan(plan: SquarePlan): CropPlan {
  return {
    key: squareKey(plan),
    outcome: plan.outcome,
    apply: (image: RgbImage, size: number) => Promise.resolve(cropImage(image, plan, size)),
  };
}

export interface FaceCropPlannerOptions {
  finder: FaceFinder;
  policy: CropPolicy;
  faces: FaceBoxCache;
  /** dataset.requireFace: a photo without a face is rejected rather than cropped at the median box. */
  requireFace: boolean;
  log: Logger;
  /** Photos searched for faces so far, of those not searched before. */
  onProgress?: (done: number, total: number) => void;
}

export function faceCropPlanner(options: FaceCropPlannerOptions): CropPlanner {
  const { finder, policy, faces, log } = options;
  let median: RelativeBox | null = null;
  return {
    async plan(photos: readonly FeaturePhoto[], context: PlanningContext): Promise<CropPlanning> {
      const unseen = photos.filter((photo) => faces.get(finder.fingerprint, photo.sha256) === undefined);
      if (unseen.length > 0) log.info({ photos: unseen.length, detector: finder.kind, concurrency: finder.concurrency }, "detecting faces");
      let done = 0;
      await mapConcurrent(unseen, Math.max(1, finder.concurrency), async (photo) => {
        faces.set(finder.fingerprint, photo.sha256, await finder.find(photo, context));
        options.onProgress?.(++done, unseen.length);
      });
      await faces.save();
      const found = photos.map((photo) => faces.get(finder.fingerprint, photo.sha256) as PhotoFaces);
      const survey = await surveyDataset(photos, found, { policy, requireFace: options.requireFace, embed: (crops) => context.embed(crops) });
      const chosen = photos.map((photo, index) => {
        const choice = survey.chosen.get(photo.path);
        return choice === null || choice === undefined ? null : ((found[index] as PhotoFaces).faces[choice]?.box ?? null);
      });
      median = quantizeBox(medianBox(chosen));
      const plans = new Map(photos.map((photo, index) => [photo.sha256, toCropPlan(planCrop(photo, chosen[index] ?? null, median, policy))]));
      const report: FaceReport = {
        facesFound: Object.fromEntries(photos.map((photo, index) => [photo.path, (found[index] as PhotoFaces).found])),
        warnings: survey.warnings,
        rejected: survey.rejected,
      };
      return { plans, faces: report };
    },
    reference: (): Omit<CropReference, "counts"> => ({ mode: "face", detector: finder.fingerprint, medianBox: median }),
  };
}

/** Whether the default crop policy needs the 68 landmarks (it anchors on eyes and mouth). */
export const defaultPolicyNeedsLandmarks = defaultCropPolicy.anchor !== "box";

/**
 * The face planner a configuration trains with: the default crop policy, the store's kept faces,
 * and `finder` (the face-path workers' when there are some) or, without one, a detector on this
 * thread (with landmarks when the policy anchors on them). The caller disposes `detector`, when
 * one was made, once the planner is done.
 */
export async function configuredFacePlanner(options: {
  config: FaceopsConfig;
  store: StoreLayout;
  log: Logger;
  finder?: FaceFinder;
  onProgress?: FaceCropPlannerOptions["onProgress"];
}): Promise<{ detector: FaceDetector | null; planner: CropPlanner }> {
  const { config, store, log } = options;
  const detector = options.finder ? null : await createFaceDetector({ log, landmarks: defaultPolicyNeedsLandmarks });
  try {
    const faces = await FaceBoxCache.load(store.faceBoxes);
    const finder = options.finder ?? localFaceFinder(detector as FaceDetector, defaultCropPolicy);
    return { detector, planner: faceCropPlanner({ finder, policy: defaultCropPolicy, faces, requireFace: config.dataset.requireFace, log, onProgress: options.onProgress }) };
  } catch (error) {
    await detector?.dispose();
    throw error;
  }
}

/**
 * The face survey over a dataset (face-survey.ts): embeds only what the rule compares, the faces
 * of photos showing several and the one-face photos of those photos' people, so a dataset where
 * every photo shows one face costs no backbone pass here.
 */
async function surveyDataset(
  photos: readonly FeaturePhoto[],
  found: readonly PhotoFaces[],
  options: { policy: CropPolicy; requireFace: boolean; embed: PlanningContext["embed"] },
): Promise<FaceSurvey> {
  const personOf = (photo: FeaturePhoto) => photo.label ?? photo.path.split("/")[0] ?? "";
  const withOneFace = new Set<string>();
  for (const [index, photo] of photos.entries()) if ((found[index] as PhotoFaces).faces.length === 1) withOneFace.add(personOf(photo));
  const compared = new Set<string>();
  for (const [index, photo] of photos.entries()) {
    if ((found[index] as PhotoFaces).faces.length > 1 && withOneFace.has(personOf(photo))) compared.add(personOf(photo));
  }
  const crops: Array<{ photo: FeaturePhoto; plan: CropPlan; photoIndex: number; faceIndex: number }> = [];
  for (const [photoIndex, photo] of photos.entries()) {
    if (!compared.has(personOf(photo))) continue;
    for (const [faceIndex, face] of (found[photoIndex] as PhotoFaces).faces.entries()) {
      crops.push({ photo, plan: toCropPlan(planCrop(photo, face.box, null, options.policy)), photoIndex, faceIndex });
    }
  }
  const embeddings = crops.length > 0 ? await options.embed(crops) : [];
  const surveyed: SurveyedPhoto[] = photos.map((photo, index) => ({
    path: photo.path,
    person: personOf(photo),
    faces: (found[index] as PhotoFaces).faces.map((face) => ({ box: face.box, sharpness: face.sharpness, embedding: null as Float32Array | null })),
  }));
  crops.forEach((crop, index) => {
    ((surveyed[crop.photoIndex] as SurveyedPhoto).faces[crop.faceIndex] as SurveyedFace).embedding = embeddings[index] ?? null;
  });
  return surveyFaces(surveyed, { requireFace: options.requireFace });
}
