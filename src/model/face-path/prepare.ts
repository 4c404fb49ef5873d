import { setImmediate } from "node:timers/promises";
import { decodeImage } from "../../vision/decode.js";
import type { RgbImage } from "../../vision/image.js";
import { fitSquare } from "../../vision/preprocess.js";
import type { CropReference } from "../bundle.js";
import { cropImage, defaultCropPolicy, planCrop } from "../face/crop.js";
import type { FaceDetector } from "../face/detector.js";

/**
 * A photo turned into what a bundle's backbone takes: decoded, then cropped the way its training
 * cropped (the same face box logic, crop square and final resize). One function, run on the
 * calling thread (`faceops predict`) or in a face-path worker (the service), so both give the same
 * pixels, and so the same answers.
 */

/**
 * The longest side a photo is decoded at for prediction: twice the face detector's own working
 * size (it never looks at more than 1024 pixels, see face/detector.ts), so the face found is cut
 * from twice the detail it was found in. A face the detectors can find covers at least ~7% of the
 * photo's longer side, i.e. ~150 pixels at 2048: the face-embedding net's whole input, and most of
 * VGG16's 224. Measured with bench/decode-side.ts (40 held-out LFW photos of 8 people): enlarged
 * 16x to 4000x4000, decoding at 2048 changes no answer and no score by more than 0.025 against the
 * full size; placed small (~7% of the side) in a 6000x4000 scene, decoding at 1024, 2048 or 4096
 * changes one or two answers of 40, the same face each time, because the detector's 1024-pixel
 * input is resampled differently (it finds or misses the face), plus one photo that was on the
 * open-set threshold. Meanwhile a 40 MP photo decodes to 12.6 MB of RGB instead of 120 MB, and
 * JPEG and WebP decode at a reduced scale directly.
 */
export const predictionDecodeSide = 2048;

export interface PrepareOptions {
  /** Refuse photos with more pixels than this, from their header; default `dataset.maxPixels`. */
  maxPixels?: number;
  /** Longest side decoded; default `predictionDecodeSide`, null for the photo's full size (as training). */
  maxSide?: number | null;
}

/** What a bundle's photos go through before its backbone. */
export interface Preparation {
  crop: Pick<CropReference, "mode" | "medianBox">;
  /** The backbone's input side. */
  inputSize: number;
  /** The bundle's face detector, when its crop mode is "face" (null: no face is ever found). */
  detector: FaceDetector | null;
  /** The default of `PrepareOptions.maxPixels`. */
  maxPixels: number;
}

export interface PreparedPhoto {
  image: RgbImage;
  /** How the photo was cropped: detected, median, center or none. */
  crop: string;
}

/**
 * Decodes one photo for prediction: RGB, EXIF orientation applied, shrunk while decoding to at
 * most `predictionDecodeSide` pixels on its longer side unless `maxSide` says otherwise.
 * Throws ImageDecodeError on bad input.
 */
export function decodeForPrediction(bytes: Uint8Array, defaultMaxPixels: number, options: PrepareOptions = {}): Promise<RgbImage> {
  const maxSide = options.maxSide === undefined ? predictionDecodeSide : options.maxSide;
  return decodeImage(bytes, { maxPixels: options.maxPixels ?? defaultMaxPixels, ...(maxSide === null ? {} : { maxSide }) });
}

/** Decodes (see `decodeForPrediction`) and crops one photo. Throws ImageDecodeError on bad input. */
export async function preparePhoto(bytes: Uint8Array, preparation: Preparation, options: PrepareOptions = {}): Promise<PreparedPhoto> {
  const image = await decodeForPrediction(bytes, preparation.maxPixels, options);
  const { crop, inputSize, detector } = preparation;
  if (crop.mode !== "face") return { image: await fitSquare(image, inputSize, crop.mode === "center" ? "crop" : "pad"), crop: crop.mode };
  // Detection runs its networks on this thread for hundreds of milliseconds on a slow machine. On
  // the main thread, waiting I/O (a health check) gets its turn before it and again before the
  // crop; in a worker the breaks cost nothing.
  await setImmediate();
  const box = detector ? await detector.detect(image) : null;
  await setImmediate();
  const plan = planCrop(image, box, crop.medianBox, defaultCropPolicy);
  return { image: cropImage(image, plan, inputSize), crop: plan.outcome };
}
