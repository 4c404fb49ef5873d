import type { WatchedDataset } from "../dataset/watch.js";
import type { ControllerLockResult, PromotionBundle, RequestResolution, VersionFacts } from "../records/record-store.js";
import type { RunRequestRecord } from "../records/requests.js";
import type { RunRecord } from "../records/runs.js";
import type { UntrainedRecord } from "../records/untrained.js";
import type { CleanupReport } from "../store/cleanup.js";
import type { CurrentModel } from "../store/models.js";

/**
 * What the controller needs from the world, besides the platform (platform/types.ts) and the clock
 * (util/clock.ts): the dataset to train on and the store's records. The controller reaches files,
 * git and time only through these, so a test drives a whole pass with in-memory fakes, and only
 * cli/ builds the real ones (dataset/watch.ts's DatasetWatch, records/record-store.ts's RecordStore).
 */

/** The watched repository, checked into datasets. */
export interface DatasetSource {
  /** The dataset at `commit`, or at the branch tip when commit is null. UnknownRevisionError (dataset/source.ts): there is no such commit. */
  look(commit: string | null): Promise<WatchedDataset>;
  /** The full commit id `revision` names (fetching first for a remote). UnknownRevisionError: there is none. */
  resolve(revision: string): Promise<string>;
}

/** The store's records, as the HTTP API reads and adds to them. */
export interface RunsApiStore {
  listRuns(): Promise<RunRecord[]>;
  readRun(id: string): Promise<RunRecord | null>;
  /** Where an attempt's log is, as the API shows it. */
  attemptLog(runId: string, attempt: number): string;
  listRequests(): Promise<RunRequestRecord[]>;
  readRequest(id: string): Promise<RunRequestRecord | null>;
  /** Records a new pending run request and answers it. */
  addRequest(wish: Pick<RunRequestRecord, "commit" | "sha" | "force" | "by">): Promise<RunRequestRecord>;
}

/** The store, as the control loop observes and changes it. */
export interface ControllerStore {
  /** Where the store is, for messages. */
  readonly location: string;

  /** One controller per store: the lock this controller holds while it runs. */
  lockController(): Promise<ControllerLockResult>;
  unlockController(): Promise<void>;
  /** Moves a request an older faceops left in its one-slot file into the queue. */
  adoptLegacyRequest(): Promise<RunRequestRecord | null>;
  /** Removes what crashes left (temporary files, stale locks) where its owner is provably gone. */
  cleanStrays(): Promise<CleanupReport>;

  /** Every run, oldest first. */
  listRuns(): Promise<RunRecord[]>;
  readRun(id: string): Promise<RunRecord | null>;
  writeRun(run: RunRecord): Promise<void>;
  /** Removes the result an earlier execution of the attempt left. */
  clearAttemptResult(runId: string, attempt: number): Promise<void>;

  /** The oldest run request not acted on yet. */
  pendingRequest(): Promise<RunRequestRecord | null>;
  /** Resolves a pending request; false when it is gone or resolved already. */
  resolveRequest(id: string, resolution: RequestResolution): Promise<boolean>;

  /** The current-version pointer. */
  currentModel(): Promise<CurrentModel | null>;
  /** What the bundle of a model version says of itself (the dataset it was trained on, its accuracy). */
  versionFacts(version: string): Promise<VersionFacts>;
  /** The version a new promotion gets. */
  nextModelVersion(): Promise<string>;
  /** Whether the bundle a promotion moves into service is still there. */
  promotionBundle(runId: string, attempt: number, version: string | null): Promise<PromotionBundle>;
  /** Moves the attempt's bundle into the models folder as `version` (nothing when it is there already). */
  promote(runId: string, attempt: number, version: string): Promise<void>;

  /** untrained-since as recorded: null says nothing waits; undefined: no record to trust. */
  untrainedRecord(): Promise<UntrainedRecord | null | undefined>;
  recordUntrained(record: UntrainedRecord | null): Promise<void>;
}
