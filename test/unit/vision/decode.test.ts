import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import sharp, { type Sharp } from "sharp";
import { crc32, handBuiltPng, pngDeclaring } from "../../helpers/bad-files.js";
import { lfwRoot } from "../../helpers/lfw.js";
import { decodeImage, ImageDecodeError, readImageHeader, verifyDecodes, type DecodeFailure, type ImageFormat } from "../../../src/vision/decode.js";

const lfwPhoto = join(lfwRoot, "Bill_Gates", "Bill_Gates_0001.jpg");

type Rgb = { r: number; g: number; b: number };

function solid(width: number, height: number, background: Rgb = { r: 200, g: 40, b: 10 }) {
  return sharp({ create: { width, height, channels: 3, background } });
}

/** Random-looking RGB noise, deterministic, so JPEG entropy data is long and any cut lands in it. */
function noise(width: number, height: number): Sharp {
  const data = Buffer.alloc(width * height * 3);
  let state = 12345;
  for (let index = 0; index < data.length; index++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[index] = state >>> 24;
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

function encode(image: Sharp, format: Exclude<ImageFormat, "pgm" | "ppm">): Promise<Buffer> {
  switch (format) {
    case "jpeg":
      return image.jpeg().toBuffer();
    case "png":
      return image.png().toBuffer();
    case "webp":
      return image.webp().toBuffer();
    case "gif":
      return image.gif().toBuffer();
    case "tiff":
      return image.tiff().toBuffer();
    case "avif":
      return image.avif().toBuffer();
  }
}

async function rejectsWithCode(promise: Promise<unknown>, code: DecodeFailure, message?: RegExp): Promise<ImageDecodeError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ImageDecodeError, `expected an ImageDecodeError, got ${String(caught)}`);
  assert.equal(caught.name, "ImageDecodeError");
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}


function pixel(image: { width: number; data: Uint8Array }, x: number, y: number): [number, number, number] {
  const at = (y * image.width + x) * 3;
  return [image.data[at] as number, image.data[at + 1] as number, image.data[at + 2] as number];
}

describe("test helpers", () => {
  test("crc32 matches known PNG chunk CRCs", () => {
    assert.equal(crc32(Buffer.from("IEND", "latin1")), 0xae426082);
    assert.equal(crc32(Buffer.from("123456789", "latin1")), 0xcbf43926);
  });

  test("a hand-built PNG decodes to its exact pixels, so the chunk layout and CRCs are right", async () => {
    // 2x2 RGB: each row is filter type 0 followed by two pixels.
    const scanlines = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 9, 8, 7]);
    const png = handBuiltPng(2, 2, scanlines);
    assert.deepEqual(await readImageHeader(png), { format: "png", width: 2, height: 2 });
    const image = await decodeImage(png, { maxPixels: 4 });
    assert.deepEqual([...image.data], [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7]);
  });
});

describe("readImageHeader", () => {
  const formats = ["jpeg", "png", "webp", "gif", "tiff", "avif"] as const;
  for (const format of formats) {
    test(`${format} 41x23`, async () => {
      const bytes = await encode(solid(41, 23), format);
      assert.deepEqual(await readImageHeader(bytes), { format, width: 41, height: 23 });
    });
  }

  test("accepts Uint8Array as well as Buffer", async () => {
    const buffer = await solid(8, 6).png().toBuffer();
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
    assert.deepEqual(await readImageHeader(bytes), { format: "png", width: 8, height: 6 });
  });

  test("a JPEG with EXIF orientation 6 reports the rotated size", async () => {
    const bytes = await solid(40, 20).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    assert.equal((await sharp(bytes).metadata()).orientation, 6);
    assert.deepEqual(await readImageHeader(bytes), { format: "jpeg", width: 20, height: 40 });
  });

  test("EXIF orientation 3 (upside down) keeps the size", async () => {
    const bytes = await solid(40, 20).jpeg().withMetadata({ orientation: 3 }).toBuffer();
    assert.deepEqual(await readImageHeader(bytes), { format: "jpeg", width: 40, height: 20 });
  });

  test("PGM and PPM headers are read without sharp", async () => {
    const pgm = Buffer.concat([Buffer.from("P5\n# face\n92 112\n255\n"), Buffer.alloc(92 * 112)]);
    assert.deepEqual(await readImageHeader(pgm), { format: "pgm", width: 92, height: 112 });
    const ppm = Buffer.from("P3\n2 1\n255\n1 2 3 4 5 6\n");
    assert.deepEqual(await readImageHeader(ppm), { format: "ppm", width: 2, height: 1 });
  });

  test("a damaged PGM header is corrupt", async () => {
    await rejectsWithCode(readImageHeader(Buffer.from("P5 0 2 255\n")), "corrupt", /unreadable PGM\/PPM header: the image is 0x2 pixels/);
    await rejectsWithCode(readImageHeader(Buffer.from("P5 2 2 70000\n")), "corrupt", /maximum sample value/);
  });

  test("an SVG is refused as an unsupported format", async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="30" height="20"><rect width="30" height="20" fill="red"/></svg>');
    await rejectsWithCode(readImageHeader(svg), "unsupported_format", /SVG drawing, not a photo/);
  });

  test("plain text is not an image", async () => {
    await rejectsWithCode(readImageHeader(Buffer.from("Hello, this is a README, not a photo.\n")), "not_an_image");
  });

  test("an empty buffer is not an image", async () => {
    await rejectsWithCode(readImageHeader(new Uint8Array(0)), "not_an_image", /empty/);
  });

  test("a PNG declaring 100000x100000 pixels gives its header quickly, without decoding", async () => {
    const bomb = pngDeclaring(100_000, 100_000);
    assert.ok(bomb.length < 200, `bomb is ${bomb.length} bytes`);
    const rssBefore = process.memoryUsage().rss;
    const header = await readImageHeader(bomb);
    assert.deepEqual(header, { format: "png", width: 100_000, height: 100_000 });
    assert.ok(process.memoryUsage().rss - rssBefore < 200e6, "readImageHeader allocated for the pixels");
  });
});

describe("decodeImage", () => {
  test("a JPEG with EXIF orientation 6 decodes to a rotated 20x40 RgbImage", async () => {
    // Left half red, right half blue, 40x20; orientation 6 means the stored left edge is the visual top.
    const raw = Buffer.alloc(40 * 20 * 3);
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 40; x++) {
        const at = (y * 40 + x) * 3;
        if (x < 20) raw[at] = 255;
        else raw[at + 2] = 255;
      }
    }
    const bytes = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const image = await decodeImage(bytes, { maxPixels: 1_000_000 });
    assert.equal(image.width, 20);
    assert.equal(image.height, 40);
    assert.equal(image.data.length, 20 * 40 * 3);
    const [topR, , topB] = pixel(image, 10, 5);
    const [bottomR, , bottomB] = pixel(image, 10, 34);
    assert.ok(topR > 200 && topB < 50, `top should be red, got ${pixel(image, 10, 5).join(",")}`);
    assert.ok(bottomB > 200 && bottomR < 50, `bottom should be blue, got ${pixel(image, 10, 34).join(",")}`);
  });

  test("a lossless PNG decodes to exact RGB", async () => {
    const raw = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    const png = await sharp(raw, { raw: { width: 3, height: 2, channels: 3 } }).png().toBuffer();
    const image = await decodeImage(png, { maxPixels: 100 });
    assert.equal(image.width, 3);
    assert.equal(image.height, 2);
    assert.deepEqual([...image.data], [...raw]);
  });

  test("a PNG with alpha gives 3 channels, flattened onto black", async () => {
    // Opaque red, fully transparent green, opaque white.
    const rgba = Buffer.from([255, 0, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255]);
    const png = await sharp(rgba, { raw: { width: 3, height: 1, channels: 4 } }).png().toBuffer();
    assert.equal((await sharp(png).metadata()).channels, 4);
    const image = await decodeImage(png, { maxPixels: 100 });
    assert.equal(image.data.length, 3 * 3);
    assert.deepEqual([...image.data], [255, 0, 0, 0, 0, 0, 255, 255, 255]);
  });

  test("a greyscale PNG is expanded to RGB", async () => {
    const grey = Buffer.from([0, 100, 200, 255]);
    const png = await sharp(grey, { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer();
    const image = await decodeImage(png, { maxPixels: 100 });
    assert.deepEqual([...image.data], [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
  });

  test("a PGM decodes to grey RGB", async () => {
    const pgm = Buffer.concat([Buffer.from("P5\n# grey\n3 2\n255\n"), Buffer.from([0, 50, 100, 150, 200, 255])]);
    const image = await decodeImage(pgm, { maxPixels: 100 });
    assert.equal(image.width, 3);
    assert.equal(image.height, 2);
    assert.deepEqual([...image.data], [0, 0, 0, 50, 50, 50, 100, 100, 100, 150, 150, 150, 200, 200, 200, 255, 255, 255]);
  });

  test("an ASCII PGM with maxval 15 decodes scaled to 255", async () => {
    const image = await decodeImage(Buffer.from("P2 2 1 15\n0 15\n"), { maxPixels: 100 });
    assert.deepEqual([...image.data], [0, 0, 0, 255, 255, 255]);
  });

  test("a PPM decodes to its RGB samples", async () => {
    const ppm = Buffer.concat([Buffer.from("P6 2 1 255\n"), Buffer.from([1, 2, 3, 4, 5, 6])]);
    const image = await decodeImage(ppm, { maxPixels: 100 });
    assert.deepEqual([image.width, image.height, [...image.data]], [2, 1, [1, 2, 3, 4, 5, 6]]);
  });

  test("an AT&T-sized 92x112 PGM decodes", async () => {
    const raster = Buffer.alloc(92 * 112);
    for (let index = 0; index < raster.length; index++) raster[index] = index % 251;
    const image = await decodeImage(Buffer.concat([Buffer.from("P5\n92 112\n255\n"), raster]), { maxPixels: 40e6 });
    assert.equal(image.width, 92);
    assert.equal(image.height, 112);
    assert.deepEqual(pixel(image, 91, 111), [(92 * 112 - 1) % 251, (92 * 112 - 1) % 251, (92 * 112 - 1) % 251]);
  });

  test("a PGM over maxPixels is refused before decoding", async () => {
    const pgm = Buffer.from("P5 1000 1000 255\n"); // no raster at all: must not get as far as reading it
    await rejectsWithCode(decodeImage(pgm, { maxPixels: 999_999 }), "too_large", /1000x1000 pixels, over the pixel limit of 999999/);
  });

  test("a truncated PGM is corrupt", async () => {
    const pgm = Buffer.concat([Buffer.from("P5 4 4 255\n"), Buffer.alloc(10)]);
    await rejectsWithCode(decodeImage(pgm, { maxPixels: 100 }), "corrupt", /truncated/);
  });

  test("a PNG declaring 100000x100000 is refused by the pixel limit without allocating", async () => {
    const bomb = pngDeclaring(100_000, 100_000);
    const rssBefore = process.memoryUsage().rss;
    await rejectsWithCode(decodeImage(bomb, { maxPixels: 40e6 }), "too_large", /100000x100000 pixels, over the pixel limit/);
    // 100000x100000x3 would be 30 GB; refusing from the header costs nothing like it.
    assert.ok(process.memoryUsage().rss - rssBefore < 200e6, "decodeImage allocated for the pixels");
  });

  test("maxPixels applies to ordinary images too", async () => {
    const png = await solid(100, 100).png().toBuffer();
    await rejectsWithCode(decodeImage(png, { maxPixels: 9999 }), "too_large", /pixel limit/);
    const image = await decodeImage(png, { maxPixels: 10_000 });
    assert.deepEqual([image.width, image.height], [100, 100]);
  });

  test("every sharp format decodes to width x height x 3 bytes", async () => {
    for (const format of ["jpeg", "png", "webp", "gif", "tiff", "avif"] as const) {
      const bytes = await encode(solid(16, 12, { r: 0, g: 0, b: 255 }), format);
      const image = await decodeImage(bytes, { maxPixels: 1000 });
      assert.deepEqual([image.width, image.height, image.data.length], [16, 12, 16 * 12 * 3], format);
      const [r, g, b] = pixel(image, 8, 6);
      assert.ok(r < 40 && g < 40 && b > 200, `${format}: expected blue, got ${r},${g},${b}`);
    }
  });

  test("plain text and empty input are ImageDecodeErrors", async () => {
    await assert.rejects(decodeImage(Buffer.from("not an image at all"), { maxPixels: 100 }), ImageDecodeError);
    await assert.rejects(decodeImage(new Uint8Array(0), { maxPixels: 100 }), ImageDecodeError);
  });
});

describe("verifyDecodes", () => {
  test("a sound small JPEG verifies", async () => {
    const bytes = await noise(64, 48).jpeg().toBuffer();
    const header = await readImageHeader(bytes);
    assert.equal(await verifyDecodes(bytes, header), undefined);
  });

  test("a truncated JPEG passes readImageHeader but fails verifyDecodes as corrupt", async () => {
    const bytes = await noise(200, 150).jpeg().toBuffer();
    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.9));
    const header = await readImageHeader(cut);
    assert.deepEqual(header, { format: "jpeg", width: 200, height: 150 });
    await rejectsWithCode(verifyDecodes(cut, header), "corrupt", /corrupt or truncated/);
  });

  test("a real LFW photo cut at 90% passes readImageHeader but fails verifyDecodes", async () => {
    const photo = await readFile(lfwPhoto);
    const whole = await readImageHeader(photo);
    assert.deepEqual(whole, { format: "jpeg", width: 250, height: 250 });
    await verifyDecodes(photo, whole);
    const decoded = await decodeImage(photo, { maxPixels: 40e6 });
    assert.deepEqual([decoded.width, decoded.height, decoded.data.length], [250, 250, 250 * 250 * 3]);

    const cut = photo.subarray(0, Math.floor(photo.length * 0.9));
    const header = await readImageHeader(cut);
    assert.deepEqual(header, { format: "jpeg", width: 250, height: 250 });
    await rejectsWithCode(verifyDecodes(cut, header), "corrupt", /premature end|truncated/);
  });

  test("a truncated PNG fails verifyDecodes", async () => {
    const bytes = await noise(64, 64).png().toBuffer();
    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.7));
    const header = await readImageHeader(cut);
    assert.deepEqual(header, { format: "png", width: 64, height: 64 });
    await rejectsWithCode(verifyDecodes(cut, header), "corrupt");
  });

  test("a 3000x2000 JPEG verifies through the shrink path", async () => {
    const bytes = await noise(3000, 2000).jpeg({ quality: 80 }).toBuffer();
    const header = await readImageHeader(bytes);
    assert.deepEqual(header, { format: "jpeg", width: 3000, height: 2000 });
    assert.ok(header.width * header.height > 4_000_000, "must take the shrink-on-load path");
    assert.equal(await verifyDecodes(bytes, header), undefined);
  });

  test("a truncated 3000x2000 JPEG is still caught on the shrink path", async () => {
    const bytes = await noise(3000, 2000).jpeg({ quality: 80 }).toBuffer();
    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.9));
    const header = await readImageHeader(cut);
    assert.deepEqual(header, { format: "jpeg", width: 3000, height: 2000 });
    await rejectsWithCode(verifyDecodes(cut, header), "corrupt");
  });

  test("PGM files are verified by decoding them", async () => {
    const good = Buffer.concat([Buffer.from("P5 3 3 255\n"), Buffer.alloc(9, 7)]);
    assert.equal(await verifyDecodes(good, await readImageHeader(good)), undefined);
    const short = good.subarray(0, good.length - 1);
    const header = await readImageHeader(short);
    await rejectsWithCode(verifyDecodes(short, header), "corrupt", /truncated: 8 of 9 bytes/);
    const tooBright = Buffer.concat([Buffer.from("P5 2 1 100\n"), Buffer.from([100, 101])]);
    await rejectsWithCode(verifyDecodes(tooBright, await readImageHeader(tooBright)), "corrupt", /above the maximum 100/);
  });
});
