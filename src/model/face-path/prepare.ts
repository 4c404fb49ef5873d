import { setImmediate } from "node:timers/promises";
import { decodeImage, readImageHeader } from "../../vision/decode.js";
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
  /** Crop at most this many faces, the largest first; default `defaultMaxFaces`. */
  maxFaces?: number;
  /** Faces whose box is narrower or shorter than this, in pixels of the photo, are listed but not cropped; default `defaultMinFaceSize`. */
  minFaceSize?: number;
}

/** How many faces of one photo are answered unless the caller says otherwise, and the most it may ask. */
export const defaultMaxFaces = 10;
export const maxFacesLimit = 100;

/**
 * Faces smaller than this many pixels a side are listed as too small, not named. The detectors
 * find faces from about 20 pixels, but an embedding of a face upscaled from fewer pixels than that
 * is mostly interpolation; a client can ask for any size from 0 (name everything found).
 */
export const defaultMinFaceSize = 20;
export const minFaceSizeLimit = 10_000;

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

/** A rectangle in pixels of the upright photo as it was sent (EXIF orientation applied, not shrunk). */
export interface PixelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One face of a photo, ready for the backbone unless it is too small to name. */
export interface PreparedFace {
  box: PixelBox;
  /** The detector's confidence, 0..1; null when the bundle does not detect faces (crop center or none). */
  detectionScore: number | null;
  /** The crop the backbone takes, cut exactly as training cuts it; null when the face is smaller than minFaceSize. */
  image: RgbImage | null;
}

/**
 * A photo's faces, largest first. For a bundle that detects faces (crop "face"): every face found up
 * to maxFaces, `facesFound` counting all of them (0: no face). For crop "center" or "none" the whole
 * photo is the one "face", and `facesFound` is null: nothing was detected.
 */
export interface PreparedFaces {
  /** The upright photo's size, in whose pixels the boxes are. */
  width: number;
  height: number;
  facesFound: number | null;
  faces: PreparedFace[];
  /** How the faces were cropped: detected, center or none. */
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

/**
 * Decodes (see `decodeForPrediction`) one photo and crops each of its faces exactly as training
 * crops a photo's face (the same crop policy, square and resize; training picks one face per photo,
 * here every face is answered). A photo without a face has no crops: the service answers it
 * "no_face", where training falls back to the dataset's median face. Throws ImageDecodeError on bad input.
 */
export async function prepareFaces(bytes: Uint8Array, preparation: Preparation, options: PrepareOptions = {}): Promise<PreparedFaces> {
  const maxFaces = options.maxFaces ?? defaultMaxFaces;
  const minFaceSize = options.minFaceSize ?? defaultMinFaceSize;
  const header = await readImageHeader(bytes);
  const image = await decodeForPrediction(bytes, preparation.maxPixels, options);
  const { crop, inputSize, detector } = preparation;
  const upright = { width: header.width, height: header.height };
  if (crop.mode !== "face") {
    const whole = { box: { x: 0, y: 0, ...upright }, detectionScore: null, image: await fitSquare(image, inputSize, crop.mode === "center" ? "crop" : "pad") };
    return { ...upright, facesFound: null, faces: [whole], crop: crop.mode };
  }
  // Detection runs its networks on this thread for hundreds of milliseconds on a slow machine. On
  // the main thread, waiting I/O (a health check) gets its turn before it and again before the
  // crops; in a worker the breaks cost nothing.
  await setImmediate();
  const detected = detector ? await detector.detectAll(image, { maxFaces }) : { faces: [], found: 0 };
  await setImmediate();
  // The photo was decoded shrunk (at most predictionDecodeSide): boxes go back to its own pixels.
  const scaleX = header.width / image.width;
  const scaleY = header.height / image.height;
  const faces = detected.faces.map((face): PreparedFace => {
    const box = { x: face.x * scaleX, y: face.y * scaleY, width: face.width * scaleX, height: face.height * scaleY };
    const tooSmall = Math.min(box.width, box.height) < minFaceSize;
    return { box, detectionScore: face.score, image: tooSmall ? null : cropImage(image, planCrop(image, face, crop.medianBox, defaultCropPolicy), inputSize) };
  });
  return { ...upright, facesFound: detected.found, faces, crop: "detected" };
}

/** The crops of a photo's faces that are to be scored, in order: every face but those too small. */
export function croppedFaces(prepared: PreparedFaces): RgbImage[] {
  return prepared.faces.flatMap((face) => (face.image ? [face.image] : []));
}
