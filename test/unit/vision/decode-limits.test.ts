import assert from "node:assert/strict";
import { describe, test } from "node:test";
import sharp, { type Sharp } from "sharp";
import { decodeImage, decodeMemoryEstimate, ImageDecodeError, readImageHeader, verifyDecodes, type DecodeFailure } from "../../../src/vision/decode.js";
import { sniffFormat } from "../../../src/vision/sniff.js";

/**
 * Decoding hostile photos within bounds (issue 12, findings 2, 3 and 5): formats we never read are
 * refused from their first bytes and libvips cannot parse them even if asked; photos shrink while
 * decoding to the side asked for, PGM and PPM included.
 */

async function refusal(promise: Promise<unknown>): Promise<ImageDecodeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ImageDecodeError, `expected an ImageDecodeError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the photo to be refused");
}

async function assertRefused(bytes: Uint8Array, code: DecodeFailure, message: RegExp): Promise<void> {
  for (const attempt of [readImageHeader(bytes), decodeImage(bytes, { maxPixels: 1e9 })]) {
    const error = await refusal(attempt);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
  }
}

/**
 * An SVG as the attack used: a huge viewBox and megabytes of elements, which librsvg parses whole
 * (5.7 s and 460 MB for 8.4 MB) just to tell its size.
 */
function hugeSvg(elements = 40_000): Buffer {
  const shapes = Array.from({ length: elements }, (_, index) => `<rect x="${index}" y="${index}" width="99999" height="99999" fill="#${(index % 4096).toString(16).padStart(3, "0")}"/>`);
  return Buffer.from(`<?xml version="1.0"?>\n<!-- a drawing -->\n<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100000 100000" width="100000" height="100000">${shapes.join("")}</svg>`);
}

/** The start of an ISO base media file: an ftyp box with a major brand and compatible brands. */
function isoMedia(major: string, compatible: string[]): Buffer {
  const size = 16 + 4 * compatible.length;
  const box = Buffer.alloc(size);
  box.writeUInt32BE(size, 0);
  box.write(`ftyp${major}`, 4, "latin1");
  compatible.forEach((brand, index) => box.write(brand, 16 + 4 * index, "latin1"));
  return Buffer.concat([box, Buffer.alloc(64, 7)]);
}

const zeroPng = (width: number, height: number) => sharp({ create: { width, height, channels: 3, background: "#000000" } }).png({ compressionLevel: 9 }).toBuffer();

function pgm(width: number, height: number, maxValue: number, value: (index: number) => number): Buffer {
  const wide = maxValue > 255;
  const raster = Buffer.alloc(width * height * (wide ? 2 : 1));
  for (let index = 0; index < width * height; index++) {
    if (wide) raster.writeUInt16BE(value(index), index * 2);
    else raster[index] = value(index);
  }
  return Buffer.concat([Buffer.from(`P5\n${width} ${height}\n${maxValue}\n`, "latin1"), raster]);
}

describe("formats we never read are refused from their first bytes", () => {
  test("an SVG with a huge viewBox is unsupported_format, and libvips' SVG loader is blocked besides", async () => {
    const svg = hugeSvg();
    assert.ok(svg.length > 2_000_000, `the SVG is ${svg.length} bytes`);
    await assertRefused(svg, "unsupported_format", /SVG drawing, not a photo/);
    // Proof that the refusal came from the sniffing: libvips, asked directly, cannot open it at all.
    await assert.rejects(sharp(svg).metadata(), /unsupported image format/);
    await assert.rejects(sharp(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')).metadata(), /unsupported image format/);
  });

  test("an SVG behind a byte-order mark, blank lines and a DOCTYPE is still an SVG", async () => {
    const svg = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('\n\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x">\n<svg width="10" height="10"></svg>')]);
    await assertRefused(svg, "unsupported_format", /SVG/);
  });

  test("a PDF, a HEIC and a PBM are unsupported_format; a video and HTML are not images", async () => {
    await assertRefused(Buffer.from("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n"), "unsupported_format", /PDF document/);
    await assertRefused(isoMedia("heic", ["mif1", "heic"]), "unsupported_format", /HEIC photo/);
    await assertRefused(isoMedia("mif1", ["mif1", "heix"]), "unsupported_format", /HEIC photo/);
    await assertRefused(Buffer.from("P4\n8 1\n\x55"), "unsupported_format", /PBM, PAM or PFM/);
    await assertRefused(isoMedia("isom", ["isom", "mp42"]), "not_an_image", /not in any image format/);
    await assertRefused(Buffer.from("<!doctype html><html><body>hello</body></html>"), "not_an_image", /not in any image format/);
  });

  test("the dataset check's decode verification refuses them the same way", async () => {
    await assertRefused(hugeSvg(10), "unsupported_format", /SVG/);
    const header = await readImageHeader(await zeroPng(8, 8));
    await verifyDecodes(await zeroPng(8, 8), header);
  });

  test("sniffing names every format we read, AVIF among HEIF files by its brand", async () => {
    const base = sharp({ create: { width: 16, height: 12, channels: 3, background: "#123456" } });
    const encoded = {
      jpeg: await base.clone().jpeg().toBuffer(),
      png: await base.clone().png().toBuffer(),
      webp: await base.clone().webp().toBuffer(),
      gif: await base.clone().gif().toBuffer(),
      tiff: await base.clone().tiff().toBuffer(),
      avif: await base.clone().avif().toBuffer(),
    };
    for (const [format, bytes] of Object.entries(encoded)) {
      assert.deepEqual(sniffFormat(bytes), { kind: "image", format }, format);
      // Every format we read still gets through libvips with the other loaders blocked.
      const image = await decodeImage(bytes, { maxPixels: 1000 });
      assert.deepEqual([image.width, image.height], [16, 12], format);
    }
    assert.deepEqual(sniffFormat(isoMedia("mif1", ["mif1", "miaf", "avif"])), { kind: "image", format: "avif" });
    assert.deepEqual(sniffFormat(Buffer.from("P5 1 1 255\n\0")), { kind: "image", format: "pgm" });
    assert.deepEqual(sniffFormat(Buffer.from("P3 1 1 255\n1 2 3\n")), { kind: "image", format: "ppm" });
    assert.deepEqual(sniffFormat(Buffer.from("MM\0*\0\0\0\x08")), { kind: "image", format: "tiff" });
    assert.deepEqual(sniffFormat(Buffer.from("just text")), { kind: "unknown" });
  });

  test("an Ultra HDR JPEG (with a gain map, whose own loader is blocked) decodes as the JPEG it also is", async () => {
    // withGainMap is experimental in sharp 0.35 and not in its type declarations yet.
    const base = sharp({ create: { width: 64, height: 48, channels: 3, background: "#345678" } }) as Sharp & { withGainMap(): Sharp };
    const hdr = await base.withGainMap().jpeg().toBuffer();
    const image = await decodeImage(hdr, { maxPixels: 10_000 });
    assert.deepEqual([image.width, image.height], [64, 48]);
  });
});

describe("decoding shrinks to maxSide", () => {
  test("an all-zero 6300x6300 PNG of a few KB decodes to 2048x2048, not 120 MB of RGB", async () => {
    const bomb = await zeroPng(6300, 6300);
    assert.ok(bomb.length < 200_000, `the PNG is ${bomb.length} bytes`);
    const image = await decodeImage(bomb, { maxPixels: 40_000_000, maxSide: 2048 });
    assert.deepEqual([image.width, image.height, image.data.length], [2048, 2048, 2048 * 2048 * 3]);
  });

  test("the aspect ratio and the EXIF orientation are kept, and small photos are never enlarged", async () => {
    const wide = await sharp({ create: { width: 3000, height: 1000, channels: 3, background: "#204060" } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const turned = await decodeImage(wide, { maxPixels: 40_000_000, maxSide: 600 });
    assert.deepEqual([turned.width, turned.height], [200, 600], "orientation 6 makes the 3000x1000 photo 1000x3000");
    const small = await decodeImage(await zeroPng(300, 200), { maxPixels: 1e6, maxSide: 2048 });
    assert.deepEqual([small.width, small.height], [300, 200]);
  });

  test("a 10 MB PGM decodes shrunk, from its own raster, with its grey levels", async () => {
    const big = pgm(3300, 3000, 255, () => 77);
    assert.ok(big.length > 9_900_000);
    const image = await decodeImage(big, { maxPixels: 40_000_000, maxSide: 2048 });
    assert.deepEqual([image.width, image.height], [2048, 1862]);
    assert.ok(image.data.every((value) => value === 77), "a uniform grey stays exactly that grey");
  });

  test("a 16-bit PGM and a scaled 8-bit PPM shrink too, and small ones decode exactly as before", async () => {
    const wide = pgm(2500, 2000, 65535, (index) => (index % 2500 < 1250 ? 0 : 65535));
    const image = await decodeImage(wide, { maxPixels: 40_000_000, maxSide: 1000 });
    assert.deepEqual([image.width, image.height], [1000, 800]);
    assert.deepEqual([...image.data.subarray(0, 3)], [0, 0, 0]);
    assert.deepEqual([...image.data.subarray(image.data.length - 3)], [255, 255, 255]);
    const ppm = Buffer.concat([Buffer.from("P6 1500 1000 15\n"), Buffer.alloc(1500 * 1000 * 3, 15)]);
    const colour = await decodeImage(ppm, { maxPixels: 40_000_000, maxSide: 750 });
    assert.deepEqual([colour.width, colour.height, colour.data[0]], [750, 500, 255]);
    const exact = await decodeImage(Buffer.from("P2 2 1 15\n0 15\n"), { maxPixels: 100, maxSide: 2048 });
    assert.deepEqual([...exact.data], [0, 0, 0, 255, 255, 255]);
  });

  test("a PGM whose raster is missing is refused before anything is allocated for it", async () => {
    const error = await refusal(decodeImage(Buffer.from("P5 6000 6000 65535\n\0\0"), { maxPixels: 40_000_000, maxSide: 2048 }));
    assert.equal(error.code, "corrupt");
    assert.match(error.message, /truncated: 2 of 72000000 bytes present/);
  });
});

describe("decodeMemoryEstimate", () => {
  test("streamed formats cost the same at any size once shrunk; AVIF and GIF grow with their pixels", () => {
    const estimate = (format: "png" | "jpeg" | "gif" | "avif", side: number) => decodeMemoryEstimate({ format, width: side, height: side }, { maxSide: 2048 });
    assert.equal(estimate("png", 6300), estimate("png", 2048));
    assert.ok(estimate("jpeg", 6300) < 50e6, `${estimate("jpeg", 6300)}`);
    assert.ok(estimate("gif", 6300) > 200e6);
    assert.ok(estimate("avif", 6300) > 700e6, "a 40 MP AVIF needs ~700 MB to decode");
    assert.ok(decodeMemoryEstimate({ format: "png", width: 6300, height: 6300 }) > 119e6, "without a shrink the whole RGB is held");
  });
});
