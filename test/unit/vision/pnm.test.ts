import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodePnm, looksLikePnm, PnmError, readPnmHeader } from "../../../src/vision/pnm.js";

/** ASCII header text followed by raw raster bytes. */
function pnm(header: string, raster: readonly number[] | Uint8Array = []): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from(header, "latin1"), Buffer.from(raster)]));
}

/** 16-bit samples, big-endian, as P5/P6 store them when maxval > 255. */
function bigEndian16(values: readonly number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 2);
  values.forEach((value, index) => bytes.writeUInt16BE(value, index * 2));
  return bytes;
}

function assertPnmError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PnmError, `expected a PnmError, got ${String(error)}`);
    assert.equal(error.name, "PnmError");
    assert.match(error.message, pattern);
    return true;
  });
}

describe("readPnmHeader", () => {
  test("P2 with comments between every header token", () => {
    const bytes = pnm("P2\n# made by hand\n3 # width\n2\n# max follows\n15\n0 1 2\n3 14 15\n");
    const header = readPnmHeader(bytes);
    assert.deepEqual(header, {
      kind: "pgm",
      encoding: "ascii",
      channels: 1,
      width: 3,
      height: 2,
      maxValue: 15,
      dataOffset: "P2\n# made by hand\n3 # width\n2\n# max follows\n15\n".length,
    });
  });

  test("P5, P3 and P6 magics map to kind, encoding and channels", () => {
    assert.deepEqual(readPnmHeader(pnm("P5 4 3 255\n", new Uint8Array(12))), {
      kind: "pgm",
      encoding: "binary",
      channels: 1,
      width: 4,
      height: 3,
      maxValue: 255,
      dataOffset: 11,
    });
    const p3 = readPnmHeader(pnm("P3\n1 1\n255\n1 2 3\n"));
    assert.deepEqual([p3.kind, p3.encoding, p3.channels], ["ppm", "ascii", 3]);
    const p6 = readPnmHeader(pnm("P6\t2\r1\r255\n", new Uint8Array(6)));
    assert.deepEqual([p6.kind, p6.encoding, p6.channels, p6.width, p6.height, p6.dataOffset], ["ppm", "binary", 3, 2, 1, 11]);
  });

  test("bad magic is refused", () => {
    assertPnmError(() => readPnmHeader(pnm("P4\n1 1\n", [0])), /not a PGM\/PPM file \(magic "P4"\)/);
    assertPnmError(() => readPnmHeader(pnm("P7\nWIDTH 1\n")), /magic "P7"/);
    assertPnmError(() => readPnmHeader(pnm("GIF89a")), /magic "GI"/);
    // The magic must be followed by whitespace.
    assertPnmError(() => readPnmHeader(pnm("P51 1 255\n", [0])), /not a PGM\/PPM file/);
    assertPnmError(() => readPnmHeader(new Uint8Array(0)), /not a PGM\/PPM file/);
  });

  test("zero width or height is refused", () => {
    assertPnmError(() => readPnmHeader(pnm("P5 0 2 255\n")), /0x2 pixels/);
    assertPnmError(() => readPnmHeader(pnm("P5 2 0 255\n")), /2x0 pixels/);
  });

  test("maxval must be 1..65535", () => {
    assertPnmError(() => readPnmHeader(pnm("P5 1 1 0\n", [0])), /1\.\.65535, found 0/);
    assertPnmError(() => readPnmHeader(pnm("P5 1 1 70000\n", [0, 0])), /1\.\.65535, found 70000/);
    assert.equal(readPnmHeader(pnm("P5 1 1 65535\n", [0, 0])).maxValue, 65535);
    assert.equal(readPnmHeader(pnm("P5 1 1 1\n", [0])).maxValue, 1);
  });

  test("missing or non-numeric header fields are refused", () => {
    assertPnmError(() => readPnmHeader(pnm("P5 3")), /expected the height as a decimal number at byte 4, found the end of the file/);
    assertPnmError(() => readPnmHeader(pnm("P5 -3 2 255\n")), /expected the width as a decimal number at byte 3, found byte 0x2d/);
    assertPnmError(() => readPnmHeader(pnm("P5 3 2 x\n")), /maximum sample value/);
    assertPnmError(() => readPnmHeader(pnm("P5 99999999999999999999 1 255\n")), /width is not a sensible number/);
    // The header ends with exactly one whitespace byte; the end of the file is not one.
    assertPnmError(() => readPnmHeader(pnm("P5 1 1 255")), /expected whitespace after the header at byte 10/);
  });
});

describe("decodePnm", () => {
  test("P2 ASCII with comments, scaled from maxval 15 to 255", () => {
    const bytes = pnm("P2\n# a comment\n3 2\n# another one\n15\n0 1 2\n# comment in the raster\n3 14 15\n");
    assert.deepEqual([...decodePnm(bytes)], [0, 17, 34, 51, 238, 255]);
  });

  test("P5 8-bit keeps samples as they are, including whitespace-valued first bytes", () => {
    // 0x0a and 0x20 right after the header are raster, not more whitespace.
    const bytes = pnm("P5\n4 2\n255\n", [0x0a, 0x20, 0, 255, 1, 2, 128, 254]);
    assert.deepEqual([...decodePnm(bytes)], [10, 32, 0, 255, 1, 2, 128, 254]);
  });

  test("P5 8-bit ignores bytes after the raster", () => {
    const bytes = pnm("P5 2 1 255\n", [7, 8, 9, 9, 9]);
    assert.deepEqual([...decodePnm(bytes)], [7, 8]);
  });

  test("P5 16-bit maxval 65535 is big-endian and rounds to 8 bits", () => {
    const values = [0, 0xffff, 0x0101, 0x8000, 0x7fff, 0x00ff, 0x0080, 0x1234];
    const bytes = pnm("P5 4 2 65535\n", bigEndian16(values));
    // round(v * 255 / 65535) = round(v / 257)
    assert.deepEqual([...decodePnm(bytes)], [0, 255, 1, 128, 127, 1, 0, 18]);
  });

  test("P5 with a small maxval rounds half-way values up (round(v*255/maxval))", () => {
    // maxval 100: 50 -> 127.5 -> 128, 90 -> 229.5 -> 230, 1 -> 2.55 -> 3, 99 -> 252.45 -> 252.
    assert.deepEqual([...decodePnm(pnm("P5 5 1 100\n", [0, 1, 50, 90, 99]))], [0, 3, 128, 230, 252]);
    // maxval 1 (a bitmap stored as PGM): 0 -> 0, 1 -> 255.
    assert.deepEqual([...decodePnm(pnm("P5 2 1 1\n", [1, 0]))], [255, 0]);
  });

  test("every sample of every 8-bit maxval scales as round(v*255/maxval)", () => {
    for (let maxValue = 1; maxValue <= 255; maxValue++) {
      const raster = Array.from({ length: maxValue + 1 }, (_, value) => value);
      const decoded = decodePnm(pnm(`P5 ${raster.length} 1 ${maxValue}\n`, raster));
      const expected = raster.map((value) => Math.round((value * 255) / maxValue));
      assert.deepEqual([...decoded], expected, `maxval ${maxValue}`);
    }
  });

  test("every sample of some 16-bit maxvals scales as round(v*255/maxval)", () => {
    for (const maxValue of [256, 1000, 1023, 4095, 65535]) {
      const raster = Array.from({ length: maxValue + 1 }, (_, value) => value);
      const decoded = decodePnm(pnm(`P5 ${raster.length} 1 ${maxValue}\n`, bigEndian16(raster)));
      const expected = raster.map((value) => Math.round((value * 255) / maxValue));
      assert.deepEqual([...decoded], expected, `maxval ${maxValue}`);
    }
  });

  test("P3 ASCII colour", () => {
    const bytes = pnm("P3\n# rgb\n2 1\n255\n255 0 0   0 128 255\n");
    assert.deepEqual([...decodePnm(bytes)], [255, 0, 0, 0, 128, 255]);
  });

  test("P3 ASCII colour with maxval 1000", () => {
    const bytes = pnm("P3 1 1 1000\n1000 500 2\n");
    // 500*255/1000 = 127.5 -> 128; 2*255/1000 = 0.51 -> 1
    assert.deepEqual([...decodePnm(bytes)], [255, 128, 1]);
  });

  test("P6 binary colour, 8 and 16 bits", () => {
    const eight = pnm("P6\n2 2\n255\n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252]);
    assert.deepEqual([...decodePnm(eight)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252]);
    const sixteen = pnm("P6 1 1 65535\n", bigEndian16([0xffff, 0x0000, 0x0202]));
    assert.deepEqual([...decodePnm(sixteen)], [255, 0, 2]);
  });

  test("P6 with maxval 1023 uses two bytes per sample", () => {
    const bytes = pnm("P6 1 1 1023\n", bigEndian16([1023, 0, 512]));
    // 512*255/1023 = 127.62 -> 128
    assert.deepEqual([...decodePnm(bytes)], [255, 0, 128]);
  });

  test("a header read separately can be passed in", () => {
    const bytes = pnm("P5 2 1 255\n", [3, 4]);
    const header = readPnmHeader(bytes);
    assert.deepEqual([...decodePnm(bytes, header)], [3, 4]);
  });

  test("a truncated P5 raster throws, saying so", () => {
    const bytes = pnm("P5 4 4 255\n", new Uint8Array(15));
    assertPnmError(() => decodePnm(bytes), /truncated: 15 of 16 bytes present/);
  });

  test("a truncated 16-bit P5 raster counts two bytes per sample", () => {
    const bytes = pnm("P5 2 2 65535\n", new Uint8Array(7));
    assertPnmError(() => decodePnm(bytes), /truncated: 7 of 8 bytes present/);
  });

  test("a truncated P6 raster throws", () => {
    assertPnmError(() => decodePnm(pnm("P6 2 2 255\n", new Uint8Array(11))), /truncated: 11 of 12/);
  });

  test("a truncated or malformed ASCII raster throws", () => {
    assertPnmError(() => decodePnm(pnm("P2 2 2 255\n1 2 3\n")), /truncated or malformed.*sample 3.*end of the file/);
    assertPnmError(() => decodePnm(pnm("P3 1 1 255\n1 x 3\n")), /truncated or malformed.*sample 1/);
  });

  test("a sample above maxval throws", () => {
    assertPnmError(() => decodePnm(pnm("P5 3 1 200\n", [0, 200, 201])), /sample 2 is 201, above the maximum 200/);
    assertPnmError(() => decodePnm(pnm("P2 2 1 15\n15 16\n")), /sample 1 is 16, above the maximum 15/);
    assertPnmError(() => decodePnm(pnm("P5 1 1 1000\n", bigEndian16([1001]))), /sample 0 is 1001, above the maximum 1000/);
  });

  test("an AT&T/ORL-style 92x112 P5 face", () => {
    const width = 92;
    const height = 112;
    const raster = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) raster[y * width + x] = (x * 2 + y * 3) % 256;
    }
    const bytes = pnm(`P5\n${width} ${height}\n255\n`, raster);
    assert.equal(bytes.length, 14 + 10304);
    const header = readPnmHeader(bytes);
    assert.deepEqual(header, { kind: "pgm", encoding: "binary", channels: 1, width: 92, height: 112, maxValue: 255, dataOffset: 14 });
    const samples = decodePnm(bytes, header);
    assert.equal(samples.length, 10304);
    assert.deepEqual(samples, raster);
    assert.equal(samples[0], 0);
    assert.equal(samples[91], 182); // x=91, y=0
    assert.equal(samples[92 * 111 + 91], (182 + 333) % 256); // last pixel
    assert.equal(looksLikePnm(bytes), true);
    // Cut one row short, as a partial download would be.
    assertPnmError(() => decodePnm(bytes.subarray(0, bytes.length - width)), /truncated: 10212 of 10304 bytes present/);
  });
});

describe("looksLikePnm", () => {
  const cases: Array<[string, Uint8Array, boolean]> = [
    ["P2 newline", pnm("P2\n"), true],
    ["P3 space", pnm("P3 "), true],
    ["P5 newline", pnm("P5\n92 112\n255\n"), true],
    ["P6 tab", pnm("P6\t"), true],
    ["P5 carriage return", pnm("P5\r"), true],
    ["P1 (PBM ASCII)", pnm("P1\n"), false],
    ["P4 (PBM binary)", pnm("P4\n"), false],
    ["P7 (PAM)", pnm("P7\n"), false],
    ["lowercase p5", pnm("p5\n"), false],
    ["P5 without whitespace", pnm("P5x"), false],
    ["only two bytes", pnm("P5"), false],
    ["empty", new Uint8Array(0), false],
    ["JPEG", new Uint8Array([0xff, 0xd8, 0xff, 0xe0]), false],
    ["PNG", new Uint8Array([0x89, 0x50, 0x4e, 0x47]), false],
  ];
  for (const [name, bytes, expected] of cases) {
    test(`${name} -> ${expected}`, () => assert.equal(looksLikePnm(bytes), expected));
  }
});
