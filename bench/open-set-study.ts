/**
 * How far from every known face is a stranger? Chooses the open-set rule's default, and compares
 * face backbones on it.
 *
 *   npx tsx bench/open-set-study.ts [--store DIR] [--held-out N] [--backbone ID[+ID...]] [--closed-set]
 *
 * On lfw-min10 with the face-embedding backbone (or --backbone faceres, ...) and the default face
 * crop: N people (default 10, chosen by a hash of their name, so the choice is stable and unrelated
 * to alphabet or size) are held out of training entirely. The references are the training-split
 * photos of the other people; "known" probes are their test-split photos; "strangers" are every
 * photo of the held-out people. For each threshold on the distance to the nearest known person
 * (under both open-set rules of open-set.ts: the nearest class mean, the default, and the nearest
 * training photo, the rule before), it reports the share of strangers rejected (answered
 * "unknown") and of known probes wrongly
 * rejected, and the accuracy of the nearest reference's label on the known probes it accepts, for
 * fixed distances, for the rule faceops uses by default (a quantile of same-person leave-one-out
 * distances among the references), and for the best fixed distances of a fine sweep (which see the
 * test split, so they are a ceiling for a fixed threshold, not a rule).
 *
 * Features come from the store's feature cache (the same keys as `faceops train`): point --store at
 * a store that has trained on lfw-min10 and nothing is recomputed. Faces are detected once per store
 * whatever the backbone (boxes are cached by the detector's fingerprint, features by the
 * backbone's), so one store serves every backbone. Writes bench/results/open-set-study.json for
 * face-embedding, bench/results/open-set-study-<backbone>.json for the others.
 *
 * Several backbones joined by "+" (e.g. face-embedding+faceres) are studied as one descriptor: each
 * backbone's unit vector, concatenated and scaled back to unit length, read from each one's cache
 * (run each alone first). An exploration of whether such a composite would be worth building.
 *
 * With --closed-set (one backbone) it also trains a head on all of lfw-min10 as `faceops train` does
 * (the same split, trainModel), but without augmentation variants (train.augmentVariants 0), so
 * that every backbone is compared on the same 4,324 cached vectors in minutes rather than an hour;
 * it reports the head's test and balanced accuracy and the nearest-class-mean baseline the bundle
 * records. Every run also times each backbone alone: ms per face over a few batches of crops, after
 * one warm-up batch.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.js";
import { withDataset } from "../src/dataset/check.js";
import { splitDraw } from "../src/dataset/split.js";
import { silentLogger } from "../src/log.js";
import type { Backbone, BackboneId } from "../src/model/backbones/types.js";
import { FeatureCache } from "../src/model/feature-cache.js";
import { extractFeatures } from "../src/model/features.js";
import { defaultOpenSetRule, knownFaces, quantile, ReferenceSet, type OpenSetRule } from "../src/model/open-set.js";
import { calibrateOnStrangers, defaultStrangerCalibration } from "../src/model/stranger-calibration.js";
import { augmentOptions, configuredTraining, trainModel } from "../src/model/train.js";
import { openTrainingRuntime } from "../src/model/training-runtime.js";
import { StoreLayout } from "../src/store/layout.js";
import { createRgbImage } from "../src/vision/image.js";
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
const studied = args.backbone;
const backboneIds = studied.split("+") as BackboneId[];
if (args["closed-set"] && backboneIds.length > 1) throw new Error(`--closed-set trains a head on one backbone, received ${studied}`);
const store = new StoreLayout(args.store);
const log = silentLogger();
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 60_000).toFixed(1)} min`;
const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

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

interface Probe {
  label: string;
  split: "train" | "test";
  vector: Float32Array;
}

interface Speed {
  msPerFace: number;
  faces: number;
  batchSize: number;
}

/** ms per face of the backbone alone: `batches` batches of noise crops after one warm-up batch. */
async function msPerFace(backbone: Backbone, batchSize: number, batches: number): Promise<Speed> {
  const { inputSize } = backbone;
  let seed = 7;
  const noise = () => {
    const data = new Uint8Array(inputSize * inputSize * 3);
    for (let index = 0; index < data.length; index += 1) data[index] = (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % 256;
    return createRgbImage(inputSize, inputSize, data);
  };
  const batch = Array.from({ length: batchSize }, noise);
  await backbone.embed(batch);
  const start = performance.now();
  for (let round = 0; round < batches; round += 1) await backbone.embed(batch);
  return { msPerFace: (performance.now() - start) / (batches * batchSize), faces: batches * batchSize, batchSize };
}

/** Every photo's unaugmented vector under one backbone, and with --closed-set the head's figures. */
async function study(backboneId: BackboneId) {
  const { config } = await loadConfig({
    overrides: Object.entries({ store: store.root, "model.backbone": backboneId, "train.augmentVariants": "0" }).map(([key, value]) => ({ key, value, origin: "study" })),
  });
  const runtime = await openTrainingRuntime({ config, store, log });
  try {
    process.stderr.write(`${backboneId}: ${runtime.backbone.fingerprint}\n`);
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
        process.stderr.write(`closed set: balanced ${percent(metrics.balancedAccuracy)}, nearest class mean ${percent(metrics.nearestClassMeanAccuracy)} (${elapsed()})\n`);
      }
      const probes = manifest.images.map((image): Probe => ({ label: image.label, split: image.split, vector: (extracted.features.get(image.sha256) as Float32Array[])[0] as Float32Array }));
      return { probes, closedSet };
    });
    const speed = await msPerFace(runtime.backbone, config.model.batchSize, 8);
    const description = {
      id: runtime.backbone.id,
      fingerprint: runtime.backbone.fingerprint,
      weightsSha256: runtime.backbone.weightsSha256,
      engine: runtime.backbone.engine,
      inputSize: runtime.backbone.inputSize,
      featureLength: runtime.backbone.featureLength,
      weightsSource: runtime.backboneReference.weightsSource,
      licence: runtime.backboneReference.licence ?? null,
    };
    return { probes, closedSet, speed, description };
  } finally {
    await runtime.dispose();
  }
}

const parts: Array<Awaited<ReturnType<typeof study>>> = [];
for (const id of backboneIds) parts.push(await study(id));
const [first] = parts as [Awaited<ReturnType<typeof study>>, ...Array<Awaited<ReturnType<typeof study>>>];
/* One backbone's vectors as they are; several concatenated (each is unit length) and scaled by
 * 1/sqrt(k) so that the whole is unit length again and every backbone weighs the same. */
const probes: Probe[] = first.probes.map((probe, index) => {
  if (parts.length === 1) return probe;
  const joined = new Float32Array(parts.reduce((length, part) => length + part.description.featureLength, 0));
  let offset = 0;
  for (const part of parts) {
    const vector = (part.probes[index] as Probe).vector;
    joined.set(vector.map((value) => value / Math.sqrt(parts.length)), offset);
    offset += vector.length;
  }
  return { ...probe, vector: joined };
});
const featureLength = (probes[0] as Probe).vector.length;
const closedSet = parts.length === 1 ? first.closedSet : null;
const speed = { msPerFace: parts.reduce((sum, part) => sum + part.speed.msPerFace, 0), perBackbone: parts.map((part) => ({ id: part.description.id, ...part.speed })) };

const people = [...new Set(probes.map((probe) => probe.label))];
const heldOut = new Set([...people].sort((a, b) => splitDraw(`open-set:${a}`) - splitDraw(`open-set:${b}`)).slice(0, heldOutCount));
const known = people.filter((person) => !heldOut.has(person));
const labelIndex = new Map(known.map((person, index) => [person, index]));
const referenceProbes = probes.filter((probe) => labelIndex.has(probe.label) && probe.split === "train");
const references = ReferenceSet.fromVectors(
  referenceProbes.map((probe) => probe.vector),
  referenceProbes.map((probe) => labelIndex.get(probe.label) as number),
  featureLength,
);
const knownProbes = probes.filter((probe) => labelIndex.has(probe.label) && probe.split === "test");
const strangers = probes.filter((probe) => heldOut.has(probe.label));
/** Every figure of the study under one open-set rule (open-set.ts OpenSetRule). */
function ruleFigures(rule: OpenSetRule) {
  const measured = knownFaces(references, rule);
  const nearestKnown = knownProbes.map((probe) => ({ ...measured.nearest(probe.vector), truth: labelIndex.get(probe.label) as number }));
  const nearestStranger = strangers.map((probe) => measured.nearest(probe.vector).distance);
  const sameLabel = measured.sameLabelDistances();
  const rates = (threshold: number) => {
    const accepted = nearestKnown.filter((entry) => entry.distance <= threshold);
    return {
      threshold,
      strangersRejected: nearestStranger.filter((distance) => distance > threshold).length / nearestStranger.length,
      knownRejected: 1 - accepted.length / nearestKnown.length,
      acceptedKnownCorrect: accepted.length > 0 ? accepted.filter((entry) => entry.label === entry.truth).length / accepted.length : 0,
    };
  };
  const fixed = [0.25, 0.275, 0.3, 0.325, 0.35, 0.4, 0.45, 0.5, 0.6].map(rates);
  const calibrated = [0.9, 0.95, 0.97, 0.98, 0.99].map((q) => ({ quantile: q, ...rates(quantile(sameLabel, q)) }));
  // The rule `faceops train` uses by default: calibrated on pseudo-strangers held out of the known people's training split.
  const onStrangers = calibrateOnStrangers(probes.filter((probe) => labelIndex.has(probe.label)), references.featureLength, defaultStrangerCalibration, rule);
  const strangerCalibrated = onStrangers ? { pseudoStrangers: onStrangers.pseudoStrangers, rule: onStrangers.rule, ...rates(onStrangers.maxDistance), confident: rates(onStrangers.confidentDistance) } : null;
  /*
   * The best a fixed distance can do on this split, for the issue's two bounds: the most strangers
   * rejected with at most 1% of the known rejected, and the fewest known rejected with at least 97%
   * of the strangers rejected. Every distance that occurs is a candidate, so nothing falls between
   * the steps of a grid.
   */
  const sweep = [...new Set([...nearestKnown.map((entry) => entry.distance), ...nearestStranger])].sort((a, b) => a - b).map(rates);
  const atKnownRejected1 = sweep.filter((row) => row.knownRejected <= 0.01).sort((a, b) => b.strangersRejected - a.strangersRejected)[0] ?? null;
  const atStrangersRejected97 = sweep.filter((row) => row.strangersRejected >= 0.97).sort((a, b) => a.knownRejected - b.knownRejected)[0] ?? null;
  const distances = { knownMedian: quantile(nearestKnown.map((entry) => entry.distance), 0.5), strangerMedian: quantile(nearestStranger, 0.5) };
  return { rule, distances, fixed, calibrated, bestFixed: { atKnownRejected1, atStrangersRejected97 }, strangerCalibrated };
}

// The default rule first: its figures are the study's headline (and the JSON's top-level fields, as before).
const byRule = [ruleFigures(defaultOpenSetRule), ruleFigures(defaultOpenSetRule === "nearest-class-mean-distance" ? "nearest-reference-distance" : "nearest-class-mean-distance")];
const [{ fixed, calibrated, bestFixed, strangerCalibrated, distances }] = byRule as [ReturnType<typeof ruleFigures>, ...Array<ReturnType<typeof ruleFigures>>];

console.log(`${studied}: ${speed.msPerFace.toFixed(1)} ms/face (${parts.map((part) => `${part.description.id} ${part.speed.msPerFace.toFixed(1)} ms in batches of ${part.speed.batchSize}, ${part.description.engine}`).join("; ")})`);
if (closedSet) {
  console.log(`closed set (${closedSet.people} people, ${closedSet.test} test photos, no augmentation): accuracy ${percent(closedSet.accuracy)}, balanced ${percent(closedSet.balancedAccuracy)}, nearest class mean ${percent(closedSet.nearestClassMeanAccuracy)}`);
}
console.log(`references ${references.size} (${known.length} people), known probes ${knownProbes.length}, strangers ${strangers.length} (${heldOut.size} people: ${[...heldOut].join(", ")})`);
console.log("| open-set rule | threshold | distance | strangers rejected | known wrongly rejected | accepted known named right |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const figures of byRule) {
  const row = (threshold: string, entry: (typeof figures.fixed)[number]) =>
    console.log(`| ${figures.rule} | ${threshold} | ${entry.threshold.toFixed(3)} | ${percent(entry.strangersRejected)} | ${percent(entry.knownRejected)} | ${percent(entry.acceptedKnownCorrect)} |`);
  for (const entry of figures.fixed) row("fixed", entry);
  for (const entry of figures.calibrated) row(`same-person LOO q${entry.quantile}`, entry);
  if (figures.bestFixed.atKnownRejected1) row("best fixed, known rejected <= 1%", figures.bestFixed.atKnownRejected1);
  if (figures.bestFixed.atStrangersRejected97) row("best fixed, strangers rejected >= 97%", figures.bestFixed.atStrangersRejected97);
  if (figures.strangerCalibrated) {
    row(`calibrated on ${figures.strangerCalibrated.pseudoStrangers} pseudo-strangers (${figures.strangerCalibrated.rule})`, figures.strangerCalibrated);
    row("its confident distance", figures.strangerCalibrated.confident);
  }
}
writeFileSync(
  join(import.meta.dirname, "results", studied === "face-embedding" ? "open-set-study.json" : `open-set-study-${studied}.json`),
  `${JSON.stringify(
    {
      name: `open set on lfw-min10, ${studied}`,
      backbones: parts.map((part) => part.description),
      featureLength,
      msPerFace: speed,
      closedSet,
      heldOut: [...heldOut],
      references: references.size,
      knownProbes: knownProbes.length,
      strangers: strangers.length,
      rule: defaultOpenSetRule,
      distances,
      fixed,
      calibrated,
      bestFixed,
      strangerCalibrated,
      byRule,
      measuredAt: new Date().toISOString(),
      node: process.version,
    },
    null,
    2,
  )}\n`,
);
