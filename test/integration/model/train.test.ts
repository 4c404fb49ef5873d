import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig } from "../../../src/config/load.js";
import { withDataset } from "../../../src/dataset/check.js";
import { silentLogger } from "../../../src/log.js";
import { loadBundle } from "../../../src/model/bundle.js";
import { Predictor } from "../../../src/model/predictor.js";
import { configWith, trainBundle } from "../../helpers/training.js";
import { openTrainingRuntime } from "../../../src/model/training-runtime.js";
import { configuredTraining, trainModel } from "../../../src/model/train.js";
import { StoreLayout } from "../../../src/store/layout.js";
import { TestRepo, temporaryFolder } from "../../helpers/git-repo.js";
import { lfwPeople, lfwPhotos } from "../../helpers/lfw.js";
import { readFileSync } from "node:fs";

/**
 * Whole training runs on real photos: the offline face-embedding backbone must actually recognise
 * people, and with a randomly initialised VGG16 the whole pipeline must run (plumbing only).
 */

const trainOnce = trainBundle;

describe("training with a randomly initialised VGG16 (plumbing)", () => {
  const repo = new TestRepo();
  const folder = temporaryFolder();
  const store = new StoreLayout(join(folder.path, "store"));
  const settings = { "model.vgg16Weights": "random", "model.backbone": "vgg16", "model.crop": "center", "vision.size": "64", "train.augmentVariants": "2" };
  const people = ["Hans_Blix", "Serena_Williams", "Jiang_Zemin"];
  for (const person of people) for (const photo of lfwPhotos(person).slice(0, 12)) repo.copy(photo, `${person}/${basename(photo)}`);
  repo.commit("three people");
  after(() => {
    repo.dispose();
    folder.dispose();
  });

  test("runs end to end, flags the random weights, and the bundle predicts", async () => {
    const out = join(folder.path, "bundle");
    const run = await trainOnce(repo.path, store, settings, out);
    assert.equal(run.forwardPasses, run.train * 3 + run.test, "each training photo and its 2 variants, each test photo once");
    assert.equal(run.metadata.backbone.randomWeights, true);
    assert.equal(run.metadata.backbone.weightsSource, "random:42");
    assert.equal(run.metadata.backbone.engine, "onnxruntime-cpu");
    assert.deepEqual(run.metadata.labels, [...people].sort());
    assert.equal(run.metadata.metrics.curves.length, 5);
    assert.ok(run.metadata.metrics.accuracy >= 0 && run.metadata.metrics.accuracy <= 1);
    assert.equal(run.metadata.dataset.fingerprint.length, 64);
    const predictor = await Predictor.load(out, { config: run.config, log: silentLogger() });
    try {
      const [prediction] = await predictor.predict([readFileSync(lfwPhotos("Hans_Blix")[15] as string)]);
      assert.ok(prediction && people.includes(prediction.label));
      assert.equal(prediction.topk.length, 3);
    } finally {
      await predictor.dispose();
    }
  });

  test("int8 precision: its own features (none from the fp32 cache), recorded in the bundle, rebuilt by the predictor", async () => {
    const out = join(folder.path, "int8");
    const run = await trainOnce(repo.path, store, { ...settings, "model.precision": "int8" }, out);
    assert.equal(run.forwardPasses, run.train * 3 + run.test, "fp32 features are never reused for int8");
    assert.equal(run.metadata.backbone.precision, "int8");
    assert.equal(run.metadata.backbone.engine, "onnxruntime-cpu-int8");
    assert.match(run.metadata.backbone.fingerprint, /-int8-/);
    // Loaded with the default configuration (fp32): the bundle's precision wins.
    const { config } = await loadConfig({ overrides: [{ key: "store", value: store.root, origin: "test" }] });
    const predictor = await Predictor.load(out, { config, log: silentLogger() });
    try {
      const [prediction] = await predictor.predict([readFileSync(lfwPhotos("Serena_Williams")[15] as string)]);
      assert.ok(prediction && prediction.topk.length === 3);
    } finally {
      await predictor.dispose();
    }
  });

  test("a retry with other epochs and learning rate performs zero forward passes", async () => {
    const run = await trainOnce(repo.path, store, { ...settings, "train.epochs": "9", "train.learningRate": "0.01" }, join(folder.path, "retry"));
    assert.equal(run.forwardPasses, 0);
    assert.equal(run.metadata.metrics.curves.length, 9);
    assert.equal((await loadBundle(join(folder.path, "retry"))).metadata.hyperparameters.learningRate, 0.01);
  });

  test("adding 10 photos performs exactly 1 + K forward passes per new training photo and 1 per new test photo", async () => {
    const before = await withDataset({ location: repo.path, dataset: (await loadConfig()).config.dataset, store, log: silentLogger(), env: process.env }, (manifest) => Promise.resolve(manifest));
    for (const person of people) for (const photo of lfwPhotos(person).slice(12, person === "Hans_Blix" ? 16 : 15)) repo.copy(photo, `${person}/${basename(photo)}`);
    repo.commit("ten more photos");
    const run = await trainOnce(repo.path, store, settings, join(folder.path, "pushed"));
    const added = run.train + run.test - before.images.length;
    assert.equal(added, 10);
    const addedTest = run.test - before.stats.test;
    assert.equal(run.forwardPasses, (added - addedTest) * 3 + addedTest);
  });

  test("augmentSeed: a head under another seed reads the copies already cached; without it the copies are drawn again", async () => {
    const config = await configWith({ store: store.root, ...settings });
    const log = silentLogger();
    const runtime = await openTrainingRuntime({ config, store, log });
    try {
      await withDataset({ location: repo.path, dataset: config.dataset, store, log, env: process.env }, async (manifest, readPhoto) => {
        const train = (seed: number, augmentSeed?: number) => trainModel({ manifest, readPhoto, ...configuredTraining(config, runtime, store), train: { ...config.train, seed }, augmentSeed, log });
        (await train(config.train.seed)).head.dispose();
        const pinned = await train(7, config.train.seed);
        pinned.head.dispose();
        assert.deepEqual(pinned.featureStats, { cached: manifest.images.length + manifest.stats.train * 2, computed: 0 });
        const reseeded = await train(7);
        reseeded.head.dispose();
        assert.equal(reseeded.featureStats.computed, manifest.stats.train * 2, "two new copies of every training photo under seed 7");
      });
    } finally {
      await runtime.dispose();
    }
  });
});

describe("training with the offline face-embedding backbone", () => {
  const repo = new TestRepo();
  const folder = temporaryFolder();
  const people = lfwPeople(20).slice(0, 10);
  for (const person of people) for (const photo of lfwPhotos(person).slice(0, 20)) repo.copy(photo, `${person}/${basename(photo)}`);
  repo.commit("ten people, twenty photos each");
  after(() => {
    repo.dispose();
    folder.dispose();
  });

  test("recognises 10 LFW people with test accuracy >= 0.95 on the default settings", async () => {
    const store = new StoreLayout(join(folder.path, "store"));
    const run = await trainOnce(repo.path, store, { "model.backbone": "face-embedding" }, join(folder.path, "bundle"));
    const { metrics, crop } = run.metadata;
    console.log(`face-embedding on 10 people: test accuracy ${metrics.accuracy.toFixed(3)}, balanced ${metrics.balancedAccuracy.toFixed(3)}, nearest class mean ${metrics.nearestClassMeanAccuracy.toFixed(3)}, crops ${JSON.stringify(crop.counts)}`);
    assert.equal(run.metadata.backbone.id, "face-embedding");
    assert.equal(run.metadata.backbone.randomWeights, false);
    assert.equal(crop.mode, "face");
    assert.ok(metrics.accuracy >= 0.95, `test accuracy ${metrics.accuracy}`);
  });
});
