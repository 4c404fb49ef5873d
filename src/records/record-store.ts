import { mkdir, rename, rm, stat } from "node:fs/promises";
import { relative } from "node:path";
import { readBundleMetadata } from "../model/bundle.js";
import { cleanStaleFiles, removeStaleLock, type CleanupReport } from "../store/cleanup.js";
import { writeJsonAtomic } from "../store/files.js";
import type { StoreLayout } from "../store/layout.js";
import { acquireLock, releaseLock } from "../store/lock.js";
import { nextModelVersion, readCurrentModel, type CurrentModel } from "../store/models.js";
import { currentProcessIdentity, type ProcessIdentity } from "../store/process-identity.js";
import { systemClock, type Clock } from "../util/clock.js";
import { addRunRequest, adoptLegacyRunRequest, listRunRequests, pruneRunRequests, readRunRequest, writeRunRequest, type RunRequestRecord, type RunRequestState } from "./requests.js";
import { isActive, listRuns, readRun, writeRun, type RunRecord } from "./runs.js";
import { readUntrainedRecord, writeUntrainedRecord, type UntrainedRecord } from "./untrained.js";

/**
 * The store as the controller and its HTTP API see it: records (runs, run requests, the current
 * model pointer, untrained-since) and the few moves on them (promote a bundle, take the controller's
 * lock), with every path, file and lock kept in here. It implements the controller's ControllerStore
 * and RunsApiStore ports (controller/ports.ts); tests of the loop use an in-memory fake instead.
 */

/** What a model version's bundle says of itself; null fields: the bundle does not say, or cannot be read. */
export interface VersionFacts {
  version: string;
  /** Commit of the dataset it was trained on. */
  datasetCommit: string | null;
  /** Fingerprint of the dataset it was trained on. */
  datasetFingerprint: string | null;
  /** Its test-split accuracy, 0..1. */
  accuracy: number | null;
}

/** Whether the bundle a promotion moves into service is still in the store, and where it is (for the reason when it is not). */
export interface PromotionBundle {
  present: boolean;
  /** The attempt's bundle folder. */
  location: string;
}

/** How a run request was resolved. */
export interface RequestResolution {
  state: Exclude<RunRequestState, "pending">;
  run: string | null;
  reason: string;
  resolvedAt: string;
}

export type ControllerLockResult = { acquired: true } | { acquired: false; holderPid: number };

export interface RecordStoreOptions {
  /** The effective configuration, recorded beside each new run so that its attempts train with exactly it. */
  runConfig?: unknown;
  /** The time for records this module dates itself (requests, the lock); the machine's clock by default. */
  clock?: Clock;
}

export class RecordStore {
  private readonly clock: Clock;
  private identity: ProcessIdentity | null = null;
  /** Facts per version: a version folder is complete before any pointer names it and never changes after, so its facts are read once. */
  private readonly facts = new Map<string, VersionFacts>();

  constructor(
    readonly layout: StoreLayout,
    private readonly options: RecordStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
  }

  /** Where the store is, for messages. */
  get location(): string {
    return this.layout.root;
  }

  /** Takes the store's controller lock for this process; answers who holds it when another live process does. */
  async lockController(): Promise<ControllerLockResult> {
    this.identity ??= await currentProcessIdentity();
    const lock = await acquireLock(this.layout.controllerLock, { ...this.identity, acquiredAt: new Date(this.clock.now()).toISOString() });
    return lock.acquired ? { acquired: true } : { acquired: false, holderPid: lock.holder.pid };
  }

  async unlockController(): Promise<void> {
    if (this.identity) await releaseLock(this.layout.controllerLock, this.identity);
  }

  /** Moves a request left in the one-slot file of an older faceops into the queue. */
  adoptLegacyRequest(): Promise<RunRequestRecord | null> {
    return adoptLegacyRunRequest(this.layout, this.clock.now());
  }

  /**
   * Removes what crashes left: temporary files of atomic writes, takeover claims, and the lock files of
   * attempts that no longer run, each only when its owner is provably gone; says what it removed and
   * what it kept because that cannot be proven.
   */
  async cleanStrays(): Promise<CleanupReport> {
    const store = this.layout;
    const report = await cleanStaleFiles(store);
    for (const run of await listRuns(store)) {
      for (const attempt of run.attempts) {
        if (isActive(run) && (attempt.state === "running" || attempt.state === "pending")) continue;
        const lock = store.attempt(run.id, attempt.number).lock;
        if (!(await exists(lock))) continue;
        const outcome = await removeStaleLock(lock);
        if (outcome === "removed") report.removed.push(relative(store.root, lock));
        else if (outcome === "unknown") report.kept.push(relative(store.root, lock));
      }
    }
    return report;
  }

  listRuns(): Promise<RunRecord[]> {
    return listRuns(this.layout);
  }

  readRun(id: string): Promise<RunRecord | null> {
    return readRun(this.layout, id);
  }

  /** Writes the run record; the first write of a run records the configuration beside it, before the record names any attempt to run. */
  async writeRun(run: RunRecord): Promise<void> {
    const { runConfig } = this.options;
    if (runConfig !== undefined && !(await exists(this.layout.runConfig(run.id)))) await writeJsonAtomic(this.layout.runConfig(run.id), runConfig);
    await writeRun(this.layout, run);
  }

  /** Removes the result an earlier execution of the attempt left, so that it is not taken for the next one's. */
  async clearAttemptResult(runId: string, attempt: number): Promise<void> {
    await rm(this.layout.attempt(runId, attempt).result, { force: true });
  }

  /** Where an attempt's log is, as the API shows it. */
  attemptLog(runId: string, attempt: number): string {
    return this.layout.attempt(runId, attempt).log;
  }

  listRequests(): Promise<RunRequestRecord[]> {
    return listRunRequests(this.layout);
  }

  readRequest(id: string): Promise<RunRequestRecord | null> {
    return readRunRequest(this.layout, id);
  }

  addRequest(wish: Pick<RunRequestRecord, "commit" | "sha" | "force" | "by">): Promise<RunRequestRecord> {
    return addRunRequest(this.layout, wish, this.clock.now());
  }

  /** The oldest request not acted on yet, or null. */
  async pendingRequest(): Promise<RunRequestRecord | null> {
    return (await listRunRequests(this.layout)).find((record) => record.state === "pending") ?? null;
  }

  /** Resolves a pending request (false: it is gone, or was resolved already) and prunes the oldest resolved ones. */
  async resolveRequest(id: string, resolution: RequestResolution): Promise<boolean> {
    const record = await readRunRequest(this.layout, id);
    if (!record || record.state !== "pending") return false;
    await writeRunRequest(this.layout, { ...record, ...resolution });
    await pruneRunRequests(this.layout);
    return true;
  }

  currentModel(): Promise<CurrentModel | null> {
    return readCurrentModel(this.layout);
  }

  /** What the bundle of `version` says of itself, read as the service's loader reads it (capped, no link followed). */
  async versionFacts(version: string): Promise<VersionFacts> {
    const known = this.facts.get(version);
    if (known) return known;
    const metadata = await readBundleMetadata(this.layout.modelVersion(version)).catch(() => null);
    const accuracy = metadata?.metrics?.accuracy;
    const facts: VersionFacts = {
      version,
      datasetCommit: metadata?.dataset?.commit ?? null,
      datasetFingerprint: metadata?.dataset?.fingerprint ?? null,
      accuracy: typeof accuracy === "number" ? accuracy : null,
    };
    // A bundle that cannot be read now is read again next time (it may be repaired); a readable one never changes.
    if (metadata) this.facts.set(version, facts);
    return facts;
  }

  nextModelVersion(): Promise<string> {
    return nextModelVersion(this.layout);
  }

  /** Whether the bundle attempt `attempt` of run `runId` left is still there, in its folder or already moved into `version`. */
  async promotionBundle(runId: string, attempt: number, version: string | null): Promise<PromotionBundle> {
    const bundle = this.layout.attempt(runId, attempt).bundle;
    const present = (version !== null && (await exists(this.layout.modelVersion(version)))) || (await exists(bundle));
    return { present, location: bundle };
  }

  /**
   * Moves the attempt's bundle into the models folder as `version`, unless it is there already (a
   * promotion a restart finishes). Throws when neither is there: the next observation sees the bundle
   * gone, and decide ends the run.
   */
  async promote(runId: string, attempt: number, version: string): Promise<void> {
    const target = this.layout.modelVersion(version);
    if (await exists(target)) return;
    const bundle = this.layout.attempt(runId, attempt).bundle;
    await mkdir(this.layout.models, { recursive: true });
    try {
      await rename(bundle, target);
    } catch (error) {
      throw new Error(`cannot move the bundle of attempt ${attempt} of run ${runId} (${bundle}) to ${target}: ${(error as Error).message}`, { cause: error });
    }
  }

  untrainedRecord(): Promise<UntrainedRecord | null | undefined> {
    return readUntrainedRecord(this.layout);
  }

  recordUntrained(record: UntrainedRecord | null): Promise<void> {
    return writeUntrainedRecord(this.layout, record);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
