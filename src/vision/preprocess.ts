import sharp, { type Sharp } from "sharp";
import { createRgbImage, type RgbImage } from "./image.js";

/**
 * Turning a decoded photo into what a backbone eats: a square of the network's input size
 * (`fitSquare`), then float data in the backbone's own normalisation (`Normalization`), batched
 * into one NHWC buffer (`imageToTensorData`).
 */

/**
 * How a non-square photo becomes square:
 * - "crop" keeps the centred square of side min(width, height) and drops the rest, so the subject
 *   fills the frame but the edges of wide or tall photos are lost;
 * - "pad" keeps the whole photo and letterboxes it with black bands, so nothing is lost but the
 *   subject is smaller. Black is used rather than replicated edges because it is what sharp's
 *   "contain" produces, what most letterboxing pipelines use, and it cannot be mistaken for content.
 */
export type FitMode = "crop" | "pad";

/** Larger squares are certainly a mistake for a face classifier and would only cost memory. */
export const maxFitSize = 4096;

const padColour = { r: 0, g: 0, b: 0 } as const;

/*
 * Lanczos3 is sharp's default and the sharpest kernel that still suppresses aliasing well when
 * reducing, which is the common case here (photos are usually larger than a network's input).
 * Its slight ringing when enlarging small photos matters less to a classifier than the blur that
 * a bilinear or Mitchell kernel would add to every reduced photo.
 */
const resizeKernel = "lanczos3";

/**
 * Makes a size x size copy of the image by cropping or padding (see FitMode) and resizing.
 * An image that already has the requested size is returned as it is, without resampling.
 */
export async function fitSquare(image: RgbImage, size: number, fit: FitMode): Promise<RgbImage> {
  validateFitSize(size);
  // Re-validating the shape turns a malformed image into a clear error instead of a libvips one.
  const source = createRgbImage(image.width, image.height, image.data);
  if (source.width === size && source.height === size) return source;
  const pipeline = fit === "crop" ? cropPipeline(source, size) : padPipeline(source, size);
  return toRgbImage(pipeline);
}

function validateFitSize(size: number): void {
  if (!Number.isInteger(size) || size <= 0 || size > maxFitSize) {
    throw new RangeError(`fitSquare size must be an integer in 1..${maxFitSize}, received ${String(size)}`);
  }
}

function rawInput(image: RgbImage): Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/** The image as a JPEG file (a face kept for review, for one). */
export function encodeJpeg(image: RgbImage, quality: number): Promise<Buffer> {
  return rawInput(image).jpeg({ quality }).toBuffer();
}

/*
 * The square is extracted before resizing rather than left to "cover": resizing first would let
 * the kernel blend the discarded edges into the border pixels of the kept square, and the crop
 * position would depend on how the intermediate size was rounded.
 */
function cropPipeline(image: RgbImage, size: number): Sharp {
  const side = Math.min(image.width, image.height);
  const region = {
    left: Math.floor((image.width - side) / 2),
    top: Math.floor((image.height - side) / 2),
    width: side,
    height: side,
  };
  return rawInput(image).extract(region).resize(size, size, { fit: "cover", position: "centre", kernel: resizeKernel });
}

/*
 * "contain" resizes the photo alone and then embeds it in the padded square, so the black bands
 * stay exactly black and never bleed into the photo's own edge pixels.
 */
function padPipeline(image: RgbImage, size: number): Sharp {
  return rawInput(image).resize(size, size, {
    fit: "contain",
    position: "centre",
    kernel: resizeKernel,
    background: padColour,
  });
}

async function toRgbImage(pipeline: Sharp): Promise<RgbImage> {
  // Removing alpha guards against libvips adding a channel while embedding the background.
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) {
    throw new Error(`expected 3 channels from sharp, received ${info.channels}`);
  }
  // A plain Uint8Array view keeps Buffer's different slice() semantics away from callers.
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return createRgbImage(info.width, info.height, pixels);
}

/**
 * A backbone's input normalisation: turns one image into NHWC float data of length
 * width * height * 3, in whatever channel order and scale the backbone was trained with.
 */
export type Normalization = (image: RgbImage) => Float32Array;

/*
 * Keras does the subtraction in float32 with the means themselves rounded to float32, so they are
 * rounded here too: subtracting the float64 means and rounding afterwards differs in the last bit
 * for about a quarter of the byte values.
 */
const caffeMeanB = Math.fround(103.939);
const caffeMeanG = Math.fround(116.779);
const caffeMeanR = Math.fround(123.68);

/**
 * keras.applications.imagenet_utils.preprocess_input in "caffe" mode (VGG16, VGGFace, ResNet50):
 * RGB becomes BGR, then the ImageNet channel means are subtracted, without scaling.
 */
export const caffeNormalization: Normalization = (image) => {
  const { data } = image;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += 3) {
    out[i] = (data[i + 2] as number) - caffeMeanB;
    out[i + 1] = (data[i + 1] as number) - caffeMeanG;
    out[i + 2] = (data[i] as number) - caffeMeanR;
  }
  return out;
};

/** Values in [0, 1] in RGB order, as face-embedding networks trained on x / 255 expect. */
export const unitNormalization: Normalization = (image) => {
  const { data } = image;
  const out = new Float32Array(data.length);
  // Division rather than multiplying by 1/255 matches float32 x / 255 exactly.
  for (let i = 0; i < data.length; i++) out[i] = (data[i] as number) / 255;
  return out;
};

/** Normalises a batch of equally sized images into one NHWC buffer of length n * h * w * 3. */
export function imageToTensorData(images: readonly RgbImage[], normalize: Normalization): Float32Array {
  const first = images[0];
  if (first === undefined) return new Float32Array(0);
  const perImage = first.width * first.height * 3;
  const out = new Float32Array(images.length * perImage);
  images.forEach((image, index) => {
    assertSameSize(image, first, index);
    const values = normalize(image);
    if (values.length !== perImage) {
      throw new RangeError(`normalisation of image ${index} returned ${values.length} values, expected ${perImage}`);
    }
    out.set(values, index * perImage);
  });
  return out;
}

function assertSameSize(image: RgbImage, first: RgbImage, index: number): void {
  if (image.width !== first.width || image.height !== first.height) {
    throw new RangeError(
      `all images in a batch must share one size: image ${index} is ${image.width}x${image.height}, image 0 is ${first.width}x${first.height}`,
    );
  }
}
