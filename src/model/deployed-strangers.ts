import type { FaceopsConfig } from "../config/schema.js";
import type { ManifestImage } from "../dataset/manifest.js";
import type { Logger } from "../log.js";
import { loadBundle, type BundleMetadata } from "./bundle.js";
import { effectiveMaxDistance } from "./open-set.js";
import { noFaceLabel, Predictor, tooSmallLabel, unknownLabel } from "./predictor.js";

/**
 * The model in service against strangers, for the gate's "no regression" on the "unknown" answer.
 * Only photos of nobody (the dataset's `_not/` folder) are strangers to both models: the
 * candidate's pseudo-strangers are people the deployed model was most likely trained on. Only their
 * test-split photos are used, which the candidate's calibration never saw. Like evaluateDeployed,
 * the candidate's vectors are reused when both models embed alike; otherwise each photo goes through
 * the deployed model whole.
 */

export interface StrangerPhotos {
  photos: readonly ManifestImage[];
  /** The candidate's unscaled backbone vectors, in the same order. */
  vectors: readonly Float32Array[];
}

/** Share of `strangers` the deployed model at `directory` does not name as anyone; null without photos. */
export async function deployedStrangerRejection(
  directory: string,
  strangers: StrangerPhotos,
  candidate: Pick<BundleMetadata, "backbone" | "crop">,
  deps: { config: FaceopsConfig; log: Logger; readPhoto: (image: Pick<ManifestImage, "path">) => Promise<Buffer> },
): Promise<number | null> {
  if (strangers.photos.length === 0) return null;
  const bundle = await loadBundle(directory);
  const deployed = bundle.metadata;
  // A model without the open-set rule names everyone.
  if (!bundle.knownFaces) return 0;
  const sameFeatures = deployed.backbone.fingerprint === candidate.backbone.fingerprint && deployed.crop.mode === candidate.crop.mode && deployed.crop.detector === candidate.crop.detector;
  if (sameFeatures) {
    const maxDistance = effectiveMaxDistance(deps.config.openSet.maxDistance, deployed.openSet);
    const references = bundle.knownFaces;
    return strangers.vectors.filter((vector) => references.nearest(vector).distance > maxDistance).length / strangers.vectors.length;
  }
  deps.log.info({ deployed: directory, photos: strangers.photos.length }, "the deployed model uses another backbone or crop: embedding the stranger photos with it");
  const predictor = await Predictor.load(directory, { config: deps.config, log: deps.log });
  try {
    let rejected = 0;
    for (const photo of strangers.photos) {
      const [prediction] = await predictor.predict([await deps.readPhoto(photo)], 1);
      if (!prediction || [unknownLabel, noFaceLabel, tooSmallLabel].includes(prediction.label)) rejected++;
    }
    return rejected / strangers.photos.length;
  } finally {
    await predictor.dispose();
  }
}
