import { test } from "node:test";
import assert from "node:assert/strict";
import { createRgbImage, type RgbImage } from "../../../src/vision/image.js";
import {
  caffeNormalization,
  fitSquare,
  imageToTensorData,
  maxFitSize,
  unitNormalization,
} from "../../../src/vision/preprocess.js";

type Rgb = readonly [number, number, number];

const red: Rgb = [255, 0, 0];
const green: Rgb = [0, 255, 0];
const blue: Rgb = [0, 0, 255];

function paint(width: number, height: number, colourAt: (x: number, y: number) => Rgb): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(colourAt(x, y), (y * width + x) * 3);
  }
  return createRgbImage(width, height, data);
}

function pixel(image: RgbImage, x: number, y: number): Rgb {
  const i = (y * image.width + x) * 3;
  return [image.data[i] as number, image.data[i + 1] as number, image.data[i + 2] as number];
}

function isBlackRow(image: RgbImage, y: number): boolean {
  const row = image.data.subarray(y * image.width * 3, (y + 1) * image.width * 3);
  return row.every((value) => value === 0);
}

function assertNear(actual: Rgb, expected: Rgb, tolerance: number, where: string): void {
  const off = actual.some((value, c) => Math.abs(value - (expected[c] as number)) > tolerance);
  assert.ok(!off, `${where}: expected about ${expected.join(",")}, got ${actual.join(",")}`);
}

/** 300x200: red 50-px bands left and right, green in the middle 200 px. */
const wideBanded = paint(300, 200, (x) => (x < 50 || x >= 250 ? red : green));

test("crop keeps the centred square: the red side bands disappear completely", async () => {
  for (const size of [100, 224, 57]) {
    const square = await fitSquare(wideBanded, size, "crop");
    assert.equal(square.width, size);
    assert.equal(square.height, size);
    assert.equal(square.data.length, size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) assertNear(pixel(square, x, y), green, 2, `size ${size} at ${x},${y}`);
    }
  }
});

test("crop of a tall image drops the top and bottom bands", async () => {
  const tall = paint(120, 200, (_x, y) => (y < 40 || y >= 160 ? blue : green));
  const square = await fitSquare(tall, 64, "crop");
  assert.equal(square.data.length, 64 * 64 * 3);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) assertNear(pixel(square, x, y), green, 2, `at ${x},${y}`);
  }
});

test("pad letterboxes the whole image with exactly black bands top and bottom", async () => {
  const square = await fitSquare(wideBanded, 150, "pad");
  assert.equal(square.width, 150);
  assert.equal(square.height, 150);
  assert.equal(square.data.length, 150 * 150 * 3);

  // The 300x200 photo scales to 150x100, leaving 50 rows of padding split evenly.
  let topBand = 0;
  while (isBlackRow(square, topBand)) topBand++;
  let bottomBand = 0;
  while (isBlackRow(square, 149 - bottomBand)) bottomBand++;
  assert.ok(Math.abs(topBand - 25) <= 1, `top band is ${topBand} rows`);
  assert.ok(Math.abs(bottomBand - 25) <= 1, `bottom band is ${bottomBand} rows`);
  assert.equal(topBand + bottomBand, 50);

  // The whole photo is kept: both red bands and the green centre are visible in the middle rows.
  for (const y of [topBand + 5, 75, 149 - bottomBand - 5]) {
    assertNear(pixel(square, 5, y), red, 4, `left band at row ${y}`);
    assertNear(pixel(square, 75, y), green, 4, `centre at row ${y}`);
    assertNear(pixel(square, 144, y), red, 4, `right band at row ${y}`);
  }
});

test("an image that already has the requested size is returned without resampling", async () => {
  const square = paint(32, 32, (x, y) => [x * 8, y * 8, 128]);
  const result = await fitSquare(square, 32, "crop");
  assert.deepEqual(result.data, square.data);
  assert.equal(result.width, 32);
});

test("fitSquare returns a plain Uint8Array with exactly three channels", async () => {
  const square = await fitSquare(wideBanded, 10, "pad");
  assert.equal(Object.getPrototypeOf(square.data), Uint8Array.prototype);
  assert.equal(square.data.length, 10 * 10 * 3);
});

test("fitSquare rejects a size that is not a positive integer up to the maximum, naming it", async () => {
  for (const size of [0, -3, 1.5, Number.NaN, maxFitSize + 1]) {
    await assert.rejects(fitSquare(wideBanded, size, "crop"), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, new RegExp(`received ${String(size).replace(".", "\\.")}$`));
      return true;
    });
  }
});

test("caffe normalisation is BGR minus the ImageNet means, in float32 as Keras computes it", () => {
  const image = createRgbImage(2, 1, Uint8Array.of(10, 200, 255, 0, 0, 0));
  const values = caffeNormalization(image);
  const f = Math.fround;
  // Keras subtracts in float32, with the means themselves rounded to float32.
  const expected = Float32Array.of(
    f(255 - f(103.939)),
    f(200 - f(116.779)),
    f(10 - f(123.68)),
    f(-f(103.939)),
    f(-f(116.779)),
    f(-f(123.68)),
  );
  assert.deepEqual(values, expected);
  const decimal = [255 - 103.939, 200 - 116.779, 10 - 123.68, -103.939, -116.779, -123.68];
  decimal.forEach((value, i) => assert.ok(Math.abs((values[i] as number) - value) < 1e-5, `value ${i}`));
});

test("unit normalisation divides by 255 and keeps RGB order", () => {
  const image = createRgbImage(1, 1, Uint8Array.of(0, 51, 255));
  assert.deepEqual(unitNormalization(image), Float32Array.of(0, 0.2, 1));
});

test("imageToTensorData concatenates a batch in NHWC order", () => {
  const first = createRgbImage(2, 1, Uint8Array.of(255, 0, 0, 0, 255, 0));
  const second = createRgbImage(2, 1, Uint8Array.of(0, 0, 255, 51, 51, 51));
  const tensor = imageToTensorData([first, second], unitNormalization);
  assert.deepEqual(tensor, Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1, 0.2, 0.2, 0.2));
  assert.equal(imageToTensorData([], unitNormalization).length, 0);
});

test("imageToTensorData names the image whose size differs", () => {
  const a = createRgbImage(4, 4);
  const b = createRgbImage(4, 3);
  assert.throws(() => imageToTensorData([a, a, b], caffeNormalization), /image 2 is 4x3, image 0 is 4x4/);
});
