import { decodeImage } from "../../vision/decode.js";
import type { RgbImage } from "../../vision/image.js";
import { laplacianVariance, sharpnessCropSize } from "../../vision/sharpness.js";
import { cropImage, planCrop, type CropPolicy } from "../face/crop.js";
import type { FaceBox, FaceDetector } from "../face/detector.js";
import { defaultMaxFaces } from "./prepare.js";

/**
 * What training learns about the faces of one photo: every face the detector finds, each with the
 * sharpness of its crop (the face survey prefers the sharp face of a photo showing several). One
 * function, run on the calling thread (engine.workers 0) or in a face-path worker, so the box cache
 * holds the same entries whichever ran it.
 */

/** The faces of one photo as kept: every face found (the largest `defaultMaxFaces`), each with its crop's sharpness. */
export interface PhotoFaces {
  /** Faces the detector found in all, also those beyond the ones kept. */
  found: number;
  faces: Array<{ box: FaceBox; sharpness: number }>;
}

/** Every face of a decoded photo, largest first, each with the sharpness of its crop. */
export async function findFaces(detector: FaceDetector, policy: CropPolicy, image: RgbImage): Promise<PhotoFaces> {
  const { faces, found } = await detector.detectAll(image, { maxFaces: defaultMaxFaces });
  return {
    found,
    faces: faces.map((box) => ({ box, sharpness: laplacianVariance(cropImage(image, planCrop(image, box, null, policy), sharpnessCropSize)) })),
  };
}

/**
 * The faces of a photo's file: decoded as training decodes it (full size, EXIF orientation applied,
 * refused beyond `maxPixels`), then `findFaces`. Throws ImageDecodeError on bad input.
 */
export async function findFacesInFile(detector: FaceDetector, policy: CropPolicy, bytes: Uint8Array, maxPixels: number): Promise<PhotoFaces> {
  return findFaces(detector, policy, await decodeImage(bytes, { maxPixels }));
}
