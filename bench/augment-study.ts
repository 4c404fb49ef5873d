/**
 * Augmentation by measurement (issue 17): how many augmented copies per training photo does the
 * default path need?
 *
 *   npx tsx bench/augment-study.ts [--people N] [--store DIR] [--seeds 42,1042,2042]
 *
 * On lfw-min10 (or its first N people in name order, copied to a scratch folder, for a quick try)
 * with every default (backbone auto, which is face-embedding-mirrored where VGG16's weights are
 * absent; face crops; 5 epochs of Adam at 0.001; balanced class weights), it trains a head with
 * faceops' own training code (trainModel: the same split, the same augmentation seed) for each
 * setting: K = 0, 1, 2 and 4 augmentation variants, and flip-only (K = 1 with every augmentation
 * range 0 but the horizontal flip). For each it reports test and balanced accuracy, the open-set
 * figures the bundle records (openSet.calibration and openSet.test: strangers and known people
 * rejected at the calibrated threshold), the embeddings a cold training with the setting computes,
 * the embeddings and seconds this run spent on its new copies, and the head's seconds; the
 * nearest-class-mean baseline once (K = 0). Then the rule of augment-rule.ts picks the default: the
 * cheapest setting within 0.2 points of the best mean balanced accuracy.
 *
 * One store serves every setting, so faces are detected and every photo embedded once, and variant
 * v of K = 4 is variant v of K = 2 (the cache key is photo, crop, variant and augmentation
 * settings): each setting embeds only its new copies, and K = 4 after K = 2 costs two more per
 * training photo. Flip-only has other augmentation settings, so its copies are its own.
 *
 * Each setting's head is trained once per seed in --seeds (default: the configured 42 and two
 * more). Only the head's seed changes (initialisation, dropout, shuffling); the augmented copies
 * keep the configured seed, so the extra seeds cost no embedding, and the spread over seeds shows
 * whether a difference of 0.2 points is more than noise. The test split itself does not change.
 *
 * The default backbone describes a crop and its mirror image and averages the two, so a flipped
 * copy has, up to rounding, its photo's own descriptor; flip-only is measured anyway, and the study
 * reports how far the flipped copies' descriptors are from their photos'. The flip is drawn with
 * probability 0.5 per copy, so about half of flip-only's copies are the photo itself.
 *
 * The open-set figures are computed from unaugmented vectors only (references and calibration
 * probes are variant 0), so they are the same for every setting and seed by construction; the
 * table shows them per setting to prove it.
 *
 * Prints progress to stderr at least every 10 s and the table to stdout; writes
 * bench/results/augment-study.json (augment-study-<N>-people.json with --people).
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.js";
import type { FaceopsConfig } from "../src/config/schema.js";
import { withDataset } from "../src/dataset/check.js";
import type { DatasetManifest, ManifestImage } from "../src/dataset/manifest.js";
import { silentLogger } from "../src/log.js";
import { FeatureCache } from "../src/model/feature-cache.js";
import { extractFeatures, photoSeed, type CropPlanner, type ExtractedFeatures } from "../src/model/features.js";
import type { OpenSetReference } from "../src/model/open-set.js";
import { unitLength } from "../src/model/open-set.js";
import { augmentOptions, configuredTraining, trainModel } from "../src/model/train.js";
import { openTrainingRuntime, type TrainingRuntime } from "../src/model/training-runtime.js";
import { StoreLayout } from "../src/store/layout.js";
import { sampleAugmentation } from "../src/vision/augment.js";
import { lfwPeople, lfwRoot } from "../test/helpers/lfw.js";
import { chooseAugmentation, spread, type Spread } from "./augment-rule.js";

const { values: args } = parseArgs({
  options: {
    people: { type: "string" },
    store: { type: "string", default: ".faceops/augment-study" },
    seeds: { type: "string", default: "42,1042,2042" },
  },
});
const peopleLimit = args.people === undefined ? null : Number(args.people);
if (peopleLimit !== null && !(Number.isInteger(peopleLimit) && peopleLimit >= 2)) throw new RangeError(`--people must be a whole number of people, at least 2, received ${args.people}`);
const seeds = args.seeds.split(",").map((entry) => (entry.trim() === "" ? Number.NaN : Number(entry)));
if (seeds.some((seed) => !Number.isSafeInteger(seed) || seed < 0)) throw new RangeError(`--seeds must be non-negative integers separated by commas, received "${args.seeds}"`);

/** A setting: its variants and the augmentation keys it changes from the defaults. */
interface Setting {
  id: string;
  augmentVariants: number;
  augment: Record<string, string>;
}

const settings: Setting[] = [
  { id: "K=0", augmentVariants: 0, augment: {} },
  { id: "K=1", augmentVariants: 1, augment: {} },
  { id: "K=2", augmentVariants: 2, augment: {} },
  { id: "K=4", augmentVariants: 4, augment: {} },
  {
    id: "flip-only",
    augmentVariants: 1,
    augment: { rotationRange: "0", widthShiftRange: "0", heightShiftRange: "0", zoomRange: "0", horizontalFlip: "true", brightnessMin: "1", brightnessMax: "1" },
  },
];

// Progress: a line per step, and a heartbeat when a step runs longer than 10 s without one.
const started = performance.now();
const clock = () => {
  const seconds = Math.round((performance.now() - started) / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
};
let phase = "starting";
let lastLine = performance.now();
const progress = (line: string) => {
  process.stderr.write(`[${clock()}] ${line}\n`);
  lastLine = performance.now();
};
const heartbeat = setInterval(() => {
  if (performance.now() - lastLine >= 10_000) progress(`${phase} ...`);
}, 1_000);
heartbeat.unref();
/** Reports done/total of a long step at most every 5 s, and at its end. */
const counter = (what: string) => {
  let printed = 0;
  return (done: number, total: number) => {
    phase = `${what} ${done}/${total}`;
    if (done === total || performance.now() - printed >= 5_000) {
      printed = performance.now();
      progress(phase);
    }
  };
};

/**
 * The training runtime's planner, saying what it does (it reports no progress itself): the photos it
 * decodes to detect faces (only those whose faces the store has not kept), then the crops the face
 * survey embeds to tell a photo's person among its faces.
 */
function countingPlanner(planner: CropPlanner): CropPlanner {
  return {
    plan: (photos, context) => {
      // Photos whose faces are not kept yet are read (for the face-path workers) or decoded (on this thread) once each.
      let seen = 0;
      const report = counter("detecting faces: photos read");
      const count = () => report(++seen, photos.length);
      return planner.plan(photos, {
        read: (photo) => {
          count();
          return context.read(photo);
        },
        decode: (photo) => {
          count();
          return context.decode(photo);
        },
        embed: (crops) => {
          // Said by the heartbeat only: read from the cache, it takes a moment on every training.
          phase = `face survey: ${crops.length} crops to embed or read from the cache`;
          return context.embed(crops);
        },
      });
    },
    reference: () => planner.reference(),
  };
}

async function configFor(store: StoreLayout, overrides: Record<string, string>): Promise<FaceopsConfig> {
  const { config } = await loadConfig({ overrides: Object.entries({ store: store.root, ...overrides }).map(([key, value]) => ({ key, value, origin: "augment-study" })) });
  return config;
}

/** What training reads for a setting: every photo's own vector, and K copies of each training photo. */
function extractAs(config: FaceopsConfig, runtime: TrainingRuntime, planner: CropPlanner, store: StoreLayout, manifest: DatasetManifest, readPhoto: (image: Pick<ManifestImage, "path">) => Promise<Buffer>, variants: number, what: string) {
  if (config.train.earlyStoppingPatience > 0) throw new Error(`the study measures the defaults, early stopping off; received train.earlyStoppingPatience ${config.train.earlyStoppingPatience}`);
  const training = new Set(manifest.images.filter((image) => image.split === "train").map((image) => image.sha256));
  return extractFeatures({
    photos: [...manifest.images, ...(manifest.strangers ?? [])],
    readPhoto,
    backbone: runtime.backbone,
    planner,
    variantsFor: (photo) => (training.has(photo.sha256) ? variants : 0),
    augment: augmentOptions(config.augment),
    seed: config.train.seed,
    cache: new FeatureCache(store.features),
    batchSize: config.model.batchSize,
    maxPixels: config.dataset.maxPixels,
    log: silentLogger(),
    onProgress: counter(what),
  });
}

interface HeadRun {
  seed: number;
  accuracy: number;
  balancedAccuracy: number;
  top3Accuracy: number;
  nearestClassMeanAccuracy: number;
  /** The bundle's open-set record: threshold, calibration and test-split rates. */
  openSet: Pick<OpenSetReference, "maxDistance" | "source" | "calibration" | "test">;
  headSeconds: number;
}

interface SettingResult {
  id: string;
  augmentVariants: number;
  augment: FaceopsConfig["augment"];
  /**
   * The vectors a training with this setting reads: every photo's own, and K copies of each training
   * photo. A cold training embeds them all (the face survey may embed a few bystanders' crops more,
   * whatever the setting), so this is the setting's cost.
   */
  embeddings: number;
  /** Embeddings this run computed for the setting (its copies not already cached) and their seconds. */
  computed: number;
  featureSeconds: number;
  runs: HeadRun[];
  accuracy: Spread;
  balancedAccuracy: Spread;
  headSeconds: number;
}

/** How far each flipped copy's descriptor lies from its photo's (unit vectors, the open-set distance). */
function mirrorDistances(extracted: ExtractedFeatures, manifest: DatasetManifest, config: FaceopsConfig) {
  const mirrored: number[] = [];
  const unmirrored: number[] = [];
  for (const image of manifest.images) {
    const vectors = extracted.features.get(image.sha256);
    if (image.split !== "train" || !vectors?.[1]) continue;
    const [own, copy] = [unitLength(vectors[0] as Float32Array), unitLength(vectors[1])];
    const distance = Math.sqrt(own.reduce((sum, value, index) => sum + (value - (copy[index] as number)) ** 2, 0));
    const flipped = sampleAugmentation(augmentOptions(config.augment), photoSeed(image.sha256, config.train.seed), 1).flip;
    (flipped ? mirrored : unmirrored).push(distance);
  }
  return {
    copies: mirrored.length + unmirrored.length,
    mirrored: mirrored.length,
    mirroredDistance: mirrored.length > 0 ? spread(mirrored) : null,
    unmirroredDistance: unmirrored.length > 0 ? spread(unmirrored) : null,
  };
}

const percent = (value: number | null | undefined) => (value === null || value === undefined ? "-" : `${(value * 100).toFixed(1)}%`);
const points = (value: number) => `${(value * 100).toFixed(2)}%`;
const distances = (values: Spread | null) => (values === null ? "-" : values.max === 0 ? "0 (every one bit-identical)" : `mean ${values.mean.toExponential(2)}, max ${values.max.toExponential(2)}`);

let scratch: string | null = null;
try {
  let location = lfwRoot;
  if (peopleLimit !== null) {
    scratch = mkdtempSync(join(tmpdir(), "faceops-augment-study-"));
    for (const person of lfwPeople().slice(0, peopleLimit)) cpSync(join(lfwRoot, person), join(scratch, person), { recursive: true });
    location = scratch;
  }
  const store = new StoreLayout(args.store);
  const base = await configFor(store, {});
  phase = "loading the backbone and the face detector";
  progress(phase);
  const runtime = await openTrainingRuntime({ config: base, store, log: silentLogger() });
  try {
    const planner = countingPlanner(runtime.planner);
    const study = await withDataset({ location, dataset: base.dataset, store, log: silentLogger(), env: process.env }, async (manifest, readPhoto) => {
      const trainPhotos = manifest.images.filter((image) => image.split === "train").length;
      progress(`${manifest.labels.length} people, ${manifest.images.length} photos (${trainPhotos} train, ${manifest.images.length - trainPhotos} test), backbone ${runtime.backbone.id} (${runtime.backbone.engine}), store ${store.root}`);

      // 1. What every setting shares: faces detected, every photo embedded once.
      // The face survey embeds the crops it chooses among (into the cache), so count forward passes, not misses.
      let mark = performance.now();
      const passes = runtime.backbone.forwardPasses;
      const shared = await extractAs(base, runtime, planner, store, manifest, readPhoto, 0, "embedding every photo");
      const sharedResult = { embedded: runtime.backbone.forwardPasses - passes, vectors: shared.features.size, seconds: (performance.now() - mark) / 1000, cropCounts: shared.cropCounts };
      progress(`faces and unaugmented vectors: ${sharedResult.embedded} crops embedded for ${sharedResult.vectors} photos, ${sharedResult.seconds.toFixed(1)} s`);

      const results: SettingResult[] = [];
      let mirror: ReturnType<typeof mirrorDistances> | null = null;
      for (const setting of settings) {
        // 2. The setting's copies, timed apart from the head; then one head per seed, on cached vectors only.
        const config = await configFor(store, { "train.augmentVariants": String(setting.augmentVariants), ...Object.fromEntries(Object.entries(setting.augment).map(([key, value]) => [`augment.${key}`, value])) });
        phase = `${setting.id}: augmented copies`;
        mark = performance.now();
        const extracted = await extractAs(config, runtime, planner, store, manifest, readPhoto, setting.augmentVariants, `${setting.id}: copies embedded`);
        const featureSeconds = (performance.now() - mark) / 1000;
        const embeddings = [...extracted.features.values()].reduce((sum, vectors) => sum + vectors.length, 0);
        progress(`${setting.id}: ${extracted.computed} copies embedded in ${featureSeconds.toFixed(1)} s; a cold training embeds ${embeddings}`);
        if (setting.id === "flip-only") mirror = mirrorDistances(extracted, manifest, config);

        const runs: HeadRun[] = [];
        for (const seed of seeds) {
          phase = `${setting.id}: head, seed ${seed}`;
          mark = performance.now();
          const outcome = await trainModel({ manifest, readPhoto, ...configuredTraining(config, runtime, store), planner, train: { ...config.train, seed }, augmentSeed: config.train.seed, log: silentLogger() });
          outcome.head.dispose();
          const headSeconds = (performance.now() - mark) / 1000;
          if (outcome.featureStats.computed > 0) throw new Error(`${setting.id}: training computed ${outcome.featureStats.computed} vectors the study's extraction had not, so the features timing would be wrong`);
          const { metrics, openSet } = outcome.metadata;
          if (!openSet) throw new Error(`${setting.id}: the trained model has no open-set record`);
          runs.push({
            seed,
            accuracy: metrics.accuracy,
            balancedAccuracy: metrics.balancedAccuracy,
            top3Accuracy: metrics.top3Accuracy,
            nearestClassMeanAccuracy: metrics.nearestClassMeanAccuracy,
            openSet: { maxDistance: openSet.maxDistance, source: openSet.source, calibration: openSet.calibration, test: openSet.test },
            headSeconds,
          });
          progress(`${setting.id}, seed ${seed}: balanced ${points(metrics.balancedAccuracy)}, accuracy ${points(metrics.accuracy)}, head ${headSeconds.toFixed(1)} s`);
        }
        results.push({
          id: setting.id,
          augmentVariants: setting.augmentVariants,
          augment: config.augment,
          embeddings,
          computed: extracted.computed,
          featureSeconds,
          runs,
          accuracy: spread(runs.map((run) => run.accuracy)),
          balancedAccuracy: spread(runs.map((run) => run.balancedAccuracy)),
          headSeconds: spread(runs.map((run) => run.headSeconds)).mean,
        });
      }
      const dataset = { location: peopleLimit === null ? lfwRoot : `first ${peopleLimit} people of ${lfwRoot}`, people: manifest.labels.length, photos: manifest.images.length, train: trainPhotos, test: manifest.images.length - trainPhotos, strangers: manifest.strangers?.length ?? 0 };
      return { dataset, shared: sharedResult, results, mirror };
    });
    const { results, mirror } = study;
    const choice = chooseAugmentation(results.map((result) => ({ id: result.id, embeddings: result.embeddings, headSeconds: result.headSeconds, balancedAccuracy: result.runs.map((run) => run.balancedAccuracy) })));
    const baseline = results[0]?.runs[0];
    const openSetFigures = (run: HeadRun) => JSON.stringify([run.openSet.maxDistance, run.openSet.calibration, run.openSet.test]);
    const openSetSame = results.every((result) => result.runs.every((run) => baseline !== undefined && openSetFigures(run) === openSetFigures(baseline)));

    console.log(`\n## Augmentation by measurement: ${study.dataset.people} people, ${study.dataset.photos} photos (${study.dataset.train} train, ${study.dataset.test} test), ${runtime.backbone.id}, seeds ${seeds.join(", ")} (head only; copies drawn with seed ${base.train.seed})\n`);
    console.log(`faces detected and every photo embedded once (shared by every setting): ${study.shared.embedded} crops embedded (0 when the store had them) for ${study.shared.vectors} photos, ${study.shared.seconds.toFixed(1)} s\n`);
    console.log("| setting | embeddings, cold | copies embedded here (s) | head s | test accuracy, mean | balanced accuracy, mean (min - max) | calibration: strangers / known rejected | test: strangers / known rejected |");
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const result of results) {
      const first = result.runs[0] as HeadRun;
      console.log(
        `| ${result.id} | ${result.embeddings} | ${result.computed} (${result.featureSeconds.toFixed(1)}) | ${result.headSeconds.toFixed(1)} | ${points(result.accuracy.mean)} | ${points(result.balancedAccuracy.mean)} (${points(result.balancedAccuracy.min)} - ${points(result.balancedAccuracy.max)}) | ${percent(first.openSet.calibration?.strangerRejection)} / ${percent(first.openSet.calibration?.knownRejection)} | ${percent(first.openSet.test?.strangerRejection)} / ${percent(first.openSet.test?.knownRejection)} |`,
      );
    }
    if (baseline) console.log(`\nnearest-class-mean baseline (K=0, seed ${baseline.seed}): ${points(baseline.nearestClassMeanAccuracy)}`);
    console.log(`open-set figures ${openSetSame ? "identical in every setting and seed (they use unaugmented vectors only)" : "DIFFER between settings or seeds"}`);
    if (mirror) {
      console.log(
        `flip-only: ${mirror.mirrored} of ${mirror.copies} copies mirrored; distance to the photo's own descriptor: mirrored ${distances(mirror.mirroredDistance)}, not mirrored ${distances(mirror.unmirroredDistance)} (a known photo's nearest other reference is ~0.2-0.3 away)`,
      );
    }
    console.log(`\nrule: ${choice.reason}.`);
    console.log(`default: train.augmentVariants ${results.find((result) => result.id === choice.chosen)?.augmentVariants}${choice.chosen === "flip-only" ? " with every augment range 0 but horizontalFlip" : ""} (today ${base.train.augmentVariants})`);

    const output = join(import.meta.dirname, "results", peopleLimit === null ? "augment-study.json" : `augment-study-${peopleLimit}-people.json`);
    writeFileSync(
      output,
      `${JSON.stringify(
        {
          name: "augmentation by measurement on lfw-min10",
          dataset: study.dataset,
          backbone: { id: runtime.backbone.id, fingerprint: runtime.backbone.fingerprint, engine: runtime.backbone.engine },
          train: { ...base.train, augmentVariants: undefined },
          seeds,
          augmentSeed: base.train.seed,
          shared: study.shared,
          settings: results,
          nearestClassMeanAccuracy: baseline ? { value: baseline.nearestClassMeanAccuracy, setting: "K=0", seed: baseline.seed } : null,
          openSetIdenticalAcrossSettings: openSetSame,
          flipOnlyMirror: mirror,
          choice,
          measuredAt: new Date().toISOString(),
          node: process.version,
        },
        null,
        2,
      )}\n`,
    );
    progress(`wrote ${output}`);
  } finally {
    await runtime.dispose();
  }
} finally {
  clearInterval(heartbeat);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}
