import sharp, { type Metadata } from "sharp";
import { createRgbImage, type RgbImage } from "./image.js";
import { readQuickHeader } from "./header.js";
import { decodePnm, looksLikePnm, PnmError, readPnmHeader } from "./pnm.js";

/**
 * Reading photos. Two steps on purpose: `readImageHeader` learns format and size from the header
 * alone, so a decompression bomb is refused before any pixel is allocated; `decodeImage` then
 * produces RGB with the EXIF orientation applied.
 */

export type ImageFormat = "jpeg" | "png" | "webp" | "gif" | "tiff" | "avif" | "pgm" | "ppm";

export interface ImageHeader {
  format: ImageFormat;
  /** Size after the EXIF orientation is applied, which is what the decoded pixels will have. */
  width: number;
  height: number;
}

export type DecodeFailure = "not_an_image" | "unsupported_format" | "corrupt" | "too_large";

export class ImageDecodeError extends Error {
  override readonly name = "ImageDecodeError";
  constructor(
    readonly code: DecodeFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/*
 * libvips keeps recently used operations in a cache meant for re-processing the same file. We decode
 * each photo once, so the cache only costs: turning it off makes a dataset check ~60% faster.
 */
sharp.cache(false);

/** Photos up to this size are verified by a full decode; larger ones by shrink-on-load. */
const fullDecodePixels = 4_000_000;

/** Formats sharp can open that are not photos of faces, and why we refuse them. */
const refusedFormats: Record<string, string> = {
  svg: "an SVG drawing, not a photo",
  pdf: "a PDF document, not a photo",
  raw: "raw pixel data without a header",
  magick: "a format only ImageMagick reads",
};

/**
 * The pixel budget is enforced by us from the header; sharp's own limit would throw before we can
 * say what the size was. libvips decodes with its own, smaller internal caches.
 */
const headerOptions = { limitInputPixels: false, failOn: "error" } as const;

export async function readImageHeader(bytes: Uint8Array): Promise<ImageHeader> {
  if (bytes.length === 0) throw new ImageDecodeError("not_an_image", "the file is empty");
  if (looksLikePnm(bytes)) {
    try {
      const header = readPnmHeader(bytes);
      return { format: header.kind, width: header.width, height: header.height };
    } catch (error) {
      throw new ImageDecodeError("corrupt", `unreadable PGM/PPM header: ${(error as Error).message}`, { cause: error });
    }
  }
  const quick = readQuickHeader(bytes);
  if (quick) return quick;
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, headerOptions).metadata();
  } catch (error) {
    const message = (error as Error).message;
    if (/unsupported image format/i.test(message)) {
      throw new ImageDecodeError("not_an_image", "the content is not in any image format faceops reads", { cause: error });
    }
    throw new ImageDecodeError("corrupt", `the image header is damaged (${message})`, { cause: error });
  }
  const format = acceptedFormat(metadata);
  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (!width || !height) throw new ImageDecodeError("corrupt", "the header declares no image size");
  return { format, width, height };
}

function acceptedFormat(metadata: Metadata): ImageFormat {
  const format = metadata.format as string;
  if (format === "heif") {
    if (metadata.compression === "av1") return "avif";
    throw new ImageDecodeError("unsupported_format", "HEIC photos are not supported; convert them to JPEG or AVIF");
  }
  if (format === "jpeg" || format === "png" || format === "webp" || format === "gif" || format === "tiff") return format;
  const why = refusedFormats[format] ?? `the ${format} format is not supported`;
  throw new ImageDecodeError("unsupported_format", `the file is ${why}; use JPEG, PNG, WebP, GIF, TIFF, AVIF or PGM`);
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (sharp checks the header before decoding). */
  maxPixels: number;
}

/** Decodes any accepted format to 8-bit RGB, EXIF orientation applied, alpha flattened onto black. */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions): Promise<RgbImage> {
  // The header first: it refuses what is not a photo (SVG, PDF, text) with the same codes the
  // dataset check uses, before sharp would render or decode any of it.
  const header = await readImageHeader(bytes);
  if (header.width * header.height > options.maxPixels) {
    throw new ImageDecodeError("too_large", `the image declares ${header.width}x${header.height} pixels, over the pixel limit of ${options.maxPixels}`);
  }
  if (looksLikePnm(bytes)) return decodePnmToRgb(bytes, options);
  try {
    const { data, info } = await sharp(bytes, { failOn: "error", limitInputPixels: options.maxPixels, autoOrient: true })
      .flatten({ background: "#000000" })
      .toColourspace("srgb")
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return toRgb(new Uint8Array(data.buffer, data.byteOffset, data.length), info.width, info.height, info.channels);
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw new ImageDecodeError("corrupt", `the image cannot be decoded (${(error as Error).message})`, { cause: error });
  }
}

function decodePnmToRgb(bytes: Uint8Array, options: DecodeOptions): RgbImage {
  try {
    const header = readPnmHeader(bytes);
    if (header.width * header.height > options.maxPixels) {
      throw new ImageDecodeError("too_large", `the image declares ${header.width}x${header.height} pixels, over the pixel limit of ${options.maxPixels}`);
    }
    return toRgb(decodePnm(bytes, header), header.width, header.height, header.channels);
  } catch (error) {
    if (error instanceof PnmError) throw new ImageDecodeError("corrupt", `the PGM/PPM file is damaged: ${error.message}`, { cause: error });
    throw error;
  }
}

function toRgb(samples: Uint8Array, width: number, height: number, channels: number): RgbImage {
  if (channels === 3) return createRgbImage(width, height, samples);
  if (channels !== 1) throw new ImageDecodeError("corrupt", `decoded to ${channels} channels, expected 1 or 3`);
  const rgb = new Uint8Array(width * height * 3);
  for (let index = 0; index < samples.length; index++) {
    const value = samples[index] as number;
    rgb[index * 3] = value;
    rgb[index * 3 + 1] = value;
    rgb[index * 3 + 2] = value;
  }
  return createRgbImage(width, height, rgb);
}

/**
 * Proves that every byte of the photo decodes, without keeping the pixels. Small photos are decoded
 * in full, which is fastest. Large ones go through a resize, so JPEGs use shrink-on-load: the
 * entropy-coded data is still read to its end (truncation is caught), but a 40-megapixel photo
 * does not cost 120 MB of RAM. Returns nothing; throws ImageDecodeError.
 */
export async function verifyDecodes(bytes: Uint8Array, header: ImageHeader): Promise<void> {
  if (header.format === "pgm" || header.format === "ppm") {
    decodePnmToRgb(bytes, { maxPixels: header.width * header.height });
    return;
  }
  try {
    const decoder = sharp(bytes, { failOn: "error", limitInputPixels: false, sequentialRead: true });
    if (header.width * header.height > fullDecodePixels) decoder.resize({ width: 512, height: 512, fit: "inside" });
    await decoder.raw().toBuffer();
  } catch (error) {
    throw new ImageDecodeError("corrupt", `the image data is corrupt or truncated (${(error as Error).message})`, { cause: error });
  }
}
