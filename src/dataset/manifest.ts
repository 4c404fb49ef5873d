import { createHash } from "node:crypto";
import { strangersFolder } from "./folder-layout.js";
import type { RejectedFile } from "./rejects.js";
import type { AcceptedPhoto, ExcludedLabel, ScanStats } from "./scan.js";
import { compareText } from "./scan.js";
import type { Split } from "./split.js";

/**
 * The dataset snapshot everything downstream trusts: which photos, which labels, which split, and a
 * fingerprint that changes exactly when the (photo, label) pairs change.
 */

export interface ManifestImage {
  path: string;
  label: string;
  sha256: string;
  width: number;
  height: number;
  split: Split;
}

export interface DatasetManifest {
  schemaVersion: 1;
  /** Where the photos came from, without credentials. */
  source: string;
  /** The commit checked, or null for a plain folder. */
  commit: string | null;
  fingerprint: string;
  /** Accepted labels, sorted; a model's class index is the position in this list. */
  labels: string[];
  images: ManifestImage[];
  /**
   * Photos under the top-level `_not/` folder: people the model must not know. They are no label and
   * never trained on; training counts them as strangers when it calibrates the "unknown" threshold.
   * Absent in manifests written before they existed.
   */
  strangers?: ManifestImage[];
  rejected: RejectedFile[];
  excludedLabels: ExcludedLabel[];
  /** True when there is something to train on: at least two labels. */
  usable: boolean;
  settings: { testFraction: number; minImagesPerLabel: number; minSide: number; maxPixels: number; maxBytes: number };
  stats: ScanStats & { photos: number; train: number; test: number; rejected: number };
}

export { strangersFolder } from "./folder-layout.js";

/** Fewer than two people is not a classification problem. */
export const minimumLabels = 2;

/**
 * sha256 over the sorted "sha256<TAB>label" lines. Paths, file names and non-photo files do not
 * enter it, so renaming a file or editing a README keeps it; relabelling a photo changes it.
 */
export function datasetFingerprint(images: readonly Pick<ManifestImage, "sha256" | "label">[]): string {
  const lines = images.map((image) => `${image.sha256}\t${image.label}\n`).sort(compareText);
  const hash = createHash("sha256");
  for (const line of lines) hash.update(line);
  return hash.digest("hex");
}

export function buildManifest(input: {
  source: string;
  commit: string | null;
  photos: readonly AcceptedPhoto[];
  splits: ReadonlyMap<string, Split>;
  rejected: RejectedFile[];
  excludedLabels: ExcludedLabel[];
  stats: ScanStats;
  settings: DatasetManifest["settings"];
}): DatasetManifest {
  const all: ManifestImage[] = input.photos.map((photo) => {
    const split = input.splits.get(photo.sha256);
    if (!split) throw new Error(`no split was assigned to ${photo.path}`);
    return { path: photo.path, label: photo.label, sha256: photo.sha256, width: photo.width, height: photo.height, split };
  });
  const images = all.filter((image) => image.label !== strangersFolder);
  const strangers = all.filter((image) => image.label === strangersFolder);
  const labels = [...new Set(images.map((image) => image.label))].sort(compareText);
  const test = images.filter((image) => image.split === "test").length;
  return {
    schemaVersion: 1,
    source: input.source,
    commit: input.commit,
    // Strangers enter the fingerprint as the folder they sit in, so adding one is a new dataset to
    // train on, and a dataset without them keeps the fingerprint it always had.
    fingerprint: datasetFingerprint(all),
    labels,
    images,
    ...(strangers.length > 0 ? { strangers } : {}),
    rejected: input.rejected,
    excludedLabels: input.excludedLabels,
    usable: labels.length >= minimumLabels,
    settings: input.settings,
    stats: { ...input.stats, photos: images.length, train: images.length - test, test, rejected: input.rejected.length },
  };
}
