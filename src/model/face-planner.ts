import type { Logger } from "../log.js";
import { readJsonOr, writeJsonAtomic } from "../store/files.js";
import type { RgbImage } from "../vision/image.js";
import type { CropReference } from "./bundle.js";
import { cropImage, medianBox, planCrop, type CropPlan as SquarePlan, type CropPolicy, type RelativeBox } from "./face/crop.js";
import type { FaceBox, FaceDetector } from "./face/detector.js";
import type { CropPlan, CropPlanner, FeaturePhoto } from "./features.js";

/**
 * Face crops for a whole dataset. Detection is the expensive part (tens to hundreds of ms per photo),
 * so each photo's box is detected once and kept by content hash and detector fingerprint; the
 * dataset's median box, the fallback for photos without a detected face, is computed from all of
 * them. A photo whose features are cached is neither decoded nor detected again.
 */

/** Boxes per detector fingerprint, per photo sha256; null when the detector found no face. */
export class FaceBoxCache {
  private changed = false;

  private constructor(
    private readonly path: string,
    private readonly boxes: Record<string, Record<string, FaceBox | null>>,
  ) {}

  static async load(path: string): Promise<FaceBoxCache> {
    return new FaceBoxCache(path, await readJsonOr<Record<string, Record<string, FaceBox | null>>>(path, {}));
  }

  get(detector: string, photoSha: string): FaceBox | null | undefined {
    return this.boxes[detector]?.[photoSha];
  }

  set(detector: string, photoSha: string, box: FaceBox | null): void {
    (this.boxes[detector] ??= {})[photoSha] = box;
    this.changed = true;
  }

  async save(): Promise<void> {
    if (!this.changed) return;
    // Merge with boxes another process found meanwhile; a box depends only on its key.
    const onDisk = await readJsonOr<Record<string, Record<string, FaceBox | null>>>(this.path, {});
    for (const [detector, boxes] of Object.entries(this.boxes)) onDisk[detector] = { ...onDisk[detector], ...boxes };
    await writeJsonAtomic(this.path, onDisk, { compact: true });
    this.changed = false;
  }
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

export function faceCropPlanner(options: { detector: FaceDetector; policy: CropPolicy; boxes: FaceBoxCache; log: Logger }): CropPlanner {
  const { detector, policy, boxes, log } = options;
  let median: RelativeBox | null = null;
  return {
    async plan(photos: readonly FeaturePhoto[], decode: (photo: FeaturePhoto) => Promise<RgbImage>) {
      const unseen = photos.filter((photo) => boxes.get(detector.fingerprint, photo.sha256) === undefined);
      if (unseen.length > 0) log.info({ photos: unseen.length, detector: detector.kind }, "detecting faces");
      for (const photo of unseen) boxes.set(detector.fingerprint, photo.sha256, await detector.detect(await decode(photo)));
      await boxes.save();
      const found = photos.map((photo) => boxes.get(detector.fingerprint, photo.sha256) ?? null);
      median = quantizeBox(medianBox(found));
      return new Map(photos.map((photo, index) => [photo.sha256, toCropPlan(planCrop(photo, found[index] ?? null, median, policy))]));
    },
    reference: (): Omit<CropReference, "counts"> => ({ mode: "face", detector: detector.fingerprint, medianBox: median }),
  };
}
