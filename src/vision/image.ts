/**
 * The in-memory picture every vision step passes along: 8-bit RGB, interleaved, row-major,
 * `data.length === width * height * 3`. Decoders produce it, preprocessing and augmentation
 * transform it, and backbones turn it into tensors through their own normalisation.
 */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export function createRgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`image size must be positive integers, received ${width}x${height}`);
  }
  const expected = width * height * 3;
  const pixels = data ?? new Uint8Array(expected);
  if (pixels.length !== expected) {
    throw new RangeError(`RGB data for ${width}x${height} needs ${expected} bytes, received ${pixels.length}`);
  }
  return { width, height, data: pixels };
}
