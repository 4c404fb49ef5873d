import { createRgbImage, type RgbImage } from "../../vision/image.js";
import type { FaceBox, Point } from "./detector.js";

/**
 * The crop policy: which square of a photo the face backbone sees. Pure functions, so that a
 * caller can detect once per photo (caching boxes by content), compute the dataset's median face
 * afterwards, and crop any photo again without running a network:
 *
 *   boxes = await detectBoxes(detector, images)        // or from the cache
 *   median = medianBox(boxes, policy.anchor)
 *   { image, outcome } = cropFace(photo, box, median, policy, 150)
 *
 * The face descriptor depends on the crop more than on anything else. Leave-one-out 1-NN on 2,169
 * LFW photos (bench/face-crop-study.ts): whole photo 26%; the detector's box made square 93% with
 * no margin, 91% with 0.1 and 69% with 0.25 of the box side on each side; the landmarks' bounding
 * square 94%; face-api's own eyes-and-mouth square 99.2% (98.5-99.0% with margins of -0.05 to 0.1).
 * Levelling the eyes gave 99.3%, two photos in 2,169, so it is off by default.
 */

/** face: around the detected face; center: the centred square; none: the whole photo, letterboxed. */
export type CropMode = "face" | "center" | "none";

/**
 * What a photo's crop was based on: its own detected face, the dataset's median face box (no face
 * found in it), the centred square (no face found in the whole dataset, or crop "center"), or the
 * whole photo (crop "none").
 */
export type CropOutcome = "detected" | "median" | "center" | "none";

/**
 * What the crop square is built around:
 * - "box": the detector's box. It usually takes in the forehead and leaves out the chin, by an
 *   amount that changes from detector to detector;
 * - "landmarks": the smallest rectangle holding the 68 landmarks (jaw, brows, eyes, nose, mouth);
 * - "eyes-mouth": the square face-api cuts for its recognition net (FaceLandmarks.align with
 *   useDlibAlignment): side = mean eye-to-mouth distance / 0.45, the centroid of the two eye
 *   centres and the mouth centre at 50% across and 43% down. It approximates the dlib face chips
 *   the net was trained on, so it is the framing the net knows.
 */
export type FaceAnchor = "box" | "landmarks" | "eyes-mouth";

export interface CropPolicy {
  crop: CropMode;
  /** What a "face" crop is built around; all but "box" need boxes detected with landmarks. */
  anchor: FaceAnchor;
  /** Added on each side of the anchor rectangle, as a fraction of its longer side. */
  margin: number;
  /** Rotate the crop so that the eyes are level; needs landmarks. */
  align: boolean;
}

/** Chosen from bench/face-crop-study.ts: see the measurements at the top of this file. */
export const defaultCropPolicy: CropPolicy = { crop: "face", anchor: "eyes-mouth", margin: 0, align: false };

/** A box as fractions of its photo's width and height, so photos of any size can share it. */
export interface RelativeBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The square to cut out, in the photo's pixel coordinates: its centre, its side, and the angle
 * (radians, clockwise in image coordinates) of the crop's horizontal axis. Parts of the square that
 * leave the photo come out black.
 */
export interface CropPlan {
  outcome: CropOutcome;
  centerX: number;
  centerY: number;
  side: number;
  angle: number;
}

export type OutcomeCounts = Record<CropOutcome, number>;

/** A rectangle in pixel coordinates, turned by `angle` radians about its centre. */
export interface FaceRegion {
  centerX: number;
  centerY: number;
  width: number;
  height: number;
  angle: number;
}

/**
 * The rectangle a face crop is built around. With `align`, it is turned so that the eyes are
 * level, and for the "landmarks" anchor the landmarks are enclosed in that turned frame.
 */
export function faceRegion(box: FaceBox, anchor: FaceAnchor, align: boolean): FaceRegion {
  const landmarks = box.landmarks;
  if (anchor === "box" && !align) {
    return { centerX: box.x + box.width / 2, centerY: box.y + box.height / 2, width: box.width, height: box.height, angle: 0 };
  }
  if (!landmarks || landmarks.length !== 68) {
    const needs = anchor === "box" ? "eye alignment" : `the "${anchor}" anchor`;
    throw new RangeError(`a face crop with ${needs} needs 68 landmarks, the face box has ${landmarks?.length ?? "none"}; detect with landmarks: true`);
  }
  const angle = align ? eyeAngle(landmarks) : 0;
  switch (anchor) {
    case "box":
      return { centerX: box.x + box.width / 2, centerY: box.y + box.height / 2, width: box.width, height: box.height, angle };
    case "landmarks":
      return enclosingRegion(landmarks, angle);
    case "eyes-mouth":
      return eyesMouthRegion(landmarks, angle);
  }
}

/* face-api's FaceLandmarks.alignDlib constants: the reference point's place in the square, and
 * the eye-to-mouth distance as a fraction of the square's side. */
const eyesMouthAcross = 0.5;
const eyesMouthDown = 0.43;
const eyeToMouthOfSide = 0.45;

function eyesMouthRegion(landmarks: readonly Point[], angle: number): FaceRegion {
  const [leftEye, rightEye, mouth] = referencePoints(landmarks);
  const eyeToMouth = (distance(leftEye, mouth) + distance(rightEye, mouth)) / 2;
  const side = eyeToMouth / eyeToMouthOfSide;
  const [refX, refY] = centroid([leftEye, rightEye, mouth]);
  // The square's centre lies from the reference point along the square's own axes.
  const across = (0.5 - eyesMouthAcross) * side;
  const down = (0.5 - eyesMouthDown) * side;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return { centerX: refX + across * cos - down * sin, centerY: refY + across * sin + down * cos, width: side, height: side, angle };
}

/** Centres of the eye on the image's left, the other eye, and the mouth (iBUG 68-point order). */
function referencePoints(landmarks: readonly Point[]): [Point, Point, Point] {
  return [centroid(landmarks.slice(36, 42)), centroid(landmarks.slice(42, 48)), centroid(landmarks.slice(48, 68))];
}

function distance([ax, ay]: Point, [bx, by]: Point): number {
  return Math.hypot(ax - bx, ay - by);
}

/** The smallest rectangle turned by `angle` that holds every point. */
function enclosingRegion(points: readonly Point[], angle: number): FaceRegion {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  let minU = Number.POSITIVE_INFINITY;
  let maxU = Number.NEGATIVE_INFINITY;
  let minV = Number.POSITIVE_INFINITY;
  let maxV = Number.NEGATIVE_INFINITY;
  for (const [x, y] of points) {
    // (u, v) are the point's coordinates along the turned rectangle's axes.
    const u = x * cos + y * sin;
    const v = -x * sin + y * cos;
    minU = Math.min(minU, u);
    maxU = Math.max(maxU, u);
    minV = Math.min(minV, v);
    maxV = Math.max(maxV, v);
  }
  const centreU = (minU + maxU) / 2;
  const centreV = (minV + maxV) / 2;
  return { centerX: centreU * cos - centreV * sin, centerY: centreU * sin + centreV * cos, width: maxU - minU, height: maxV - minV, angle };
}

export function relativeBox(box: FaceBox, anchor: FaceAnchor = "box"): RelativeBox {
  const region = faceRegion(box, anchor, false);
  return {
    x: (region.centerX - region.width / 2) / box.imageWidth,
    y: (region.centerY - region.height / 2) / box.imageHeight,
    width: region.width / box.imageWidth,
    height: region.height / box.imageHeight,
  };
}

/**
 * The dataset's typical face rectangle (by the policy's anchor): the median centre and the median
 * size of the faces found, relative to each photo's size, because the photos of one repository are
 * usually framed alike. Centre and size rather than corners, so that one odd box moves neither.
 * Null without any box.
 */
export function medianBox(boxes: Iterable<FaceBox | null>, anchor: FaceAnchor = "box"): RelativeBox | null {
  const relative = [...boxes].filter((box): box is FaceBox => box !== null).map((box) => relativeBox(box, anchor));
  if (relative.length === 0) return null;
  const width = median(relative.map((box) => box.width));
  const height = median(relative.map((box) => box.height));
  const centerX = median(relative.map((box) => box.x + box.width / 2));
  const centerY = median(relative.map((box) => box.y + box.height / 2));
  return { x: centerX - width / 2, y: centerY - height / 2, width, height };
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

export function validateCropPolicy(policy: CropPolicy): CropPolicy {
  if (policy.crop !== "face" && policy.crop !== "center" && policy.crop !== "none") {
    throw new RangeError(`crop must be "face", "center" or "none", received ${JSON.stringify(policy.crop)}`);
  }
  if (policy.anchor !== "box" && policy.anchor !== "landmarks" && policy.anchor !== "eyes-mouth") {
    throw new RangeError(`the face crop anchor must be "box", "landmarks" or "eyes-mouth", received ${JSON.stringify(policy.anchor)}`);
  }
  if (!(policy.margin > -0.5 && policy.margin <= 2)) {
    throw new RangeError(`the face crop margin must be in -0.5..2 (a fraction of the face's side), received ${policy.margin}`);
  }
  return policy;
}

/**
 * Decides the crop square. For crop "face" the order is: the photo's own face, else the dataset's
 * median face rectangle (from `medianBox` with the same anchor), else the centred square.
 */
export function planCrop(
  image: { width: number; height: number },
  box: FaceBox | null,
  median: RelativeBox | null,
  policy: CropPolicy,
): CropPlan {
  validateCropPolicy(policy);
  if (policy.crop === "none") return { outcome: "none", ...centredSquare(image, Math.max(image.width, image.height)) };
  const centre: CropPlan = { outcome: "center", ...centredSquare(image, Math.min(image.width, image.height)) };
  if (policy.crop === "center") return centre;
  if (box) {
    assertBoxMatches(box, image);
    return { outcome: "detected", ...squareAround(faceRegion(box, policy.anchor, policy.align), policy.margin) };
  }
  if (median) {
    const region: FaceRegion = {
      centerX: (median.x + median.width / 2) * image.width,
      centerY: (median.y + median.height / 2) * image.height,
      width: median.width * image.width,
      height: median.height * image.height,
      angle: 0,
    };
    return { outcome: "median", ...squareAround(region, policy.margin) };
  }
  return centre;
}

function centredSquare(image: { width: number; height: number }, side: number): Omit<CropPlan, "outcome"> {
  return { centerX: image.width / 2, centerY: image.height / 2, side, angle: 0 };
}

function squareAround(region: FaceRegion, margin: number): Omit<CropPlan, "outcome"> {
  return {
    centerX: region.centerX,
    centerY: region.centerY,
    side: Math.max(region.width, region.height) * (1 + 2 * margin),
    angle: region.angle,
  };
}

function assertBoxMatches(box: FaceBox, image: { width: number; height: number }): void {
  if (box.imageWidth !== image.width || box.imageHeight !== image.height) {
    throw new RangeError(`the face box belongs to a ${box.imageWidth}x${box.imageHeight} photo, received a ${image.width}x${image.height} one`);
  }
}

/**
 * Angle of the line from the centre of the eye on the image's left to the other eye's centre,
 * in radians, clockwise in image coordinates.
 */
export function eyeAngle(landmarks: readonly Point[]): number {
  if (landmarks.length !== 68) throw new RangeError(`eye alignment needs 68 landmarks, received ${landmarks.length}`);
  const [[leftX, leftY], [rightX, rightY]] = referencePoints(landmarks);
  return Math.atan2(rightY - leftY, rightX - leftX);
}

function centroid(points: readonly Point[]): Point {
  let sumX = 0;
  let sumY = 0;
  for (const [x, y] of points) {
    sumX += x;
    sumY += y;
  }
  return [sumX / points.length, sumY / points.length];
}

/*
 * More samples per output pixel than this buy nothing visible for a face crop, and a 4x4 box
 * filter already suppresses the aliasing of an 8x reduction well enough for a descriptor.
 */
const maxSamplesPerAxis = 4;

/**
 * Cuts the planned square out of the photo as a size x size image: rotation, padding and resizing
 * in one resampling pass. Each output pixel averages k x k bilinear samples, k growing with the
 * reduction factor, so that shrinking a large face does not alias. Outside the photo is black.
 */
export function cropImage(image: RgbImage, plan: CropPlan, size: number): RgbImage {
  if (!Number.isInteger(size) || size <= 0 || size > 4096) {
    throw new RangeError(`the crop size must be an integer in 1..4096, received ${String(size)}`);
  }
  if (!(plan.side > 0) || !Number.isFinite(plan.centerX) || !Number.isFinite(plan.centerY) || !Number.isFinite(plan.angle)) {
    throw new RangeError(`the crop square is invalid: centre (${plan.centerX}, ${plan.centerY}), side ${plan.side}, angle ${plan.angle}`);
  }
  const source = createRgbImage(image.width, image.height, image.data);
  const out = new Uint8Array(size * size * 3);
  const scale = plan.side / size;
  const perAxis = Math.min(maxSamplesPerAxis, Math.max(1, Math.ceil(scale - 1e-9)));
  const cos = Math.cos(plan.angle);
  const sin = Math.sin(plan.angle);
  const pixel = new Float64Array(3);
  const samples = perAxis * perAxis;
  for (let row = 0; row < size; row++) {
    for (let column = 0; column < size; column++) {
      let red = 0;
      let green = 0;
      let blue = 0;
      for (let sy = 0; sy < perAxis; sy++) {
        const v = (row + (sy + 0.5) / perAxis) * scale - plan.side / 2;
        for (let sx = 0; sx < perAxis; sx++) {
          const u = (column + (sx + 0.5) / perAxis) * scale - plan.side / 2;
          sampleBilinear(source, plan.centerX + u * cos - v * sin, plan.centerY + u * sin + v * cos, pixel);
          red += pixel[0] as number;
          green += pixel[1] as number;
          blue += pixel[2] as number;
        }
      }
      const offset = (row * size + column) * 3;
      out[offset] = Math.round(red / samples);
      out[offset + 1] = Math.round(green / samples);
      out[offset + 2] = Math.round(blue / samples);
    }
  }
  return createRgbImage(size, size, out);
}

/*
 * Pixel (i, j) covers [i, i + 1) x [j, j + 1), so its centre is at (i + 0.5, j + 0.5). A point
 * inside the photo interpolates with neighbours clamped to the edge, so the photo's border pixels
 * are not darkened; a point outside is black, which is the padding.
 */
function sampleBilinear(image: RgbImage, x: number, y: number, into: Float64Array): void {
  if (x < 0 || y < 0 || x > image.width || y > image.height) {
    into.fill(0);
    return;
  }
  const fx = x - 0.5;
  const fy = y - 0.5;
  const x0 = Math.floor(fx);
  const y0 = Math.floor(fy);
  const wx = fx - x0;
  const wy = fy - y0;
  const left = clampIndex(x0, image.width);
  const right = clampIndex(x0 + 1, image.width);
  const top = clampIndex(y0, image.height);
  const bottom = clampIndex(y0 + 1, image.height);
  const { data, width } = image;
  for (let channel = 0; channel < 3; channel++) {
    const topLeft = data[(top * width + left) * 3 + channel] as number;
    const topRight = data[(top * width + right) * 3 + channel] as number;
    const bottomLeft = data[(bottom * width + left) * 3 + channel] as number;
    const bottomRight = data[(bottom * width + right) * 3 + channel] as number;
    const upper = topLeft + (topRight - topLeft) * wx;
    const lower = bottomLeft + (bottomRight - bottomLeft) * wx;
    into[channel] = upper + (lower - upper) * wy;
  }
}

function clampIndex(index: number, length: number): number {
  return index < 0 ? 0 : index >= length ? length - 1 : index;
}

/** The crop of one photo under the policy, and what it was based on. */
export function cropFace(
  image: RgbImage,
  box: FaceBox | null,
  median: RelativeBox | null,
  policy: CropPolicy,
  size: number,
): { image: RgbImage; outcome: CropOutcome } {
  const plan = planCrop(image, box, median, policy);
  return { image: cropImage(image, plan, size), outcome: plan.outcome };
}

/** How many photos had each outcome, every outcome present (zero when none), for reports. */
export function countOutcomes(outcomes: Iterable<CropOutcome>): OutcomeCounts {
  const counts: OutcomeCounts = { detected: 0, median: 0, center: 0, none: 0 };
  for (const outcome of outcomes) counts[outcome] += 1;
  return counts;
}
