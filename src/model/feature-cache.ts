import { createHash } from "node:crypto";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../store/files.js";

/**
 * Backbone features, content-addressed: one small file per (photo, how it was computed). The frozen
 * backbone's output for a photo never changes, so a retry with other hyperparameters, or a push of a
 * few photos, reads features instead of running VGG16 again.
 *
 * Layout: <root>/<sha[0:2]>/<photo sha256>/<feature key>.f32, raw little-endian float32. Grouping by
 * photo makes garbage collection a matter of deleting the folders of photos no manifest references.
 * Writers are atomic (temporary file + rename) and every writer of a key writes the same bytes, so
 * concurrent attempts sharing a store cannot corrupt an entry.
 */

export interface FeatureKeyParts {
  /** The backbone's fingerprint: architecture, weights, input size, pooling, normalisation. */
  backbone: string;
  /** How the photo was cropped before the backbone, e.g. "face:41,52,160,160" or "center". */
  crop: string;
  /** 0 for the photo itself, 1..K for augmented copies. */
  variant: number;
  /** The augmentation parameters and seed behind a variant > 0 (empty for variant 0). */
  augmentation: string;
}

export function featureKey(parts: FeatureKeyParts): string {
  const augmentation = parts.variant === 0 ? "" : parts.augmentation;
  return createHash("sha256")
    .update(JSON.stringify({ v: 1, backbone: parts.backbone, crop: parts.crop, variant: parts.variant, augmentation }))
    .digest("hex")
    .slice(0, 32);
}

export interface FeatureCacheStats {
  photos: number;
  entries: number;
  bytes: number;
}

export class FeatureCache {
  constructor(readonly root: string) {}

  private photoFolder(photoSha: string): string {
    if (!/^[0-9a-f]{64}$/.test(photoSha)) throw new Error(`"${photoSha}" is not a sha256 content hash`);
    return join(this.root, photoSha.slice(0, 2), photoSha);
  }

  /** The cached vector, or null when absent or not of the expected length (then it is recomputed). */
  async get(photoSha: string, key: string, expectedLength: number): Promise<Float32Array | null> {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.photoFolder(photoSha), `${key}.f32`));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
    if (bytes.length !== expectedLength * 4) return null;
    const vector = new Float32Array(expectedLength);
    new Uint8Array(vector.buffer).set(bytes);
    return vector;
  }

  async put(photoSha: string, key: string, vector: Float32Array): Promise<void> {
    await writeFileAtomic(join(this.photoFolder(photoSha), `${key}.f32`), new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
  }

  async stats(): Promise<FeatureCacheStats> {
    const result: FeatureCacheStats = { photos: 0, entries: 0, bytes: 0 };
    for (const photo of await this.photoFolders()) {
      result.photos++;
      for (const name of await readdir(photo)) {
        result.entries++;
        result.bytes += (await stat(join(photo, name))).size;
      }
    }
    return result;
  }

  /** Deletes the features of every photo not in `keep`. Returns what was removed. */
  async gc(keep: ReadonlySet<string>): Promise<FeatureCacheStats> {
    const removed: FeatureCacheStats = { photos: 0, entries: 0, bytes: 0 };
    for (const photo of await this.photoFolders()) {
      const sha = photo.slice(photo.length - 64);
      if (keep.has(sha)) continue;
      for (const name of await readdir(photo)) {
        removed.entries++;
        removed.bytes += (await stat(join(photo, name))).size;
      }
      await rm(photo, { recursive: true, force: true });
      removed.photos++;
    }
    return removed;
  }

  private async photoFolders(): Promise<string[]> {
    const folders: string[] = [];
    for (const prefix of await readdir(this.root).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const sha of await readdir(join(this.root, prefix))) {
        if (/^[0-9a-f]{64}$/.test(sha)) folders.push(join(this.root, prefix, sha));
      }
    }
    return folders;
  }
}
