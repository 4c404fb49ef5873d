import type { DatasetConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { StoreLayout } from "../store/layout.js";
import { recordManifest, withDataset } from "./check.js";
import type { DatasetManifest } from "./manifest.js";
import { GitSource, isRemoteLocation, UnknownRevisionError, type GitCredentials } from "./source.js";

/**
 * What the watched repository holds now: the tip of the branch (fetched first for a remote), checked
 * into a manifest. A commit already checked is not checked again, so polling an idle repository costs
 * one `git fetch` and one `rev-parse`. One look at a time: the loop's looks and the API's commit
 * checks take turns, so two fetches never write the same clone at once. The controller sees it
 * through its DatasetSource port (controller/ports.ts).
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

/** A dataset in a few numbers, with the files that were skipped and why: what a run records of it. */
export interface DatasetSummary {
  photos: number;
  train: number;
  test: number;
  labels: number;
  rejected: Array<{ path: string; reason: string; message: string }>;
}

/** One commit of the watched repository (or the folder), checked. */
export interface WatchedDataset {
  fingerprint: string;
  commit: string | null;
  /** Where the photos came from, without credentials. */
  source: string;
  /** False when there is nothing to train on (fewer than two people); `reason` says why. */
  usable: boolean;
  reason: string | null;
  dataset: DatasetSummary;
}

/** Commits whose check is remembered: the branch tip and the requests waiting beside it. */
const rememberedChecks = 4;

export class DatasetWatch {
  private readonly checked = new Map<string, WatchedDataset>();
  private git: boolean | null = null;
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: DatasetWatchOptions) {}

  /** The dataset at `commit`, or at the branch tip when commit is null. */
  look(commit: string | null = null): Promise<WatchedDataset> {
    return this.inTurn(() => this.lookNow(commit));
  }

  /**
   * The full commit id `revision` names in the watched repository, fetched first when it is remote
   * (a commit id the clone already holds needs no fetch). An UnknownRevisionError when there is no
   * such commit; another error when the repository cannot be read now.
   */
  async resolve(revision: string): Promise<string> {
    const { location } = this.options;
    if (!(await this.isGit())) throw new UnknownRevisionError(`${location} is a folder, not a git repository: it has no commit "${revision}"`);
    if (isRemoteLocation(location) && /^[0-9a-f]{7,64}$/i.test(revision)) {
      // Reading a commit the clone holds is safe beside a fetch; a ref must be fetched to be current.
      const held = await this.withSource({ offline: true }, (source) => source.resolveCommit(revision)).catch(() => null);
      if (held) return held;
    }
    return this.inTurn(() => this.withSource({}, (source) => source.resolveCommit(revision)));
  }

  private async lookNow(commit: string | null): Promise<WatchedDataset> {
    if (!(await this.isGit())) return this.check(null);
    const remembered = commit ? this.checked.get(commit) : undefined;
    if (remembered) return remembered;
    const sha = await this.withSource({}, (source) => (commit ? source.resolveCommit(commit) : source.resolveBranch(this.options.branch)));
    const known = this.checked.get(sha);
    if (known) return known;
    const watched = await this.check(sha);
    this.checked.set(sha, watched);
    for (const oldest of [...this.checked.keys()].slice(0, Math.max(0, this.checked.size - rememberedChecks))) this.checked.delete(oldest);
    return watched;
  }

  private async isGit(): Promise<boolean> {
    const { location, env } = this.options;
    this.git ??= isRemoteLocation(location) || (await GitSource.isRepository(location, env));
    return this.git;
  }

  private async withSource<T>(options: { offline?: boolean }, use: (source: GitSource) => Promise<T>): Promise<T> {
    const { location, store, log, env, credentials } = this.options;
    const source = await GitSource.open(location, { store, log, env, credentials, ...options });
    try {
      return await use(source);
    } finally {
      await source.close();
    }
  }

  /** Runs `work` after every look or commit check already asked for has ended. */
  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const result = this.turn.then(work, work);
    this.turn = result.catch(() => undefined);
    return result;
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

function summarise(manifest: DatasetManifest, minImagesPerLabel: number): WatchedDataset {
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
