import { deflateSync } from "node:zlib";
import sharp from "sharp";

/** Files that must be rejected, built byte by byte so each one is exactly the defect it names. */

// CRC-32 (ISO 3309, as PNG uses), so hand-built chunks are valid.
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A PNG of width x height 8-bit RGB whose IDAT holds `scanlines` (filter byte + samples per row), deflated. */
export function handBuiltPng(width: number, height: number, scanlines: Uint8Array): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type RGB; compression, filter and interlace stay 0
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(scanlines)),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

/** A valid PNG header declaring width x height RGB pixels with one tiny IDAT: a decompression bomb's shape. */
export function pngDeclaring(width: number, height: number): Buffer {
  return handBuiltPng(width, height, new Uint8Array(64));
}

export function tinyPng(): Promise<Buffer> {
  return sharp({ create: { width: 1, height: 1, channels: 3, background: "#808080" } }).png().toBuffer();
}

export function lfsPointer(): string {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n";
}

/** A binary PGM (P5) face-sized picture, as the AT&T/ORL dataset ships them. */
export function pgmFace(width = 92, height = 112, seed = 1): Buffer {
  const pixels = Buffer.alloc(width * height);
  for (let index = 0; index < pixels.length; index++) pixels[index] = (index * 31 + seed * 97) % 256;
  return Buffer.concat([Buffer.from(`P5\n# synthetic face\n${width} ${height}\n255\n`, "ascii"), pixels]);
}

export function truncated(bytes: Buffer, fraction = 0.6): Buffer {
  return bytes.subarray(0, Math.floor(bytes.length * fraction));
}
