import sharp, { type Metadata } from "sharp";
import { applyCodecPolicy } from "./codecs.js";
import { createRgbImage, type RgbImage } from "./image.js";
import { readQuickHeader } from "./header.js";
import { pnmSamples, PnmError, readPnmHeader, type PnmHeader } from "./pnm.js";
import { sniffFormat, type ImageFormat } from "./sniff.js";

/**
 * Reading photos. Two steps on purpose: `readImageHeader` learns format and size from the header
 * alone, so a decompression bomb is refused before any pixel is allocated and a format we do not
 * read is refused before any decoder parses it; `decodeImage` then produces RGB with the EXIF
 * orientation applied, optionally shrunk while decoding (`maxSide`).
 */

export type { ImageFormat } from "./sniff.js";

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

// Before the first byte reaches libvips: only our formats' loaders, no cache, one thread per image.
applyCodecPolicy();

/** Photos up to this size are verified by a full decode; larger ones by shrink-on-load. */
const fullDecodePixels = 4_000_000;

const formatsWeRead = "use JPEG, PNG, WebP, GIF, TIFF, AVIF, PGM or PPM";

/**
 * The pixel budget is enforced by us from the header; sharp's own limit would throw before we can
 * say what the size was. libvips decodes with its own, smaller internal caches.
 */
const headerOptions = { limitInputPixels: false, failOn: "error" } as const;

export async function readImageHeader(bytes: Uint8Array): Promise<ImageHeader> {
  if (bytes.length === 0) throw new ImageDecodeError("not_an_image", "the file is empty");
  const sniffed = sniffFormat(bytes);
  if (sniffed.kind === "unknown") throw new ImageDecodeError("not_an_image", "the content is not in any image format faceops reads");
  if (sniffed.kind === "refused") throw new ImageDecodeError("unsupported_format", `the file is ${sniffed.why}; ${formatsWeRead}`);
  if (sniffed.format === "pgm" || sniffed.format === "ppm") {
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

/** libvips' own name for the format; our sniffing already let only our formats through. */
function acceptedFormat(metadata: Metadata): ImageFormat {
  const format = metadata.format as string;
  if (format === "heif") {
    if (metadata.compression === "av1") return "avif";
    throw new ImageDecodeError("unsupported_format", `the file is a HEIC photo, which faceops does not read (convert it to JPEG or AVIF); ${formatsWeRead}`);
  }
  if (format === "jpeg" || format === "png" || format === "webp" || format === "gif" || format === "tiff") return format;
  throw new ImageDecodeError("unsupported_format", `the file is in the ${format} format; ${formatsWeRead}`);
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this, from the header, before decoding. */
  maxPixels: number;
  /**
   * Shrink while decoding so that neither side exceeds this (aspect kept, never enlarged). JPEG and
   * WebP then decode at a reduced scale directly, and no format holds the full-size RGB. Unset:
   * the photo's own size, as training decodes.
   */
  maxSide?: number;
}

/** Decodes any accepted format to 8-bit RGB, EXIF orientation applied, alpha flattened onto black. */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions): Promise<RgbImage> {
  // The header first: it refuses what is not a photo (SVG, PDF, text) with the same codes the
  // dataset check uses, before sharp would render or decode any of it.
  const header = await readImageHeader(bytes);
  if (header.width * header.height > options.maxPixels) {
    throw new ImageDecodeError("too_large", `the image declares ${header.width}x${header.height} pixels, over the pixel limit of ${options.maxPixels}`);
  }
  if (options.maxSide !== undefined && !(Number.isInteger(options.maxSide) && options.maxSide > 0)) {
    throw new RangeError(`maxSide must be a positive integer, received ${options.maxSide}`);
  }
  if (header.format === "pgm" || header.format === "ppm") return decodePnmToRgb(bytes, options);
  try {
    const decoder = sharp(bytes, { failOn: "error", limitInputPixels: options.maxPixels, autoOrient: true });
    if (options.maxSide !== undefined) decoder.resize({ width: options.maxSide, height: options.maxSide, fit: "inside", withoutEnlargement: true });
    const { data, info } = await decoder.flatten({ background: "#000000" }).toColourspace("srgb").removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return toRgb(new Uint8Array(data.buffer, data.byteOffset, data.length), info.width, info.height, info.channels);
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw new ImageDecodeError("corrupt", `the image cannot be decoded (${(error as Error).message})`, { cause: error });
  }
}

/**
 * Roughly the most memory (bytes) decoding this photo holds at once, from its header alone, so that
 * callers can admit fewer large decodes at a time. Measured with bench/decode-memory.ts (growth of
 * the peak RSS over one decode of a 6300x6300 photo shrunk to 2048; AVIF 4000x4000): JPEG, PNG,
 * WebP and TIFF stream line by line through the shrink and need 26-46 MB, the 12.6 MB of RGB they
 * produce included, whatever the photo's size; GIF holds the whole frame (~5 bytes a pixel), AVIF
 * the whole picture several times over in libheif and libaom (~19 bytes a pixel, shrunk or not: a
 * 40 MP AVIF of under 1 KB needs 700 MB), PGM and PPM at most their 8-bit samples (1 or 3 bytes a
 * pixel). The overhead below is rounded up, so the estimate errs on the high side.
 */
export function decodeMemoryEstimate(header: ImageHeader, options: { maxSide?: number } = {}): number {
  const pixels = header.width * header.height;
  const scale = Math.min(1, (options.maxSide ?? Number.POSITIVE_INFINITY) / Math.max(header.width, header.height));
  const output = Math.ceil(header.width * scale) * Math.ceil(header.height * scale) * 3;
  return streamingOverhead + output + pixels * wholePictureBytes[header.format];
}

/** The line buffers and tiles libvips keeps while it streams one photo through a shrink. */
const streamingOverhead = 32 * 1024 * 1024;

/** Bytes a pixel held by the decoder beside the output, for formats that cannot be streamed. */
const wholePictureBytes: Record<ImageFormat, number> = { jpeg: 0, png: 0, webp: 0, tiff: 0, gif: 5, avif: 18, pgm: 1, ppm: 3 };

async function decodePnmToRgb(bytes: Uint8Array, options: DecodeOptions): Promise<RgbImage> {
  let header: PnmHeader;
  let samples: Uint8Array;
  try {
    header = readPnmHeader(bytes);
    if (header.width * header.height > options.maxPixels) {
      throw new ImageDecodeError("too_large", `the image declares ${header.width}x${header.height} pixels, over the pixel limit of ${options.maxPixels}`);
    }
    samples = pnmSamples(bytes, header);
  } catch (error) {
    if (error instanceof PnmError) throw new ImageDecodeError("corrupt", `the PGM/PPM file is damaged: ${error.message}`, { cause: error });
    throw error;
  }
  const { width, height, channels } = header;
  const maxSide = options.maxSide ?? Number.POSITIVE_INFINITY;
  if (Math.max(width, height) <= maxSide) return toRgb(samples.buffer === bytes.buffer ? samples.slice() : samples, width, height, channels);
  // Shrunk by libvips, off the event loop, straight from the file's own raster when it is 8-bit.
  const { data, info } = await sharp(samples, { raw: { width, height, channels } })
    .resize({ width: maxSide, height: maxSide, fit: "inside", withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return toRgb(new Uint8Array(data.buffer, data.byteOffset, data.length), info.width, info.height, info.channels);
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
    try {
      pnmSamples(bytes, readPnmHeader(bytes));
    } catch (error) {
      throw new ImageDecodeError("corrupt", `the PGM/PPM file is damaged: ${(error as Error).message}`, { cause: error });
    }
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
