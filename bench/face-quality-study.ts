/**
 * Where to draw the line for a `low_quality` face: how blurred, how small.
 *
 *   npx tsx bench/face-quality-study.ts [--per-person K] [--people P] [--degraded N]
 *
 * 1. Real photos: the first K photos of each person of lfw-min10 in name order (default 10, so
 *    1,580 of its 4,324 photos; --people P takes only the first P people, for a quick try), and every shipped example (examples/faces, examples/newcomer,
 *    examples/try; a photo already in the LFW sample, same bytes, counts once). Each is decoded,
 *    its face found by the default detector with landmarks and cropped by the default crop policy
 *    at 150x150, exactly as training does (src/model/face-planner.ts); then the crop's sharpness
 *    (`laplacianVariance`), the face box's side (`faceSideOf`) and the 128-d descriptor.
 * 2. Degraded copies of N of those photos (default 80, evenly spread over the sample): the whole
 *    photo blurred with sharp's Gaussian blur at sigma 1, 2, 3, 4 before detection; and the photo
 *    shrunk so that its face box is 16 to 60 px, laid in the middle of a mid-grey canvas of the
 *    photo's own size (a small face in a photo, not a thumbnail). Each copy is detected and cropped
 *    like a real photo, measured, and named by its nearest neighbour among the real descriptors
 *    (its own original left out); "known" also needs that neighbour within the open-set threshold
 *    a training run on the real photos would calibrate. That shows where recognition breaks down.
 * 3. Suggested thresholds: the blur threshold is the 1st percentile of the real crops' sharpness,
 *    rounded down to two significant figures, so about 1% of real faces are flagged; the size
 *    threshold is the smallest face side whose copies (and those of every larger side tested) are
 *    still named right and known within 5 points of the originals. Then how the shipped defaults (src/vision/sharpness.ts) do on both.
 * Prints progress on stderr, markdown tables on stdout, and writes
 * bench/results/face-quality-study.json.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import sharp, { type Sharp } from "sharp";
import { silentLogger } from "../src/log.js";
import { createFaceEmbeddingBackbone } from "../src/model/backbones/face-embedding.js";
import type { Backbone } from "../src/model/backbones/types.js";
import { cropFace, defaultCropPolicy } from "../src/model/face/crop.js";
import { createFaceDetector, type FaceBox, type FaceDetector } from "../src/model/face/detector.js";
import { calibrationQuantile, quantile } from "../src/model/open-set.js";
import { loadTf } from "../src/model/tfjs-engine.js";
import { decodeImage } from "../src/vision/decode.js";
import { createRgbImage, type RgbImage } from "../src/vision/image.js";
import {
  assessFaceQuality,
  defaultFaceQualityThresholds,
  faceSideOf,
  laplacianVariance,
  sharpnessCropSize,
  type FaceQualityThresholds,
} from "../src/vision/sharpness.js";
import { lfwPeople, lfwPhotos } from "../test/helpers/lfw.js";

const repoRoot = join(import.meta.dirname, "..");
const blurSigmas = [1, 2, 3, 4] as const;
const shrunkFaceSides = [16, 20, 24, 30, 40, 60] as const;
/* The size threshold keeps the smallest face whose copies are named within this of the originals. */
const acceptableAccuracyDrop = 0.05;
/* Crop sides the sharpness is also measured at, to show how the choice of side changes the separation. */
const comparedCropSides = [...new Set([48, 64, 96, sharpnessCropSize])].sort((a, b) => a - b);
const realPercentiles = [0.001, 0.01, 0.05, 0.5] as const;
const canvasGrey = { r: 128, g: 128, b: 128 } as const;

interface SourcePhoto {
  person: string;
  file: string;
  source: "lfw" | "examples";
  sha256: string;
}

/** A face found and measured; null fields when no face was found. */
interface Measured {
  /** At sharpnessCropSize. */
  sharpness: number;
  /** At every side of comparedCropSides. */
  sharpnessAt: Record<number, number>;
  faceSide: number;
  descriptor: Float32Array;
}

interface RealPhoto extends SourcePhoto {
  measured: Measured | null;
  box: FaceBox | null;
}

interface Degradation {
  name: string;
  kind: "original" | "blur" | "small";
  /** Blur sigma, or the wanted face side in pixels. */
  amount: number;
}

interface LevelResult {
  degradation: Degradation;
  copies: number;
  noFace: number;
  sharpness: number[];
  sharpnessAt: Record<number, number[]>;
  faceSides: number[];
  correct: number;
  /** Named right and near enough to be answered as known, not `unknown` (open-set rule). */
  correctAndKnown: number;
  /** Distance of each copy's descriptor to its own original's. */
  driftFromOriginal: number[];
}

function options(): { perPerson: number; people: number; degraded: number } {
  const { values } = parseArgs({
    options: { "per-person": { type: "string", default: "10" }, people: { type: "string" }, degraded: { type: "string", default: "80" } },
  });
  const perPerson = Number(values["per-person"]);
  const people = values.people === undefined ? Number.POSITIVE_INFINITY : Number(values.people);
  const degraded = Number(values.degraded);
  if (!Number.isInteger(perPerson) || perPerson < 2) throw new RangeError(`--per-person must be an integer >= 2, received ${values["per-person"]}`);
  if (!(people >= 1)) throw new RangeError(`--people must be a positive number of people, received ${values.people}`);
  if (!Number.isInteger(degraded) || degraded < 1) throw new RangeError(`--degraded must be a positive integer, received ${values.degraded}`);
  return { perPerson, people, degraded };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function jpegs(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((name) => /\.jpe?g$/i.test(name))
    .sort()
    .map((name) => join(folder, name));
}

/** Shipped examples: one folder per person, or (examples/try) files named after the person. */
function examplePhotos(): Array<{ person: string; file: string }> {
  const found: Array<{ person: string; file: string }> = [];
  for (const set of ["faces", "newcomer"]) {
    const root = join(repoRoot, "examples", set);
    if (!existsSync(root)) continue;
    for (const person of readdirSync(root).sort()) found.push(...jpegs(join(root, person)).map((file) => ({ person, file })));
  }
  for (const file of jpegs(join(repoRoot, "examples", "try"))) found.push({ person: basename(file).replace(/_\d+\.jpe?g$/i, ""), file });
  return found;
}

function selectPhotos(perPerson: number, people: number): { photos: SourcePhoto[]; examples: number; exampleDuplicates: number } {
  const seen = new Set<string>();
  const photos: SourcePhoto[] = [];
  for (const person of lfwPeople().slice(0, people)) {
    for (const file of lfwPhotos(person).slice(0, perPerson)) {
      const hash = sha256(readFileSync(file));
      seen.add(hash);
      photos.push({ person, file, source: "lfw", sha256: hash });
    }
  }
  const examples = examplePhotos();
  let exampleDuplicates = 0;
  for (const { person, file } of examples) {
    const hash = sha256(readFileSync(file));
    if (seen.has(hash)) {
      exampleDuplicates += 1;
      continue;
    }
    seen.add(hash);
    photos.push({ person, file, source: "examples", sha256: hash });
  }
  return { photos, examples: examples.length, exampleDuplicates };
}

async function decode(file: string): Promise<RgbImage> {
  return decodeImage(readFileSync(file), { maxPixels: 50_000_000 });
}

/** Detects, crops as training does, and measures; null when no face is found. */
async function measure(image: RgbImage, detector: FaceDetector, backbone: Backbone): Promise<{ box: FaceBox; measured: Measured } | null> {
  const box = await detector.detect(image);
  if (!box) return null;
  const crop = cropFace(image, box, null, defaultCropPolicy, sharpnessCropSize).image;
  const [descriptor] = await backbone.embed([crop]);
  const sharpnessAt: Record<number, number> = {};
  for (const side of comparedCropSides) {
    sharpnessAt[side] = laplacianVariance(side === sharpnessCropSize ? crop : cropFace(image, box, null, defaultCropPolicy, side).image);
  }
  return { box, measured: { sharpness: laplacianVariance(crop), sharpnessAt, faceSide: faceSideOf(box), descriptor: descriptor as Float32Array } };
}

async function toImage(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return createRgbImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.length));
}

function rawInput(image: RgbImage): Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

async function degrade(image: RgbImage, originalSide: number, degradation: Degradation): Promise<RgbImage> {
  if (degradation.kind === "original") return image;
  if (degradation.kind === "blur") return toImage(rawInput(image).blur(degradation.amount));
  const scale = degradation.amount / originalSide;
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const shrunk = await toImage(rawInput(image).resize(width, height, { fit: "fill" }));
  const left = Math.floor((image.width - width) / 2);
  const top = Math.floor((image.height - height) / 2);
  return toImage(
    rawInput(shrunk).extend({ left, top, right: image.width - width - left, bottom: image.height - height - top, background: canvasGrey }),
  );
}

function distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const difference = (a[i] as number) - (b[i] as number);
    sum += difference * difference;
  }
  return Math.sqrt(sum);
}

/** The person of the nearest real descriptor and its distance, the photo itself left out. */
function nearest(descriptor: Float32Array, gallery: RealPhoto[], leaveOut: string, samePerson?: string): { person: string | null; distance: number } {
  let best = Number.POSITIVE_INFINITY;
  let person: string | null = null;
  for (const photo of gallery) {
    if (!photo.measured || photo.sha256 === leaveOut || (samePerson !== undefined && photo.person !== samePerson)) continue;
    const d = distance(descriptor, photo.measured.descriptor);
    if (d < best) {
      best = d;
      person = photo.person;
    }
  }
  return { person, distance: best };
}

/**
 * The open-set threshold a training run on these photos would calibrate (src/model/open-set.ts):
 * the calibrationQuantile of every face's leave-one-out distance to its own person's nearest face.
 */
function calibratedMaxDistance(gallery: RealPhoto[]): number {
  const distances = gallery
    .filter((photo): photo is RealPhoto & { measured: Measured } => photo.measured !== null)
    .map((photo) => nearest(photo.measured.descriptor, gallery, photo.sha256, photo.person).distance)
    .filter((value) => Number.isFinite(value));
  return quantile(distances, calibrationQuantile);
}

/** Linear interpolation between order statistics (R's type 7). */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  const position = p * (sorted.length - 1);
  const lower = Math.floor(position);
  const upper = Math.min(sorted.length - 1, lower + 1);
  return (sorted[lower] as number) + ((sorted[upper] as number) - (sorted[lower] as number)) * (position - lower);
}

function roundDownToTwoFigures(value: number): number {
  if (!(value > 0)) return 0;
  const unit = 10 ** (Math.floor(Math.log10(value)) - 1);
  return Math.floor(value / unit) * unit;
}

function progress(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function percent(part: number, whole: number): string {
  return whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`;
}

function fixed(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

function flaggedCount(measured: Array<{ sharpness: number; faceSide: number }>, thresholds: FaceQualityThresholds, reason?: "blurry" | "small"): number {
  return measured.filter((face) => {
    const verdict = assessFaceQuality(face, thresholds);
    return reason ? verdict.reasons.includes(reason) : !verdict.ok;
  }).length;
}

function levelFaces(level: LevelResult): Array<{ sharpness: number; faceSide: number }> {
  return level.sharpness.map((sharpness, index) => ({ sharpness, faceSide: level.faceSides[index] as number }));
}

function suggestThresholds(real: Measured[], levels: LevelResult[]): FaceQualityThresholds & { minFaceSideReason: string } {
  const minSharpness = roundDownToTwoFigures(percentile(real.map((face) => face.sharpness), 0.01));
  const original = levels.find((level) => level.degradation.kind === "original") as LevelResult;
  const baseline = original.correctAndKnown / original.copies;
  // A copy without a face found counts as not named: that is what a user would get.
  const goodSizes = levels
    .filter((level) => level.degradation.kind === "small" && level.correctAndKnown / level.copies >= baseline - acceptableAccuracyDrop)
    .map((level) => level.degradation.amount);
  const smallest = goodSizes.length > 0 ? Math.min(...goodSizes) : Math.max(...shrunkFaceSides);
  // Every larger size tested must hold up too, so that the threshold is not a lucky dip.
  const minFaceSide = shrunkFaceSides.filter((side) => side >= smallest).every((side) => goodSizes.includes(side)) ? smallest : Math.max(...shrunkFaceSides);
  return {
    minSharpness,
    minFaceSide,
    minFaceSideReason: `originals named right and known ${percent(original.correctAndKnown, original.copies)}; smallest tested side still within ${acceptableAccuracyDrop * 100} points: ${minFaceSide} px`,
  };
}

function realTable(real: Measured[]): string {
  const sharp = real.map((face) => face.sharpness);
  const sides = real.map((face) => face.faceSide);
  const lines = [
    `| real faces (${real.length}) | ${realPercentiles.map((p) => `${p * 100}%`).join(" | ")} | max |`,
    `| --- | ${realPercentiles.map(() => "---:").join(" | ")} | ---: |`,
    `| sharpness (Laplacian variance, 150x150 crop) | ${realPercentiles.map((p) => fixed(percentile(sharp, p), 1)).join(" | ")} | ${fixed(Math.max(...sharp), 1)} |`,
    `| face box side (px) | ${realPercentiles.map((p) => fixed(percentile(sides, p))).join(" | ")} | ${fixed(Math.max(...sides))} |`,
  ];
  return lines.join("\n");
}

/**
 * The same choice of threshold (1st percentile of the real crops) at every compared crop side, and
 * what it flags among the faces found in each kind of copy.
 */
function cropSideTable(real: Measured[], levels: LevelResult[]): string {
  const copies = levels.filter((level) => level.degradation.kind !== "original");
  const lines = [
    `| crop side | real 1% / 50% | threshold | ${copies.map((level) => level.degradation.name.replace("face shrunk to ", "face ")).join(" | ")} |`,
    `| ---: | --- | ---: | ${copies.map(() => "---:").join(" | ")} |`,
  ];
  for (const side of comparedCropSides) {
    const values = real.map((face) => face.sharpnessAt[side] as number);
    const threshold = roundDownToTwoFigures(percentile(values, 0.01));
    const flagged = copies.map((level) => {
      const measured = level.sharpnessAt[side] ?? [];
      return percent(measured.filter((value) => value < threshold).length, measured.length);
    });
    lines.push(`| ${side} | ${fixed(percentile(values, 0.01), 1)} / ${fixed(percentile(values, 0.5), 1)} | ${threshold} | ${flagged.join(" | ")} |`);
  }
  return lines.join("\n");
}

function levelTable(levels: LevelResult[], thresholds: FaceQualityThresholds): string {
  const lines = [
    `| copy | no face found | face side, median px | sharpness 5% / 50% / 95% | blurry (< ${thresholds.minSharpness}) | small (< ${thresholds.minFaceSide} px) | low_quality | named right (1-NN) | named right and known | drift from original, median |`,
    "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const level of levels) {
    const faces = levelFaces(level);
    const found = faces.length;
    const spread = [0.05, 0.5, 0.95].map((p) => fixed(percentile(level.sharpness, p), 1)).join(" / ");
    lines.push(
      `| ${level.degradation.name} | ${level.noFace} of ${level.copies} | ${fixed(percentile(level.faceSides, 0.5))} | ${spread} | ${percent(flaggedCount(faces, thresholds, "blurry"), found)} | ${percent(flaggedCount(faces, thresholds, "small"), found)} | ${percent(flaggedCount(faces, thresholds), found)} | ${percent(level.correct, level.copies)} | ${percent(level.correctAndKnown, level.copies)} | ${fixed(percentile(level.driftFromOriginal, 0.5), 3)} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const started = performance.now();
  const { perPerson, people, degraded } = options();
  const runtime = await loadTf();
  const { photos, examples, exampleDuplicates } = selectPhotos(perPerson, people);
  const lfwCount = photos.filter((photo) => photo.source === "lfw").length;
  progress(`${lfwCount} lfw-min10 photos (first ${perPerson} per person) + ${photos.length - lfwCount} shipped examples (${exampleDuplicates} of ${examples} already in the sample), engine ${runtime.engine}, ${cpus().length} cores`);

  const detector = await createFaceDetector({ log: silentLogger() });
  const backbone = await createFaceEmbeddingBackbone({ log: silentLogger() });
  try {
    // 1. Real photos.
    const real: RealPhoto[] = [];
    for (const [index, photo] of photos.entries()) {
      const found = await measure(await decode(photo.file), detector, backbone);
      real.push({ ...photo, box: found?.box ?? null, measured: found?.measured ?? null });
      if ((index + 1) % 100 === 0 || index + 1 === photos.length) progress(`real photos: ${index + 1}/${photos.length}`);
    }
    const measured = real.filter((photo): photo is RealPhoto & { measured: Measured } => photo.measured !== null);
    progress(`faces found in ${measured.length} of ${real.length}; sharpness 1st percentile ${fixed(percentile(measured.map((p) => p.measured.sharpness), 0.01), 1)}`);

    const maxDistance = calibratedMaxDistance(real);
    progress(`open-set threshold calibrated on the real faces (q${calibrationQuantile}): ${maxDistance.toFixed(3)}`);

    // 2. Degraded copies of an even spread of the photos with a face.
    const sample = Array.from({ length: Math.min(degraded, measured.length) }, (_, i) => measured[Math.floor((i * measured.length) / Math.min(degraded, measured.length))] as RealPhoto & { measured: Measured });
    const degradations: Degradation[] = [
      { name: "original", kind: "original", amount: 0 },
      ...blurSigmas.map((sigma): Degradation => ({ name: `blur sigma ${sigma}`, kind: "blur", amount: sigma })),
      ...shrunkFaceSides.map((side): Degradation => ({ name: `face shrunk to ${side} px`, kind: "small", amount: side })),
    ];
    const levels: LevelResult[] = [];
    for (const degradation of degradations) {
      const level: LevelResult = {
        degradation,
        copies: sample.length,
        noFace: 0,
        sharpness: [],
        sharpnessAt: Object.fromEntries(comparedCropSides.map((side) => [side, []])),
        faceSides: [],
        correct: 0,
        correctAndKnown: 0,
        driftFromOriginal: [],
      };
      for (const photo of sample) {
        const copy = await degrade(await decode(photo.file), photo.measured.faceSide, degradation);
        const found = degradation.kind === "original" ? { measured: photo.measured } : await measure(copy, detector, backbone);
        if (!found) {
          level.noFace += 1;
          continue;
        }
        level.sharpness.push(found.measured.sharpness);
        for (const side of comparedCropSides) level.sharpnessAt[side]?.push(found.measured.sharpnessAt[side] as number);
        level.faceSides.push(found.measured.faceSide);
        level.driftFromOriginal.push(distance(found.measured.descriptor, photo.measured.descriptor));
        const answer = nearest(found.measured.descriptor, real, photo.sha256);
        if (answer.person === photo.person) level.correct += 1;
        if (answer.person === photo.person && answer.distance <= maxDistance) level.correctAndKnown += 1;
      }
      levels.push(level);
      progress(
        `${degradation.name}: ${level.copies - level.noFace} faces found, median sharpness ${fixed(percentile(level.sharpness, 0.5), 1)}, named right ${percent(level.correct, level.copies)}, and known ${percent(level.correctAndKnown, level.copies)}`,
      );
    }

    // 3. Thresholds.
    const realFaces = measured.map((photo) => photo.measured);
    const suggested = suggestThresholds(realFaces, levels);
    const minutes = (performance.now() - started) / 60_000;
    const report = [
      `## Face quality study: ${lfwCount} lfw-min10 photos (first ${perPerson} per person) + ${photos.length - lfwCount} shipped examples not among them; degraded copies of ${sample.length}; ${runtime.engine}, ${cpus().length} cores, ${minutes.toFixed(1)} min`,
      "",
      `No face found in ${real.length - measured.length} of ${real.length} real photos. Sharpness is the variance of the Laplacian of the luma of the ${sharpnessCropSize}x${sharpnessCropSize} default crop (grey levels squared).`,
      "",
      realTable(realFaces),
      "",
      "Blurry by crop side: the threshold at each side is the 1st percentile of the real crops; the other columns are the share of the faces found in each kind of copy that fall below it.",
      "",
      cropSideTable(realFaces, levels),
      "",
      `Open-set threshold calibrated on the real faces as training would (q${calibrationQuantile} of same-person nearest distances): ${maxDistance.toFixed(3)}. Shares flagged are of the faces found; "named right" counts every copy, a copy without a face found as a miss.`,
      "",
      `Suggested: minSharpness ${suggested.minSharpness} (1st percentile of the real crops, rounded down), minFaceSide ${suggested.minFaceSide} px (${suggested.minFaceSideReason}).`,
      "",
      `With the suggested thresholds: real faces flagged ${percent(flaggedCount(realFaces, suggested), realFaces.length)} (blurry ${percent(flaggedCount(realFaces, suggested, "blurry"), realFaces.length)}, small ${percent(flaggedCount(realFaces, suggested, "small"), realFaces.length)}).`,
      "",
      levelTable(levels, suggested),
      "",
      `With the shipped defaults (minSharpness ${defaultFaceQualityThresholds.minSharpness}, minFaceSide ${defaultFaceQualityThresholds.minFaceSide} px): real faces flagged ${percent(flaggedCount(realFaces, defaultFaceQualityThresholds), realFaces.length)}.`,
      "",
      levelTable(levels, defaultFaceQualityThresholds),
    ].join("\n");
    console.log(report);

    const resultsDir = join(import.meta.dirname, "results");
    mkdirSync(resultsDir, { recursive: true });
    const json = {
      name: "face quality study: lfw-min10 and the shipped examples",
      perPerson,
      photos: real.length,
      lfwPhotos: lfwCount,
      examplePhotos: photos.length - lfwCount,
      facesFound: measured.length,
      degradedSample: sample.length,
      cropSize: sharpnessCropSize,
      real: {
        sharpness: Object.fromEntries(realPercentiles.map((p) => [`p${p * 100}`, percentile(realFaces.map((face) => face.sharpness), p)])),
        sharpnessBySide: Object.fromEntries(
          comparedCropSides.map((side) => [side, Object.fromEntries(realPercentiles.map((p) => [`p${p * 100}`, percentile(realFaces.map((face) => face.sharpnessAt[side] as number), p)]))]),
        ),
        faceSide: Object.fromEntries(realPercentiles.map((p) => [`p${p * 100}`, percentile(realFaces.map((face) => face.faceSide), p)])),
        lowest: real
          .filter((photo) => photo.measured)
          .sort((a, b) => (a.measured as Measured).sharpness - (b.measured as Measured).sharpness)
          .slice(0, 10)
          .map((photo) => ({ file: basename(photo.file), sharpness: photo.measured?.sharpness, faceSide: photo.measured?.faceSide })),
      },
      levels: levels.map((level) => ({
        ...level.degradation,
        copies: level.copies,
        noFace: level.noFace,
        sharpness: { p5: percentile(level.sharpness, 0.05), p50: percentile(level.sharpness, 0.5), p95: percentile(level.sharpness, 0.95) },
        sharpnessMedianBySide: Object.fromEntries(comparedCropSides.map((side) => [side, percentile(level.sharpnessAt[side] ?? [], 0.5)])),
        faceSideMedian: percentile(level.faceSides, 0.5),
        namedRight: level.correct / level.copies,
        namedRightAndKnown: level.correctAndKnown / level.copies,
        driftMedian: percentile(level.driftFromOriginal, 0.5),
        flaggedBySuggested: { blurry: flaggedCount(levelFaces(level), suggested, "blurry"), small: flaggedCount(levelFaces(level), suggested, "small"), any: flaggedCount(levelFaces(level), suggested) },
        flaggedByDefaults: { blurry: flaggedCount(levelFaces(level), defaultFaceQualityThresholds, "blurry"), small: flaggedCount(levelFaces(level), defaultFaceQualityThresholds, "small"), any: flaggedCount(levelFaces(level), defaultFaceQualityThresholds) },
      })),
      openSetMaxDistance: maxDistance,
      suggested: { minSharpness: suggested.minSharpness, minFaceSide: suggested.minFaceSide },
      defaults: defaultFaceQualityThresholds,
      engine: runtime.engine,
      cpus: cpus().length,
      minutes,
      measuredAt: new Date().toISOString(),
      node: process.version,
    };
    writeFileSync(join(resultsDir, "face-quality-study.json"), `${JSON.stringify(json, null, 2)}\n`);
  } finally {
    await backbone.dispose();
    await detector.dispose();
  }
}

await main();
