/**
 * Netpbm greyscale and colour maps (PGM P2/P5, PPM P3/P6). sharp cannot read them, yet classic face
 * datasets such as AT&T/ORL ship PGM. The header is parsed on its own first, so that the size of a
 * hostile file is known (and refused) before a single sample is read.
 */

export type PnmKind = "pgm" | "ppm";

export interface PnmHeader {
  kind: PnmKind;
  encoding: "ascii" | "binary";
  width: number;
  height: number;
  maxValue: number;
  channels: 1 | 3;
  /** Offset of the first raster byte (binary) or the first sample's text (ascii). */
  dataOffset: number;
}

export class PnmError extends Error {
  override readonly name = "PnmError";
}

const magics: Record<string, Pick<PnmHeader, "kind" | "encoding" | "channels">> = {
  P2: { kind: "pgm", encoding: "ascii", channels: 1 },
  P5: { kind: "pgm", encoding: "binary", channels: 1 },
  P3: { kind: "ppm", encoding: "ascii", channels: 3 },
  P6: { kind: "ppm", encoding: "binary", channels: 3 },
};

const isWhitespace = (byte: number | undefined) =>
  byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;

/** True when the bytes start like a Netpbm file we can read. */
export function looksLikePnm(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0x50 && [0x32, 0x33, 0x35, 0x36].includes(bytes[1] as number) && isWhitespace(bytes[2]);
}

/** Reads whitespace-separated decimal tokens, skipping `#` comments, as the Netpbm spec allows. */
class TokenReader {
  constructor(
    private readonly bytes: Uint8Array,
    public offset: number,
  ) {}

  nextInteger(what: string): number {
    this.skipWhitespaceAndComments();
    const start = this.offset;
    let value = 0;
    while (this.offset < this.bytes.length) {
      const byte = this.bytes[this.offset] as number;
      if (byte < 0x30 || byte > 0x39) break;
      value = value * 10 + (byte - 0x30);
      if (value > Number.MAX_SAFE_INTEGER) throw new PnmError(`the ${what} is not a sensible number`);
      this.offset++;
    }
    if (this.offset === start) {
      const found = this.offset >= this.bytes.length ? "the end of the file" : `byte 0x${(this.bytes[this.offset] as number).toString(16)}`;
      throw new PnmError(`expected the ${what} as a decimal number at byte ${start}, found ${found}`);
    }
    return value;
  }

  private skipWhitespaceAndComments(): void {
    while (this.offset < this.bytes.length) {
      const byte = this.bytes[this.offset];
      if (isWhitespace(byte)) this.offset++;
      else if (byte === 0x23) {
        while (this.offset < this.bytes.length && this.bytes[this.offset] !== 0x0a && this.bytes[this.offset] !== 0x0d) this.offset++;
      } else break;
    }
  }
}

export function readPnmHeader(bytes: Uint8Array): PnmHeader {
  const magic = String.fromCharCode(bytes[0] ?? 0, bytes[1] ?? 0);
  const format = magics[magic];
  if (!format || !isWhitespace(bytes[2])) throw new PnmError(`not a PGM/PPM file (magic "${magic}")`);
  const reader = new TokenReader(bytes, 2);
  const width = reader.nextInteger("width");
  const height = reader.nextInteger("height");
  const maxValue = reader.nextInteger("maximum sample value");
  if (width === 0 || height === 0) throw new PnmError(`the image is ${width}x${height} pixels`);
  if (maxValue < 1 || maxValue > 65535) throw new PnmError(`the maximum sample value must be 1..65535, found ${maxValue}`);
  // Exactly one whitespace byte separates the header from a binary raster.
  if (!isWhitespace(bytes[reader.offset])) throw new PnmError(`expected whitespace after the header at byte ${reader.offset}`);
  return { ...format, width, height, maxValue, dataOffset: reader.offset + 1 };
}

/**
 * Decodes the raster to 8-bit samples (1 channel for PGM, 3 for PPM), scaling maxValue to 255.
 * Throws PnmError when the raster is short or holds a sample above maxValue.
 */
export function decodePnm(bytes: Uint8Array, header: PnmHeader = readPnmHeader(bytes)): Uint8Array {
  const raster = pnmSamples(bytes, header);
  // A view into the file is copied, so that the result owns its memory as before.
  return raster.buffer === bytes.buffer ? raster.slice() : raster;
}

/**
 * The raster as 8-bit samples, like decodePnm, but without copying when the file already holds
 * exactly that (binary, maxValue 255): then it is a view into `bytes`, to be read, never written.
 * The size of a binary raster is checked before anything is allocated for it.
 */
export function pnmSamples(bytes: Uint8Array, header: PnmHeader = readPnmHeader(bytes)): Uint8Array {
  const sampleCount = header.width * header.height * header.channels;
  if (header.encoding === "binary") {
    const bytesPerSample = header.maxValue < 256 ? 1 : 2;
    const needed = sampleCount * bytesPerSample;
    const available = bytes.length - header.dataOffset;
    if (available < needed) throw new PnmError(`the raster is truncated: ${available} of ${needed} bytes present`);
    if (header.maxValue === 255) return bytes.subarray(header.dataOffset, header.dataOffset + sampleCount);
  }
  const scaled = scaleTable(header.maxValue);
  const samples = new Uint8Array(sampleCount);
  const scale = (value: number, index: number) => {
    if (value > header.maxValue) throw new PnmError(`sample ${index} is ${value}, above the maximum ${header.maxValue}`);
    return scaled[value] as number;
  };
  if (header.encoding === "binary") {
    const at = header.dataOffset;
    if (header.maxValue < 256) {
      for (let index = 0; index < sampleCount; index++) samples[index] = scale(bytes[at + index] as number, index);
    } else {
      for (let index = 0; index < sampleCount; index++) {
        samples[index] = scale(((bytes[at + 2 * index] as number) << 8) | (bytes[at + 2 * index + 1] as number), index);
      }
    }
  } else {
    const reader = new TokenReader(bytes, header.dataOffset - 1);
    for (let index = 0; index < sampleCount; index++) {
      let value: number;
      try {
        value = reader.nextInteger(`sample ${index}`);
      } catch (error) {
        throw new PnmError(`the raster is truncated or malformed: ${(error as Error).message}`, { cause: error });
      }
      samples[index] = scale(value, index);
    }
  }
  return samples;
}

/**
 * Every sample value 0..maxValue scaled to 0..255, computed once per file instead of per sample.
 * Multiply before dividing: value * (255 / maxValue) is inexact, and misses half-way values
 * (50 of 100 gave 127.49999999999999, rounded to 127 instead of 128).
 */
function scaleTable(maxValue: number): Uint8Array {
  const table = new Uint8Array(maxValue + 1);
  for (let value = 0; value <= maxValue; value++) table[value] = Math.round((value * 255) / maxValue);
  return table;
}
