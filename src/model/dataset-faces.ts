import type { FaceopsConfig } from "../config/schema.js";
import type { PhotoReader } from "../dataset/check.js";
import type { DatasetManifest } from "../dataset/manifest.js";
import type { Logger } from "../log.js";
import type { StoreLayout } from "../store/layout.js";
import { decodeImage } from "../vision/decode.js";
import { openConfiguredBackbone, type BuiltBackbone } from "./backbone-factory.js";
import { configuredFacePlanner } from "./face-planner.js";
import type { FaceReport } from "./face-survey.js";
import { FeatureCache } from "./feature-cache.js";
import { cachedCropEmbedder, type FeaturePhoto, type PlanningContext } from "./features.js";

/**
 * The faces of a checked dataset, as training will see them: `faceops dataset check` reports what
 * the face planner decides, with the same detector, caches and rule, so the check and the run agree
 * and neither detects a photo the other has seen. The backbone is opened only if the rule has faces
 * to compare (a photo with several faces of a person who has one-face photos).
 */

export interface DatasetFacesRequest {
  manifest: DatasetManifest;
  readPhoto: PhotoReader;
  config: FaceopsConfig;
  store: StoreLayout;
  log: Logger;
  onProgress?: (done: number, total: number) => void;
}

/** Null when the configuration does not crop faces (`model.crop` center or none). */
export async function surveyDatasetFaces(request: DatasetFacesRequest): Promise<FaceReport | null> {
  const { config, store, log } = request;
  if (config.model.crop !== "face") return null;
  const { detector, planner } = await configuredFacePlanner({ config, store, log, onProgress: request.onProgress });
  let opened: BuiltBackbone | null = null;
  try {
    const decode = async (photo: FeaturePhoto) => decodeImage(await request.readPhoto(photo), { maxPixels: config.dataset.maxPixels });
    const embed: PlanningContext["embed"] = async (crops) => {
      opened ??= await openConfiguredBackbone(config, store, log);
      return cachedCropEmbedder({ backbone: opened.backbone, cache: new FeatureCache(store.features), batchSize: config.model.batchSize, decode })(crops);
    };
    const { faces } = await planner.plan(request.manifest.images, { read: request.readPhoto, decode, embed });
    return faces;
  } finally {
    await (opened as BuiltBackbone | null)?.backbone.dispose();
    await detector?.dispose();
  }
}
