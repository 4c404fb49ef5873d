import type * as tfjs from "@tensorflow/tfjs";
import type { FaceopsConfig } from "../config/schema.js";
import type { ManifestImage } from "../dataset/manifest.js";
import type { Logger } from "../log.js";
import { loadBundle, type BundleMetadata } from "./bundle.js";
import { rankLabels } from "./evaluate.js";
import { applyScaling, predictHead } from "./head.js";
import { Predictor } from "./predictor.js";

/**
 * The model in service, measured on a candidate's test split, so the gate compares like with like.
 * Photos of people the deployed model does not know count as misses. When the deployed model uses
 * the same backbone and crop as the candidate, the candidate's vectors are reused (no forward pass);
 * otherwise each test photo goes through the deployed model whole.
 */

export interface TestSplit {
  photos: readonly ManifestImage[];
  /** The candidate's unscaled backbone vectors, in the same order. */
  vectors: readonly Float32Array[];
}

export interface DeployedEvaluation {
  accuracy: number;
  /** Per person of the split: held-out photos, and how many the deployed model named right. */
  byPerson: Map<string, { photos: number; named: number }>;
  /** features: the candidate's vectors were reused; photos: the deployed model embedded the photos. */
  via: "features" | "photos";
}

export async function evaluateDeployed(
  directory: string,
  split: TestSplit,
  candidate: Pick<BundleMetadata, "backbone" | "crop">,
  deps: { tf: typeof tfjs; config: FaceopsConfig; log: Logger; readPhoto: (image: Pick<ManifestImage, "path">) => Promise<Buffer> },
): Promise<DeployedEvaluation> {
  if (split.photos.length === 0) return { accuracy: 0, byPerson: new Map(), via: "features" };
  const bundle = await loadBundle(directory);
  const deployed = bundle.metadata;
  const sameFeatures = deployed.backbone.fingerprint === candidate.backbone.fingerprint && deployed.crop.mode === candidate.crop.mode && deployed.crop.detector === candidate.crop.detector;
  if (sameFeatures) {
    const head = await bundle.loadHead(deps.tf);
    try {
      const probabilities = predictHead(deps.tf, head, split.vectors.map((vector) => applyScaling(vector, bundle.scaling)));
      const named = probabilities.map((row) => deployed.labels[rankLabels(row)[0] as number]);
      return { accuracy: hits(named, split.photos) / split.photos.length, byPerson: byPerson(named, split.photos), via: "features" };
    } finally {
      head.dispose();
    }
  }
  deps.log.info({ deployed: directory, photos: split.photos.length }, "the deployed model uses another backbone or crop: embedding the test photos with it");
  const predictor = await Predictor.load(directory, { config: deps.config, log: deps.log });
  try {
    const named: string[] = [];
    for (const photo of split.photos) {
      const [prediction] = await predictor.predict([await deps.readPhoto(photo)], 1);
      // The closed-set answer: the gate compares classifiers, not the open-set rule.
      named.push(prediction ? (deployed.labels[rankLabels(prediction.probabilities)[0] as number] as string) : "");
    }
    return { accuracy: hits(named, split.photos) / split.photos.length, byPerson: byPerson(named, split.photos), via: "photos" };
  } finally {
    await predictor.dispose();
  }
}

function byPerson(named: readonly (string | undefined)[], photos: readonly ManifestImage[]): Map<string, { photos: number; named: number }> {
  const counts = new Map<string, { photos: number; named: number }>();
  photos.forEach((photo, index) => {
    const count = counts.get(photo.label) ?? { photos: 0, named: 0 };
    count.photos++;
    if (named[index] === photo.label) count.named++;
    counts.set(photo.label, count);
  });
  return counts;
}

function hits(named: readonly (string | undefined)[], photos: readonly ManifestImage[]): number {
  return photos.filter((photo, index) => named[index] === photo.label).length;
}
