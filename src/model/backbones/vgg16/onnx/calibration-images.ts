import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeImage } from "../../../../vision/decode.js";
import { caffeNormalization, fitSquare, imageToTensorData } from "../../../../vision/preprocess.js";

/**
 * The photos the int8 engine calibrates its activation scales on: the example faces shipped with
 * faceops (examples/faces, LFW, credited in examples/CREDITS.md), so that the scales, and therefore
 * the features, are the same on every machine and in every run; cached features stay valid. The
 * same folder sits five levels above this file in the sources and in the build.
 */

export const calibrationFolder = fileURLToPath(new URL("../../../../../examples/faces/", import.meta.url));
/** Photos used; spread evenly over the folder's sorted list. */
export const calibrationPhotoCount = 16;

export interface CalibrationImages {
  /** NHWC float32, caffe-normalised, count x size x size x 3. */
  data: Float32Array;
  count: number;
  /** sha256 over the photos' bytes, in order: part of the int8 backbone's fingerprint. */
  sha256: string;
}

const cache = new Map<number, Promise<CalibrationImages>>();

export function calibrationImages(inputSize: number): Promise<CalibrationImages> {
  let images = cache.get(inputSize);
  if (!images) {
    images = loadCalibrationImages(inputSize);
    cache.set(inputSize, images);
    images.catch(() => cache.delete(inputSize));
  }
  return images;
}

async function loadCalibrationImages(inputSize: number): Promise<CalibrationImages> {
  const people = (await readdir(calibrationFolder, { withFileTypes: true }).catch((error: unknown) => {
    throw new Error(`the int8 VGG16 engine calibrates on ${calibrationFolder}, which cannot be read: ${(error as Error).message}`, { cause: error });
  }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const files: string[] = [];
  for (const person of people) {
    for (const name of (await readdir(join(calibrationFolder, person))).sort()) if (/\.jpe?g$/i.test(name)) files.push(join(calibrationFolder, person, name));
  }
  if (files.length === 0) throw new Error(`the int8 VGG16 engine found no calibration photos in ${calibrationFolder}`);
  const step = Math.max(1, Math.floor(files.length / calibrationPhotoCount));
  const chosen = files.filter((_, index) => index % step === 0).slice(0, calibrationPhotoCount);
  const hash = createHash("sha256");
  const images = [];
  for (const file of chosen) {
    const bytes = await readFile(file);
    hash.update(bytes);
    images.push(await fitSquare(await decodeImage(bytes, { maxPixels: 40_000_000 }), inputSize, "crop"));
  }
  return { data: imageToTensorData(images, caffeNormalization), count: images.length, sha256: hash.digest("hex") };
}
