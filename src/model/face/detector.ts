import sharp from "sharp";
import type * as tfjs from "@tensorflow/tfjs";
import type { Logger } from "../../log.js";
import { createRgbImage, type RgbImage } from "../../vision/image.js";
import type { TfEngine } from "../tfjs-engine.js";
import { acquireNet, loadFaceApi, releaseNet, type FaceApi, type FaceApiBox, type FaceApiDetection, type NetName } from "./face-api.js";

/**
 * Finding the face in a photo, with face-api's packaged detectors.
 *
 * Detectors are trained on faces that sit inside a wider scene and miss faces that fill the frame,
 * which is exactly how face datasets are usually cropped: on LFW, SSD at default settings finds no
 * face in about one photo in ten. Detection therefore runs on the photo with a border added around
 * it, and the box is mapped back to the photo and clamped to it.
 *
 * The defaults come from bench/face-crop-study.ts on 2,169 LFW photos (wasm backend, 2 cores):
 * - "tiny-then-ssd": the tiny detector (52 ms/photo) finds a face in 99.2% of the bordered photos;
 *   SSD (315 ms/photo) runs only on the rest and leaves 1 photo in 2,169 without a face, at
 *   about 55 ms/photo on average. SSD alone misses 13 and costs six times as much. Descriptor
 *   accuracy is the same for all three (98.9-99.2% 1-NN), so speed and detection rate decide;
 * - border 0.25: no face in 0.6-0.8% of the photos instead of 3.2% (tiny) and 10.1% (SSD);
 * - black border: as good as replicated edges (14 vs 17 misses for tiny, 99.1 vs 99.2% 1-NN, both
 *   within noise), slightly cheaper, and it invents no content at the photo's edges;
 * - landmarks on: the default crop (crop.ts) is framed from them; they cost 14 ms/photo.
 */

/** "tiny-then-ssd" runs SSD only on photos where the tiny detector finds no face. */
export type DetectorKind = "ssd" | "tiny" | "tiny-then-ssd";
export const detectorKinds: readonly DetectorKind[] = ["ssd", "tiny", "tiny-then-ssd"];

/** How the border around the photo is filled: its edge pixels repeated outwards, or black. */
export type BorderFill = "edge" | "black";

/** An (x, y) point in the photo's pixel coordinates. */
export type Point = [number, number];

/**
 * The largest face found in a photo, in that photo's pixel coordinates, clamped to it. Plain JSON
 * on purpose: the caller caches boxes by photo content (see `FaceDetector.fingerprint`).
 */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
  /** The detector's confidence, 0..1. */
  score: number;
  /** Size of the photo the box belongs to, so it can be expressed relative to the photo. */
  imageWidth: number;
  imageHeight: number;
  /**
   * face-api's 68 points (iBUG 300-W order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
   * mouth 48-67), when asked for. Points may lie outside the photo when the face is cut off.
   */
  landmarks?: Point[];
}

/** The faces of one photo (FaceDetector.detectAll). */
export interface DetectedFaces {
  /** At most the `maxFaces` asked for, largest visible part first. */
  faces: FaceBox[];
  /** Every face found, also those beyond `maxFaces`. */
  found: number;
}

export interface FaceDetectorOptions {
  /** Default "tiny-then-ssd". */
  detector?: DetectorKind;
  /** Faces below this score are ignored. Default 0.5, face-api's own default for both detectors. */
  minConfidence?: number;
  /** Border added on each side before detection, as a fraction of the photo's side. Default 0.25. */
  borderFraction?: number;
  /** Default "black". */
  borderFill?: BorderFill;
  /** Also locate the 68 landmarks of the face found (one more network pass). Default true. */
  landmarks?: boolean;
  /** The tiny detector's input side, a multiple of 32. Default 320. */
  tinyInputSize?: number;
  log: Logger;
}

export interface FaceDetector {
  readonly kind: DetectorKind;
  /** Everything that changes the boxes this detector returns; belongs in a box-cache key. */
  readonly fingerprint: string;
  /** The largest face in the photo, or null when none scores minConfidence or more. */
  detect(image: RgbImage): Promise<FaceBox | null>;
  /**
   * Every face in the photo, largest visible part first: the first `maxFaces` of them (each with its
   * landmarks when the detector locates them), and how many were found in all.
   */
  detectAll(image: RgbImage, options: { maxFaces: number }): Promise<DetectedFaces>;
  /** The same box with its 68 landmarks, e.g. for a box cached without them. */
  addLandmarks(image: RgbImage, box: FaceBox): Promise<FaceBox>;
  /** Frees the detector's weights once no other detector uses them. */
  dispose(): Promise<void>;
}

export const defaultDetector: DetectorKind = "tiny-then-ssd";
export const defaultMinConfidence = 0.5;
export const defaultBorderFraction = 0.25;
export const defaultBorderFill: BorderFill = "black";
export const defaultTinyInputSize = 320;

/*
 * Both detectors resize their input to at most 512 px (SSD) or tinyInputSize, so a larger photo is
 * shrunk first: the result is the same and a 24-megapixel photo does not become a 300 MB tensor.
 */
const maxDetectionSide = 1024;

type DetectorNet = Extract<NetName, "ssdMobilenetv1" | "tinyFaceDetector">;

/** The detector nets each kind runs, in order, until one finds a face. */
const detectorNets: Record<DetectorKind, DetectorNet[]> = {
  ssd: ["ssdMobilenetv1"],
  tiny: ["tinyFaceDetector"],
  "tiny-then-ssd": ["tinyFaceDetector", "ssdMobilenetv1"],
};

interface Settings {
  kind: DetectorKind;
  minConfidence: number;
  borderFraction: number;
  borderFill: BorderFill;
  landmarks: boolean;
  tinyInputSize: number;
}

export async function createFaceDetector(options: FaceDetectorOptions): Promise<FaceDetector> {
  const settings = validateOptions(options);
  const faceApi = await loadFaceApi();
  const nets = detectorNets[settings.kind];
  await acquireNets(faceApi, nets);
  let landmarkNetHeld = false;
  let disposed = false;
  const ensureLandmarkNet = async () => {
    if (landmarkNetHeld) return;
    await acquireNet(faceApi, "faceLandmark68Net");
    landmarkNetHeld = true;
  };
  if (settings.landmarks) {
    try {
      await ensureLandmarkNet();
    } catch (error) {
      for (const net of nets) await releaseNet(faceApi, net);
      throw error;
    }
  }
  const fingerprint = detectorFingerprint(settings, faceApi.api.version);
  options.log.debug({ fingerprint, engine: faceApi.runtime.engine }, "face detector ready");

  const assertUsable = () => {
    if (disposed) throw new Error(`the ${settings.kind} face detector was disposed`);
  };

  const detectAll = async (image: RgbImage, { maxFaces }: { maxFaces: number }): Promise<DetectedFaces> => {
    assertUsable();
    if (!Number.isInteger(maxFaces) || maxFaces < 1) throw new RangeError(`maxFaces must be a positive integer, received ${maxFaces}`);
    return withDetectionInput(faceApi, image, settings, async (input, tensor) => {
      const all = await allFaces(faceApi, nets, tensor, input, image, settings);
      const faces: FaceBox[] = [];
      for (const { detection, box } of all.slice(0, maxFaces)) {
        faces.push(settings.landmarks ? { ...box, landmarks: await locateLandmarks(faceApi, tensor, input, detection.box) } : box);
      }
      return { faces, found: all.length };
    });
  };

  return {
    kind: settings.kind,
    fingerprint,
    // The photo's subject is its largest face: the first of every face, with its landmarks alone located.
    detect: async (image) => (await detectAll(image, { maxFaces: 1 })).faces[0] ?? null,
    detectAll,
    async addLandmarks(image, box) {
      assertUsable();
      assertBoxFits(box, image);
      await ensureLandmarkNet();
      return withDetectionInput(faceApi, image, settings, async (input, tensor) => ({
        ...box,
        landmarks: await locateLandmarks(faceApi, tensor, input, boxInInput(box, input)),
      }));
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      for (const net of nets) await releaseNet(faceApi, net);
      if (landmarkNetHeld) await releaseNet(faceApi, "faceLandmark68Net");
    },
  };
}

function validateOptions(options: FaceDetectorOptions): Settings {
  const settings: Settings = {
    kind: options.detector ?? defaultDetector,
    minConfidence: options.minConfidence ?? defaultMinConfidence,
    borderFraction: options.borderFraction ?? defaultBorderFraction,
    borderFill: options.borderFill ?? defaultBorderFill,
    landmarks: options.landmarks ?? true,
    tinyInputSize: options.tinyInputSize ?? defaultTinyInputSize,
  };
  if (!detectorKinds.includes(settings.kind)) {
    throw new RangeError(`detector must be one of ${detectorKinds.join(", ")}, received ${JSON.stringify(settings.kind)}`);
  }
  if (!(settings.minConfidence > 0 && settings.minConfidence < 1)) {
    throw new RangeError(`minConfidence must be between 0 and 1 (exclusive), received ${settings.minConfidence}`);
  }
  if (!(settings.borderFraction >= 0 && settings.borderFraction <= 1)) {
    throw new RangeError(`borderFraction must be in 0..1, received ${settings.borderFraction}`);
  }
  if (settings.borderFill !== "edge" && settings.borderFill !== "black") {
    throw new RangeError(`borderFill must be "edge" or "black", received ${JSON.stringify(settings.borderFill)}`);
  }
  if (!Number.isInteger(settings.tinyInputSize) || settings.tinyInputSize <= 0 || settings.tinyInputSize % 32 !== 0) {
    throw new RangeError(`tinyInputSize must be a positive multiple of 32, received ${settings.tinyInputSize}`);
  }
  return settings;
}

function detectorFingerprint(settings: Settings, faceApiVersion: string): string {
  const names = { ssdMobilenetv1: "ssd-mobilenetv1", tinyFaceDetector: `tiny-face-detector-${settings.tinyInputSize}` };
  const net = detectorNets[settings.kind].map((name) => names[name]).join("-then-");
  const border = `border-${settings.borderFraction}-${settings.borderFill}`;
  const landmarks = settings.landmarks ? ":landmarks68" : "";
  return `face-api-${faceApiVersion}:${net}:min-${settings.minConfidence}:${border}:largest-visible${landmarks}`;
}

/**
 * Where the photo sits inside the detection input: shrunk by `scale`, then offset by the border.
 * Input coordinate = photo coordinate * scale + offset.
 */
export interface DetectionInput {
  /** RGB values, row by row, as int32: what the detector's tensor is made of. */
  data: Int32Array;
  width: number;
  height: number;
  scale: number;
  left: number;
  top: number;
}

/** The photo, shrunk to maxDetectionSide if larger and surrounded by the border (pure geometry). */
export function detectionLayout(imageWidth: number, imageHeight: number, borderFraction: number): Omit<DetectionInput, "data"> {
  const scale = Math.min(1, maxDetectionSide / Math.max(imageWidth, imageHeight));
  const scaledWidth = Math.max(1, Math.round(imageWidth * scale));
  const scaledHeight = Math.max(1, Math.round(imageHeight * scale));
  const left = Math.round(scaledWidth * borderFraction);
  const top = Math.round(scaledHeight * borderFraction);
  return { scale, left, top, width: scaledWidth + 2 * left, height: scaledHeight + 2 * top };
}

/**
 * The detection input: the photo shrunk to maxDetectionSide if larger (sharp), then surrounded by
 * the border, written straight into the int32 values TensorFlow.js takes (`detectionPixels`).
 */
async function buildDetectionInput(image: RgbImage, settings: Settings, engine: TfEngine): Promise<DetectionInput> {
  const layout = detectionLayout(image.width, image.height, settings.borderFraction);
  const scaledWidth = layout.width - 2 * layout.left;
  const scaledHeight = layout.height - 2 * layout.top;
  let pixels = image.data;
  if (layout.scale < 1) {
    pixels = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(scaledWidth, scaledHeight, { fit: "fill" })
      .raw()
      .toBuffer();
  }
  return { ...layout, data: detectionPixels(createRgbImage(scaledWidth, scaledHeight, pixels), layout, settings.borderFill, engine) };
}

async function withDetectionInput<T>(
  faceApi: FaceApi,
  image: RgbImage,
  settings: Settings,
  use: (input: DetectionInput, tensor: tfjs.Tensor3D) => Promise<T>,
): Promise<T> {
  const input = await buildDetectionInput(image, settings, faceApi.runtime.engine);
  const tensor = faceApi.runtime.tf.tensor3d(input.data, [input.height, input.width, 3], "int32");
  try {
    return await use(input, tensor);
  } finally {
    tensor.dispose();
  }
}

/*
 * On the WebAssembly backend one array per thread holds every photo's values: it copies a new
 * tensor's values into its own memory at once. A fresh array per photo (1.5 MB for an LFW photo
 * with its border) was most of a face-path worker's ArrayBuffer churn, and each 64 MB of that made
 * V8 mark the worker's whole heap ("external memory pressure"). The other backends may keep the
 * array they are given, so they get a fresh one.
 */
let reusedPixels = new Int32Array(0);

/**
 * The photo (already at its detection scale) inside `layout`'s border, as int32 RGB values, the
 * border black or copied from the nearest edge pixel (libvips' "background" and "copy" extends,
 * which this replaced, value for value: sharp did it as a separate pass over a new buffer).
 */
export function detectionPixels(photo: RgbImage, layout: Pick<DetectionInput, "width" | "height" | "left" | "top">, fill: BorderFill, engine: TfEngine): Int32Array {
  const { width, height, left, top } = layout;
  if (photo.width + 2 * left !== width || photo.height + 2 * top !== height) {
    throw new RangeError(`a ${photo.width}x${photo.height} photo does not fit a ${width}x${height} detection input with a border of ${left}x${top}`);
  }
  const length = width * height * 3;
  const pixels = engine !== "tfjs-wasm" ? new Int32Array(length) : reusedPixels.length >= length ? reusedPixels.subarray(0, length) : (reusedPixels = new Int32Array(length));
  const source = photo.data;
  for (let y = 0; y < height; y++) {
    const row = y - top;
    const inside = row >= 0 && row < photo.height;
    if (!inside && fill === "black") {
      pixels.fill(0, y * width * 3, (y + 1) * width * 3);
      continue;
    }
    const sourceRow = Math.min(photo.height - 1, Math.max(0, row)) * photo.width * 3;
    let to = y * width * 3;
    for (let x = 0; x < width; x++) {
      const column = x - left;
      if (fill === "black" && (column < 0 || column >= photo.width)) {
        pixels[to] = 0;
        pixels[to + 1] = 0;
        pixels[to + 2] = 0;
      } else {
        const from = sourceRow + Math.min(photo.width - 1, Math.max(0, column)) * 3;
        pixels[to] = source[from] as number;
        pixels[to + 1] = source[from + 1] as number;
        pixels[to + 2] = source[from + 2] as number;
      }
      to += 3;
    }
  }
  return pixels;
}

/** Acquires every net or none: a failure releases the ones already loaded. */
async function acquireNets(faceApi: FaceApi, nets: readonly NetName[]): Promise<void> {
  const held: NetName[] = [];
  try {
    for (const net of nets) {
      await acquireNet(faceApi, net);
      held.push(net);
    }
  } catch (error) {
    for (const net of held) await releaseNet(faceApi, net);
    throw error;
  }
}

/** Every face found by the first net, in order, that finds any, largest visible part first. */
async function allFaces(
  faceApi: FaceApi,
  nets: readonly DetectorNet[],
  tensor: tfjs.Tensor3D,
  input: Omit<DetectionInput, "data">,
  image: { width: number; height: number },
  settings: Settings,
): Promise<Array<{ detection: FaceApiDetection; box: FaceBox }>> {
  for (const net of nets) {
    const found = facesInImage(await locateFaces(faceApi, net, tensor, settings), input, image);
    if (found.length > 0) return found;
  }
  return [];
}

function locateFaces(faceApi: FaceApi, net: DetectorNet, tensor: tfjs.Tensor3D, settings: Settings): Promise<FaceApiDetection[]> {
  const { api } = faceApi;
  if (net === "ssdMobilenetv1") {
    return api.nets.ssdMobilenetv1.locateFaces(tensor, new api.SsdMobilenetv1Options({ minConfidence: settings.minConfidence }));
  }
  const options = new api.TinyFaceDetectorOptions({ inputSize: settings.tinyInputSize, scoreThreshold: settings.minConfidence });
  return api.nets.tinyFaceDetector.locateFaces(tensor, options);
}

/**
 * The detections that are faces in the photo (not in its border), as boxes in the photo, largest
 * first; the first is taken to be the photo's subject. Size is measured by the part inside the
 * photo: a bystander cut off by the photo's edge can be completed by the border into a larger face
 * than the subject's (seen on LFW), but only its visible part counts. Ties go to the higher score.
 */
export function facesInImage(
  detections: readonly FaceApiDetection[],
  input: Omit<DetectionInput, "data">,
  image: { width: number; height: number },
): Array<{ detection: FaceApiDetection; box: FaceBox }> {
  const faces: Array<{ detection: FaceApiDetection; box: FaceBox }> = [];
  for (const detection of detections) {
    const box = boxInImage(detection.box, input, image, detection.score);
    if (box) faces.push({ detection, box });
  }
  const area = (box: FaceBox) => box.width * box.height;
  return faces.sort((a, b) => area(b.box) - area(a.box) || b.box.score - a.box.score);
}

/** Maps a box from the detection input back to the photo and clamps it; null if nothing is left. */
export function boxInImage(
  box: FaceApiBox,
  input: Omit<DetectionInput, "data">,
  image: { width: number; height: number },
  score: number,
): FaceBox | null {
  const toX = (value: number) => clamp((value - input.left) / input.scale, 0, image.width);
  const toY = (value: number) => clamp((value - input.top) / input.scale, 0, image.height);
  const x0 = toX(box.x);
  const x1 = toX(box.x + box.width);
  const y0 = toY(box.y);
  const y1 = toY(box.y + box.height);
  // A box that lies (almost) entirely in the border is a false detection, not a face in the photo.
  if (x1 - x0 < 1 || y1 - y0 < 1) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0, score, imageWidth: image.width, imageHeight: image.height };
}

function boxInInput(box: FaceBox, input: Omit<DetectionInput, "data">): FaceApiBox {
  return {
    x: box.x * input.scale + input.left,
    y: box.y * input.scale + input.top,
    width: box.width * input.scale,
    height: box.height * input.scale,
  };
}

/*
 * As face-api's own pipeline does, the landmark net sees only the detected face region, here
 * taken from the bordered input so that a face cut off by the photo's edge still has context.
 */
async function locateLandmarks(faceApi: FaceApi, tensor: tfjs.Tensor3D, input: DetectionInput, box: FaceApiBox): Promise<Point[]> {
  const x0 = clamp(Math.floor(box.x), 0, input.width - 1);
  const y0 = clamp(Math.floor(box.y), 0, input.height - 1);
  const x1 = clamp(Math.ceil(box.x + box.width), x0 + 1, input.width);
  const y1 = clamp(Math.ceil(box.y + box.height), y0 + 1, input.height);
  const face = pixelRegion(faceApi.runtime.tf, tensor, { x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  try {
    const landmarks = await faceApi.api.nets.faceLandmark68Net.detectLandmarks(face);
    return landmarks.positions.map((point): Point => [(point.x + x0 - input.left) / input.scale, (point.y + y0 - input.top) / input.scale]);
  } finally {
    face.dispose();
  }
}

/**
 * The pixels of an [height, width, 3] tensor within a whole-pixel rectangle (inside the tensor), as
 * a new tensor: what `tf.slice3d` gives, value for value. It is cut as rows of the tensor seen as
 * [height, width x 3], because the WebAssembly backend copies a 2-D slice row by row where a 3-D
 * one made a typed-array view for every pixel: 22,500 for a 150-pixel face, 1.4 MB of garbage a
 * photo, half of all a face-path worker allocated.
 */
export function pixelRegion(tf: typeof tfjs, tensor: tfjs.Tensor3D, region: { x: number; y: number; width: number; height: number }): tfjs.Tensor3D {
  const [height, width] = tensor.shape;
  return tf.tidy(() => {
    const rows = tf.reshape<tfjs.Rank.R2>(tensor, [height, width * 3]);
    return tf.reshape<tfjs.Rank.R3>(tf.slice2d(rows, [region.y, region.x * 3], [region.height, region.width * 3]), [region.height, region.width, 3]);
  });
}

function assertBoxFits(box: FaceBox, image: RgbImage): void {
  if (box.imageWidth !== image.width || box.imageHeight !== image.height) {
    throw new RangeError(`the box belongs to a ${box.imageWidth}x${box.imageHeight} photo, received a ${image.width}x${image.height} one`);
  }
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
