import { looksLikePnm } from "./pnm.js";

/**
 * What a file is, from its first bytes alone: the formats faceops reads, the ones it knowingly
 * refuses, and everything else. This runs before any decoder sees the bytes, because some decoders
 * do a great deal of work just to answer "what are you?": libvips' SVG loader parses the whole
 * document to learn its size (an 8 MB SVG cost 5.7 s and 460 MB), and a PDF or HEIC loader would
 * start up a whole library. Nothing here allocates more than a few bytes or reads past 4 KB.
 */

export type ImageFormat = "jpeg" | "png" | "webp" | "gif" | "tiff" | "avif" | "pgm" | "ppm";

/** Image formats we recognise and refuse without decoding, and why. */
export type RefusedFormat = "svg" | "pdf" | "heic" | "netpbm";

export type Sniffed =
  | { kind: "image"; format: ImageFormat }
  | { kind: "refused"; format: RefusedFormat; why: string }
  | { kind: "unknown" };

const refusals: Record<RefusedFormat, string> = {
  svg: "an SVG drawing, not a photo",
  pdf: "a PDF document, not a photo",
  heic: "a HEIC photo, which faceops does not read (convert it to JPEG or AVIF)",
  netpbm: "a PBM, PAM or PFM file; of the Netpbm formats faceops reads PGM and PPM",
};

/** How far into a text file an `<svg` element is looked for (after an XML declaration, comments, a DOCTYPE). */
const svgWindow = 4096;

const ascii = (bytes: Uint8Array, start: number, length: number) => String.fromCharCode(...bytes.subarray(start, start + length));
const startsWith = (bytes: Uint8Array, prefix: readonly number[], at = 0) => prefix.every((value, index) => bytes[at + index] === value);

const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function sniffFormat(bytes: Uint8Array): Sniffed {
  const image = (format: ImageFormat): Sniffed => ({ kind: "image", format });
  const refused = (format: RefusedFormat): Sniffed => ({ kind: "refused", format, why: refusals[format] });
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return image("jpeg");
  if (startsWith(bytes, pngSignature)) return image("png");
  const head = ascii(bytes, 0, 12);
  if (head.startsWith("GIF87a") || head.startsWith("GIF89a")) return image("gif");
  if (head.startsWith("RIFF") && head.slice(8, 12) === "WEBP") return image("webp");
  // Classic TIFF (42) and BigTIFF (43), in either byte order.
  if (["II*\0", "MM\0*", "II+\0", "MM\0+"].includes(head.slice(0, 4))) return image("tiff");
  if (looksLikePnm(bytes)) return image(bytes[1] === 0x32 || bytes[1] === 0x35 ? "pgm" : "ppm");
  if (/^P[147Ff]\s/.test(ascii(bytes, 0, 3))) return refused("netpbm");
  if (head.slice(4, 8) === "ftyp") return sniffIsoMedia(bytes) ?? { kind: "unknown" };
  if (head.startsWith("%PDF-")) return refused("pdf");
  if (looksLikeSvg(bytes)) return refused("svg");
  return { kind: "unknown" };
}

/* The brands of HEIF stills and sequences (ISO/IEC 23008-12); "mif1" alone is HEIF's generic brand. */
const avifBrands = new Set(["avif", "avis"]);
const heifBrands = new Set(["heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs", "mif1", "msf1", "mif2"]);

/**
 * An ISO base media file (HEIF, AVIF, MP4, QuickTime) from its ftyp box: major brand, then
 * compatible brands. AVIF files usually list "mif1" too, so any AVIF brand makes it AVIF (whose
 * compression sharp's header then confirms); HEIF brands without one are HEIC; anything else
 * (a video) is not a photo.
 */
function sniffIsoMedia(bytes: Uint8Array): Sniffed | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16) return null;
  const declared = view.getUint32(0);
  const end = Math.min(bytes.length, declared >= 16 ? declared : 16, 4096);
  const brands = [ascii(bytes, 8, 4)];
  for (let offset = 16; offset + 4 <= end; offset += 4) brands.push(ascii(bytes, offset, 4));
  if (brands.some((brand) => avifBrands.has(brand))) return { kind: "image", format: "avif" };
  if (brands.some((brand) => heifBrands.has(brand))) return { kind: "refused", format: "heic", why: refusals.heic };
  return null;
}

/** Text (after a byte-order mark and blank space) that starts with markup and has an `<svg` element early on. */
function looksLikeSvg(bytes: Uint8Array): boolean {
  let start = startsWith(bytes, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  while (start < bytes.length && [0x20, 0x09, 0x0a, 0x0d].includes(bytes[start] as number)) start++;
  if (bytes[start] !== 0x3c) return false;
  const window = Buffer.from(bytes.buffer, bytes.byteOffset + start, Math.min(bytes.length - start, svgWindow));
  return window.toString("latin1").toLowerCase().includes("<svg");
}
