import sharp from "sharp";

/**
 * How libvips (through sharp) may be used on untrusted bytes, set once per process before the first
 * photo is decoded, for training and serving alike. Each setting is a bound on memory or on the code
 * that a hostile file can reach:
 *
 * - Only the loaders of the formats faceops reads are allowed. libvips picks a loader by sniffing
 *   the bytes itself, and ships loaders for SVG (librsvg), PDF, FITS, Matlab, raw camera files and
 *   more; our own sniffing (sniff.ts) refuses those first, and the block makes sure that a file
 *   which slips past it still reaches no other parser. Blocking is by class and covers every
 *   subclass (file, buffer and source loaders), so "VipsForeignLoad" blocks them all and the
 *   allowed families are opened again.
 * - The operation cache is off. It keeps recently used operations (and their pixels) for
 *   re-processing the same file; we decode each photo once, so it only holds memory (and turning it
 *   off made a dataset check ~60% faster).
 * - One libvips worker thread per image. Every thread keeps its own tile buffers, so the memory of
 *   a decode grows with the thread count; parallelism comes instead from decoding several photos at
 *   once, which the callers bound (serve.decodeConcurrency, dataset.concurrency). sharp already
 *   chooses 1 on glibc without jemalloc (our images); saying it here keeps it so on musl or jemalloc.
 */

/** The libvips loader families of JPEG, PNG, WebP, GIF, TIFF and HEIF (AVIF; HEIC is refused before). */
export const allowedLoaders = [
  "VipsForeignLoadJpeg",
  "VipsForeignLoadPng",
  "VipsForeignLoadWebp",
  "VipsForeignLoadNsgif",
  "VipsForeignLoadTiff",
  "VipsForeignLoadHeif",
] as const;

let applied = false;

/** Applies the settings above; later calls do nothing. */
export function applyCodecPolicy(): void {
  if (applied) return;
  sharp.cache(false);
  sharp.concurrency(1);
  sharp.block({ operation: ["VipsForeignLoad"] });
  sharp.unblock({ operation: [...allowedLoaders] });
  applied = true;
}
