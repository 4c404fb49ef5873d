import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { DatasetConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import { writeJsonAtomic } from "../store/files.js";
import type { StoreLayout } from "../store/layout.js";
import { buildManifest, type DatasetManifest, type ManifestImage } from "./manifest.js";
import { scanDataset } from "./scan.js";
import { GitSource, isRemoteLocation, SourceError, validateRepoLocation, type GitCredentials } from "./source.js";
import { assignSplits, defaultMinPhotosForTest } from "./split.js";
import { SplitLedger } from "./split-ledger.js";
import { FolderTree, GitCommitTree, type DatasetTree, type TreeEntry } from "./tree.js";
import { ValidationCache } from "./validation-cache.js";

/**
 * One dataset check, end to end: open the source, read the commit (or folder), validate every file,
 * assign splits and build the manifest. `faceops dataset check` and the controller both call this.
 */

export interface CheckRequest {
  /** A git repository (local or URL) or a plain folder. */
  location: string;
  /** A revision to read; defaults to HEAD. Only for git repositories. */
  commit?: string;
  dataset: DatasetConfig;
  store: StoreLayout;
  log: Logger;
  env: NodeJS.ProcessEnv;
  credentials?: GitCredentials;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Keeps a checked manifest in the store (datasets/<fingerprint>.json): `faceops cache gc` keeps the
 * features of every photo a kept manifest names (model/cache-maintenance.ts).
 */
export async function recordManifest(store: StoreLayout, manifest: DatasetManifest): Promise<void> {
  await writeJsonAtomic(store.manifest(manifest.fingerprint), manifest, { compact: true });
}

export async function checkDataset(request: CheckRequest): Promise<DatasetManifest> {
  return withDataset(request, (manifest) => Promise.resolve(manifest));
}

/** Reads the bytes of a photo of the snapshot just checked (training decodes what it needs). */
export type PhotoReader = (image: Pick<ManifestImage, "path">) => Promise<Buffer>;

/**
 * Checks the dataset, then hands the manifest and a reader for its photos to `use` while the
 * source is still open; closes everything afterwards, whatever `use` does.
 */
export async function withDataset<T>(request: CheckRequest, use: (manifest: DatasetManifest, readPhoto: PhotoReader) => Promise<T>): Promise<T> {
  const { tree, source } = await openTree(request);
  try {
    const [cache, ledger] = await Promise.all([ValidationCache.load(request.store.validationCache), SplitLedger.load(request.store.splitLedger)]);
    request.log.debug({ source: tree.description, cached: cache.size }, "checking dataset");
    const scan = await scanDataset(tree, cache, { ...request.dataset, onProgress: request.onProgress });
    await cache.save();
    const splits = assignSplits(scan.photos, { testFraction: request.dataset.testFraction, minPhotosForTest: defaultMinPhotosForTest }, ledger.splits);
    await ledger.record(splits);
    const { testFraction, minImagesPerLabel, minSide, maxPixels, maxBytes } = request.dataset;
    const manifest = buildManifest({
      source: source?.location ?? resolve(request.location),
      commit: tree.commit,
      photos: scan.photos,
      splits,
      rejected: scan.rejected,
      excludedLabels: scan.excludedLabels,
      stats: scan.stats,
      settings: { testFraction, minImagesPerLabel, minSide, maxPixels, maxBytes },
    });
    const entries = new Map<string, TreeEntry>();
    const readPhoto: PhotoReader = async (image) => {
      if (entries.size === 0) for (const entry of await tree.list()) entries.set(entry.path, entry);
      const entry = entries.get(image.path);
      if (!entry) throw new Error(`${image.path} is not in ${tree.description}`);
      return tree.read(entry);
    };
    return await use(manifest, readPhoto);
  } finally {
    await tree.close();
    await source?.close();
  }
}

async function openTree(request: CheckRequest): Promise<{ tree: DatasetTree; source: GitSource | null }> {
  validateRepoLocation(request.location);
  const options = { store: request.store, log: request.log, env: request.env, credentials: request.credentials };
  if (!isRemoteLocation(request.location)) {
    const folder = resolve(request.location);
    const info = await stat(folder).catch(() => null);
    if (!info?.isDirectory()) throw new SourceError(`dataset "${request.location}" is not a folder or a git repository (looked at ${folder})`);
    if (!(await GitSource.isRepository(folder, request.env))) {
      if (request.commit) throw new SourceError(`--commit ${request.commit} needs a git repository, and ${folder} is a plain folder`);
      return { tree: new FolderTree(folder), source: null };
    }
  }
  const source = await GitSource.open(request.location, options);
  try {
    const commit = await source.resolveCommit(request.commit ?? "HEAD");
    if (!request.commit && (await source.hasUncommittedChanges())) {
      request.log.warn({ repo: source.location, commit }, "the repository has uncommitted changes; faceops reads commits, so they are not included");
    }
    return { tree: new GitCommitTree(source, commit), source };
  } catch (error) {
    await source.close();
    throw error;
  }
}
