import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { after, describe, test } from "node:test";
import { withDataset } from "../../../src/dataset/check.js";
import { silentLogger } from "../../../src/log.js";
import { runningWorkerThreads } from "../../../src/model/workers/pool.js";
import { openTrainingRuntime } from "../../../src/model/training-runtime.js";
import { configuredTraining, trainModel } from "../../../src/model/train.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { besideLarger } from "../../helpers/composite.js";
import { temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPhotos } from "../../helpers/lfw.js";
import { configWith, faceRepo } from "../../helpers/training.js";

/**
 * Training on the face-path workers (engine.workers 2) against training on the calling thread
 * (engine.workers 0), on the same real LFW photos with face crops and the default face backbone:
 * the same faces found, the same feature vectors under the same cache keys, so a store filled one
 * way is a full cache for the other; and no thread is left once the run's runtime is disposed.
 */

const people = ["Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams"];
const settings = { "model.backbone": "face-embedding-mirrored", "model.crop": "face", "train.augmentVariants": "1", "train.epochs": "3" };

interface Run {
  workers: number;
  concurrency: number;
  forwardPasses: number;
  computed: number;
  photos: number;
}

/** Trains once on `store` with engine.workers as given, the way `faceops train` does. */
async function train(repo: string, store: StoreLayout, workers: string): Promise<Run> {
  const config = await configWith({ store: store.root, ...settings, "engine.workers": workers });
  const log = silentLogger();
  const runtime = await openTrainingRuntime({ config, store, log });
  try {
    return await withDataset({ location: repo, dataset: config.dataset, store, log, env: process.env }, async (manifest, readPhoto) => {
      const outcome = await trainModel({ manifest, readPhoto, ...configuredTraining(config, runtime, store), log });
      outcome.head.dispose();
      return { workers: runtime.workers, concurrency: runtime.backbone.concurrency ?? 1, forwardPasses: runtime.backbone.forwardPasses, computed: outcome.featureStats.computed, photos: manifest.images.length };
    });
  } finally {
    await runtime.dispose();
  }
}

/** Every cached feature vector of a store, by its path under the cache (photo sha and key). */
function featureFiles(store: StoreLayout): Map<string, Float32Array> {
  const vectors = new Map<string, Float32Array>();
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".f32")) {
        const bytes = readFileSync(path);
        vectors.set(relative(store.features, path), new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
      }
    }
  };
  walk(store.features);
  return vectors;
}

describe("training on the face-path workers", () => {
  const folder = temporaryFolder();
  const repo = faceRepo(people, 6);
  after(() => {
    repo.dispose();
    folder.dispose();
  });

  test("workers 0 and 2 find the same faces and compute the same features under the same keys, and either store is a full cache for the other", async () => {
    // A photo showing two people makes the planner compare faces, so its own embedding runs too.
    const composite = await besideLarger(readFileSync(lfwPhotos("Serena_Williams")[25] as string), readFileSync(lfwPhotos("Hugo_Chavez")[25] as string));
    repo.write("Hugo_Chavez/with-serena.jpg", composite.bytes).commit("Hugo with Serena, larger");
    const onThread = new StoreLayout(join(folder.path, "on-thread"));
    const inWorkers = new StoreLayout(join(folder.path, "in-workers"));

    const serial = await train(repo.path, onThread, "0");
    const pooled = await train(repo.path, inWorkers, "2");
    assert.equal(serial.workers, 0);
    assert.equal(pooled.workers, 2, "two face-path workers ran the run");
    assert.equal(pooled.concurrency, 2, "the embedding ran in the workers, two batches at a time");
    assert.equal(serial.photos, 19);
    assert.ok(serial.computed > 0 && pooled.computed === serial.computed, `${serial.computed} and ${pooled.computed} vectors computed`);
    assert.equal(runningWorkerThreads(), 0, "the workers ended with the run");

    const boxes = (store: StoreLayout) => JSON.parse(readFileSync(store.faceBoxes, "utf8")) as Record<string, unknown>;
    assert.deepEqual(boxes(inWorkers), boxes(onThread), "the same faces, boxes, landmarks and sharpness, under the same detector fingerprint");

    const serialVectors = featureFiles(onThread);
    const pooledVectors = featureFiles(inWorkers);
    assert.deepEqual([...pooledVectors.keys()].sort(), [...serialVectors.keys()].sort(), "the same cache entries");
    let largest = 0;
    for (const [key, vector] of serialVectors) {
      const other = pooledVectors.get(key) as Float32Array;
      for (let index = 0; index < vector.length; index++) largest = Math.max(largest, Math.abs((vector[index] as number) - (other[index] as number)));
    }
    assert.ok(largest <= 1e-6, `features differ by up to ${largest}`);

    // Interchangeable: each store, trained again the other way, computes nothing.
    const again = await train(repo.path, onThread, "2");
    assert.equal(again.computed, 0);
    assert.equal(again.forwardPasses, 0);
    const backAgain = await train(repo.path, inWorkers, "0");
    assert.equal(backAgain.computed, 0);
    assert.equal(runningWorkerThreads(), 0);
  });
  test("a run that fails while its workers find faces ends them: the error names the photo's trouble, and no thread is left", async () => {
    const store = new StoreLayout(join(folder.path, "failing"));
    const config = await configWith({ store: store.root, ...settings, "engine.workers": "2" });
    const log = silentLogger();
    const runtime = await openTrainingRuntime({ config, store, log });
    assert.equal(runtime.workers, 2);
    try {
      await assert.rejects(
        withDataset({ location: repo.path, dataset: config.dataset, store, log, env: process.env }, (manifest, readPhoto) =>
          trainModel({
            manifest,
            // A photo whose bytes went bad after the dataset check: its worker refuses to decode it.
            readPhoto: async (photo) => (photo.path.endsWith("_0003.jpg") ? Buffer.from("not a photo any more") : readPhoto(photo)),
            ...configuredTraining(config, runtime, store),
            log,
          }),
        ),
        (error: Error) => error.name === "ImageDecodeError",
      );
    } finally {
      await runtime.dispose();
    }
    assert.equal(runningWorkerThreads(), 0);
  });
});
