import sharp from "sharp";
import type { DecodeFailure, ImageFormat } from "../vision/decode.js";
import { readJsonOr, writeJsonAtomic } from "../store/files.js";

/**
 * What decoding a file taught us, kept per content so a photo is decoded once in its life.
 * Facts depend only on the bytes, never on the limits in force: limits are applied afterwards,
 * so changing `minSide` does not invalidate anything (a file only read up to its header because
 * it was over a limit is re-checked when the limit no longer rejects it).
 */
export type PhotoFacts =
  | { kind: "image"; sha256: string; size: number; format: ImageFormat; width: number; height: number }
  | { kind: "header_only"; sha256: string; size: number; format: ImageFormat; width: number; height: number }
  | { kind: "lfs_pointer"; sha256: string; size: number }
  | { kind: "failed"; sha256: string; size: number; code: DecodeFailure; message: string };

interface CacheFile {
  version: number;
  decoder: string;
  entries: Record<string, PhotoFacts>;
}

/** Bumped when the meaning of a fact changes; a different decoder build may also judge differently. */
const cacheVersion = 1;
const decoderVersion = `sharp ${sharp.versions.sharp} vips ${sharp.versions.vips}`;

/**
 * Keys are `git:<blob id>` (free from `git ls-tree`, so a known photo is not even read) or
 * `sha256:<hex>` (plain folders, where the bytes must be read and hashed).
 */
export class ValidationCache {
  private readonly added = new Map<string, PhotoFacts>();

  private constructor(
    private readonly path: string | null,
    private readonly entries: Map<string, PhotoFacts>,
  ) {}

  static async load(path: string): Promise<ValidationCache> {
    const file = await readJsonOr<CacheFile | null>(path, null);
    const usable = file && file.version === cacheVersion && file.decoder === decoderVersion;
    return new ValidationCache(path, new Map(usable ? Object.entries(file.entries) : []));
  }

  /** A cache that forgets everything when the process ends. */
  static inMemory(): ValidationCache {
    return new ValidationCache(null, new Map());
  }

  get(key: string): PhotoFacts | undefined {
    return this.entries.get(key);
  }

  set(key: string, facts: PhotoFacts): void {
    this.entries.set(key, facts);
    this.added.set(key, facts);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Writes new facts, merged with whatever another process saved meanwhile. Facts are immutable
   * per key, so a merge can never conflict; the worst a race can do is drop the other writer's
   * additions, which are then recomputed once.
   */
  async save(): Promise<void> {
    if (!this.path || this.added.size === 0) return;
    const onDisk = await readJsonOr<CacheFile | null>(this.path, null);
    const merged: Record<string, PhotoFacts> =
      onDisk && onDisk.version === cacheVersion && onDisk.decoder === decoderVersion ? onDisk.entries : {};
    for (const [key, facts] of this.entries) merged[key] = facts;
    await writeJsonAtomic(this.path, { version: cacheVersion, decoder: decoderVersion, entries: merged } satisfies CacheFile, { compact: true });
    this.added.clear();
  }
}
