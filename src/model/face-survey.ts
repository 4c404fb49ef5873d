import { assessFaceQuality, defaultFaceQualityThresholds, faceSideOf, type FaceQualityThresholds } from "../vision/sharpness.js";
import type { FaceBox } from "./face/detector.js";
import { unitLength } from "./open-set.js";

/**
 * Which face of each training photo is its person's, and what the dataset check should say about
 * the photo's faces. Pure: detection, cropping and embedding happen before (the face planner), so
 * the rule can be read and table-tested on its own.
 *
 * A training photo must show its person. With one face, that face is the person. With several, it
 * is the face most like the person's other photos: the one whose embedding is nearest (cosine) the
 * mean embedding of the person's one-face photos; with no such photo yet, the largest face, as
 * before. A photo without a face is still trained, on the dataset's median face box, unless
 * `requireFace` rejects it. The face chosen is held to the face-quality thresholds.
 */

export interface SurveyedFace {
  box: FaceBox;
  /** The backbone's features of the face's crop; needed only when the photo has several faces. */
  embedding: Float32Array | null;
  /** `laplacianVariance` of the face's crop at `sharpnessCropSize`. */
  sharpness: number;
}

export interface SurveyedPhoto {
  path: string;
  person: string;
  /** Every face found, largest first (FaceDetector.detectAll). */
  faces: SurveyedFace[];
}

export type FaceWarningReason = "no_face" | "multiple_faces" | "low_quality";

export interface FaceWarning {
  path: string;
  reason: FaceWarningReason;
  message: string;
  /** The face trained on, in the photo's pixels (multiple_faces, low_quality). */
  box?: { x: number; y: number; width: number; height: number };
}

export interface FaceSurvey {
  /** Per photo path: the index in `faces` of the face trained on, or null (no face: the median box). */
  chosen: Map<string, number | null>;
  warnings: FaceWarning[];
  /** Photos without a face, when `requireFace` says they may not be trained. */
  rejected: Array<{ path: string; reason: "no_face"; message: string }>;
}

/** What the dataset check and a training run report about the faces of a dataset's photos. */
export interface FaceReport {
  /** Per photo path, the faces the detector found (0 when none). */
  facesFound: Record<string, number>;
  warnings: FaceWarning[];
  rejected: FaceSurvey["rejected"];
}

/** A face report in counts, with its warnings and rejects up to a bound, for records that must stay small. */
export interface FaceSummary {
  photos: number;
  /** Photos per number of faces found: "0", "1", "2", ... */
  facesFound: Record<string, number>;
  /** Warnings per reason. */
  warningCounts: Record<FaceWarningReason, number>;
  warnings: FaceWarning[];
  rejected: FaceSurvey["rejected"];
  /** Warnings and rejects beyond the bound, left out of the lists above. */
  leftOut: number;
}

/**
 * The bound is small because the summary is copied into every attempt of a run record; the full
 * list is `faceops dataset check`'s.
 */
export function summarizeFaces(report: FaceReport, limit = 50): FaceSummary {
  const facesFound: Record<string, number> = {};
  for (const count of Object.values(report.facesFound)) facesFound[String(count)] = (facesFound[String(count)] ?? 0) + 1;
  const warningCounts: Record<FaceWarningReason, number> = { no_face: 0, multiple_faces: 0, low_quality: 0 };
  for (const warning of report.warnings) warningCounts[warning.reason]++;
  const rejected = report.rejected.slice(0, limit);
  const warnings = report.warnings.slice(0, limit - rejected.length);
  return {
    photos: Object.keys(report.facesFound).length,
    facesFound,
    warningCounts,
    warnings,
    rejected,
    leftOut: report.warnings.length + report.rejected.length - warnings.length - rejected.length,
  };
}

export interface SurveyOptions {
  requireFace: boolean;
  thresholds?: FaceQualityThresholds;
}

export function surveyFaces(photos: readonly SurveyedPhoto[], options: SurveyOptions): FaceSurvey {
  const references = personReferences(photos);
  const survey: FaceSurvey = { chosen: new Map(), warnings: [], rejected: [] };
  for (const photo of photos) {
    if (photo.faces.length === 0) {
      survey.chosen.set(photo.path, null);
      if (options.requireFace) {
        survey.rejected.push({ path: photo.path, reason: "no_face", message: "no face found, and dataset.requireFace is true" });
      } else {
        survey.warnings.push({ path: photo.path, reason: "no_face", message: "no face found: trained on the dataset's median face box" });
      }
      continue;
    }
    const index = photo.faces.length === 1 ? 0 : choose(photo, references.get(photo.person) ?? null);
    const face = photo.faces[index] as SurveyedFace;
    const box = pixelBox(face.box);
    survey.chosen.set(photo.path, index);
    if (photo.faces.length > 1) {
      // No name in the message: it may reach a log, and the path already says whose photo it is.
      const how = references.has(photo.person) ? "the one most like the person's other photos" : "the largest (the person has no photo with one face to compare with)";
      survey.warnings.push({ path: photo.path, reason: "multiple_faces", message: `${photo.faces.length} faces: trained on ${how}`, box });
    }
    const quality = faceQuality(face, options.thresholds ?? defaultFaceQualityThresholds);
    if (quality) survey.warnings.push({ path: photo.path, reason: "low_quality", message: quality, box });
  }
  return survey;
}

/**
 * What is wrong with the face's quality, or null. A small face, enlarged to the crop, also reads as
 * blurry; its size is then the one cause to report, so the message names that alone.
 */
function faceQuality(face: SurveyedFace, thresholds: FaceQualityThresholds): string | null {
  const faceSide = faceSideOf(face.box);
  const verdict = assessFaceQuality({ sharpness: face.sharpness, faceSide }, thresholds);
  if (verdict.ok) return null;
  if (!verdict.reasons.includes("small")) return verdict.message;
  return assessFaceQuality({ sharpness: thresholds.minSharpness, faceSide }, thresholds).message;
}

/** Per person, the unit mean of the embeddings of their photos with exactly one face. */
function personReferences(photos: readonly SurveyedPhoto[]): Map<string, Float32Array> {
  const sums = new Map<string, Float32Array>();
  for (const photo of photos) {
    const embedding = photo.faces.length === 1 ? photo.faces[0]?.embedding : null;
    if (!embedding) continue;
    const sum = sums.get(photo.person) ?? new Float32Array(embedding.length);
    if (sum.length !== embedding.length) throw new RangeError(`${photo.path}: an embedding of ${embedding.length} values among ones of ${sum.length}`);
    const unit = unitLength(embedding);
    for (let index = 0; index < sum.length; index++) sum[index] = (sum[index] as number) + (unit[index] as number);
    sums.set(photo.person, sum);
  }
  return new Map([...sums].map(([person, sum]) => [person, unitLength(sum)]));
}

/** The index of the face nearest the reference; the largest (0) without a reference or embeddings. */
function choose(photo: SurveyedPhoto, reference: Float32Array | null): number {
  if (!reference) return 0;
  let best = 0;
  let bestSimilarity = Number.NEGATIVE_INFINITY;
  photo.faces.forEach((face, index) => {
    if (!face.embedding) throw new RangeError(`${photo.path}: face ${index + 1} of ${photo.faces.length} has no embedding to compare with`);
    const similarity = dot(unitLength(face.embedding), reference);
    if (similarity > bestSimilarity) {
      best = index;
      bestSimilarity = similarity;
    }
  });
  return best;
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let index = 0; index < a.length; index++) sum += (a[index] as number) * (b[index] as number);
  return sum;
}

function pixelBox(box: FaceBox) {
  return { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) };
}
