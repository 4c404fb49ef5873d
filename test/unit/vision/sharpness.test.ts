import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import sharp from "sharp";
import { cropImage } from "../../../src/model/face/crop.js";
import { decodeImage } from "../../../src/vision/decode.js";
import { createRgbImage, type RgbImage } from "../../../src/vision/image.js";
import {
  assessFaceQuality,
  defaultFaceQualityThresholds,
  faceSideOf,
  laplacianVariance,
  sharpnessCropSize,
} from "../../../src/vision/sharpness.js";
import { lfwPhotos } from "../../helpers/lfw.js";

/** An image whose pixel (x, y) has the colour `colourAt(x, y)`. */
function paint(width: number, height: number, colourAt: (x: number, y: number) => readonly [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(colourAt(x, y), (y * width + x) * 3);
  }
  return createRgbImage(width, height, data);
}

const white = [255, 255, 255] as const;
const black = [0, 0, 0] as const;

test("a flat image has no Laplacian response at all, whatever its colour", () => {
  assert.equal(laplacianVariance(paint(40, 30, () => [200, 90, 17])), 0);
  assert.equal(laplacianVariance(paint(3, 3, () => black)), 0);
});

test("a one-pixel checkerboard gives the largest response the kernel can: (4 x 255)^2", () => {
  const board = paint(20, 20, (x, y) => ((x + y) % 2 === 0 ? white : black));
  assert.ok(Math.abs(laplacianVariance(board) - (4 * 255) ** 2) < 1e-6, `received ${laplacianVariance(board)}`);
});

test("a vertical black-to-white edge gives +255 and -255 on the two columns beside it, 0 elsewhere", () => {
  // 10x5: the interior is 8 x 3 = 24 pixels; columns 4 and 5 hold 3 responses each of +-255.
  const edge = paint(10, 5, (x) => (x < 5 ? black : white));
  assert.ok(Math.abs(laplacianVariance(edge) - (6 * 255 ** 2) / 24) < 1e-6, `received ${laplacianVariance(edge)}`);
});

test("the measure is taken on luma: a red edge counts 0.299 of a white one, a green edge 0.587", () => {
  const whiteEdge = laplacianVariance(paint(10, 5, (x) => (x < 5 ? black : white)));
  const redEdge = laplacianVariance(paint(10, 5, (x) => (x < 5 ? black : [255, 0, 0])));
  const greenEdge = laplacianVariance(paint(10, 5, (x) => (x < 5 ? black : [0, 255, 0])));
  assert.ok(Math.abs(redEdge / whiteEdge - 0.299 ** 2) < 1e-9, `red/white ${redEdge / whiteEdge}`);
  assert.ok(Math.abs(greenEdge / whiteEdge - 0.587 ** 2) < 1e-9, `green/white ${greenEdge / whiteEdge}`);
});

test("an image without interior pixels is refused, naming its size", () => {
  assert.throws(() => laplacianVariance(paint(2, 8, () => white)), /at least 3x3 pixels, received 2x8/);
  assert.throws(() => laplacianVariance({ width: 4, height: 4, data: new Uint8Array(5) }), /needs 48 bytes, received 5/);
});

/*
 * LFW photos are 250x250 with the face centred and its box about 100-120 px across (LFW was cut
 * around detected faces), so the centred 110 px square is the face without running a detector.
 */
const lfwFaceSide = 110;

async function lfwFaceCrop(blurSigma: number | null): Promise<RgbImage> {
  const [file] = lfwPhotos("Colin_Powell");
  const photo = await decodeImage(readFileSync(file as string), { maxPixels: 1_000_000 });
  let source = photo;
  if (blurSigma !== null) {
    const blurred = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } }).blur(blurSigma).raw().toBuffer();
    source = createRgbImage(photo.width, photo.height, new Uint8Array(blurred));
  }
  return cropImage(source, { outcome: "detected", centerX: photo.width / 2, centerY: photo.height / 2, side: lfwFaceSide, angle: 0 }, sharpnessCropSize);
}

test("blurring a real LFW face lowers its sharpness at every step of sigma", async () => {
  const measured: number[] = [];
  for (const sigma of [null, 1, 2, 3, 4]) measured.push(laplacianVariance(await lfwFaceCrop(sigma)));
  for (let i = 1; i < measured.length; i++) {
    assert.ok((measured[i] as number) < (measured[i - 1] as number), `sharpness by sigma (none, 1, 2, 3, 4): ${measured.map((value) => value.toFixed(1)).join(", ")}`);
  }
  // Not a hair: sigma 3 takes away most of what the measure sees.
  assert.ok((measured[3] as number) < (measured[0] as number) / 4, `sigma 3 ${measured[3]} against ${measured[0]} unblurred`);
});

test("a normal LFW face passes the default thresholds, with its values in the message", async () => {
  const sharpness = laplacianVariance(await lfwFaceCrop(null));
  const verdict = assessFaceQuality({ sharpness, faceSide: lfwFaceSide });
  assert.equal(verdict.ok, true, verdict.message);
  assert.deepEqual(verdict.reasons, []);
  assert.match(verdict.message, new RegExp(`sharpness ${sharpness.toFixed(1)}, minimum ${defaultFaceQualityThresholds.minSharpness}\\b`));
  assert.match(verdict.message, new RegExp(`${lfwFaceSide} px across, minimum ${defaultFaceQualityThresholds.minFaceSide} px`));
});

test("a blurred LFW face is flagged blurry, naming its sharpness and the threshold", async () => {
  const sharpness = laplacianVariance(await lfwFaceCrop(3));
  const verdict = assessFaceQuality({ sharpness, faceSide: lfwFaceSide });
  assert.equal(verdict.ok, false);
  assert.deepEqual(verdict.reasons, ["blurry"]);
  assert.match(verdict.message, new RegExp(`sharpness ${sharpness.toFixed(1)}, below the minimum of ${defaultFaceQualityThresholds.minSharpness}\\b`));
  assert.doesNotMatch(verdict.message, /small/);
});

test("a tiny face is flagged small, naming its side and the threshold; blurred as well, both reasons in order", async () => {
  const sharpness = laplacianVariance(await lfwFaceCrop(null));
  const tinySide = Math.floor(defaultFaceQualityThresholds.minFaceSide / 2);
  const tiny = assessFaceQuality({ sharpness, faceSide: tinySide });
  assert.equal(tiny.ok, false);
  assert.deepEqual(tiny.reasons, ["small"]);
  assert.match(tiny.message, new RegExp(`${tinySide} px across, below the minimum of ${defaultFaceQualityThresholds.minFaceSide} px`));

  const both = assessFaceQuality({ sharpness: defaultFaceQualityThresholds.minSharpness / 2, faceSide: tinySide });
  assert.deepEqual(both.reasons, ["blurry", "small"]);
  // Exactly at a threshold is good enough: the thresholds are minimums.
  assert.equal(assessFaceQuality({ sharpness: defaultFaceQualityThresholds.minSharpness, faceSide: defaultFaceQualityThresholds.minFaceSide }).ok, true);
});

test("the verdict takes its thresholds as data", () => {
  const strict = { minSharpness: 1000, minFaceSide: 500 };
  assert.deepEqual(assessFaceQuality({ sharpness: 999, faceSide: 499 }, strict).reasons, ["blurry", "small"]);
  assert.equal(assessFaceQuality({ sharpness: 0, faceSide: 0 }, { minSharpness: 0, minFaceSide: 0 }).ok, true);
});

test("the default thresholds are the measured ones, not placeholders", () => {
  assert.ok(defaultFaceQualityThresholds.minSharpness > 0, `minSharpness ${defaultFaceQualityThresholds.minSharpness}`);
  assert.ok(defaultFaceQualityThresholds.minFaceSide > 0, `minFaceSide ${defaultFaceQualityThresholds.minFaceSide}`);
});

test("impossible measurements and thresholds are refused, naming the value", () => {
  assert.throws(() => assessFaceQuality({ sharpness: -1, faceSide: 100 }), /sharpness .* received -1/);
  assert.throws(() => assessFaceQuality({ sharpness: Number.NaN, faceSide: 100 }), /sharpness .* received NaN/);
  assert.throws(() => assessFaceQuality({ sharpness: 10, faceSide: Number.POSITIVE_INFINITY }), /faceSide .* received Infinity/);
  assert.throws(() => assessFaceQuality({ sharpness: 10, faceSide: 100 }, { minSharpness: -5, minFaceSide: 40 }), /minSharpness .* received -5/);
  assert.throws(() => assessFaceQuality({ sharpness: 10, faceSide: 100 }, { minSharpness: 5, minFaceSide: Number.NaN }), /minFaceSide .* received NaN/);
});

test("a face box's side is its longer side, so a box clamped at the photo's edge keeps its size", () => {
  assert.equal(faceSideOf({ width: 60, height: 110 }), 110);
  assert.equal(faceSideOf({ width: 120, height: 118 }), 120);
  assert.throws(() => faceSideOf({ width: -1, height: 10 }), /received -1x10/);
});
