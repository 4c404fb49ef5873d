import type { DatasetConfig } from "../config/schema.js";
import { withDataset } from "../dataset/check.js";
import type { DatasetManifest } from "../dataset/manifest.js";
import { GitSource, isRemoteLocation, type GitCredentials } from "../dataset/source.js";
import type { Logger } from "../log.js";
import { recordManifest } from "../model/cache-maintenance.js";
import type { StoreLayout } from "../store/layout.js";
import type { DesiredDataset } from "./decide.js";

/**
 * What the watched repository holds now: the tip of the branch (fetched first for a remote), checked
 * into a manifest. A tip already checked is not checked again, so polling an idle repository costs
 * one `git fetch` and one `rev-parse`.
 */

export interface DatasetWatchOptions {
  location: string;
  branch: string;
  dataset: DatasetConfig;
  store: StoreLayout;
  log: Logger;
  env: NodeJS.ProcessEnv;
  credentials: GitCredentials;
}

export type WatchedDataset = Omit<DesiredDataset, "trigger" | "force" | "fromRequest">;

export class DatasetWatch {
  private readonly checked = new Map<string, WatchedDataset>();
  private git: boolean | null = null;

  constructor(private readonly options: DatasetWatchOptions) {}

  /** The dataset at `commit`, or at the branch tip when commit is null. */
  async look(commit: string | null = null): Promise<WatchedDataset> {
    const { location } = this.options;
    this.git ??= isRemoteLocation(location) || (await GitSource.isRepository(location, this.options.env));
    if (!this.git) return this.check(null);
    const source = await GitSource.open(location, { store: this.options.store, log: this.options.log, env: this.options.env, credentials: this.options.credentials });
    let sha: string;
    try {
      sha = commit ? await source.resolveCommit(commit) : await source.resolveBranch(this.options.branch);
    } finally {
      await source.close();
    }
    const known = this.checked.get(sha);
    if (known) return known;
    const watched = await this.check(sha);
    this.checked.clear();
    this.checked.set(sha, watched);
    return watched;
  }

  private async check(commit: string | null): Promise<WatchedDataset> {
    const { location, dataset, store, log, env, credentials } = this.options;
    const manifest = await withDataset({ location, commit: commit ?? undefined, dataset, store, log, env, credentials }, (checked) => Promise.resolve(checked));
    await recordManifest(store, manifest);
    const watched = summarise(manifest, dataset.minImagesPerLabel);
    log.info(
      { commit, fingerprint: manifest.fingerprint.slice(0, 12), labels: manifest.labels.length, photos: manifest.stats.photos, rejected: manifest.rejected.length },
      "dataset checked",
    );
    for (const rejected of manifest.rejected) log.warn({ path: rejected.path, reason: rejected.reason }, "photo skipped");
    return watched;
  }
}

export function summarise(manifest: DatasetManifest, minImagesPerLabel: number): WatchedDataset {
  return {
    fingerprint: manifest.fingerprint,
    commit: manifest.commit,
    source: manifest.source,
    usable: manifest.usable,
    reason: manifest.usable
      ? null
      : `the dataset has ${manifest.labels.length} person folder(s) with at least ${minImagesPerLabel} valid photos; training needs at least 2`,
    dataset: {
      photos: manifest.stats.photos,
      train: manifest.stats.train,
      test: manifest.stats.test,
      labels: manifest.labels.length,
      rejected: manifest.rejected.map((entry) => ({ path: entry.path, reason: entry.reason, message: entry.message })),
    },
  };
}
