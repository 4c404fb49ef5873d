import { createHash } from "node:crypto";
import { isAbsolute, posix } from "node:path";
import { ImageDecodeError, readImageHeader, verifyDecodes, type ImageFormat } from "../vision/decode.js";
import { mapConcurrent } from "../util/concurrency.js";
import { classifyPath, strangersFolder } from "./folder-layout.js";
import { escapeInvalidUtf8, isUtf8 } from "./path-bytes.js";
import type { RejectedFile, RejectReason } from "./rejects.js";
import type { DatasetTree, TreeEntry } from "./tree.js";
import type { PhotoFacts, ValidationCache } from "./validation-cache.js";

/**
 * Turns a dataset tree into accepted photos and rejected files, each rejection with a reason code
 * and a sentence. Every photo is decoded once in its life: facts are cached by content.
 */

export interface ScanLimits {
  /** Reject photos smaller than this on either side. */
  minSide: number;
  /** Refuse photos with more pixels than this, from the header alone. */
  maxPixels: number;
  /** Refuse files larger than this without reading them. */
  maxBytes: number;
  /** A label with fewer valid photos than this is excluded. */
  minImagesPerLabel: number;
}

export interface ScanOptions extends ScanLimits {
  concurrency: number;
  onProgress?: (done: number, total: number) => void;
}

export interface AcceptedPhoto {
  path: string;
  label: string;
  sha256: string;
  width: number;
  height: number;
  format: ImageFormat;
  size: number;
}

export interface ExcludedLabel {
  label: string;
  photos: number;
  reason: RejectReason;
  message: string;
}

export interface ScanStats {
  /** Files in the tree, hidden ones included. */
  entries: number;
  /** Files that are not data (hidden files, a top-level README) and were skipped silently. */
  ignored: number;
  /** Files whose bytes were read in this scan. */
  read: number;
  /** Photos fully decoded in this scan: new content, never seen before. */
  decoded: number;
  /** Files judged from cached facts, without decoding. */
  cached: number;
}

export interface ScanResult {
  photos: AcceptedPhoto[];
  rejected: RejectedFile[];
  excludedLabels: ExcludedLabel[];
  stats: ScanStats;
}

type FileVerdict = { kind: "accepted"; photo: AcceptedPhoto } | { kind: "rejected"; rejected: RejectedFile } | { kind: "ignored" };

const lfsPointerPrefix = Buffer.from("version https://git-lfs.github.com/spec/v1");

export async function scanDataset(tree: DatasetTree, cache: ValidationCache, options: ScanOptions): Promise<ScanResult> {
  const entries = await tree.list();
  const stats: ScanStats = { entries: entries.length, ignored: 0, read: 0, decoded: 0, cached: 0 };
  const examining = new Map<string, Promise<PhotoFacts>>();
  let done = 0;
  const verdicts = await mapConcurrent(entries, options.concurrency, async (entry) => {
    const verdict = await judgeEntry(entry, tree, { cache, examining }, options, stats);
    options.onProgress?.(++done, entries.length);
    return verdict;
  });

  const photos: AcceptedPhoto[] = [];
  const rejected: RejectedFile[] = [];
  for (const verdict of verdicts) {
    if (verdict.kind === "accepted") photos.push(verdict.photo);
    else if (verdict.kind === "rejected") rejected.push(verdict.rejected);
    else stats.ignored++;
  }
  const unique = removeDuplicates(photos, rejected);
  const { kept, excludedLabels } = excludeSmallLabels(unique, rejected, options.minImagesPerLabel);
  kept.sort((a, b) => compareText(a.path, b.path));
  rejected.sort((a, b) => compareText(a.path, b.path));
  return { photos: kept, rejected, excludedLabels, stats };
}

/** Known facts, and facts being established right now (two copies of one photo are decoded once). */
interface FactSources {
  cache: ValidationCache;
  examining: Map<string, Promise<PhotoFacts>>;
}

async function judgeEntry(entry: TreeEntry, tree: DatasetTree, facts: FactSources, limits: ScanLimits, stats: ScanStats): Promise<FileVerdict> {
  const place = classifyPath(entry.path);
  if (place.kind === "ignored") return place;
  const reject = (reason: RejectReason, message: string): FileVerdict => ({ kind: "rejected", rejected: { path: entry.path, reason, message } });
  // A name that is not UTF-8 is judged by its bytes once it is known to sit in a person's folder (a
  // misplaced file stays misplaced); its escaped text would have the folder blamed for a backslash.
  const inPersonFolder = place.kind === "candidate" || place.reason === "invalid_label";
  if (entry.pathBytes && inPersonFolder) {
    const verdict = judgeUndecodableName(entry.pathBytes);
    return reject(verdict.reason, verdict.message);
  }
  if (place.kind === "rejected") return reject(place.reason, place.message);

  if (entry.kind === "symlink") return reject("symlink", await describeSymlink(entry, tree));
  if (entry.kind === "submodule") return reject("not_an_image", "this is a git submodule, not a photo");
  if (entry.kind === "special") return reject("not_an_image", "this is not a regular file (a pipe, socket or device)");
  if (entry.size === 0) return reject("empty", "the file is empty (0 bytes)");
  if (entry.size > limits.maxBytes) {
    return reject("too_large", `the file is ${formatBytes(entry.size)}, over the limit of ${formatBytes(limits.maxBytes)}; it was not read`);
  }

  const found = await factsFor(entry, tree, facts, limits, stats);
  switch (found.kind) {
    case "lfs_pointer":
      return reject("lfs_pointer", "this is a Git LFS pointer, not the photo itself; run `git lfs pull` in the repository and push again");
    case "failed":
      return reject(found.code, found.message);
    case "header_only":
    case "image": {
      const verdict = judgeSize(found.width, found.height, limits);
      if (verdict) return reject(verdict.reason, verdict.message);
      const { sha256, width, height, format, size } = found;
      return { kind: "accepted", photo: { path: entry.path, label: place.label, sha256, width, height, format, size } };
    }
  }
}

/**
 * A name that is not UTF-8 (git and Linux accept any bytes) cannot be a label: read lossily, two
 * such folders would merge into one person. Nor can a file name be a manifest path. Both are refused,
 * the message showing the bytes escaped. Only called for a path in a person's folder.
 */
function judgeUndecodableName(pathBytes: Buffer): { reason: RejectReason; message: string } {
  const slash = pathBytes.indexOf(0x2f);
  const folder = pathBytes.subarray(0, slash);
  const file = pathBytes.subarray(slash + 1);
  if (!isUtf8(folder)) {
    return {
      reason: "invalid_label",
      message: `the folder name is not valid UTF-8 (its bytes: "${escapeInvalidUtf8(folder)}"); names are text in UTF-8 everywhere today, so rename the folder`,
    };
  }
  return {
    reason: "invalid_name",
    message: `the file name is not valid UTF-8 (its bytes: "${escapeInvalidUtf8(file)}"); rename the file`,
  };
}

function judgeSize(width: number, height: number, limits: ScanLimits): { reason: RejectReason; message: string } | null {
  if (width * height > limits.maxPixels) {
    return {
      reason: "too_large",
      message: `the image declares ${width}x${height} pixels (${(width * height / 1e6).toFixed(1)} megapixels), over the limit of ${(limits.maxPixels / 1e6).toFixed(1)}; refused from its header without decoding`,
    };
  }
  if (Math.min(width, height) < limits.minSide) {
    return { reason: "too_small", message: `the image is ${width}x${height} pixels; both sides must be at least ${limits.minSide}` };
  }
  return null;
}

/**
 * Facts about the file's content, from the cache when possible. A git blob id is known without
 * reading the file; a plain folder's file must be read and hashed first.
 */
async function factsFor(entry: TreeEntry, tree: DatasetTree, sources: FactSources, limits: ScanLimits, stats: ScanStats): Promise<PhotoFacts> {
  const { cache, examining } = sources;
  const fromKey = entry.contentKey ? cache.get(entry.contentKey) : undefined;
  if (fromKey && !needsDecoding(fromKey, limits)) {
    stats.cached++;
    return fromKey;
  }
  const bytes = await tree.read(entry);
  stats.read++;
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const hashKey = `sha256:${sha256}`;
  const known = cache.get(hashKey);
  let facts: PhotoFacts;
  if (known && !needsDecoding(known, limits)) {
    stats.cached++;
    facts = known;
  } else {
    let pending = examining.get(hashKey);
    if (pending) {
      stats.cached++;
    } else {
      pending = examine(bytes, sha256, limits, stats);
      examining.set(hashKey, pending);
    }
    facts = await pending;
    cache.set(hashKey, facts);
  }
  if (entry.contentKey) cache.set(entry.contentKey, facts);
  return facts;
}

/** A file read only up to its header (it was over a limit then) must be decoded once it is not. */
function needsDecoding(facts: PhotoFacts, limits: ScanLimits): boolean {
  return facts.kind === "header_only" && judgeSize(facts.width, facts.height, limits) === null;
}

async function examine(bytes: Buffer, sha256: string, limits: ScanLimits, stats: ScanStats): Promise<PhotoFacts> {
  const size = bytes.length;
  if (size < 1024 && bytes.subarray(0, lfsPointerPrefix.length).equals(lfsPointerPrefix)) return { kind: "lfs_pointer", sha256, size };
  try {
    const header = await readImageHeader(bytes);
    const base = { sha256, size, format: header.format, width: header.width, height: header.height };
    // Over a limit: the header is all we need, and all we dare read (a decompression bomb).
    if (judgeSize(header.width, header.height, limits)) return { kind: "header_only", ...base };
    stats.decoded++;
    await verifyDecodes(bytes, header);
    return { kind: "image", ...base };
  } catch (error) {
    if (error instanceof ImageDecodeError) return { kind: "failed", sha256, size, code: error.code, message: error.message };
    throw error;
  }
}

async function describeSymlink(entry: TreeEntry, tree: DatasetTree): Promise<string> {
  const target = await tree.readLink(entry).catch(() => "?");
  const resolved = isAbsolute(target) ? target : posix.normalize(posix.join(posix.dirname(entry.path), target));
  const outside = isAbsolute(target) || resolved === ".." || resolved.startsWith("../");
  return outside
    ? `this is a symbolic link to "${target}", outside the repository; symbolic links are never followed`
    : `this is a symbolic link to "${target}"; symbolic links are not followed, commit the photo itself`;
}

/**
 * The same bytes under two people cannot be a correct label for both: every copy is left out.
 * The same bytes twice under one person would count twice: the first path is kept.
 */
function removeDuplicates(photos: AcceptedPhoto[], rejected: RejectedFile[]): AcceptedPhoto[] {
  const bySha = new Map<string, AcceptedPhoto[]>();
  for (const photo of photos) {
    const group = bySha.get(photo.sha256);
    if (group) group.push(photo);
    else bySha.set(photo.sha256, [photo]);
  }
  const kept: AcceptedPhoto[] = [];
  for (const group of bySha.values()) {
    group.sort((a, b) => compareText(a.path, b.path));
    const labels = new Set(group.map((photo) => photo.label));
    if (labels.size > 1) {
      for (const photo of group) {
        const others = group.filter((other) => other.label !== photo.label).map((other) => `"${other.label}" (${other.path})`);
        rejected.push({
          path: photo.path,
          reason: "label_conflict",
          message: `the same photo is also filed under ${others.join(", ")}; it cannot show two people, so every copy is left out`,
        });
      }
      continue;
    }
    const [first, ...copies] = group as [AcceptedPhoto, ...AcceptedPhoto[]];
    kept.push(first);
    for (const copy of copies) {
      rejected.push({ path: copy.path, reason: "duplicate", message: `identical to ${first.path}, which is kept` });
    }
  }
  return kept;
}

function excludeSmallLabels(photos: AcceptedPhoto[], rejected: RejectedFile[], minImagesPerLabel: number) {
  const counts = new Map<string, number>();
  for (const photo of photos) counts.set(photo.label, (counts.get(photo.label) ?? 0) + 1);
  const excludedLabels: ExcludedLabel[] = [];
  for (const [label, count] of counts) {
    // The strangers' folder is no person to learn: one photo of a stranger is already worth keeping.
    if (count >= minImagesPerLabel || label === strangersFolder) continue;
    excludedLabels.push({
      label,
      photos: count,
      reason: "label_too_small",
      message: `"${label}" has ${count} valid photo${count === 1 ? "" : "s"}; at least ${minImagesPerLabel} are needed to learn and test a person`,
    });
  }
  const excluded = new Map(excludedLabels.map((entry) => [entry.label, entry]));
  const kept: AcceptedPhoto[] = [];
  for (const photo of photos) {
    const exclusion = excluded.get(photo.label);
    if (exclusion) rejected.push({ path: photo.path, reason: "label_too_small", message: exclusion.message });
    else kept.push(photo);
  }
  excludedLabels.sort((a, b) => compareText(a.label, b.label));
  return { kept, excludedLabels };
}

/** Code-unit order: the same on every machine and locale, unlike localeCompare. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
