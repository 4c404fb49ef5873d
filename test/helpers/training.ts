import { basename, join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import type { FaceopsConfig } from "../../src/config/schema.js";
import { withDataset } from "../../src/dataset/check.js";
import { silentLogger } from "../../src/log.js";
import { saveBundle, type BundleMetadata } from "../../src/model/bundle.js";
import { openTrainingRuntime } from "../../src/model/training-runtime.js";
import { configuredTraining, trainModel } from "../../src/model/train.js";
import type { StoreLayout } from "../../src/store/layout.js";
import { TestRepo } from "./git-repo.js";
import { lfwPhotos } from "./lfw.js";

/** Trains a real bundle the way `faceops train` does, for tests that need a model. */

export interface TrainedBundle {
  metadata: BundleMetadata;
  forwardPasses: number;
  train: number;
  test: number;
  config: FaceopsConfig;
}

export async function configWith(settings: Record<string, string>): Promise<FaceopsConfig> {
  const { config } = await loadConfig({ overrides: Object.entries(settings).map(([key, value]) => ({ key, value, origin: "test" })) });
  return config;
}

export async function trainBundle(repo: string, store: StoreLayout, settings: Record<string, string>, out: string): Promise<TrainedBundle> {
  const config = await configWith({ store: store.root, ...settings });
  const log = silentLogger();
  const runtime = await openTrainingRuntime({ config, store, log });
  try {
    const outcome = await withDataset({ location: repo, dataset: config.dataset, store, log, env: process.env }, async (manifest, readPhoto) => ({
      ...(await trainModel({
        manifest,
        readPhoto,
        ...configuredTraining(config, runtime, store),
        log,
      })),
      train: manifest.stats.train,
      test: manifest.stats.test,
    }));
    const metadata = await saveBundle(out, { metadata: outcome.metadata, head: outcome.head, scaling: outcome.scaling, references: outcome.references, tf: runtime.tf });
    outcome.head.dispose();
    return { metadata, forwardPasses: runtime.backbone.forwardPasses, train: outcome.train, test: outcome.test, config };
  } finally {
    await runtime.dispose();
  }
}

/** A repository with `count` photos of each person (the first ones in name order), committed. */
export function faceRepo(people: readonly string[], count: number): TestRepo {
  const repo = new TestRepo();
  for (const person of people) for (const photo of lfwPhotos(person).slice(0, count)) repo.copy(photo, `${person}/${basename(photo)}`);
  repo.commit(`${people.length} people`);
  return repo;
}

/** Settings for a fast model that still learns: random VGG16 at 64x64, centred crops. */
export const fastVgg16 = { "model.vgg16Weights": "random", "model.backbone": "vgg16", "model.crop": "center", "vision.size": "64", "train.augmentVariants": "1", "train.epochs": "30", "train.learningRate": "0.003" };

export { join };
