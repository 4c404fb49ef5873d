import { seededRandom } from "../util/random.js";
import { createRgbImage, type RgbImage } from "./image.js";

/**
 * Training-time augmentation in the spirit of Keras' ImageDataGenerator: a random rotation, shift,
 * zoom, horizontal flip and brightness change per copy of a photo. Everything is derived from a
 * (seed, variant) pair through faceops' seeded generator (util/random.ts) and warped in plain
 * TypeScript, so the same pair yields byte-identical pixels on every machine, which keeps training
 * runs reproducible and lets cached augmented copies be trusted.
 */

export interface AugmentOptions {
  /** Degrees; the angle is uniform in [-rotationRange, rotationRange]. At most 180. */
  readonly rotationRange: number;
  /** Fraction of the width; the shift is uniform in [-range, range]. At most 1. */
  readonly widthShiftRange: number;
  /** Fraction of the height; the shift is uniform in [-range, range]. At most 1. */
  readonly heightShiftRange: number;
  /** The zoom factor is uniform in [1 - zoomRange, 1 + zoomRange], as in Keras. Below 1. */
  readonly zoomRange: number;
  /** Mirror left-right with probability 0.5. */
  readonly horizontalFlip: boolean;
  /** Multiply every channel by a factor uniform in [a, b], with 0 < a <= b; null leaves it alone. */
  readonly brightnessRange: readonly [number, number] | null;
}

/**
 * Mild enough that a face stays recognisable and mostly inside the frame, strong enough to
 * cover the tilt, framing and exposure differences between snapshots of the same person.
 */
export const defaultAugmentOptions: AugmentOptions = {
  rotationRange: 15,
  widthShiftRange: 0.1,
  heightShiftRange: 0.1,
  zoomRange: 0.1,
  horizontalFlip: true,
  brightnessRange: [0.8, 1.2],
};

/**
 * One concrete augmentation. The warp is applied about the image centre in this order: flip,
 * zoom, rotation, shift; then brightness.
 */
export interface AugmentParams {
  /** Degrees, counter-clockwise as seen on screen for positive values, like Keras. */
  readonly angleDeg: number;
  /** Fraction of the width; positive moves the content to the right. */
  readonly shiftX: number;
  /** Fraction of the height; positive moves the content down. */
  readonly shiftY: number;
  /**
   * Keras' meaning: the factor by which output coordinates are scaled to find their source, so
   * values above 1 show more of the scene (the face gets smaller) and values below 1 magnify it.
   * Unlike Keras, one factor serves both axes, because stretching a face changes its identity cues.
   */
  readonly zoom: number;
  /** Mirror left-right. */
  readonly flip: boolean;
  /** Factor applied to every channel after the warp, with clamping to [0, 255]. */
  readonly brightness: number;
}

/** The parameters that reproduce the input exactly; variant 0 always maps to these. */
export const identityAugmentParams: AugmentParams = {
  angleDeg: 0,
  shiftX: 0,
  shiftY: 0,
  zoom: 1,
  flip: false,
  brightness: 1,
};

/** Variant 0 is the photo itself; augmented copies use variants 1, 2, ... */
export const originalVariant = 0;

/**
 * One augmented copy of a photo: variant 0 returns the input object itself (so callers can treat
 * the original and its copies uniformly; nobody may mutate it), variants 1, 2, ... return new images.
 * Options and seed are validated for every variant, so a bad configuration fails on the first photo.
 */
export function augment(image: RgbImage, options: AugmentOptions, seed: number, variant: number): RgbImage {
  const params = sampleAugmentation(options, seed, variant);
  if (variant === originalVariant) return image;
  return applyAugmentation(image, params);
}

/**
 * Draws the parameters for one (seed, variant). Every draw is made even when its option is
 * disabled, so turning one option off does not change the values the others receive.
 */
export function sampleAugmentation(options: AugmentOptions, seed: number, variant: number): AugmentParams {
  validateAugmentOptions(options);
  validateSeed(seed, variant);
  if (variant === originalVariant) return identityAugmentParams;
  const next = seededRandom(hashSeed(seed, variant));
  const angleDeg = uniform(next, -options.rotationRange, options.rotationRange);
  const shiftX = uniform(next, -options.widthShiftRange, options.widthShiftRange);
  const shiftY = uniform(next, -options.heightShiftRange, options.heightShiftRange);
  const zoom = uniform(next, 1 - options.zoomRange, 1 + options.zoomRange);
  const flip = next() < 0.5 && options.horizontalFlip;
  const brightnessDraw = next();
  const range = options.brightnessRange;
  const brightness = range === null ? 1 : range[0] + (range[1] - range[0]) * brightnessDraw;
  return { angleDeg, shiftX, shiftY, zoom, flip, brightness };
}

export function validateAugmentOptions(options: AugmentOptions): void {
  requireInRange("rotationRange", options.rotationRange, 180, true);
  requireInRange("widthShiftRange", options.widthShiftRange, 1, true);
  requireInRange("heightShiftRange", options.heightShiftRange, 1, true);
  requireInRange("zoomRange", options.zoomRange, 1, false);
  validateBrightnessRange(options.brightnessRange);
}

function requireInRange(name: string, value: number, max: number, maxIncluded: boolean): void {
  const withinMax = maxIncluded ? value <= max : value < max;
  if (!Number.isFinite(value) || value < 0 || !withinMax) {
    const bound = maxIncluded ? `${max}]` : `${max})`;
    throw new RangeError(`augment option ${name} must be in [0, ${bound}, received ${String(value)}`);
  }
}

function validateBrightnessRange(range: readonly [number, number] | null): void {
  if (range === null) return;
  const [low, high] = range;
  if (!Number.isFinite(low) || !Number.isFinite(high) || low <= 0 || low > high) {
    throw new RangeError(
      `augment option brightnessRange must be [a, b] with 0 < a <= b, received [${String(low)}, ${String(high)}]`,
    );
  }
}

function validateSeed(seed: number, variant: number): void {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`augmentation seed must be a safe integer, received ${String(seed)}`);
  }
  if (!Number.isSafeInteger(variant) || variant < 0) {
    throw new RangeError(`augmentation variant must be a non-negative integer, received ${String(variant)}`);
  }
}

/*
 * The PRNG and the seed hash use only 32-bit integer operations (Math.imul, shifts), which
 * JavaScript defines exactly, so the stream does not depend on the machine or the Node version.
 */

/** MurmurHash3's finaliser: a bijection on 32-bit words in which every input bit affects every output bit. */
function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Folds the seed and variant, both up to 53 bits, into one 32-bit PRNG state. Each word passes
 * through the full avalanche, so neighbouring variants start from unrelated states.
 */
function hashSeed(seed: number, variant: number): number {
  const words = [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, variant >>> 0, Math.floor(variant / 2 ** 32) >>> 0];
  let h = 0x243f6a88;
  for (const word of words) h = fmix32((h ^ word) + 0x9e3779b9);
  return h;
}

function uniform(next: () => number, low: number, high: number): number {
  return low + (high - low) * next();
}

/**
 * Warps the image with one inverse-mapped affine transform (every output pixel looks up its source
 * position), bilinear sampling and Keras' default fill_mode "nearest" (positions outside the image
 * take the nearest border pixel), then applies the brightness factor. The output has the input's size.
 */
export function applyAugmentation(image: RgbImage, params: AugmentParams): RgbImage {
  validateParams(params);
  const source = createRgbImage(image.width, image.height, image.data);
  const out = new Uint8Array(source.data.length);
  warpBilinear(source, inverseAffine(params, source.width, source.height), params.brightness, out);
  return createRgbImage(source.width, source.height, out);
}

function validateParams(params: AugmentParams): void {
  const finite: [keyof AugmentParams, number][] = [
    ["angleDeg", params.angleDeg],
    ["shiftX", params.shiftX],
    ["shiftY", params.shiftY],
  ];
  for (const [name, value] of finite) {
    if (!Number.isFinite(value)) throw new RangeError(`augment param ${name} must be finite, received ${String(value)}`);
  }
  if (!Number.isFinite(params.zoom) || params.zoom <= 0) {
    throw new RangeError(`augment param zoom must be a positive number, received ${String(params.zoom)}`);
  }
  if (!Number.isFinite(params.brightness) || params.brightness < 0) {
    throw new RangeError(`augment param brightness must be a non-negative number, received ${String(params.brightness)}`);
  }
}

/** Source position of output pixel (x, y): sourceX = a·x + b·y + c, sourceY = d·x + e·y + f. */
interface InverseAffine {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
}

/*
 * Output pixel p maps to the source as: centre + flip(zoom · R · (p - centre - shift)). R is the
 * matrix Keras builds, [[cos, -sin], [sin, cos]] on (x, y) with y pointing down, which turns the
 * picture counter-clockwise on screen for positive angles. The centre is ((w-1)/2, (h-1)/2), the
 * middle of the pixel grid, so the identity and a pure flip land exactly on pixel centres.
 * Math.cos and Math.sin come from software implementations bundled in V8 (fdlibm or glibc-derived)
 * rather than the platform's libm, so for a given Node version the matrix, and with it every
 * pixel, comes out the same on every machine.
 */
function inverseAffine(params: AugmentParams, width: number, height: number): InverseAffine {
  const theta = (params.angleDeg * Math.PI) / 180;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const mirror = params.flip ? -1 : 1;
  const a = mirror * params.zoom * cos;
  const b = mirror * params.zoom * -sin;
  const d = params.zoom * sin;
  const e = params.zoom * cos;
  const centreX = (width - 1) / 2;
  const centreY = (height - 1) / 2;
  const originX = centreX + params.shiftX * width;
  const originY = centreY + params.shiftY * height;
  return {
    a,
    b,
    c: centreX - a * originX - b * originY,
    d,
    e,
    f: centreY - d * originX - e * originY,
  };
}

/*
 * The hot loop: about 50,000 pixels for a 224x224 face. Source positions are computed directly
 * from (x, y) rather than accumulated, so rounding error cannot build up along a row, and the
 * three channels share one set of bilinear weights.
 */
function warpBilinear(source: RgbImage, m: InverseAffine, brightness: number, out: Uint8Array): void {
  const { width, height, data } = source;
  const maxX = width - 1;
  const maxY = height - 1;
  const stride = width * 3;
  let o = 0;
  for (let y = 0; y < height; y++) {
    const rowX = m.b * y + m.c;
    const rowY = m.e * y + m.f;
    for (let x = 0; x < width; x++) {
      const sx = m.a * x + rowX;
      const sy = m.d * x + rowY;
      const floorX = Math.floor(sx);
      const floorY = Math.floor(sy);
      const tx = sx - floorX;
      const ty = sy - floorY;
      // Brightness is folded into the weights so each channel costs four multiply-adds.
      const w00 = (1 - tx) * (1 - ty) * brightness;
      const w01 = tx * (1 - ty) * brightness;
      const w10 = (1 - tx) * ty * brightness;
      const w11 = tx * ty * brightness;
      // Clamping each neighbour separately is exactly fill_mode "nearest" for positions outside.
      const x0 = clampIndex(floorX, maxX) * 3;
      const x1 = clampIndex(floorX + 1, maxX) * 3;
      const row0 = clampIndex(floorY, maxY) * stride;
      const row1 = clampIndex(floorY + 1, maxY) * stride;
      const i00 = row0 + x0;
      const i01 = row0 + x1;
      const i10 = row1 + x0;
      const i11 = row1 + x1;
      out[o] = toByte(w00 * data[i00]! + w01 * data[i01]! + w10 * data[i10]! + w11 * data[i11]!);
      out[o + 1] = toByte(w00 * data[i00 + 1]! + w01 * data[i01 + 1]! + w10 * data[i10 + 1]! + w11 * data[i11 + 1]!);
      out[o + 2] = toByte(w00 * data[i00 + 2]! + w01 * data[i01 + 2]! + w10 * data[i10 + 2]! + w11 * data[i11 + 2]!);
      o += 3;
    }
  }
}

function clampIndex(index: number, max: number): number {
  return index < 0 ? 0 : index > max ? max : index;
}

/*
 * Rounds half up and saturates. Stores into a Uint8Array truncate, so adding 0.5 rounds the
 * (never negative) value; that is several times cheaper than Math.round in this loop. The
 * saturation matters because a store above 255 would wrap around instead of clamping.
 */
function toByte(value: number): number {
  const shifted = value + 0.5;
  return shifted >= 255 ? 255 : shifted;
}
