import { createRgbImage, type RgbImage } from "./image.js";

/**
 * How sharp a face crop is, and whether a face is good enough to train on or to name.
 *
 * Sharpness is the variance of the Laplacian (Pech-Pacheco et al., 2000; the usual "is this photo
 * blurred" test): the 4-neighbour Laplacian responds to edges and fine texture, which blur removes
 * first, so a blurred face gives a response close to zero everywhere and a small variance.
 *
 *   crop = cropFace(photo, box, median, defaultCropPolicy, sharpnessCropSize).image
 *   verdict = assessFaceQuality({ sharpness: laplacianVariance(crop), faceSide: faceSideOf(box) })
 *
 * The measure depends on scale: the same face shrunk to half its size packs the same edges into
 * fewer pixels and its variance grows, enlarged it falls. So it is only comparable across photos
 * on crops of one fixed size, and the thresholds below hold for 150x150 crops cut by the default
 * crop policy (src/model/face/crop.ts). 150 is the side the face-embedding backbone takes, so with
 * that backbone the measure is taken on the very pixels the network sees, and a small face, which
 * the crop has to enlarge, reads as blurred because for the network it is. On 48, 64 and 96 px
 * crops blur separated less well from real faces (bench/face-quality-study.ts).
 *
 * Where the crop square leaves the photo it is black, and that straight edge adds to the measure;
 * a blurred face cut off at the photo's border can therefore read sharper than it is.
 */

/** The side of the face crop the measure and its thresholds are defined on (see above). */
export const sharpnessCropSize = 150;

/* ITU-R BT.601 luma weights, the grey conversion of JPEG, sharp and OpenCV. */
const lumaRed = 0.299;
const lumaGreen = 0.587;
const lumaBlue = 0.114;

/**
 * Variance of the 4-neighbour Laplacian (up + down + left + right - 4 x centre) of the image's
 * luma, over the interior pixels (the border has no full neighbourhood and is left out). Units:
 * squared grey levels, the grey levels running 0..255. A flat image gives 0, a one-pixel
 * checkerboard (4 x 255)^2; the 150x150 crop of an LFW face gives 34.5 at the median, 13.7 at the
 * 5th percentile (see `defaultFaceQualityThresholds`).
 */
export function laplacianVariance(image: RgbImage): number {
  const { width, height, data } = createRgbImage(image.width, image.height, image.data);
  if (width < 3 || height < 3) {
    throw new RangeError(`the Laplacian needs an image of at least 3x3 pixels, received ${width}x${height}`);
  }
  const grey = new Float64Array(width * height);
  for (let i = 0; i < grey.length; i++) {
    grey[i] = lumaRed * (data[i * 3] as number) + lumaGreen * (data[i * 3 + 1] as number) + lumaBlue * (data[i * 3 + 2] as number);
  }
  // One pass with a running sum and sum of squares; doubles hold 150x150 squared responses exactly enough.
  let sum = 0;
  let sumOfSquares = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const response =
        (grey[i - width] as number) + (grey[i + width] as number) + (grey[i - 1] as number) + (grey[i + 1] as number) - 4 * (grey[i] as number);
      sum += response;
      sumOfSquares += response * response;
    }
  }
  const count = (width - 2) * (height - 2);
  const mean = sum / count;
  // Rounding can leave a hair below zero for a flat image.
  return Math.max(0, sumOfSquares / count - mean * mean);
}

/**
 * The side of a detected face box in pixels of the photo: the longer of its two sides, because a
 * box clamped at the photo's edge loses width or height but not resolution across the face.
 */
export function faceSideOf(box: { width: number; height: number }): number {
  if (!(box.width >= 0) || !(box.height >= 0)) {
    throw new RangeError(`a face box needs a width and a height of 0 or more, received ${box.width}x${box.height}`);
  }
  return Math.max(box.width, box.height);
}

export interface FaceQualityThresholds {
  /** Faces whose crop's `laplacianVariance` is below this are "blurry" (grey levels squared). */
  minSharpness: number;
  /** Faces whose box side (`faceSideOf`, pixels of the photo) is below this are "small". */
  minFaceSide: number;
}

/**
 * Measured with bench/face-quality-study.ts (BENCHMARKS.md, "Face quality: blur and size
 * thresholds") on 2,545 photos: the first 20 of each person of lfw-min10 and the shipped examples,
 * face found by the default detector, default crop at 150x150; degraded copies of 100 of them.
 *
 * minSharpness 8.6 is the 1st percentile of the real crops (0.1%: 6.3, 5%: 13.7, median 34.5), so
 * about 1 real face in 100 is flagged, and those are soft photos (the lowest, 3.5, is visibly out of
 * focus). Blurring the whole photo before detection flags 17% of the faces found at sigma 1 (still
 * named right 98%, as the originals 99%), 99% at sigma 2 and 100% at sigma 3 and 4; from sigma 3 the
 * detector also misses the face in 34% (sigma 3) and 80% (sigma 4) of the copies.
 *
 * minFaceSide 40 px is where recognition breaks down: with the face shrunk to 40 px (detected boxes
 * 42 px, median) a copy is named right and within the open-set threshold as often as the
 * originals (96% and 96%); at 30 px 64%, at 24 px 43%, at 20 px 19%, at 16 px 3%. LFW's own faces
 * are 91 px at the 0.1st percentile of box sides, 124 px at the median, so none is flagged small.
 * The enlarged crop of a small face also reads blurry: 68% of the 30 px faces, 18% of the 40 px.
 */
export const defaultFaceQualityThresholds: FaceQualityThresholds = { minSharpness: 8.6, minFaceSide: 40 };

export interface FaceQualityInput {
  /** `laplacianVariance` of the face's crop at `sharpnessCropSize`. */
  sharpness: number;
  /** `faceSideOf` the face's box, in pixels of the photo. */
  faceSide: number;
}

export type FaceQualityReason = "blurry" | "small";

export interface FaceQualityVerdict {
  ok: boolean;
  /** Every reason that applies, in the order blurry, small; empty when ok. */
  reasons: FaceQualityReason[];
  /** One sentence with the measured values and the thresholds they were held against. */
  message: string;
}

export function assessFaceQuality(input: FaceQualityInput, thresholds: FaceQualityThresholds = defaultFaceQualityThresholds): FaceQualityVerdict {
  validateThresholds(thresholds);
  if (!(input.sharpness >= 0) || !Number.isFinite(input.sharpness)) {
    throw new RangeError(`sharpness must be a finite number of 0 or more (a variance), received ${input.sharpness}`);
  }
  if (!(input.faceSide >= 0) || !Number.isFinite(input.faceSide)) {
    throw new RangeError(`faceSide must be a finite number of pixels, 0 or more, received ${input.faceSide}`);
  }
  const sharpness = input.sharpness.toFixed(1);
  const side = Math.round(input.faceSide);
  const reasons: FaceQualityReason[] = [];
  const problems: string[] = [];
  if (input.sharpness < thresholds.minSharpness) {
    reasons.push("blurry");
    problems.push(`blurry (sharpness ${sharpness}, below the minimum of ${thresholds.minSharpness})`);
  }
  if (input.faceSide < thresholds.minFaceSide) {
    reasons.push("small");
    problems.push(`small (${side} px across, below the minimum of ${thresholds.minFaceSide} px)`);
  }
  if (reasons.length === 0) {
    return {
      ok: true,
      reasons,
      message: `the face is sharp enough (sharpness ${sharpness}, minimum ${thresholds.minSharpness}) and large enough (${side} px across, minimum ${thresholds.minFaceSide} px)`,
    };
  }
  return { ok: false, reasons, message: `the face is ${problems.join(" and ")}; recognition may be unreliable` };
}

function validateThresholds(thresholds: FaceQualityThresholds): void {
  if (!(thresholds.minSharpness >= 0) || !Number.isFinite(thresholds.minSharpness)) {
    throw new RangeError(`minSharpness must be a finite number of 0 or more, received ${thresholds.minSharpness}`);
  }
  if (!(thresholds.minFaceSide >= 0) || !Number.isFinite(thresholds.minFaceSide)) {
    throw new RangeError(`minFaceSide must be a finite number of pixels, 0 or more, received ${thresholds.minFaceSide}`);
  }
}
