/**
 * Which face detector, border, margin and alignment the face-embedding backbone should get.
 *
 *   npx tsx bench/face-crop-study.ts [--per-person K] [--limit N] [--no-cache]
 *
 * On lfw-min10 (158 people), takes the first K photos of each person in name order (default 15,
 * 2,169 photos; --limit N lowers K until at most N photos are used), then:
 * 1. runs every detector setting (ssd / tiny / tiny-then-ssd, border 0 or 0.25 filled with edge
 *    pixels or black) on every photo: photos with no face found, wall time per photo, and the time
 *    of the landmark pass on the faces found;
 * 2. crops every photo (whole photo; centre; for every detector setting, face-api's eyes-and-mouth
 *    square; on the best setting, other margins, eye levelling, the landmarks' bounding square and
 *    the detector's box; photos without a face fall back to the dataset's median face), computes
 *    the 128-d descriptors and reports the leave-one-out 1-nearest-neighbour and
 *    nearest-class-mean accuracies.
 * Prints markdown tables and writes bench/results/face-crop-study.json. Boxes are cached by detector
 * fingerprint and photo sha256 (with the measured time) in the OS temp folder, so a re-run only
 * repeats the embeddings; --no-cache measures everything again.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { silentLogger } from "../src/log.js";
import { createFaceEmbeddingBackbone } from "../src/model/backbones/face-embedding.js";
import type { Backbone } from "../src/model/backbones/types.js";
import { countOutcomes, cropFace, medianBox, type CropPolicy, type FaceAnchor, type OutcomeCounts } from "../src/model/face/crop.js";
import { createFaceDetector, type BorderFill, type DetectorKind, type FaceBox } from "../src/model/face/detector.js";
import { loadTf } from "../src/model/tfjs-engine.js";
import { decodeImage } from "../src/vision/decode.js";
import type { RgbImage } from "../src/vision/image.js";
import { lfwPeople, lfwPhotos } from "../test/helpers/lfw.js";

interface Photo {
  person: string;
  label: number;
  file: string;
  sha256: string;
  image: RgbImage;
}

interface DetectionSetting {
  name: string;
  detector: DetectorKind;
  borderFraction: number;
  borderFill: BorderFill;
}

interface DetectionResult {
  setting: DetectionSetting;
  boxes: Array<FaceBox | null>;
  misses: number;
  msPerPhoto: number;
}

interface CropResult {
  name: string;
  outcomes: OutcomeCounts;
  nearestNeighbour: number;
  nearestClassMean: number;
  note?: string;
}

type BoxCache = Record<string, Record<string, { box: FaceBox | null; ms: number }>>;

const faceSize = 150;
const cacheFile = join(tmpdir(), "faceops-face-crop-study", "boxes.json");

const detectionSettings: DetectionSetting[] = [
  { name: "ssd, border 0", detector: "ssd", borderFraction: 0, borderFill: "edge" },
  { name: "ssd, border 0.25 edge", detector: "ssd", borderFraction: 0.25, borderFill: "edge" },
  { name: "ssd, border 0.25 black", detector: "ssd", borderFraction: 0.25, borderFill: "black" },
  { name: "tiny, border 0", detector: "tiny", borderFraction: 0, borderFill: "edge" },
  { name: "tiny, border 0.25 edge", detector: "tiny", borderFraction: 0.25, borderFill: "edge" },
  { name: "tiny, border 0.25 black", detector: "tiny", borderFraction: 0.25, borderFill: "black" },
  { name: "tiny-then-ssd, border 0.25 edge", detector: "tiny-then-ssd", borderFraction: 0.25, borderFill: "edge" },
  { name: "tiny-then-ssd, border 0.25 black", detector: "tiny-then-ssd", borderFraction: 0.25, borderFill: "black" },
];

function options(): { perPerson: number; limit: number; useCache: boolean } {
  const { values } = parseArgs({
    options: { "per-person": { type: "string", default: "15" }, limit: { type: "string" }, "no-cache": { type: "boolean", default: false } },
  });
  const perPerson = Number(values["per-person"]);
  const limit = values.limit === undefined ? Number.POSITIVE_INFINITY : Number(values.limit);
  if (!Number.isInteger(perPerson) || perPerson < 2) throw new RangeError(`--per-person must be an integer >= 2, received ${values["per-person"]}`);
  if (!(limit > 0)) throw new RangeError(`--limit must be a positive number of photos, received ${values.limit}`);
  return { perPerson, limit, useCache: !values["no-cache"] };
}

/** The first K photos of each person, K lowered until the total fits the limit. */
function selectFiles(perPerson: number, limit: number): Array<{ person: string; file: string }> {
  const people = lfwPeople().map((person) => ({ person, files: lfwPhotos(person) }));
  let take = perPerson;
  const total = (k: number) => people.reduce((sum, entry) => sum + Math.min(k, entry.files.length), 0);
  while (take > 2 && total(take) > limit) take -= 1;
  return people.flatMap((entry) => entry.files.slice(0, take).map((file) => ({ person: entry.person, file })));
}

async function loadPhotos(files: Array<{ person: string; file: string }>): Promise<Photo[]> {
  const labels = new Map<string, number>();
  const photos: Photo[] = [];
  for (const { person, file } of files) {
    if (!labels.has(person)) labels.set(person, labels.size);
    const bytes = readFileSync(file);
    photos.push({
      person,
      label: labels.get(person) as number,
      file,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      image: await decodeImage(bytes, { maxPixels: 50_000_000 }),
    });
  }
  return photos;
}

function readCache(useCache: boolean): BoxCache {
  if (!useCache || !existsSync(cacheFile)) return {};
  return JSON.parse(readFileSync(cacheFile, "utf8")) as BoxCache;
}

function writeCache(cache: BoxCache): void {
  mkdirSync(dirname(cacheFile), { recursive: true });
  writeFileSync(cacheFile, JSON.stringify(cache));
}

async function runDetection(setting: DetectionSetting, photos: Photo[], cache: BoxCache): Promise<DetectionResult> {
  const detector = await createFaceDetector({ ...setting, log: silentLogger() });
  try {
    await warmUp(photos, (photo) => detector.detect(photo.image));
    const { boxes, msPerPhoto } = await cachedPerPhoto(cache, detector.fingerprint, photos, setting.name, (photo) => detector.detect(photo.image));
    return { setting, boxes, misses: boxes.filter((box) => box === null).length, msPerPhoto };
  } finally {
    await detector.dispose();
  }
}

/** The same boxes with their 68 landmarks; the time is that of the landmark pass alone. */
async function addLandmarks(base: DetectionResult, photos: Photo[], cache: BoxCache): Promise<DetectionResult> {
  const detector = await createFaceDetector({ ...base.setting, log: silentLogger() });
  try {
    const firstFace = base.boxes.findIndex((box) => box !== null);
    await warmUp(photos.slice(firstFace, firstFace + 1), (photo) => detector.addLandmarks(photo.image, base.boxes[firstFace] as FaceBox));
    const { boxes, msPerPhoto } = await cachedPerPhoto(cache, `${detector.fingerprint}:add-landmarks68`, photos, `${base.setting.name} landmarks`, (photo, index) => {
      const box = base.boxes[index] ?? null;
      return box ? detector.addLandmarks(photo.image, box) : Promise.resolve(null);
    });
    return { ...base, boxes, msPerPhoto };
  } finally {
    await detector.dispose();
  }
}

/** One untimed call, so that the first timed photo does not pay for loading and compiling kernels. */
async function warmUp(photos: Photo[], compute: (photo: Photo) => Promise<unknown>): Promise<void> {
  const first = photos[0];
  if (first) await compute(first);
}

async function cachedPerPhoto(
  cache: BoxCache,
  key: string,
  photos: Photo[],
  label: string,
  compute: (photo: Photo, index: number) => Promise<FaceBox | null>,
): Promise<{ boxes: Array<FaceBox | null>; msPerPhoto: number }> {
  const entries = (cache[key] ??= {});
  const boxes: Array<FaceBox | null> = [];
  let totalMs = 0;
  try {
    for (const [index, photo] of photos.entries()) {
      let entry = entries[photo.sha256];
      if (!entry) {
        const started = performance.now();
        const box = await compute(photo, index);
        entry = { box, ms: performance.now() - started };
        entries[photo.sha256] = entry;
      }
      boxes.push(entry.box);
      totalMs += entry.ms;
      if ((index + 1) % 250 === 0) progress(`${label}: ${index + 1}/${photos.length}`);
    }
  } finally {
    writeCache(cache);
  }
  return { boxes, msPerPhoto: totalMs / photos.length };
}

async function evaluateCrops(name: string, photos: Photo[], boxes: Array<FaceBox | null> | null, policy: CropPolicy, backbone: Backbone): Promise<CropResult> {
  const median = boxes ? medianBox(boxes, policy.anchor) : null;
  const crops = photos.map((photo, index) => cropFace(photo.image, boxes?.[index] ?? null, median, policy, faceSize));
  const features: Float32Array[] = [];
  const chunk = 64;
  for (let start = 0; start < crops.length; start += chunk) {
    features.push(...(await backbone.embed(crops.slice(start, start + chunk).map((crop) => crop.image))));
  }
  const labels = photos.map((photo) => photo.label);
  const result: CropResult = {
    name,
    outcomes: countOutcomes(crops.map((crop) => crop.outcome)),
    nearestNeighbour: leaveOneOutNearestNeighbour(features, labels),
    nearestClassMean: leaveOneOutNearestClassMean(features, labels),
  };
  progress(`${name}: 1-NN ${percent(result.nearestNeighbour)}, NCM ${percent(result.nearestClassMean)}`);
  return result;
}

function squaredDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const difference = (a[i] as number) - (b[i] as number);
    sum += difference * difference;
  }
  return sum;
}

/** Fraction of photos whose nearest other photo shows the same person. */
function leaveOneOutNearestNeighbour(features: Float32Array[], labels: number[]): number {
  let correct = 0;
  for (let i = 0; i < features.length; i++) {
    let best = Number.POSITIVE_INFINITY;
    let bestLabel = -1;
    for (let j = 0; j < features.length; j++) {
      if (j === i) continue;
      const distance = squaredDistance(features[i] as Float32Array, features[j] as Float32Array);
      if (distance < best) {
        best = distance;
        bestLabel = labels[j] as number;
      }
    }
    if (bestLabel === labels[i]) correct += 1;
  }
  return correct / features.length;
}

/** Fraction of photos nearest to their own person's mean, that mean computed without the photo. */
function leaveOneOutNearestClassMean(features: Float32Array[], labels: number[]): number {
  const length = features[0]?.length ?? 0;
  const classes = Math.max(...labels) + 1;
  const sums = Array.from({ length: classes }, () => new Float64Array(length));
  const counts = new Array<number>(classes).fill(0);
  features.forEach((feature, index) => {
    const label = labels[index] as number;
    const sum = sums[label] as Float64Array;
    for (let k = 0; k < length; k++) sum[k] = (sum[k] as number) + (feature[k] as number);
    counts[label] = (counts[label] as number) + 1;
  });
  const mean = new Float32Array(length);
  let correct = 0;
  features.forEach((feature, index) => {
    const own = labels[index] as number;
    let best = Number.POSITIVE_INFINITY;
    let bestLabel = -1;
    for (let label = 0; label < classes; label++) {
      const sum = sums[label] as Float64Array;
      const count = (counts[label] as number) - (label === own ? 1 : 0);
      if (count === 0) continue;
      for (let k = 0; k < length; k++) mean[k] = ((sum[k] as number) - (label === own ? (feature[k] as number) : 0)) / count;
      const distance = squaredDistance(feature, mean);
      if (distance < best) {
        best = distance;
        bestLabel = label;
      }
    }
    if (bestLabel === own) correct += 1;
  });
  return correct / features.length;
}

function percent(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}

function progress(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function detectionTable(results: DetectionResult[], landmarkMs: Map<string, number>, photos: number): string {
  const lines = ["| detector setting | no face found | ms/photo | + landmarks ms/photo |", "| --- | ---: | ---: | ---: |"];
  for (const result of results) {
    const landmarks = landmarkMs.get(result.setting.name);
    lines.push(
      `| ${result.setting.name} | ${result.misses} of ${photos} (${percent(result.misses / photos)}) | ${result.msPerPhoto.toFixed(1)} | ${landmarks === undefined ? "" : landmarks.toFixed(1)} |`,
    );
  }
  return lines.join("\n");
}

function cropTable(results: CropResult[]): string {
  const lines = ["| crop | detected / median / center / none | 1-NN | nearest class mean |", "| --- | --- | ---: | ---: |"];
  for (const result of results) {
    const { detected, median, center, none } = result.outcomes;
    const note = result.note ? ` (${result.note})` : "";
    lines.push(`| ${result.name}${note} | ${detected} / ${median} / ${center} / ${none} | ${percent(result.nearestNeighbour)} | ${percent(result.nearestClassMean)} |`);
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { perPerson, limit, useCache } = options();
  const runtime = await loadTf();
  const files = selectFiles(perPerson, limit);
  const photos = await loadPhotos(files);
  const people = new Set(photos.map((photo) => photo.person)).size;
  progress(`${photos.length} photos of ${people} people, engine ${runtime.engine}, ${cpus().length} cores`);
  const cache = readCache(useCache);

  // 1. Detection: every setting on every photo; then the landmarks of each face found, timed apart.
  const detections: DetectionResult[] = [];
  const landmarkMs = new Map<string, number>();
  for (const setting of detectionSettings) {
    const found = await runDetection(setting, photos, cache);
    const withLandmarks = await addLandmarks(found, photos, cache);
    landmarkMs.set(setting.name, withLandmarks.msPerPhoto);
    detections.push({ ...withLandmarks, msPerPhoto: found.msPerPhoto });
  }

  // 2. Crops and descriptors.
  const backbone = await createFaceEmbeddingBackbone({ log: silentLogger() });
  const crops: CropResult[] = [];
  const evaluate = async (name: string, boxes: Array<FaceBox | null> | null, policy: CropPolicy) => {
    const result = await evaluateCrops(name, photos, boxes, policy, backbone);
    crops.push(result);
    return result;
  };
  const face = (anchor: FaceAnchor, margin: number, align = false): CropPolicy => ({ crop: "face", anchor, margin, align });
  try {
    // 2a. No detection at all.
    await evaluate("none (whole photo)", null, { crop: "none", anchor: "box", margin: 0, align: false });
    const allSquare = photos.every((photo) => photo.image.width === photo.image.height);
    if (allSquare) {
      crops.push({ ...(crops[0] as CropResult), name: "center", outcomes: countOutcomes(photos.map(() => "center")), note: "same pixels as none: every photo is square" });
    } else {
      await evaluate("center", null, { crop: "center", anchor: "box", margin: 0, align: false });
    }
    // 2b. Every detector setting, with face-api's own framing of the recognition net's input.
    let best: { result: CropResult; detection: DetectionResult } | null = null;
    for (const detection of detections) {
      const result = await evaluate(`${detection.setting.name}; eyes-mouth, margin 0`, detection.boxes, face("eyes-mouth", 0));
      if (!best || result.nearestNeighbour > best.result.nearestNeighbour) best = { result, detection };
    }
    // 2c. Framing and margin, on the boxes of the best setting of 2b.
    const { boxes, setting } = (best as { detection: DetectionResult }).detection;
    await evaluate(`${setting.name}; eyes-mouth, margin 0, eyes levelled`, boxes, face("eyes-mouth", 0, true));
    for (const margin of [-0.05, 0.05, 0.1]) await evaluate(`${setting.name}; eyes-mouth, margin ${margin}`, boxes, face("eyes-mouth", margin));
    for (const margin of [0.1, 0.2]) await evaluate(`${setting.name}; landmarks, margin ${margin}`, boxes, face("landmarks", margin));
    for (const margin of [0, 0.1, 0.25]) await evaluate(`${setting.name}; box, margin ${margin}`, boxes, face("box", margin));
  } finally {
    await backbone.dispose();
  }

  const detectionResults = detections;
  const report = [
    `## Face crop study: ${photos.length} photos of ${people} people from lfw-min10 (first ${Math.max(...countPerPerson(photos))} per person), ${runtime.engine}, ${cpus().length} cores`,
    "",
    detectionTable(detectionResults, landmarkMs, photos.length),
    "",
    `Leave-one-out accuracy of face-api's 128-d descriptor (${faceSize}x${faceSize} crops; photos without a face use the median box):`,
    "",
    cropTable(crops),
  ].join("\n");
  console.log(report);
  const resultsDir = join(import.meta.dirname, "results");
  mkdirSync(resultsDir, { recursive: true });
  const json = {
    name: "face crop study: lfw-min10",
    photos: photos.length,
    people,
    files: photos.map((photo) => basename(photo.file)),
    engine: runtime.engine,
    cpus: cpus().length,
    detection: detectionResults.map((result) => ({ setting: result.setting, misses: result.misses, msPerPhoto: result.msPerPhoto, landmarkMs: landmarkMs.get(result.setting.name) })),
    crops,
    measuredAt: new Date().toISOString(),
    node: process.version,
  };
  writeFileSync(join(resultsDir, "face-crop-study.json"), `${JSON.stringify(json, null, 2)}\n`);
}

function countPerPerson(photos: Photo[]): number[] {
  const counts = new Map<string, number>();
  for (const photo of photos) counts.set(photo.person, (counts.get(photo.person) ?? 0) + 1);
  return [...counts.values()];
}

await main();
