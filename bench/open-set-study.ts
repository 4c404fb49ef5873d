/**
 * How far from every known face is a stranger? Chooses the open-set rule's default.
 *
 *   npx tsx bench/open-set-study.ts [--store DIR] [--held-out N]
 *
 * On lfw-min10 with the face-embedding backbone and the default face crop: N people (default 10,
 * chosen by a hash of their name, so the choice is stable and unrelated to alphabet or size) are
 * held out of training entirely. The references are the training-split photos of the other people;
 * "known" probes are their test-split photos; "strangers" are every photo of the held-out people.
 * For each threshold on the distance to the nearest reference, it reports the share of strangers
 * rejected (answered "unknown") and of known probes wrongly rejected, and the accuracy of the
 * nearest reference's label on the known probes it accepts, for fixed distances and for the rule
 * faceops uses by default (a quantile of same-person leave-one-out distances among the references).
 *
 * Features come from the store's feature cache (the same keys as `faceops train`): point --store at
 * a store that has trained on lfw-min10 and nothing is recomputed. Writes
 * bench/results/open-set-study.json.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.js";
import { withDataset } from "../src/dataset/check.js";
import { splitDraw } from "../src/dataset/split.js";
import { silentLogger } from "../src/log.js";
import { FeatureCache } from "../src/model/feature-cache.js";
import { extractFeatures } from "../src/model/features.js";
import { openTrainingRuntime } from "../src/model/training-runtime.js";
import { quantile, ReferenceSet } from "../src/model/open-set.js";
import { calibrateOnStrangers, defaultStrangerCalibration } from "../src/model/stranger-calibration.js";
import { augmentOptions } from "../src/model/train.js";
import { StoreLayout } from "../src/store/layout.js";
import { lfwRoot } from "../test/helpers/lfw.js";

const { values: args } = parseArgs({ options: { store: { type: "string", default: ".faceops-open-set-study" }, "held-out": { type: "string", default: "10" } } });
const heldOutCount = Number(args["held-out"]);
const store = new StoreLayout(args.store);
const { config } = await loadConfig({
  overrides: Object.entries({ store: store.root, "model.backbone": "face-embedding" }).map(([key, value]) => ({ key, value, origin: "study" })),
});
const log = silentLogger();
const runtime = await openTrainingRuntime({ config, store, log });

interface Probe {
  label: string;
  split: "train" | "test";
  vector: Float32Array;
}

const probes = await withDataset({ location: lfwRoot, dataset: config.dataset, store, log, env: process.env }, async (manifest, readPhoto) => {
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
    onProgress: (done, total) => process.stderr.write(`\rembedded ${done}/${total}`),
  });
  process.stderr.write(`\n${extracted.cached} vectors from the cache, ${extracted.computed} computed\n`);
  return manifest.images.map((image): Probe => ({ label: image.label, split: image.split, vector: (extracted.features.get(image.sha256) as Float32Array[])[0] as Float32Array }));
});
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
// The rule `faceops train` uses by default: calibrated on pseudo-strangers held out of the known people's training split.
const onStrangers = calibrateOnStrangers(probes.filter((probe) => labelIndex.has(probe.label)), references.featureLength, defaultStrangerCalibration);
const strangerCalibrated = onStrangers ? { pseudoStrangers: onStrangers.pseudoStrangers, rule: onStrangers.rule, ...rates(onStrangers.maxDistance), confident: rates(onStrangers.confidentDistance) } : null;
const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
console.log(`references ${references.size} (${known.length} people), known probes ${knownProbes.length}, strangers ${strangers.length} (${heldOut.size} people: ${[...heldOut].join(", ")})`);
console.log("| rule | distance | strangers rejected | known wrongly rejected | accepted known named right |");
console.log("| --- | --- | --- | --- | --- |");
for (const row of fixed) console.log(`| fixed | ${row.threshold.toFixed(3)} | ${percent(row.strangersRejected)} | ${percent(row.knownRejected)} | ${percent(row.acceptedKnownCorrect)} |`);
for (const row of calibrated) {
  console.log(`| same-person LOO q${row.quantile} | ${row.threshold.toFixed(3)} | ${percent(row.strangersRejected)} | ${percent(row.knownRejected)} | ${percent(row.acceptedKnownCorrect)} |`);
}
for (const [rule, row] of strangerCalibrated ? ([[`calibrated on ${strangerCalibrated.pseudoStrangers} pseudo-strangers (${strangerCalibrated.rule})`, strangerCalibrated], ["its confident distance", strangerCalibrated.confident]] as const) : []) {
  console.log(`| ${rule} | ${row.threshold.toFixed(3)} | ${percent(row.strangersRejected)} | ${percent(row.knownRejected)} | ${percent(row.acceptedKnownCorrect)} |`);
}
writeFileSync(
  join(import.meta.dirname, "results", "open-set-study.json"),
  `${JSON.stringify(
    {
      name: "open set on lfw-min10, face-embedding",
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
      strangerCalibrated,
      measuredAt: new Date().toISOString(),
      node: process.version,
    },
    null,
    2,
  )}\n`,
);
