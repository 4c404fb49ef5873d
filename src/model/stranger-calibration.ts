import { splitDraw } from "../dataset/split.js";
import {
  chooseMaxDistance,
  defaultOpenSetRule,
  knownFaces,
  largestDistance,
  quantile,
  ReferenceSet,
  type KnownFaces,
  type MaxDistanceSetting,
  type OpenSetReference,
  type OpenSetRule,
  type OpenSetTestRates,
  type StrangerCalibration,
} from "./open-set.js";

/**
 * Calibrating "unknown" on strangers, not only on the known. A threshold chosen from known people's
 * distances alone (open-set.ts's quantile rule) says how far a known face may be, but not how near a
 * stranger comes; the rate users judge a face service by is the share of strangers it names.
 *
 * So training holds a few people of the training split out as pseudo-strangers, chosen by a hash of
 * their names (stable, unrelated to the alphabet or to how many photos they have), and measures,
 * against references built from the training photos of everyone else:
 * - known probes: each of those references' leave-one-out distance to the nearest known person by
 *   the open-set rule (open-set.ts; the photo left out of its person's mean, or of the nearest-photo
 *   search), people with a single training photo skipped, as a new photo of a known person would be;
 * - strangers: every training photo of the pseudo-strangers, and every training-split photo under
 *   the dataset's `_not/` folder.
 * The threshold is the largest distance that rejects `targetStrangerRejection` of those strangers
 * while rejecting at most `maxKnownRejection` of the known probes, and never less than one probe
 * (rule "met-target"). When no
 * distance does both, the known limit wins, because a service that refuses its own people gets
 * switched off by them: among the distances within it, the one with the most strangers rejected
 * minus known rejected (Youden's J; rule "known-limit"). The model itself is then trained, and
 * serves, with everyone as references.
 *
 * The stricter `confidentDistance` of the two-level answer is chosen on the same strangers: the
 * largest distance, no further than the threshold, that rejects `confidentStrangerRejection` of them
 * (0.995 by default), so a stranger is named with `confident: true` at most once in 200 at
 * calibration.
 *
 * The test split never takes part in the choice; measureOnTest reports the rates there: known
 * probes are the test photos of everyone against all the references; strangers are the test photos
 * of the pseudo-strangers against the references without them (held out of the choice, not of the
 * served model, which knows them), and the test-split photos of `_not/` against all the references.
 */

export interface StrangerCalibrationSettings {
  /** People held out as pseudo-strangers: auto (see pseudoStrangerCount) or a count; 0 uses the quantile rule. */
  calibrationStrangers: "auto" | number;
  /** Share of calibration strangers the threshold must reject, 0..1. */
  targetStrangerRejection: number;
  /** Largest share of known probes the threshold may reject, 0..1. */
  maxKnownRejection: number;
  /** Share of calibration strangers the confident distance must reject, 0..1. */
  confidentStrangerRejection: number;
}

export const defaultStrangerCalibration: StrangerCalibrationSettings = {
  calibrationStrangers: "auto",
  targetStrangerRejection: 0.97,
  maxKnownRejection: 0.01,
  confidentStrangerRejection: 0.995,
};

/** auto holds out this share of the people, at least one and at most autoStrangerCap. */
export const autoStrangerShare = 0.2;
/** More pseudo-strangers sharpen the estimate little and take references from everyone else. */
export const autoStrangerCap = 30;
/** Pseudo-strangers always leave this many known people to calibrate against. */
export const minKnownPeople = 2;
/** Without strangers, the confident distance is this quantile of same-person distances (the threshold's is 0.98). */
export const fallbackConfidentQuantile = 0.9;

/** How many people to hold out as pseudo-strangers among `people` labels. */
export function pseudoStrangerCount(people: number, setting: StrangerCalibrationSettings["calibrationStrangers"]): number {
  const most = Math.max(0, people - minKnownPeople);
  if (setting !== "auto") return Math.min(setting, most);
  if (people < minKnownPeople + 1) return 0;
  return Math.min(most, autoStrangerCap, Math.max(1, Math.round(people * autoStrangerShare)));
}

/** The `count` people held out, by a salted hash of their names: the same people on every run. */
export function choosePseudoStrangers(people: readonly string[], count: number): Set<string> {
  const ordered = [...new Set(people)].sort((a, b) => splitDraw(`pseudo-stranger:${a}`) - splitDraw(`pseudo-stranger:${b}`) || (a < b ? -1 : a > b ? 1 : 0));
  return new Set(ordered.slice(0, count));
}

export interface Rates {
  /** Share of strangers further than the threshold (answered "unknown"); null without strangers. */
  strangerRejection: number | null;
  /** Share of known probes further than the threshold; null without known probes. */
  knownRejection: number | null;
}

/** Rejected means further than the threshold: a distance equal to it is still named. */
export function rejectionRates(known: readonly number[], strangers: readonly number[], threshold: number): Rates {
  const share = (values: readonly number[]) => (values.length > 0 ? values.filter((value) => value > threshold).length / values.length : null);
  return { strangerRejection: share(strangers), knownRejection: share(known) };
}

export interface ThresholdChoice {
  maxDistance: number;
  /** met-target: meets both the stranger target and the known limit; known-limit: the target could not be met within the limit. */
  rule: "met-target" | "known-limit";
  strangerRejection: number;
  knownRejection: number;
}

/**
 * The threshold by the rule in this module's header. Candidates lie halfway between consecutive
 * distinct distances (and below the smallest), so a threshold never sits on a measured photo.
 */
export function chooseStrangerThreshold(known: readonly number[], strangers: readonly number[], settings: Pick<StrangerCalibrationSettings, "targetStrangerRejection" | "maxKnownRejection">): ThresholdChoice {
  if (known.length === 0 || strangers.length === 0) throw new RangeError(`choosing a threshold needs known and stranger distances, received ${known.length} and ${strangers.length}`);
  const candidates = candidateThresholds([...known, ...strangers]);
  const sortedKnown = [...known].sort((a, b) => a - b);
  const sortedStrangers = [...strangers].sort((a, b) => a - b);
  const scored = candidates.map((threshold) => ({
    maxDistance: threshold,
    strangerRejection: shareAbove(sortedStrangers, threshold),
    knownRejection: shareAbove(sortedKnown, threshold),
  }));
  // At most maxKnownRejection of the known probes, but never less than one probe: with fewer than
  // 1/maxKnownRejection probes (a small repository), "1%" would forbid rejecting any, and a single
  // odd photo of a known person would then set the threshold beyond every stranger.
  const allowed = Math.max(settings.maxKnownRejection, 1 / known.length);
  const withinLimit = scored.filter((entry) => entry.knownRejection <= allowed + 1e-12);
  // Both rates fall as the threshold grows: the largest threshold meeting the target rejects the fewest known.
  const meeting = withinLimit.filter((entry) => entry.strangerRejection >= settings.targetStrangerRejection);
  if (meeting.length > 0) return { ...(meeting.at(-1) as (typeof scored)[number]), rule: "met-target" };
  // The largest candidate rejects no known probe, so withinLimit is never empty.
  let best = withinLimit[0] as (typeof scored)[number];
  for (const entry of withinLimit) if (entry.strangerRejection - entry.knownRejection >= best.strangerRejection - best.knownRejection) best = entry;
  return { ...best, rule: "known-limit" };
}

/**
 * The largest distance no further than `ceiling` that rejects `share` of the strangers: the ceiling
 * itself when it does, else halfway between measured distances (known and strangers), as for the
 * threshold.
 */
export function chooseConfidentDistance(known: readonly number[], strangers: readonly number[], share: number, ceiling: number): number {
  const sorted = [...strangers].sort((a, b) => a - b);
  if (sorted.length === 0 || shareAbove(sorted, ceiling) >= share) return ceiling;
  const fitting = candidateThresholds([...known, ...strangers]).filter((threshold) => threshold <= ceiling && shareAbove(sorted, threshold) >= share);
  return fitting.at(-1) ?? 0;
}

function candidateThresholds(distances: readonly number[]): number[] {
  const distinct = [...new Set(distances)].sort((a, b) => a - b);
  const first = distinct[0] as number;
  const candidates = [first / 2];
  for (let index = 1; index < distinct.length; index++) candidates.push(((distinct[index - 1] as number) + (distinct[index] as number)) / 2);
  candidates.push(Math.min(largestDistance, distinct.at(-1) as number));
  return candidates;
}

/** Share of sorted values strictly above `threshold`, by binary search. */
function shareAbove(sorted: readonly number[], threshold: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) <= threshold) low = middle + 1;
    else high = middle;
  }
  return (sorted.length - low) / sorted.length;
}

/** A photo's unaugmented backbone vector and what it shows. */
export interface CalibrationPhoto {
  vector: Float32Array;
  /** The person; null for a photo of nobody (under `_not/`). */
  label: string | null;
  split: "train" | "test";
}

export type { OpenSetTestRates, StrangerCalibration } from "./open-set.js";

interface LabelledVectors {
  vectors: Float32Array[];
  labels: number[];
}

/**
 * Calibrates on pseudo-strangers (this module's header). Null when there is nobody to hold out and
 * no `_not/` photo, or no known person with two training photos: the caller falls back to the
 * quantile rule.
 */
export function calibrateOnStrangers(
  photos: readonly CalibrationPhoto[],
  featureLength: number,
  settings: StrangerCalibrationSettings,
  rule: OpenSetRule = defaultOpenSetRule,
): StrangerCalibration | null {
  const people = [...new Set(photos.flatMap((photo) => (photo.label === null ? [] : [photo.label])))];
  const held = choosePseudoStrangers(people, pseudoStrangerCount(people.length, settings.calibrationStrangers));
  const index = new Map(people.filter((person) => !held.has(person)).map((person, position) => [person, position]));
  const references: LabelledVectors = { vectors: [], labels: [] };
  const strangerVectors: Float32Array[] = [];
  let outsiderPhotos = 0;
  for (const photo of photos) {
    if (photo.split !== "train") continue;
    if (photo.label === null) {
      strangerVectors.push(photo.vector);
      outsiderPhotos++;
    } else if (held.has(photo.label)) strangerVectors.push(photo.vector);
    else {
      references.vectors.push(photo.vector);
      references.labels.push(index.get(photo.label) as number);
    }
  }
  if (strangerVectors.length === 0 || references.vectors.length < 2) return null;
  const referenceSet = ReferenceSet.fromVectors(references.vectors, references.labels, featureLength);
  const measured = knownFaces(referenceSet, rule);
  const known = leaveOneOutDistances(referenceSet, measured);
  if (known.length === 0) return null;
  const strangers = strangerVectors.map((vector) => measured.nearest(vector).distance);
  const choice = chooseStrangerThreshold(known, strangers, settings);
  const confidentDistance = chooseConfidentDistance(known, strangers, settings.confidentStrangerRejection, choice.maxDistance);
  return {
    method: "pseudo-strangers",
    rule: choice.rule,
    targetStrangerRejection: settings.targetStrangerRejection,
    maxKnownRejection: settings.maxKnownRejection,
    confidentStrangerRejection: settings.confidentStrangerRejection,
    pseudoStrangers: held.size,
    outsiderPhotos,
    strangerPhotos: strangers.length,
    knownProbes: known.length,
    maxDistance: choice.maxDistance,
    confidentDistance,
    strangerRejection: choice.strangerRejection,
    knownRejection: choice.knownRejection,
    knownConfident: known.filter((distance) => distance <= confidentDistance).length / known.length,
  };
}

/**
 * Each reference's distance to the nearest known person with the reference left out, for
 * references whose person has another: the distance the serving rule would measure for a new photo
 * of a known person.
 */
function leaveOneOutDistances(references: ReferenceSet, index: KnownFaces): number[] {
  const perLabel = new Map<number, number>();
  for (const label of references.labels) perLabel.set(label, (perLabel.get(label) ?? 0) + 1);
  const distances: number[] = [];
  const length = references.featureLength;
  for (let reference = 0; reference < references.size; reference++) {
    if ((perLabel.get(references.labels[reference] as number) ?? 0) < 2) continue;
    distances.push(index.nearest(references.vectors.subarray(reference * length, (reference + 1) * length), reference).distance);
  }
  return distances;
}

/**
 * The open-set rates on the test split at the thresholds in force (this module's header says what
 * counts as a stranger there). `calibration` is null when the threshold was not calibrated on
 * strangers: then only `_not/` test photos are strangers.
 */
export function measureOnTest(
  photos: readonly CalibrationPhoto[],
  references: KnownFaces,
  featureLength: number,
  thresholds: { maxDistance: number; confidentDistance: number },
  calibration: Pick<StrangerCalibration, "pseudoStrangers"> | null,
): OpenSetTestRates {
  const people = [...new Set(photos.flatMap((photo) => (photo.label === null ? [] : [photo.label])))];
  const held = calibration ? choosePseudoStrangers(people, calibration.pseudoStrangers) : new Set<string>();
  const index = new Map(people.filter((person) => !held.has(person)).map((person, position) => [person, position]));
  const without: LabelledVectors = { vectors: [], labels: [] };
  for (const photo of photos) {
    if (photo.split === "train" && photo.label !== null && index.has(photo.label)) {
      without.vectors.push(photo.vector);
      without.labels.push(index.get(photo.label) as number);
    }
  }
  const withoutHeld = held.size > 0 && without.vectors.length > 0 ? knownFaces(ReferenceSet.fromVectors(without.vectors, without.labels, featureLength), references.rule) : null;
  const known: number[] = [];
  const strangers: number[] = [];
  for (const photo of photos) {
    if (photo.split !== "test") continue;
    if (photo.label === null) strangers.push(references.nearest(photo.vector).distance);
    else {
      known.push(references.nearest(photo.vector).distance);
      if (withoutHeld && held.has(photo.label)) strangers.push(withoutHeld.nearest(photo.vector).distance);
    }
  }
  const rates = rejectionRates(known, strangers, thresholds.maxDistance);
  return {
    knownPhotos: known.length,
    knownRejection: rates.knownRejection,
    knownConfident: known.length > 0 ? known.filter((distance) => distance <= thresholds.confidentDistance).length / known.length : null,
    strangerPhotos: strangers.length,
    strangerRejection: rates.strangerRejection,
  };
}

/** The confident distance without strangers to calibrate on: a stricter quantile of same-person distances, never beyond the threshold. */
export function fallbackConfidentDistance(references: KnownFaces, maxDistance: number): number {
  const distances = references.sameLabelDistances();
  if (distances.length === 0) return maxDistance;
  return Math.min(maxDistance, quantile(distances, fallbackConfidentQuantile));
}

/** The open-set part of the configuration (config/schema.ts openSet). */
export interface OpenSetSettings extends StrangerCalibrationSettings {
  maxDistance: MaxDistanceSetting;
  confidentDistance: MaxDistanceSetting;
}

export type OpenSetChoice = Omit<OpenSetReference, "rule" | "references" | "featureLength"> & {
  /** The known people as the chosen rule measures them: what the bundle records (its rule) and serves. */
  known: KnownFaces;
};

/**
 * The thresholds a training run records: the configured ones, or calibrated on strangers, or with
 * no stranger to calibrate on, today's quantile rule and a stricter quantile for the confident one.
 * `references` are every training photo as served; `photos` every photo with its split; `rule` the
 * open-set rule asked for (openSet.rule).
 *
 * The class-mean rule was measured with a threshold calibrated on strangers; the quantile rule
 * (no stranger to calibrate on: fewer than 3 people and no `_not/` photo) was measured with the
 * nearest photo, and a quantile of a dozen leave-one-out distances to a mean is tighter than one to
 * the nearest photo: a two-person model of 6 training photos each called new photos of its own
 * people unknown. So without strangers, an automatic threshold keeps the nearest-photo rule, and the
 * bundle records that rule.
 */
export function chooseOpenSet(settings: OpenSetSettings, references: ReferenceSet, photos: readonly CalibrationPhoto[], rule: OpenSetRule = defaultOpenSetRule): OpenSetChoice {
  const wantsCalibration = settings.maxDistance === "auto" || settings.confidentDistance === "auto";
  const calibration = wantsCalibration ? calibrateOnStrangers(photos, references.featureLength, settings, rule) : null;
  const known = knownFaces(references, settings.maxDistance === "auto" && !calibration ? "nearest-reference-distance" : rule);
  const threshold: Pick<OpenSetReference, "maxDistance" | "source" | "quantile"> =
    settings.maxDistance === "auto" && calibration ? { maxDistance: calibration.maxDistance, source: "calibrated-on-strangers" } : chooseMaxDistance(settings.maxDistance, known);
  const confident = chooseConfident(settings.confidentDistance, threshold.maxDistance, calibration, known);
  const test = measureOnTest(photos, known, references.featureLength, { maxDistance: threshold.maxDistance, confidentDistance: confident.confidentDistance }, calibration);
  return { ...threshold, ...confident, ...(calibration ? { calibration } : {}), test, known };
}

function chooseConfident(
  setting: MaxDistanceSetting,
  maxDistance: number,
  calibration: StrangerCalibration | null,
  references: KnownFaces,
): Required<Pick<OpenSetReference, "confidentDistance" | "confidentSource">> {
  if (setting === "off") return { confidentDistance: maxDistance, confidentSource: "off" };
  if (typeof setting === "number") return { confidentDistance: Math.min(setting, maxDistance), confidentSource: "configured" };
  if (calibration) return { confidentDistance: Math.min(calibration.confidentDistance, maxDistance), confidentSource: "calibrated-on-strangers" };
  return { confidentDistance: fallbackConfidentDistance(references, maxDistance), confidentSource: "calibrated" };
}
