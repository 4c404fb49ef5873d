import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { DatasetManifest } from "../dataset/manifest.js";
import { readJsonOr } from "../store/files.js";
import type { StoreLayout } from "../store/layout.js";
import { FeatureCache, type FeatureCacheStats } from "./feature-cache.js";

/**
 * The store keeps every manifest a model was trained on (store/datasets/<fingerprint>.json). They
 * say which photos' features are still worth keeping: `faceops cache gc` removes the rest. They are
 * written by dataset/check.ts's recordManifest.
 */

export async function referencedPhotos(store: StoreLayout): Promise<{ photos: Set<string>; manifests: number }> {
  const photos = new Set<string>();
  const names = await readdir(store.manifests).catch(() => [] as string[]);
  let manifests = 0;
  for (const name of names.filter((entry) => entry.endsWith(".json"))) {
    const manifest = await readJsonOr<Pick<DatasetManifest, "images" | "strangers"> | null>(join(store.manifests, name), null);
    if (!manifest?.images) continue;
    manifests++;
    for (const image of [...manifest.images, ...(manifest.strangers ?? [])]) photos.add(image.sha256);
  }
  return { photos, manifests };
}

export async function featureCacheStats(store: StoreLayout): Promise<FeatureCacheStats & { referencedPhotos: number; manifests: number }> {
  const stats = await new FeatureCache(store.features).stats();
  const referenced = await referencedPhotos(store);
  return { ...stats, referencedPhotos: referenced.photos.size, manifests: referenced.manifests };
}

export async function collectFeatureGarbage(store: StoreLayout): Promise<FeatureCacheStats> {
  const { photos } = await referencedPhotos(store);
  return new FeatureCache(store.features).gc(photos);
}
