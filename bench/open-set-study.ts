/**
 * How far from every known face is a stranger? Chooses the open-set rule's default.
 *
 *   npx tsx bench/open-set-study.ts [--store DIR] [--held-out N] [--backbone ID] [--closed-set]
 *
 * On lfw-min10 with the face-embedding backbone (or --backbone faceres, ...) and the default face
 * crop: N people (default 10,
 * chosen by a hash of their name, so the choice is stable and unrelated to alphabet or size) are
 * held out of training entirely. The references are the training-split photos of the other people;
 * "known" probes are their test-split photos; "strangers" are every photo of the held-out people.
 * For each threshold on the distance to the nearest reference, it reports the share of strangers
 * rejected (answered "unknown") and of known probes wrongly rejected, and the accuracy of the
 * nearest reference's label on the known probes it accepts, for fixed distances and for the rule
 * faceops uses by default (a quantile of same-person leave-one-out distances among the references).
 *
 * Features come from the store's feature cache (the same keys as `faceops train`): point --store at
 * a store that has trained on lfw-min10 and nothing is recomputed. Faces are detected once per store
 * whatever the backbone (boxes are cached by the detector's fingerprint, features by the
 * backbone's), so one store serves every backbone. Writes bench/results/open-set-study.json for
 * face-embedding, bench/results/open-set-study-<backbone>.json for the others.
 *
 * With --closed-set it also trains a head on all of lfw-min10 as `faceops train` does (the same
 * split, trainModel), but without augmentation variants (train.augmentVariants 0), so that every
 * backbone is compared on the same 4,324 cached vectors in minutes rather than an hour; it reports
 * the head's test and balanced accuracy and the nearest-class-mean baseline the bundle records.
 * And it times the backbone alone: ms per face over a few batches of crops (after one warm-up batch).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.js";
import type { BackboneId } from "../src/model/backbones/types.js";
import { createRgbImage } from "../src/vision/image.js";
import { withDataset } from "../src/dataset/check.js";
import { splitDraw } from "../src/dataset/split.js";
import { silentLogger } from "../src/log.js";
import { FeatureCache } from "../src/model/feature-cache.js";
import { extractFeatures } from "../src/model/features.js";
import { openTrainingRuntime } from "../src/model/training-runtime.js";
import { quantile, ReferenceSet } from "../src/model/open-set.js";
import { augmentOptions, configuredTraining, trainModel } from "../src/model/train.js";
import { StoreLayout } from "../src/store/layout.js";
import { lfwRoot } from "../test/helpers/lfw.js";

const { values: args } = parseArgs({
  options: {
    store: { type: "string", default: ".faceops-open-set-study" },
    "held-out": { type: "string", default: "10" },
    backbone: { type: "string", default: "face-embedding" },
    "closed-set": { type: "boolean", default: false },
  },
});
const heldOutCount = Number(args["held-out"]);
const backboneId = args.backbone as BackboneId;
const store = new StoreLayout(args.store);
const { config } = await loadConfig({
  overrides: Object.entries({ store: store.root, "model.backbone": backboneId, "train.augmentVariants": "0" }).map(([key, value]) => ({ key, value, origin: "study" })),
});
const log = silentLogger();
const runtime = await openTrainingRuntime({ config, store, log });
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 60_000).toFixed(1)} min`;
process.stderr.write(`${backboneId}: ${runtime.backbone.fingerprint}\n`);

interface ClosedSet {
  people: number;
  train: number;
  test: number;
  augmentVariants: 0;
  accuracy: number;
  balancedAccuracy: number;
  top3Accuracy: number;
  nearestClassMeanAccuracy: number;
}

/** ms per face of the backbone alone: `batches` batches of noise crops after one warm-up batch. */
async function msPerFace(batches: number): Promise<{ msPerFace: number; faces: number; batchSize: number }> {
  const { inputSize } = runtime.backbone;
  const batchSize = config.model.batchSize;
  let seed = 7;
  const noise = () => {
    const data = new Uint8Array(inputSize * inputSize * 3);
    for (let index = 0; index < data.length; index += 1) data[index] = (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % 256;
    return createRgbImage(inputSize, inputSize, data);
  };
  const batch = Array.from({ length: batchSize }, noise);
  await runtime.backbone.embed(batch);
  const start = performance.now();
  for (let round = 0; round < batches; round += 1) await runtime.backbone.embed(batch);
  return { msPerFace: (performance.now() - start) / (batches * batchSize), faces: batches * batchSize, batchSize };
}

interface Probe {
  label: string;
  split: "train" | "test";
  vector: Float32Array;
}

const { probes, closedSet } = await withDataset({ location: lfwRoot, dataset: config.dataset, store, log, env: process.env }, async (manifest, readPhoto) => {
  const extracted = await extractFeatures({
    photos: manifest.images,
    readPhoto,
    backbone: runtime.backbone,
    planner: runtime.planner,
    variantsFor: () => 0,
    augment: augmentOptions(config.augment),
    seed: config.train.seed,
    cache: new FeatureCache(store.features),
    batchSize: config.model.batchSize,
    maxPixels: config.dataset.maxPixels,
    log,
    onProgress: (done, total) => process.stderr.write(`\rembedded ${done}/${total} (${elapsed()})`),
  });
  process.stderr.write(`\n${extracted.cached} vectors from the cache, ${extracted.computed} computed (${elapsed()})\n`);
  let closedSet: ClosedSet | null = null;
  if (args["closed-set"]) {
    // Every vector is in the cache now, so this trains the head only.
    const outcome = await trainModel({ manifest, readPhoto, ...configuredTraining(config, runtime, store), log });
    outcome.head.dispose();
    const { metrics, dataset } = outcome.metadata;
    closedSet = {
      people: manifest.labels.length,
      train: dataset.train,
      test: dataset.test,
      augmentVariants: 0,
      accuracy: metrics.accuracy,
      balancedAccuracy: metrics.balancedAccuracy,
      top3Accuracy: metrics.top3Accuracy,
      nearestClassMeanAccuracy: metrics.nearestClassMeanAccuracy,
    };
    process.stderr.write(`closed set: balanced ${(metrics.balancedAccuracy * 100).toFixed(2)}%, nearest class mean ${(metrics.nearestClassMeanAccuracy * 100).toFixed(2)}% (${elapsed()})\n`);
  }
  const probes = manifest.images.map((image): Probe => ({ label: image.label, split: image.split, vector: (extracted.features.get(image.sha256) as Float32Array[])[0] as Float32Array }));
  return { probes, closedSet };
});
const speed = await msPerFace(8);
const backboneDescription = {
  id: runtime.backbone.id,
  fingerprint: runtime.backbone.fingerprint,
  weightsSha256: runtime.backbone.weightsSha256,
  engine: runtime.backbone.engine,
  inputSize: runtime.backbone.inputSize,
  featureLength: runtime.backbone.featureLength,
  weightsSource: runtime.backboneReference.weightsSource,
  licence: runtime.backboneReference.licence ?? null,
};
await runtime.dispose();

const people = [...new Set(probes.map((probe) => probe.label))];
const heldOut = new Set([...people].sort((a, b) => splitDraw(`open-set:${a}`) - splitDraw(`open-set:${b}`)).slice(0, heldOutCount));
const known = people.filter((person) => !heldOut.has(person));
const labelIndex = new Map(known.map((person, index) => [person, index]));
const referenceProbes = probes.filter((probe) => labelIndex.has(probe.label) && probe.split === "train");
const references = ReferenceSet.fromVectors(
  referenceProbes.map((probe) => probe.vector),
  referenceProbes.map((probe) => labelIndex.get(probe.label) as number),
  runtime.backbone.featureLength,
);
const knownProbes = probes.filter((probe) => labelIndex.has(probe.label) && probe.split === "test");
const strangers = probes.filter((probe) => heldOut.has(probe.label));
const nearestKnown = knownProbes.map((probe) => ({ ...references.nearest(probe.vector), truth: labelIndex.get(probe.label) as number }));
const nearestStranger = strangers.map((probe) => references.nearest(probe.vector).distance);
const sameLabel = references.sameLabelDistances();

function rates(threshold: number) {
  const accepted = nearestKnown.filter((entry) => entry.distance <= threshold);
  return {
    threshold,
    strangersRejected: nearestStranger.filter((distance) => distance > threshold).length / nearestStranger.length,
    knownRejected: 1 - accepted.length / nearestKnown.length,
    acceptedKnownCorrect: accepted.length > 0 ? accepted.filter((entry) => entry.label === entry.truth).length / accepted.length : 0,
  };
}

const fixed = [0.25, 0.275, 0.3, 0.325, 0.35, 0.4, 0.45, 0.5, 0.6].map(rates);
const calibrated = [0.9, 0.95, 0.97, 0.98, 0.99].map((q) => ({ quantile: q, ...rates(quantile(sameLabel, q)) }));
const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
console.log(`${backboneId}: ${speed.msPerFace.toFixed(1)} ms/face (${speed.faces} faces in batches of ${speed.batchSize}, ${runtime.backbone.engine})`);
if (closedSet) {
  console.log(`closed set (${closedSet.people} people, ${closedSet.test} test photos, no augmentation): accuracy ${percent(closedSet.accuracy)}, balanced ${percent(closedSet.balancedAccuracy)}, nearest class mean ${percent(closedSet.nearestClassMeanAccuracy)}`);
}
console.log(`references ${references.size} (${known.length} people), known probes ${knownProbes.length}, strangers ${strangers.length} (${heldOut.size} people: ${[...heldOut].join(", ")})`);
console.log("| rule | distance | strangers rejected | known wrongly rejected | accepted known named right |");
console.log("| --- | --- | --- | --- | --- |");
for (const row of fixed) console.log(`| fixed | ${row.threshold.toFixed(3)} | ${percent(row.strangersRejected)} | ${percent(row.knownRejected)} | ${percent(row.acceptedKnownCorrect)} |`);
for (const row of calibrated) {
  console.log(`| same-person LOO q${row.quantile} | ${row.threshold.toFixed(3)} | ${percent(row.strangersRejected)} | ${percent(row.knownRejected)} | ${percent(row.acceptedKnownCorrect)} |`);
}
writeFileSync(
  join(import.meta.dirname, "results", backboneId === "face-embedding" ? "open-set-study.json" : `open-set-study-${backboneId}.json`),
  `${JSON.stringify(
    {
      name: `open set on lfw-min10, ${backboneId}`,
      backbone: backboneDescription,
      msPerFace: speed,
      closedSet,
      heldOut: [...heldOut],
      references: references.size,
      knownProbes: knownProbes.length,
      strangers: strangers.length,
      distances: {
        knownMedian: quantile(nearestKnown.map((entry) => entry.distance), 0.5),
        strangerMedian: quantile(nearestStranger, 0.5),
      },
      fixed,
      calibrated,
      measuredAt: new Date().toISOString(),
      node: process.version,
    },
    null,
    2,
  )}\n`,
);
